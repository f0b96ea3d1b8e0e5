"""The Flashbots client's pure parts: the signature header, bundle hashes, result decoding,
the missed-blocks policy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from floor.chain.flashbots import (
    BundleSimulation,
    FlashbotsClient,
    InvalidSignatureHeader,
    body_digest,
    bundle_hash,
    eth_equivalent,
    private_reason,
    recover_signature_header,
)
from floor.config import ConfigError, load_settings
from floor.logging import scrub
from floor.models import Price
from floor.txqueue import after_missed_blocks, private_window_closed

REPUTATION_KEY = "0x" + "11" * 32
OTHER_KEY = "0x" + "22" * 32
BODY = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[{"txs":["0x01"],"blockNumber":"0x10"}]}'


@pytest.fixture
def client() -> FlashbotsClient:
    return FlashbotsClient("http://127.0.0.1:1", REPUTATION_KEY, timeout_s=1)


def test_the_signed_text_is_the_0x_hex_of_the_body_keccak():
    digest = body_digest(BODY)
    assert digest == "0x" + keccak(BODY).hex()
    assert len(digest) == 66


def test_header_matches_the_documented_construction(client):
    # docs.flashbots.net (web3.py example): Account.sign_message(encode_defunct(text=keccak(body) as 0x hex))
    expected = Account.sign_message(encode_defunct(text="0x" + keccak(BODY).hex()), private_key=REPUTATION_KEY)
    address = Account.from_key(REPUTATION_KEY).address
    assert client.sign_body(BODY) == f"{address}:0x{bytes(expected.signature).hex()}"
    assert client.address == address


def test_a_good_header_recovers_its_address(client):
    assert recover_signature_header(client.sign_body(BODY), BODY) == client.address


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "not-a-header",
        "0x1234:0xabcd",  # not an address
        f"{Account.from_key(REPUTATION_KEY).address}:0xzz",  # unreadable signature
    ],
)
def test_missing_or_malformed_headers_are_refused(header):
    with pytest.raises(InvalidSignatureHeader):
        recover_signature_header(header, BODY)


def test_another_keys_signature_under_our_address_is_refused(client):
    other = FlashbotsClient("http://127.0.0.1:1", OTHER_KEY).sign_body(BODY).split(":")[1]
    with pytest.raises(InvalidSignatureHeader, match="signature check"):
        recover_signature_header(f"{client.address}:{other}", BODY)


def test_a_signature_over_another_body_is_refused(client):
    with pytest.raises(InvalidSignatureHeader, match="signature check"):
        recover_signature_header(client.sign_body(BODY), BODY + b" ")


def test_the_reputation_key_is_never_shown(client, caplog):
    assert REPUTATION_KEY[2:] not in repr(client)
    assert REPUTATION_KEY[2:] not in scrub(f"oops {REPUTATION_KEY}")
    with caplog.at_level(logging.DEBUG):
        client.sign_body(BODY)
    assert REPUTATION_KEY[2:] not in caplog.text


def test_bundle_hash_is_keccak_of_the_concatenated_tx_hashes():
    txs = ["0x01", "0x0203"]
    assert bundle_hash(txs) == "0x" + keccak(keccak(b"\x01") + keccak(b"\x02\x03")).hex()
    assert bundle_hash(txs) != bundle_hash(list(reversed(txs)))


def test_simulation_results_are_decoded_from_the_relays_formats():
    sim = BundleSimulation.from_rpc(
        {
            "bundleHash": "0xb1",
            "bundleGasPrice": "476190476193",
            "coinbaseDiff": "20000000000126000",
            "stateBlockNumber": 5221585,
            "totalGasUsed": 42000,
            "results": [
                {"txHash": "0xa", "gasUsed": 21000, "gasPrice": "0x3b9aca00", "value": "0x"},
                {"txHash": "0xb", "gasUsed": "21000", "error": "execution reverted", "revert": "locked"},
            ],
        }
    )
    assert [(t.tx_hash, t.gas_used) for t in sim.results] == [("0xa", 21000), ("0xb", 21000)]
    assert sim.results[0].gas_price == 10**9 and not sim.results[0].reverted
    assert [t.tx_hash for t in sim.reverted] == ["0xb"]
    assert sim.reverted[0].revert == "locked"
    assert (sim.bundle_gas_price, sim.coinbase_diff, sim.state_block_number, sim.total_gas_used) == (
        476190476193,
        20000000000126000,
        5221585,
        42000,
    )


def test_the_public_policy_falls_back_on_the_first_miss():
    assert after_missed_blocks("public", 1, 3) == "public"


def test_the_retry_policy_retries_then_gives_up_never_going_public():
    decisions = [after_missed_blocks("retry_higher_tip", n, 3) for n in (1, 2, 3, 4)]
    assert decisions == ["retry", "retry", "give_up", "give_up"]


@pytest.mark.parametrize("attempts,max_attempts", [(0, 3), (1, 0)])
def test_attempts_count_from_one(attempts, max_attempts):
    with pytest.raises(ValueError):
        after_missed_blocks("public", attempts, max_attempts)


def test_a_private_attempt_is_live_until_its_last_target_block_is_mined():
    assert not private_window_closed(head_block=102, last_target_block=103)
    assert private_window_closed(head_block=103, last_target_block=103)


def test_the_config_group_and_the_reputation_key(monkeypatch):
    example = Path(__file__).resolve().parents[2] / "floor.example.toml"
    settings = load_settings(example)
    flashbots = settings.chains[0].flashbots
    assert (flashbots.relay_url, flashbots.private_above_wei, flashbots.target_blocks) == (None, 10 * 10**18, 3)
    assert (flashbots.max_attempts, flashbots.on_missed) == (3, "public")
    assert settings.flashbots_reputation_key is None

    monkeypatch.setenv("FLOOR_FLASHBOTS_REPUTATION_KEY", REPUTATION_KEY)
    assert load_settings(example).flashbots_reputation_key.get_secret_value() == REPUTATION_KEY
    assert REPUTATION_KEY[2:] not in scrub(REPUTATION_KEY)

    monkeypatch.setenv("FLOOR_SIGNER__PRIVATE_KEY", REPUTATION_KEY.upper().replace("0X", "0x"))
    with pytest.raises(ConfigError, match="must not be the signer's key") as refused:
        load_settings(example)
    assert REPUTATION_KEY[2:] not in str(refused.value).lower()


def _price(symbol: str, usd: int) -> Price:
    return Price(symbol=symbol, price=usd * 10**8, decimals=8, block_number=1)


PRICES = {"WETH": _price("WETH", 3_000), "USDC": _price("USDC", 1)}
DECIMALS = {"WETH": 18, "USDC": 6}


def test_moves_are_valued_in_wei_of_eth_on_the_oracle():
    assert eth_equivalent({"USDC": 30_000 * 10**6}, DECIMALS, PRICES, "WETH") == 10 * 10**18
    assert eth_equivalent({"WETH": 7, "USDC": 3}, DECIMALS, PRICES, "WETH") == 7 + 1_000_000_000  # rounded down
    assert eth_equivalent({"DAI": 1}, DECIMALS, PRICES, "WETH") is None  # unpriced
    assert eth_equivalent({"USDC": 1}, DECIMALS, {"USDC": PRICES["USDC"]}, "WETH") is None  # no reference


def test_private_by_mark_by_value_above_the_threshold_or_when_unpriced():
    ten_eth = 10 * 10**18
    assert private_reason(["a"], 0, ten_eth) == "intent a is marked private"
    assert private_reason([], ten_eth, ten_eth) == ""  # at the threshold: public
    assert private_reason([], ten_eth + 1, ten_eth).startswith("moves 10.0000 ETH-equivalent, above 10")
    assert "no price" in private_reason([], None, ten_eth)
