import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as sel
from eth_utils import to_checksum_address
from web3.exceptions import ContractLogicError

from floor.calls import ReadFailed, ReadResult, decode_result, selector
from floor.chain.executor import decode_revert, revert_reason
from floor.errors import InsufficientLiquidity, InvalidAmount

ERROR = sel("Error(string)") + encode(["string"], ["Reverter: fail"])


def test_nested_call_failure_is_unwrapped():
    data = sel("CallFailed(uint256,bytes)") + encode(["uint256", "bytes"], [2, ERROR])
    assert decode_revert(data) == "CallFailed(call 2): Reverter: fail"


def test_call_not_allowed_names_target_and_selector():
    data = sel("CallNotAllowed(uint256,address,bytes4)") + encode(
        ["uint256", "address", "bytes4"], [0, "0x" + "ab" * 20, b"\x12\x34\x56\x78"]
    )
    assert (
        decode_revert("0x" + data.hex())
        == f"CallNotAllowed(call 0: target {to_checksum_address('0x' + 'ab' * 20)}, selector 0x12345678)"
    )


def test_unknown_and_empty_reverts_stay_readable():
    assert decode_revert(b"") == "reverted without data"
    assert decode_revert(None) == "reverted without data"
    assert decode_revert(b"\xde\xad\xbe\xef").startswith("reverted with unknown error 0xdeadbeef")


def test_scoped_argument_and_balance_guard_errors_name_what_was_wrong():
    attacker = to_checksum_address("0x" + "66" * 20)
    data = sel("ArgumentNotAllowed(uint256,uint256,bytes32)") + encode(
        ["uint256", "uint256", "bytes32"], [1, 2, bytes(12) + bytes.fromhex("66" * 20)]
    )
    assert decode_revert(data) == f"ArgumentNotAllowed(call 1: argument 2 is {attacker}, not an allowed address)"
    guard = sel("BalanceGuard(uint256,address,uint256,uint256,int256)") + encode(
        ["uint256", "address", "uint256", "uint256", "int256"], [4, attacker, 10, 11, 995]
    )
    assert decode_revert(guard) == (
        f"BalanceGuard(call 4: balance of {attacker} moved by 1, less than the bound 995; before 10, after 11)"
    )


def test_batches_beyond_the_executor_bounds_are_refused_by_name():
    import pytest

    from floor.batching import MAX_CALL_DATA, MAX_CALLS, check_batch
    from floor.errors import BatchTooLarge, InvalidAmount
    from floor.models import Call

    small = Call(target="0x" + "11" * 20, data="0x12345678")
    check_batch([small] * MAX_CALLS)
    with pytest.raises(InvalidAmount, match="at least one call"):
        check_batch([])
    with pytest.raises(BatchTooLarge, match=f"65 calls; the executor takes at most {MAX_CALLS}"):
        check_batch([small] * (MAX_CALLS + 1))
    big = Call(target=small.target, data="0x" + "00" * (MAX_CALL_DATA + 1))
    with pytest.raises(
        BatchTooLarge, match=f"call 1 to 0x1111111111111111111111111111111111111111 has {MAX_CALL_DATA + 1} bytes"
    ):
        check_batch([small, big])


def _error(text: str) -> bytes:
    return selector("Error(string)") + encode(["string"], [text])


def test_reads_keep_the_revert_reason_and_name_known_codes():
    # A Balancer one-token exit too small for the pool's rounding: Error("BAL#001").
    with pytest.raises(InvalidAmount, match=r"queryExit: reverted BAL#001: InvalidAmount, the pool's math"):
        decode_result(["uint256"], ReadResult(False, _error("BAL#001")), "pool queryExit")
    with pytest.raises(ReadFailed, match=r"^token.transferFrom: call reverted \(not allowed\)$"):
        decode_result(["bool"], ReadResult(False, _error("not allowed")), "token.transferFrom")
    with pytest.raises(InsufficientLiquidity, match="NotEnoughLiquidity: InsufficientLiquidity"):
        decode_result(["uint256"], ReadResult(False, selector("NotEnoughLiquidity()")), "vault.withdraw")
    assert decode_revert(_error("BAL#001")).startswith("BAL#001: InvalidAmount, ")


def test_a_revert_without_data_keeps_the_nodes_text():
    assert revert_reason(ContractLogicError("execution reverted: BAL#001", data=None)).startswith(
        "BAL#001: InvalidAmount, "
    )
    assert revert_reason(ContractLogicError("execution reverted: paused", data=None)) == "paused"
    assert revert_reason(ContractLogicError("execution reverted", data=None)) == "reverted without data"
    nested = {"data": "0x" + _error("BAL#505").hex()}
    assert decode_revert(nested).startswith("BAL#505: ExitBelowMinimum, ")
