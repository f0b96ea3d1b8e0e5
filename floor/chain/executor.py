"""The executor client: one `execute(calls)` transaction, from estimate to confirmed receipt.

The steps are separate so a workflow can run each as its own activity with its own retry
rules: `sign` estimates gas first (a revert surfaces here, before a nonce is used), `submit`
is idempotent (re-sending the same signed transaction is harmless), `wait` polls for the
receipt and the configured confirmations, riding out a failed poll. The full per-signer
transaction queue (priorities, fee bumps, nonce re-sync) builds on these.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from eth_abi.abi import decode
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import TxParams, TxReceipt, Wei

from floor.batching import check_batch
from floor.calls import encode_call, selector
from floor.chain.errors import (
    ConfirmationTimeout,
    ExecutionReverted,
    NonceTooLow,
    TransactionFailed,
)
from floor.chain.signer import SignedTransaction, Signer
from floor.logging import get_logger
from floor.models import Call, TxRecord
from floor.protocols import KnownRevert, ProtocolSpec, known_reverts

EXECUTE = "execute((address,uint256,bytes)[])"

# Revert payloads the executor and common contracts produce, decoded for people.
_REVERTS: dict[bytes, tuple[str, list[str]]] = {
    selector(sig): (sig.split("(")[0], types)
    for sig, types in [
        ("Error(string)", ["string"]),
        ("Panic(uint256)", ["uint256"]),
        ("NotOperator(address)", ["address"]),
        ("NotOwner(address)", ["address"]),
        ("NotGuardian(address)", ["address"]),
        ("NotPendingOwner(address)", ["address"]),
        ("ZeroAddress()", []),
        ("ExecutorPaused()", []),
        ("Reentrancy()", []),
        ("CallNotAllowed(uint256,address,bytes4)", ["uint256", "address", "bytes4"]),
        ("ArgumentNotAllowed(uint256,uint256,bytes32)", ["uint256", "uint256", "bytes32"]),
        ("ArgumentMissing(uint256,uint256)", ["uint256", "uint256"]),
        ("ValueNotAllowed(uint256,uint256)", ["uint256", "uint256"]),
        ("GuardNotStarted(uint256,address)", ["uint256", "address"]),
        (
            "BalanceGuard(uint256,address,uint256,uint256,int256)",
            ["uint256", "address", "uint256", "uint256", "int256"],
        ),
        ("CallFailed(uint256,bytes)", ["uint256", "bytes"]),
        # The loss bound and the deposit attestation (FloorExecutor.vy).
        ("LossTooHigh(uint256,uint256,uint256)", ["uint256", "uint256", "uint256"]),
        ("LossBudgetExceeded(uint256,uint256)", ["uint256", "uint256"]),
        ("AssetNotValued(bytes32)", ["bytes32"]),
        ("PriceUnusable(address,int256,uint256)", ["address", "int256", "uint256"]),
        ("RateUnavailable(address)", ["address"]),
        ("TooManyAssets()", []),
        ("AttestationInvalid(uint256,address)", ["uint256", "address"]),
        ("InvalidAsset(bytes32)", ["bytes32"]),
        ("InvalidLossBound()", []),
        # OpenZeppelin's ERC-20 errors (tokens); each protocol's own come from its package.
        ("ERC20InsufficientBalance(address,uint256,uint256)", ["address", "uint256", "uint256"]),
        ("ERC20InsufficientAllowance(address,uint256,uint256)", ["address", "uint256", "uint256"]),
    ]
}

# Solidity's panic codes (a failed assert, checked arithmetic, ...), for people.
_PANICS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


@functools.cache
def _protocol_reverts() -> tuple[
    dict[bytes, tuple[ProtocolSpec, KnownRevert]], dict[str, tuple[ProtocolSpec, KnownRevert]]
]:
    """The protocol packages' known reverts: by custom error selector, and by string code."""
    by_selector: dict[bytes, tuple[ProtocolSpec, KnownRevert]] = {}
    by_code: dict[str, tuple[ProtocolSpec, KnownRevert]] = {}
    for spec, revert in known_reverts():
        if revert.selector is not None:
            by_selector.setdefault(revert.selector, (spec, revert))
        if revert.code is not None:
            by_code.setdefault(revert.code, (spec, revert))
    return by_selector, by_code


