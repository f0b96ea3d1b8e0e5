"""Encoded contract calls, pure: what adapters build and the chain layer sends or reads."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode, encode
from eth_abi.grammar import parse
from eth_utils.abi import function_signature_to_4byte_selector

from floor.errors import FloorError
from floor.models import Call

if TYPE_CHECKING:
    from floor.protocols import KnownRevert


@dataclass(frozen=True)
class ReadCall:
    """One read: `data` is the ABI-encoded call (selector + arguments)."""

    target: str
    data: bytes
    allow_failure: bool = True


@dataclass(frozen=True)
class ReadResult:
    success: bool
    data: bytes


def encode_call(signature: str, *args: Any) -> bytes:
    """ABI-encode a call from its signature, e.g. encode_call("balanceOf(address)", acct)."""
    arg_types = _argument_types(signature)
    return selector(signature) + (encode(list(arg_types), list(args)) if arg_types else b"")


@functools.cache  # a handful of signatures, hashed and parsed once each
def _argument_types(signature: str) -> tuple[str, ...]:
    arguments = signature[signature.index("(") :]
    if arguments == "()":
        return ()
    return tuple(component.to_type_str() for component in parse(arguments).components)


@functools.cache
def selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def call(target: str, signature: str, *args: Any, value: int = 0) -> Call:
    """A write call for the executor contract."""
    return Call(target=target, value=value, data="0x" + encode_call(signature, *args).hex())


def read(target: str, signature: str, *args: Any, allow_failure: bool = True) -> ReadCall:
    return ReadCall(target, encode_call(signature, *args), allow_failure)


def decode_result(types: list[str], result: ReadResult, what: str) -> tuple[Any, ...]:
    """Decode one read's return data; a failed read is an error naming what was read and why
    (its revert reason). A protocol's known revert raises the engine error it means."""
    if not result.success:
        known = known_revert(result.data)
        if known is not None:
            raise known.error(f"{what}: reverted {revert_reason(result.data)}")
        raise ReadFailed(f"{what}: call reverted ({revert_reason(result.data)})")
    try:
        return decode(types, result.data)
    except Exception as exc:  # eth_abi raises several types for short or malformed data
        raise ReadFailed(f"{what}: cannot decode {types} from {len(result.data)} bytes") from exc


class ReadFailed(FloorError):
    """A read through Multicall3 reverted or returned data that does not decode: a market
    paused for a moment or a node answering badly, so worth another try."""

    retryable = True


ERROR_STRING = selector("Error(string)")
PANIC = selector("Panic(uint256)")


def known_revert(data: bytes) -> KnownRevert | None:
    """The protocol revert `data` is (a `floor.protocols.KnownRevert`: a custom error by its
    selector, or an Error(string) code such as Balancer's "BAL#001"), else None."""
    from floor.protocols import known_reverts  # here: the protocol packages import this module

    text = _error_string(data)
    for _, revert in known_reverts():
        if (text is not None and revert.code == text) or (len(data) >= 4 and revert.selector == data[:4]):
            return revert
    return None


def revert_reason(data: bytes) -> str:
    """A revert's reason for people: an Error(string)'s text (with the protocol's name for a
    known code), a known custom error's name, a panic code, else the raw data."""
    if not data:
        return "no reason given"
    known = known_revert(data)
    text = _error_string(data)
    if known is not None:
        what = text if text is not None else known.name
        return f"{what}: {known.error.__name__}, {known.meaning}"
    if text is not None:
        return text
    if data[:4] == PANIC and len(data) == 36:
        return f"Panic(0x{int.from_bytes(data[4:], 'big'):02x})"
    return f"0x{data.hex()}"


def _error_string(data: bytes) -> str | None:
    if data[:4] != ERROR_STRING:
        return None
    try:
        text: str = decode(["string"], data[4:])[0]
    except Exception:  # malformed: shown raw
        return None
    return text
