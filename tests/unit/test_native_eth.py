"""Native ETH staking, pure: deposit data roots recomputed as the deposit contract does (checked
against a real ethstaking-deposit-cli output), its BLS signature, the refusals before anything
is sent (credentials not paying the executor, amounts other than 32 ETH, another network's fork
version, edited roots), the executor's rules for the deposit (credentials checked on chain) and
for EIP-7002's raw exit calls, and the Beacon API's validator shape."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_abi import decode, encode

from floor.adapters.base import Asset, Deposit, Withdraw
from floor.batching import MAX_CALL_DATA
from floor.calls import ReadResult
from floor.chain.executor import decode_revert, named_revert
from floor.errors import InvalidAmount
from floor.models import AdapterKey
from floor.protocols.native_eth import deposit_data as dd
from floor.protocols.native_eth.adapter import (
    DEPOSIT_WEI,
    NativeEthAdapter,
    withdrawal_request_data,
)
from floor.protocols.native_eth.config import MAINNET_DEPOSIT_CONTRACT, WITHDRAWAL_REQUEST_PREDEPLOY
from floor.protocols.native_eth.errors import (
    BadDepositData,
    BadSignature,
    BeaconUnavailable,
    DepositDataRootMismatch,
    DepositMessageRootMismatch,
    ExitFeeTooLow,
    ExitNotPossible,
    UnknownValidator,
    WrongDepositAmount,
    WrongForkVersion,
    WrongWithdrawalCredentials,
)
from floor.protocols.native_eth.validators import (
    EPOCH_S,
    FAR_FUTURE_EPOCH,
    SWEEP_WAIT_S,
    Genesis,
    parse_validators,
    snapshot,
)

EXECUTOR = "0x36b58F5C1969B7b6591D752ea6F5486D069010AB"
OTHER = "0x468C15D616B52FCeF0b932BF89d42157984BE2a5"
WETH = Asset("WETH", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", 18)
KEY = AdapterKey(chain_id=1, protocol="native-eth", market="validators")

# A real ethstaking-deposit-cli 2.7.0 entry (a custom network, fork version 0x20000089), as
# published in a staking guide: its roots and signature are the CLI's own.
CLI_ENTRY = {
    "pubkey": "98db81971df910a5d46314d21320f897060d76fdf137d22f0eb91a8693a4767d2a22730a3aaa955f07d13ad604f968e9",
    "withdrawal_credentials": "010000000000000000000000468c15d616b52fcef0b932bf89d42157984be2a5",
    "amount": 32000000000,
    "signature": "a20d736d6807720cb2a2f48526eb3df83162b387b806bdf7d0d08bb31d3d4e4daaf4a11120dc194b188035e9e5c9bdbf"
    "00c3be3ca68adec9c4fb2fb59d936337b750ae08a9e7add56fb82526792876066456010a64c5629b7f1f564f9923ff8e",
    "deposit_message_root": "2304faca7c177b307c224757df6e8a955026c613c86045ea569ba5547f8d104c",
    "deposit_data_root": "e6260302845906138ebe075e9977e6086f02fc1c5142590bebdf54579c806bd3",
    "fork_version": "20000089",
    "network_name": "custom",
    "deposit_cli_version": "2.7.0",
}


@pytest.fixture(scope="module")
def good() -> dd.DepositData:
    return dd.make(7, EXECUTOR)


def adapter(tmp_path, entries, **kw) -> NativeEthAdapter:
    path = dd.write(tmp_path / "deposit_data-1.json", entries)
    return NativeEthAdapter(
        key=KEY,
        asset=WETH,
        deposit_contract=MAINNET_DEPOSIT_CONTRACT,
        withdrawal_request=WITHDRAWAL_REQUEST_PREDEPLOY,
        deposit_data=str(path),
        **kw,
    )


# ------------------------------------------------------------------ roots and signature


def test_both_roots_match_the_deposit_clis_own():
    d = dd.parse_entry(CLI_ENTRY)
    assert (
        dd.deposit_message_root(d.pubkey, d.withdrawal_credentials, d.amount).hex() == CLI_ENTRY["deposit_message_root"]
    )
    assert (
        dd.deposit_data_root(d.pubkey, d.withdrawal_credentials, d.amount, d.signature).hex()
        == CLI_ENTRY["deposit_data_root"]
    )
    dd.check_roots(d)  # raises nothing


def test_the_clis_signature_verifies_and_an_edited_entry_does_not():
    d = dd.parse_entry(CLI_ENTRY)
    dd.verify_signature(d)
    # The same message under mainnet's fork version: roots still hold, the signature does not.
    with pytest.raises(BadSignature):
        dd.verify_signature(replace(d, fork_version=bytes(4)))


def test_an_edited_root_or_field_is_refused_by_name():
    d = dd.parse_entry(CLI_ENTRY)
    with pytest.raises(DepositDataRootMismatch):
        dd.check_roots(replace(d, deposit_data_root=bytes(32)))
    with pytest.raises(DepositMessageRootMismatch):
        dd.check_roots(replace(d, deposit_message_root=bytes(32)))
    # A changed signature keeps the message root but not the data root.
    with pytest.raises(DepositDataRootMismatch):
        dd.check_roots(replace(d, signature=bytes(96)))


# ------------------------------------------------------------------ what a deposit must pay


def test_good_deposit_data_passes_every_check(good):
    assert dd.check(good, EXECUTOR, 1, signature=True) is good
    assert good.withdrawal_credentials == b"\x01" + bytes(11) + bytes.fromhex(EXECUTOR[2:])
    compounding = dd.make(8, EXECUTOR, prefix=b"\x02")
    dd.check(compounding, EXECUTOR, 1, signature=True)


@pytest.mark.parametrize(
    "credentials",
    [
        b"\x00" + bytes(11) + bytes.fromhex(EXECUTOR[2:]),  # a BLS withdrawal key's credentials
        b"\x03" + bytes(11) + bytes.fromhex(EXECUTOR[2:]),
        b"\x01" + b"\x01" + bytes(10) + bytes.fromhex(EXECUTOR[2:]),  # padding not zero
        b"\x01" + bytes(11) + bytes.fromhex(OTHER[2:]),  # someone else's address
    ],
)
def test_credentials_not_paying_the_executor_are_refused(credentials, good):
    with pytest.raises(WrongWithdrawalCredentials):
        dd.check_credentials(replace(good, withdrawal_credentials=credentials), EXECUTOR)


def test_the_cli_entry_pays_its_own_address_not_the_executor():
    d = dd.parse_entry(CLI_ENTRY)
    dd.check_credentials(d, OTHER)
    with pytest.raises(WrongWithdrawalCredentials):
        dd.check_credentials(d, EXECUTOR)


def test_amounts_other_than_32_eth_are_refused():
    one = dd.make(9, EXECUTOR, amount_gwei=dd.GWEI)  # 1 ETH, a valid deposit for the contract
    dd.check_roots(one)
    with pytest.raises(WrongDepositAmount):
        dd.check(one, EXECUTOR, 1)
    assert issubclass(WrongDepositAmount, InvalidAmount)


def test_another_networks_fork_version_is_refused(good):
    holesky = dd.make(10, EXECUTOR, fork_version=bytes.fromhex("01017000"), network_name="holesky")
    dd.check(holesky, EXECUTOR, 17000, signature=True)
    with pytest.raises(WrongForkVersion, match="0x01017000"):
        dd.check(holesky, EXECUTOR, 1)
    with pytest.raises(WrongForkVersion):
        dd.check(good, EXECUTOR, 42161)  # no beacon chain of its own
    # The field relabelled to mainnet's: the signature (over the holesky domain) gives it away.
    with pytest.raises(BadSignature):
        dd.check(replace(holesky, fork_version=bytes(4)), EXECUTOR, 1, signature=True)


# ------------------------------------------------------------------ the file


def test_a_directory_of_deposit_data_files_loads_in_name_order(tmp_path, good):
    other = dd.make(11, EXECUTOR)
    dd.write(tmp_path / "deposit_data-2.json", [other])
    dd.write(tmp_path / "deposit_data-1.json", [good])
    (tmp_path / "keystore-m_12381.json").write_text("{}")  # the CLI's other output: ignored
    assert [d.pubkey for d in dd.load(tmp_path)] == [good.pubkey, other.pubkey]
    assert dd.load(tmp_path / "deposit_data-1.json")[0] == good


def test_malformed_deposit_data_is_refused_by_name(tmp_path, good):
    dd.write(tmp_path / "deposit_data-1.json", [good, good])
    with pytest.raises(BadDepositData, match="listed twice"):
        dd.load(tmp_path)
    bad = dict(good.as_json(), pubkey="ab" * 47)
    (tmp_path / "deposit_data-1.json").write_text(json.dumps([bad]))
    with pytest.raises(BadDepositData, match="pubkey is 47 bytes"):
        dd.load(tmp_path)
    (tmp_path / "deposit_data-1.json").write_text(json.dumps([dict(good.as_json(), amount="32000000000")]))
    with pytest.raises(BadDepositData, match="amount"):
        dd.load(tmp_path)
    (tmp_path / "deposit_data-1.json").write_text("{not json")
    with pytest.raises(BadDepositData, match="cannot read"):
        dd.load(tmp_path)


# ------------------------------------------------------------------ the adapter's calls


def test_a_deposit_unwraps_and_deposits_32_eth_per_validator_within_the_executors_rules(tmp_path, good):
    second = dd.make(12, EXECUTOR)
    a = adapter(tmp_path, [good, second])
    calls = a.deposit_calls(2 * DEPOSIT_WEI, EXECUTOR)
    assert [c.target for c in calls] == [WETH.address, MAINNET_DEPOSIT_CONTRACT, MAINNET_DEPOSIT_CONTRACT]
    assert decode(["uint256"], bytes.fromhex(calls[0].data[10:])) == (2 * DEPOSIT_WEI,)
    assert calls[0].value == 0 and calls[1].value == calls[2].value == DEPOSIT_WEI
    args = decode(["bytes", "bytes", "bytes", "bytes32"], bytes.fromhex(calls[1].data[10:]))
    assert args == (good.pubkey, good.withdrawal_credentials, good.signature, good.deposit_data_root)
    assert all(len(bytes.fromhex(c.data[2:])) <= MAX_CALL_DATA for c in calls)
    rules = a.permissions()
    assert all(rules.refusal(c, EXECUTOR) is None for c in calls)
    # The executor checks the credentials on chain too: a deposit paying someone else is refused.
    stolen = dd.make(13, OTHER)
    sneaky_data = bytes.fromhex(calls[1].data[2:10]) + encode(
        ["bytes", "bytes", "bytes", "bytes32"],
        [stolen.pubkey, stolen.withdrawal_credentials, stolen.signature, stolen.deposit_data_root],
    )
    sneaky = calls[1].model_copy(update={"data": "0x" + sneaky_data.hex()})
    assert "not withdrawal credentials of the executor" in rules.refusal(sneaky, EXECUTOR)


def test_deposits_are_refused_before_anything_is_built(tmp_path, good):
    a = adapter(tmp_path, [good])
    with pytest.raises(WrongDepositAmount):
        a.deposit_calls(DEPOSIT_WEI + 1, EXECUTOR)
    with pytest.raises(BadDepositData, match="not yet deposited"):
        a.deposit_calls(2 * DEPOSIT_WEI, EXECUTOR)
    with pytest.raises(WrongWithdrawalCredentials):
        a.deposit_calls(DEPOSIT_WEI, OTHER)  # the deposit data pays another executor
    wrong_root = adapter(tmp_path, [replace(good, deposit_data_root=bytes(32))])
    with pytest.raises(DepositDataRootMismatch):
        wrong_root.deposit_calls(DEPOSIT_WEI, EXECUTOR)
    with pytest.raises(BadDepositData, match="has 0 not yet deposited"):
        replace(a, deposit_data=None).deposit_calls(DEPOSIT_WEI, EXECUTOR)


def test_an_exit_is_eip7002s_raw_56_bytes_with_the_fee_and_a_rule_per_validator(tmp_path, good):
    a = adapter(tmp_path, [good])
    data = withdrawal_request_data(good.pubkey)
    assert len(data) == 56 and data[:48] == good.pubkey and data[48:] == bytes(8)
    assert withdrawal_request_data(good.pubkey, 5)[48:] == (5).to_bytes(8, "big")
    (c,) = a.exit_calls([good.pubkey], fee=3, current_fee=3)
    assert (c.target, c.value, c.data) == (WITHDRAWAL_REQUEST_PREDEPLOY, 3, "0x" + data.hex())
    rules = a.permissions()
    assert rules.refusal(c, EXECUTOR) is None
    other = dd.make(14, EXECUTOR)
    foreign = c.model_copy(update={"data": "0x" + withdrawal_request_data(other.pubkey).hex()})
    assert "is not allowed" in rules.refusal(foreign, EXECUTOR)  # not a listed validator
    with pytest.raises(ExitFeeTooLow):
        a.exit_calls([good.pubkey], fee=2, current_fee=3)
    with pytest.raises(UnknownValidator):
        a.exit_calls([other.pubkey], fee=3)
    with pytest.raises(ExitNotPossible, match="read first"):
        a.withdraw_calls(DEPOSIT_WEI, EXECUTOR)
    with pytest.raises(InvalidAmount):
        withdrawal_request_data(good.pubkey, 2**64)


def test_the_exit_fee_is_quoted_from_the_predeploy(tmp_path, good):
    a = adapter(tmp_path, [good])
    (read,) = a.quote_reads(Withdraw(DEPOSIT_WEI), EXECUTOR)
    assert (read.target, read.data) == (WITHDRAWAL_REQUEST_PREDEPLOY, b"")
    assert a.decode_quote(Withdraw(DEPOSIT_WEI), [ReadResult(True, encode(["uint256"], [1]))]) == []
    assert a.quote_reads(Deposit(DEPOSIT_WEI), EXECUTOR) == []


def test_the_deposit_contracts_reverts_are_named():
    reason = "DepositContract: reconstructed DepositData does not match supplied deposit_data_root"
    data = bytes.fromhex("08c379a0") + encode(["string"], [reason])
    assert named_revert(data).error is DepositDataRootMismatch
    assert "DepositDataRootMismatch" in decode_revert(data)


# ------------------------------------------------------------------ the Beacon API's shape


def validator_json(
    pubkey: bytes, balance: int, status: str, exit_epoch=FAR_FUTURE_EPOCH, withdrawable=FAR_FUTURE_EPOCH
):
    return {
        "index": "7",
        "balance": str(balance),
        "status": status,
        "validator": {
            "pubkey": "0x" + pubkey.hex(),
            "withdrawal_credentials": "0x01" + "00" * 11 + EXECUTOR[2:].lower(),
            "effective_balance": "32000000000",
            "slashed": False,
            "activation_eligibility_epoch": "1",
            "activation_epoch": "6",
            "exit_epoch": str(exit_epoch),
            "withdrawable_epoch": str(withdrawable),
        },
    }


def test_the_position_is_the_validators_balance_in_wei_plus_the_executors_eth(tmp_path, good):
    body = {
        "execution_optimistic": False,
        "finalized": False,
        "data": [validator_json(good.pubkey, 32_001_000_000, "active_ongoing")],
    }
    (v,) = parse_validators(body)
    assert (v.index, v.balance, v.balance_wei, v.can_exit) == (7, 32_001_000_000, 32_001_000_000 * 10**9, True)
    one = {**body, "data": body["data"][0]}  # /validators/{id} answers one object
    assert parse_validators(one) == [v]
    a = adapter(tmp_path, [good]).with_beacon(snapshot([v], Genesis(0, bytes(4)), 100 * EPOCH_S), exit_fee=1)
    eth = ReadResult(True, encode(["uint256"], [5]))
    count = ReadResult(True, encode(["bytes"], [(1).to_bytes(8, "little")]))
    assert a.decode_position([eth, count]).amount == 32_001_000_000 * 10**9 + 5
    assert a.pending() == []
    liquidity = a.decode_liquidity([eth, count])
    assert (liquidity.withdrawable, liquidity.market_available) == (5, 5)


def test_an_exiting_validator_reports_its_wait_and_cannot_exit_again(tmp_path, good):
    body = {"data": [validator_json(good.pubkey, 32 * 10**9, "active_exiting", exit_epoch=105, withdrawable=361)]}
    (v,) = parse_validators(body)
    snap = snapshot([v], Genesis(0, bytes(4)), 100 * EPOCH_S)
    assert snap.exit_wait_s(v) == (361 - 100) * EPOCH_S + SWEEP_WAIT_S
    a = adapter(tmp_path, [good]).with_beacon(snap, exit_fee=1)
    with pytest.raises(ExitNotPossible, match="active_exiting"):
        a.exit_calls([good.pubkey], fee=1)


def test_a_response_not_in_the_apis_shape_is_a_retryable_error(good):
    with pytest.raises(BeaconUnavailable):
        parse_validators({"code": 404, "message": "Validator not found"})
    broken = validator_json(good.pubkey, 32, "active_ongoing")
    broken["balance"] = 32  # a number, not the API's decimal string
    with pytest.raises(BeaconUnavailable):
        parse_validators({"data": [broken]})
    with pytest.raises(BeaconUnavailable, match="unknown validator status"):
        parse_validators({"data": [validator_json(good.pubkey, 32, "active")]})
    assert BeaconUnavailable.retryable