def named_revert(data: bytes | str | None) -> KnownRevert | None:
    """The protocol revert `data` carries, following CallFailed to the inner call's revert:
    a protocol's custom error, or its string code; None for anything else."""
    data = _bytes(data)
    if data is None or len(data) < 4:
        return None
    by_selector, by_code = _protocol_reverts()
    try:
        if data[:4] == selector("CallFailed(uint256,bytes)"):
            return named_revert(decode(["uint256", "bytes"], data[4:])[1])
        if data[:4] == selector("Error(string)"):
            found = by_code.get(decode(["string"], data[4:])[0])
            return found[1] if found else None
    except Exception:
        return None
    found = by_selector.get(data[:4])
    return found[1] if found else None


def _bytes(data: bytes | str | dict[str, Any] | None) -> bytes | None:
    if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."}
        data = data.get("data")
    if isinstance(data, str):
        try:
            return bytes.fromhex(data.removeprefix("0x"))
        except ValueError:  # not hex: no data to decode
            return None
    return data if isinstance(data, bytes) else None


def revert_reason(exc: ContractLogicError) -> str:
    """The reason of a revert web3 raised: its data decoded, else the node's message text
    ("execution reverted: BAL#001" from a node that sends no data), never a bare "reverted"."""
    data = _bytes(exc.data)
    if data:
        return decode_revert(data)
    message = str(getattr(exc, "message", None) or exc)
    text = message.partition("execution reverted")[2].lstrip(": ").strip()
    if not text:
        return decode_revert(None)
    found = _protocol_reverts()[1].get(text)
    if found is not None:
        spec, revert = found
        return f"{text}: {revert.error.__name__}, {revert.meaning} ({spec.title} error {revert.name})"
    return text


def decode_revert(data: bytes | str | None) -> str:
    """A readable reason from revert data, following CallFailed into the inner call's reason.
    A protocol's known revert is named with the engine error it means."""
    data = _bytes(data)
    if data is None:
        return "reverted without data"
    if len(data) < 4:
        return "reverted without data" if not data else f"reverted with 0x{data.hex()}"
    by_selector, by_code = _protocol_reverts()
    protocol = None if data[:4] in _REVERTS else by_selector.get(data[:4])
    if protocol is not None:
        name, types = protocol[1].name, protocol[1].types
    elif data[:4] in _REVERTS:
        name, types = _REVERTS[data[:4]]
    else:
        return f"reverted with unknown error 0x{data[:4].hex()} (data 0x{data.hex()})"
    try:
        args: list[Any] = [
            to_checksum_address(a) if t == "address" else a for t, a in zip(types, decode(types, data[4:]), strict=True)
        ]
    except Exception:
        return f"{name} (undecodable arguments 0x{data[4:].hex()})"
    if protocol is not None:
        spec, revert = protocol
        return f"{name}({', '.join(str(a) for a in args)}): {revert.error.__name__}, {revert.meaning} ({spec.title})"
    if name == "Error":
        if args[0] in by_code:
            spec, revert = by_code[args[0]]
            return f"{args[0]}: {revert.error.__name__}, {revert.meaning} ({spec.title} error {revert.name})"
        message: str = args[0]
        return message
    if name == "Panic":
        return f"Panic(0x{args[0]:02x}: {_PANICS.get(args[0], 'unknown panic code')})"
    if name == "CallFailed":
        return f"CallFailed(call {args[0]}): {decode_revert(args[1])}"
    if name == "CallNotAllowed":
        return f"CallNotAllowed(call {args[0]}: target {args[1]}, selector 0x{args[2].hex()})"
    if name == "ArgumentNotAllowed":
        shown = _word(args[2])
        kind = "address" if len(shown) == 42 else "value"
        return f"ArgumentNotAllowed(call {args[0]}: argument {args[1]} is {shown}, not an allowed {kind})"
    if name == "LossTooHigh":
        loss, moved, bps = args
        return f"LossTooHigh(the batch loses ${loss / 1e18:,.2f} of ${moved / 1e18:,.2f} moved, over {bps} bps)"
    if name == "LossBudgetExceeded":
        used, budget = args
        return f"LossBudgetExceeded(the window's losses would be ${used / 1e18:,.2f}, over its ${budget / 1e18:,.2f})"
    if name == "BalanceGuard":
        index, token, before, after, bound = args
        return (
            f"BalanceGuard(call {index}: balance of {token} moved by {after - before}, "
            f"less than the bound {bound}; before {before}, after {after})"
        )
    return f"{name}({', '.join(str(a) for a in args)})"


