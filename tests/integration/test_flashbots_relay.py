"""The Flashbots client against the local relay on a fresh anvil of its own (the session's
chains are not touched): signature checks, simulation, inclusion, and the fallback of a
declined bundle without using a nonce twice."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
import requests
from eth_account import Account
from eth_utils import keccak
from web3 import HTTPProvider, Web3

from floor.chain.flashbots import (
    SIGNATURE_HEADER,
    BundleReverted,
    FlashbotsClient,
    RelayRefused,
    bundle_hash,
)
from floor.devnet.relay import LocalRelay
from floor.txqueue import after_missed_blocks, private_window_closed
from tests.integration.helpers import own_anvil

pytestmark = pytest.mark.integration

CHAIN_ID = 31_999
GWEI = 10**9
VALUE = 10**15
# Deploys nothing: creation code PUSH1 0 PUSH1 0 REVERT, so the transaction's status is 0.
REVERTING_INIT_CODE = "0x60006000fd"


@pytest.fixture(scope="module")
def anvil_url(tmp_path_factory) -> Iterator[str]:
    with own_anvil(tmp_path_factory, CHAIN_ID, "flashbots") as url:
        yield url


@pytest.fixture(scope="module")
def w3(anvil_url) -> Web3:
    return Web3(HTTPProvider(anvil_url))


@pytest.fixture(scope="module")
def relay(anvil_url) -> Iterator[LocalRelay]:
    with LocalRelay(anvil_url) as running:
        yield running


@pytest.fixture(scope="module")
def reputation_key() -> str:
    return "0x" + secrets.token_hex(32)


@pytest.fixture
def client(relay, reputation_key) -> FlashbotsClient:
    return FlashbotsClient(relay.url, reputation_key, timeout_s=10)


@pytest.fixture
def treasury(w3, reputation_key):
    """A funded treasury signer per test, never the reputation key."""
    account = Account.create()
    assert account.key.hex() not in reputation_key
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])
    return account


def transfer(w3: Web3, account, nonce: int, to: str, tip: int = GWEI, value: int = VALUE, data: str | None = None):
    tx = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "to": to,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": 20 * GWEI,
        "maxPriorityFeePerGas": tip,
    }
    if data is not None:  # a contract creation
        tx.update(to=b"", data=data, gas=100_000, value=0)
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def tx_hash(raw: str) -> str:
    return "0x" + keccak(bytes.fromhex(raw[2:])).hex()


def mine_until(w3: Web3, block: int) -> None:
    while w3.eth.block_number < block:
        w3.provider.make_request("evm_mine", [])


def post(relay: LocalRelay, body: bytes, header: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[SIGNATURE_HEADER] = header
    return requests.post(relay.url, data=body, headers=headers, timeout=10)


def test_the_relay_refuses_bad_signature_headers(w3, relay, client, treasury):
    recipient = Account.create().address
    raw = transfer(w3, treasury, 0, recipient)
    bundle = {"txs": [raw], "blockNumber": hex(w3.eth.block_number + 1)}
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "eth_sendBundle", "params": [bundle]}).encode()
    other = FlashbotsClient(relay.url, "0x" + secrets.token_hex(32))
    bad_headers = {
        "missing": None,
        "another key's signature": f"{client.address}:{other.sign_body(body).split(':')[1]}",
        "a signature over another body": client.sign_body(body.replace(b'"id": 7', b'"id": 8')),
        "malformed": "garbage",
    }
    for why, header in bad_headers.items():
        response = post(relay, body, header)
        assert response.status_code == 403, why
        assert response.json()["error"]["code"] == -32600, why
    assert w3.eth.get_transaction_count(treasury.address) == 0
    assert w3.eth.get_balance(recipient) == 0

    # The same body correctly signed is accepted, and included.
    assert post(relay, body, client.sign_body(body)).json()["result"]["bundleHash"] == bundle_hash([raw])
    assert w3.eth.get_balance(recipient) == VALUE

    # Our client surfaces the refusal as RelayRefused (here: signing a body other than the one sent).
    class WrongBody(FlashbotsClient):
        def sign_body(self, body: bytes) -> str:
            return super().sign_body(body + b"!")

    with pytest.raises(RelayRefused, match="signature check") as refused:
        WrongBody(relay.url, "0x" + secrets.token_hex(32)).send_bundle([raw], w3.eth.block_number + 1)
    assert refused.value.retryable is False


def test_a_good_bundle_is_simulated_without_effect_then_included_in_order(w3, relay, client, treasury):
    recipient = Account.create().address
    raws = [transfer(w3, treasury, 0, recipient), transfer(w3, treasury, 1, recipient)]
    head = w3.eth.block_number

    simulation = client.call_bundle(raws, head + 1)
    assert [(r.tx_hash, r.gas_used, r.reverted) for r in simulation.results] == [
        (tx_hash(raws[0]), 21_000, False),
        (tx_hash(raws[1]), 21_000, False),
    ]
    assert simulation.total_gas_used == 42_000
    assert simulation.bundle_hash == bundle_hash(raws)
    # The simulation left nothing behind.
    assert w3.eth.block_number == head
    assert w3.eth.get_transaction_count(treasury.address) == 0
    assert w3.eth.get_balance(recipient) == 0
    assert w3.provider.make_request("anvil_getAutomine", [])["result"] is True

    hashes = client.send_bundle_for_blocks(raws, head + 1, 3)
    assert hashes == [bundle_hash(raws)] * 3
    [inclusion] = [i for i in relay.included if i.bundle_hash == bundle_hash(raws)]
    assert inclusion.tx_hashes == [tx_hash(r) for r in raws]  # in bundle order, one block
    assert inclusion.block_number == head + 1
    receipts = [w3.eth.get_transaction_receipt(h) for h in inclusion.tx_hashes]
    assert [(r.blockNumber, r.transactionIndex, r.status) for r in receipts] == [(head + 1, 0, 1), (head + 1, 1, 1)]
    assert w3.eth.get_transaction_count(treasury.address) == 2
    assert w3.eth.get_balance(recipient) == 2 * VALUE
    # Every request was signed by the reputation key, not the treasury.
    assert {signer for _, signer in relay.requests} >= {client.address}
    assert treasury.address not in {signer for _, signer in relay.requests}


def test_a_reverting_transaction_fails_the_simulation(w3, client, treasury):
    raws = [transfer(w3, treasury, 0, treasury.address), transfer(w3, treasury, 1, "", data=REVERTING_INIT_CODE)]
    with pytest.raises(BundleReverted) as reverted:
        client.call_bundle(raws, w3.eth.block_number + 1)
    assert [r.reverted for r in reverted.value.simulation.results] == [False, True]
    allowed = client.call_bundle(raws, w3.eth.block_number + 1, allow_reverting=[tx_hash(raws[1])])
    assert allowed.results[1].error == "execution reverted"
    assert w3.eth.get_transaction_count(treasury.address) == 0


def test_a_declined_bundle_falls_back_to_the_public_mempool_once(w3, relay, client, treasury):
    recipient = Account.create().address
    raw = transfer(w3, treasury, 0, recipient)
    first = w3.eth.block_number + 1
    relay.decline_next()
    client.send_bundle_for_blocks([raw], first, 3)
    last_target = first + 2

    # While the bundle is live, nothing else is sent at its nonce.
    assert not private_window_closed(w3.eth.block_number, last_target)
    mine_until(w3, last_target)
    assert private_window_closed(w3.eth.block_number, last_target)
    assert w3.eth.get_transaction_count(treasury.address) == 0  # it did not land
    assert not any(i.bundle_hash == bundle_hash([raw]) for i in relay.included)

    assert after_missed_blocks("public", attempts=1, max_attempts=3) == "public"
    sent = w3.eth.send_raw_transaction(bytes.fromhex(raw[2:]))  # the same signed bytes, publicly
    assert w3.eth.wait_for_transaction_receipt(sent, timeout=10).status == 1

    # The relay seeing the bundle again cannot use the nonce a second time.
    client.send_bundle([raw], w3.eth.block_number + 1)
    assert w3.eth.get_transaction_count(treasury.address) == 1
    assert w3.eth.get_balance(recipient) == VALUE


def test_a_declined_private_transaction_is_retried_with_a_higher_tip(w3, relay, client, treasury):
    recipient = Account.create().address
    cheap = transfer(w3, treasury, 0, recipient, tip=GWEI)
    relay.decline_next()
    max_block = w3.eth.block_number + 2
    assert client.send_private_transaction(cheap, max_block) == tx_hash(cheap)
    mine_until(w3, max_block)
    assert private_window_closed(w3.eth.block_number, max_block)
    assert w3.eth.get_transaction_count(treasury.address) == 0

    assert after_missed_blocks("retry_higher_tip", attempts=1, max_attempts=3) == "retry"
    dearer = transfer(w3, treasury, 0, recipient, tip=2 * GWEI)  # same nonce, replaces `cheap`
    client.send_bundle([dearer], w3.eth.block_number + 1)

    assert w3.eth.get_transaction_receipt(tx_hash(dearer)).status == 1
    with pytest.raises(Exception, match="not found"):
        w3.eth.get_transaction_receipt(tx_hash(cheap))
    assert w3.eth.get_transaction_count(treasury.address) == 1
    assert w3.eth.get_balance(recipient) == VALUE


def test_a_private_transaction_is_included(w3, relay, client, treasury):
    recipient = Account.create().address
    raw = transfer(w3, treasury, 0, recipient)
    head = w3.eth.block_number
    assert client.send_private_transaction(raw, head + 25) == tx_hash(raw)
    receipt = w3.eth.get_transaction_receipt(tx_hash(raw))
    assert (receipt.status, receipt.blockNumber) == (1, head + 1)
    assert relay.included[-1].tx_hashes == [tx_hash(raw)]
    assert w3.eth.get_balance(recipient) == VALUE
