from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as sel
from eth_utils import to_checksum_address

from floor.chain.executor import decode_revert

ERROR = sel("Error(string)") + encode(["string"], ["Reverter: fail"])


def test_nested_call_failure_is_unwrapped():
    data = sel("CallFailed(uint256,bytes)") + encode(["uint256", "bytes"], [2, ERROR])
    assert decode_revert(data) == "CallFailed(call 2): Reverter: fail"


def test_call_not_allowed_names_target_and_selector():
    data = sel("CallNotAllowed(uint256,address,bytes4)") + encode(["uint256", "address", "bytes4"], [0, "0x" + "ab" * 20, b"\x12\x34\x56\x78"])
    assert decode_revert("0x" + data.hex()) == f"CallNotAllowed(call 0: target {to_checksum_address('0x' + 'ab' * 20)}, selector 0x12345678)"


def test_unknown_and_empty_reverts_stay_readable():
    assert decode_revert(b"") == "reverted without data"
    assert decode_revert(None) == "reverted without data"
    assert decode_revert(b"\xde\xad\xbe\xef").startswith("reverted with unknown error 0xdeadbeef")