def _word(value: bytes) -> str:
    """An argument word as an address where it is one, else as hex."""
    if value[:12] == bytes(12):
        return to_checksum_address(value[12:])
    return "0x" + value.hex()


def encode_execute(calls: Sequence[Call]) -> bytes:
    # Addresses as 20 bytes: no checksum to compute (a keccak per call) on the hot path.
    triples = [(_address_bytes(c.target), c.value, bytes.fromhex(c.data.removeprefix("0x"))) for c in calls]
    return encode_call(EXECUTE, triples)


def _address_bytes(address: str) -> bytes:
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"not an address: {address!r}")
    return raw


GAS_BUFFER_BPS = 2_000  # +20% over the estimate (OZ Relayer: 10-20%)
# And a fixed headroom: an estimate runs at one timestamp and the transaction at a later one,
# and time-dependent code writes more then (a Curve gauge's first checkpoint of an account in
# a new second writes fresh slots: up to ~90k gas a small batch's 20% does not cover).
GAS_HEADROOM = 100_000


# How nodes word a refused eth_sendRawTransaction, by what it means to the sender (geth, reth,
# erigon and anvil in words; Nethermind in CamelCase codes; Besu and OpenEthereum their own).
_SEND_REFUSALS = {
    "known": re.compile(r"\balready known\b|\balready imported\b|\bknown transaction\b"),
    "nonce_too_low": re.compile(r"\bnonce too low\b|\bnonce is too low\b|\bold nonce\b"),
    "insufficient_funds": re.compile(r"\binsufficient funds\b|\bupfront cost exceeds account balance\b"),
}


def send_refusal(message: str) -> str | None:
    """What a node's refusal of a raw transaction means: "known" (these bytes are in its pool
    or mined), "nonce_too_low", "insufficient_funds", or None (anything else: underpriced,
    a pool full, ...)."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", message).lower()  # AlreadyKnown -> already known
    return next((kind for kind, pattern in _SEND_REFUSALS.items() if pattern.search(words)), None)


class ExecutorClient:
    def __init__(
        self,
        w3: Web3,
        chain_id: int,
        executor: str,
        signer: Signer,
        *,
        confirmations: int = 1,
        gas_buffer_bps: int = GAS_BUFFER_BPS,
        receipt_timeout_s: float = 180.0,
        poll_interval_s: float = 0.25,
    ):
        self.w3 = w3
        self.chain_id = chain_id
        self.executor = to_checksum_address(executor)
        self.signer = signer
        self.confirmations = confirmations
        self.gas_buffer_bps = gas_buffer_bps
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_interval_s = poll_interval_s

    def build(self, calls: Sequence[Call], nonce: int | None = None) -> dict[str, Any]:
        """The unsigned EIP-1559 transaction; raises ExecutionReverted if the batch would revert."""
        check_batch(calls)
        data = encode_execute(calls)
        request: TxParams = {"from": self.signer.address, "to": self.executor, "data": data, "value": Wei(0)}
        try:
            gas = self.w3.eth.estimate_gas(request)
        except ContractLogicError as exc:
            raw = _bytes(exc.data)
            revert_data = "0x" + raw.hex() if raw else None
            named = named_revert(revert_data)
            raise ExecutionReverted(revert_reason(exc), revert_data, named.error.__name__ if named else None) from None
        base_fee = self.w3.eth.get_block("latest")["baseFeePerGas"]
        tip = self.w3.eth.max_priority_fee
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(self.signer.address, "pending")
        return {
            "type": 2,
            "chainId": self.chain_id,
            "from": self.signer.address,
            "to": self.executor,
            "data": "0x" + data.hex(),
            "value": 0,
            "nonce": nonce,
            "gas": gas * (10_000 + self.gas_buffer_bps) // 10_000 + GAS_HEADROOM,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 2 * base_fee + tip,
        }

    def sign(self, calls: Sequence[Call], nonce: int | None = None) -> SignedTransaction:
        return self.signer.sign_transaction(self.build(calls, nonce))

    def submit(self, signed: SignedTransaction) -> str:
        """Send the signed transaction; sending it again is a no-op."""
        try:
            self.w3.eth.send_raw_transaction(signed.raw)
        except Web3RPCError as exc:
            refusal = send_refusal(str(exc))
            if refusal == "known":
                return signed.hash
            if refusal == "nonce_too_low":
                if self._receipt(signed.hash) is not None:
                    return signed.hash  # ours, already mined
                raise NonceTooLow(
                    f"nonce {signed.nonce} of {self.signer.address} was used by another transaction"
                ) from None
            raise
        return signed.hash

    def wait(self, tx_hash: str, calls: int, heartbeat: Callable[[], None] | None = None) -> TxRecord:
        """Poll for the receipt and the confirmations; a reverted transaction raises.

        A poll that fails (an RPC fault, a garbled answer) is logged and polled again: the
        transaction is on its way whatever one poll says, so only the deadline ends the wait.
        """
        deadline = time.monotonic() + self.receipt_timeout_s
        failed_polls = 0
        while True:
            try:
                record = self._confirmed(tx_hash, calls)
            except TransactionFailed:
                raise
            except Exception as exc:  # one failed poll must not end the wait
                failed_polls += 1
                record = None
                get_logger(chain_id=self.chain_id, tx_hash=tx_hash).warning(
                    "confirmation poll failed; polling again", error=type(exc).__name__, failed_polls=failed_polls
                )
            if record is not None:
                return record
            if time.monotonic() > deadline:
                raise ConfirmationTimeout(
                    f"{tx_hash}: not confirmed within {self.receipt_timeout_s}s ({failed_polls} polls failed)"
                )
            if heartbeat is not None:
                heartbeat()
            time.sleep(self.poll_interval_s)

    def _confirmed(self, tx_hash: str, calls: int) -> TxRecord | None:
        """The receipt once it has the configured confirmations, else None."""
        receipt = self._receipt(tx_hash)
        if receipt is None or self.w3.eth.block_number < receipt["blockNumber"] + self.confirmations - 1:
            return None
        record = TxRecord(
            chain_id=self.chain_id,
            tx_hash=tx_hash,
            nonce=self.w3.eth.get_transaction(HexStr(tx_hash))["nonce"],
            block_number=receipt["blockNumber"],
            gas_used=receipt["gasUsed"],
            effective_gas_price=receipt["effectiveGasPrice"],
            status=receipt["status"],
            calls=calls,
        )
        if record.status != 1:
            raise TransactionFailed(f"{tx_hash} reverted in block {record.block_number}")
        return record

    def execute(self, calls: Sequence[Call]) -> TxRecord:
        signed = self.sign(calls)
        return self.wait(self.submit(signed), len(calls))

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None
