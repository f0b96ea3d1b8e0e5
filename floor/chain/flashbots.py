"""A Flashbots-style relay client: bundles and private transactions over plain JSON-RPC.

The `flashbots` PyPI package pins web3 < 7, so this speaks the relay's JSON-RPC directly
(https://docs.flashbots.net/flashbots-auction/advanced/rpc-endpoint):

- `eth_callBundle` `[{txs, blockNumber, stateBlockNumber}]` simulates signed transactions
  on top of `stateBlockNumber` as block `blockNumber`; the answer has per-transaction
  `results` (`txHash`, `gasUsed`, `error`/`revert` when it reverted), `bundleHash`,
  `bundleGasPrice`, `coinbaseDiff`, `totalGasUsed`, `stateBlockNumber`.
- `eth_sendBundle` `[{txs, blockNumber, revertingTxHashes?}]` -> `{bundleHash}`: a bundle
  targets exactly one block, so "the next N blocks" is N requests.
- `eth_sendPrivateTransaction` `[{tx, maxBlockNumber}]` -> the transaction's hash (the
  relay clamps `maxBlockNumber` to head + 25).

Every request is signed: header `X-Flashbots-Signature: <address>:<signature>`, the
signature an EIP-191 `personal_sign` of the *text* `0x<keccak256(body) as lowercase hex>`
(66 characters), i.e. ethers' `signMessage(id(body))`. The bytes signed must be the bytes
sent, so the body is serialised once and posted as-is. (`HexBytes.hex()` drops the `0x`
prefix since hexbytes 1.0: signing its output gives "error in signature check".)

The signing key is a reputation key: it identifies the searcher to the relay and holds no
funds. It must not be the treasury's transaction signer; it is registered with the log
redactor and never logged.

The transaction queue routes to it (`activities/txqueue.py` `tx_send_private`, the policy
below), see docs/architecture.md, "Private transactions".
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_hex_address, to_checksum_address
from eth_utils.crypto import keccak
from pydantic import SecretStr

from floor.errors import FloorError
from floor.logging import get_logger, redact_url, register_secret
from floor.models import Price

log = get_logger()

SIGNATURE_HEADER = "X-Flashbots-Signature"

__all__ = [
    "SIGNATURE_HEADER",
    "BundleReverted",
    "BundleSimulation",
    "FlashbotsClient",
    "InvalidSignatureHeader",
    "RelayRefused",
    "RelayUnavailable",
    "TxSimulation",
    "body_digest",
    "bundle_hash",
    "eth_equivalent",
    "private_reason",
    "recover_signature_header",
]


class RelayRefused(FloorError):
    """The relay answered with a JSON-RPC error (bad signature, invalid bundle, nonce too
    low, ...). Sending the same request again gets the same answer."""

    retryable = False

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code


class RelayUnavailable(FloorError):
    """The relay did not answer with JSON-RPC: connection refused, timeout, 429, 5xx, a body
    that is not JSON. Nothing is known to have been accepted; sending again is safe (a bundle
    or private transaction is identified by its signed bytes)."""

    retryable = True


class BundleReverted(FloorError):
    """`eth_callBundle`: a transaction the caller did not allow to revert reverted."""

    retryable = False

    def __init__(self, message: str, simulation: BundleSimulation):
        super().__init__(message)
        self.simulation = simulation


class InvalidSignatureHeader(ValueError):
    """An `X-Flashbots-Signature` header that is missing, malformed, or not the named
    address's signature over the body (the relay's side of the check)."""


# ---------------------------------------------------------------- signing


def body_digest(body: bytes) -> str:
    """The text that is signed: keccak256 of the raw body, `0x`-prefixed lowercase hex."""
    return "0x" + keccak(body).hex()


def recover_signature_header(header: str | None, body: bytes) -> str:
    """The checksummed address that signed `body`, checked against the address the header
    names; raises `InvalidSignatureHeader`."""
    if not header:
        raise InvalidSignatureHeader(f"missing {SIGNATURE_HEADER} header")
    address, sep, signature = header.strip().partition(":")
    if not sep or not is_hex_address(address) or not signature:
        raise InvalidSignatureHeader(f"malformed {SIGNATURE_HEADER} header: expected <address>:<signature>")
    try:
        recovered = Account.recover_message(encode_defunct(text=body_digest(body)), signature=signature)
    except Exception as exc:  # malformed hex, wrong length, invalid v/r/s
        raise InvalidSignatureHeader(f"unreadable signature: {type(exc).__name__}") from None
    if recovered.lower() != address.lower():
        raise InvalidSignatureHeader(f"error in signature check {to_checksum_address(address)}")
    return to_checksum_address(recovered)


def bundle_hash(raw_txs: list[str]) -> str:
    """keccak256 of the bundle's transaction hashes concatenated in order (Flashbots'
    `bundleHash`)."""
    return "0x" + keccak(b"".join(keccak(_hex_bytes(tx)) for tx in raw_txs)).hex()


def _hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value[:2].lower() == "0x" else value)


def _int(value: Any) -> int:
    """Relays give numbers as JSON numbers, decimal strings ("21000") or hex ("0x5208")."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text, 16) if text[:2].lower() == "0x" else int(text)


# ---------------------------------------------------------------- simulation results


@dataclass(frozen=True)
class TxSimulation:
    tx_hash: str
    gas_used: int
    error: str | None = None  # e.g. "execution reverted"
    revert: str | None = None  # the decoded reason or the revert data, when the relay gives it
    from_address: str | None = None
    to_address: str | None = None
    gas_price: int = 0
    coinbase_diff: int = 0

    @property
    def reverted(self) -> bool:
        return self.error is not None or self.revert is not None


@dataclass(frozen=True)
class BundleSimulation:
    bundle_hash: str
    results: list[TxSimulation] = field(default_factory=list)
    total_gas_used: int = 0
    bundle_gas_price: int = 0
    coinbase_diff: int = 0
    state_block_number: int = 0

    @classmethod
    def from_rpc(cls, result: dict[str, Any]) -> BundleSimulation:
        txs = [
            TxSimulation(
                tx_hash=r.get("txHash", ""),
                gas_used=_int(r.get("gasUsed")),
                error=r.get("error") or None,
                revert=r.get("revert") or None,
                from_address=r.get("fromAddress"),
                to_address=r.get("toAddress"),
                gas_price=_int(r.get("gasPrice")),
                coinbase_diff=_int(r.get("coinbaseDiff")),
            )
            for r in result.get("results", [])
        ]
        return cls(
            bundle_hash=result.get("bundleHash", ""),
            results=txs,
            total_gas_used=_int(result.get("totalGasUsed")) or sum(t.gas_used for t in txs),
            bundle_gas_price=_int(result.get("bundleGasPrice")),
            coinbase_diff=_int(result.get("coinbaseDiff")),
            state_block_number=_int(result.get("stateBlockNumber")),
        )

    @property
    def reverted(self) -> list[TxSimulation]:
        return [t for t in self.results if t.reverted]


# ---------------------------------------------------------------- client


class FlashbotsClient:
    """JSON-RPC to one relay, every request signed with the reputation key. Thread-safe."""

    def __init__(self, relay_url: str, reputation_key: str | SecretStr, timeout_s: float = 10.0):
        raw = reputation_key.get_secret_value() if isinstance(reputation_key, SecretStr) else reputation_key
        register_secret(raw)  # even if invalid: it may still reach a log line
        self._account: LocalAccount = Account.from_key(raw)
        self.relay_url = relay_url
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._ids = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FlashbotsClient({redact_url(self.relay_url)}, reputation={self.address})"

    @property
    def address(self) -> str:
        """The reputation address the relay sees (public)."""
        return self._account.address

    def sign_body(self, body: bytes) -> str:
        """The `X-Flashbots-Signature` header value for `body`: `<address>:<0x signature>`."""
        signed = self._account.sign_message(encode_defunct(text=body_digest(body)))
        return f"{self._account.address}:0x{bytes(signed.signature).hex()}"

    def request(self, method: str, params: list[Any]) -> Any:
        with self._lock:
            self._ids += 1
            request_id = self._ids
        body = json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, separators=(",", ":")
        ).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: self.sign_body(body)}
        where = redact_url(self.relay_url)
        try:
            response = self._session.post(self.relay_url, data=body, headers=headers, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise RelayUnavailable(f"relay {where}: {method}: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise RelayUnavailable(f"relay {where}: {method}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise RelayUnavailable(f"relay {where}: {method}: HTTP {response.status_code}, not JSON") from None
        if not isinstance(answer, dict):
            raise RelayUnavailable(f"relay {where}: {method}: not a JSON-RPC answer")
        error = answer.get("error")
        if error:
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            code = error.get("code") if isinstance(error, dict) else None
            log.warning("relay refused", method=method, relay=where, code=code, error=message)
            raise RelayRefused(f"relay refused {method}: {message}", code=code)
        if "result" not in answer:
            raise RelayUnavailable(f"relay {where}: {method}: HTTP {response.status_code}, no result")
        return answer["result"]

    def call_bundle(
        self,
        raw_txs: list[str],
        block_number: int,
        state_block: int | str = "latest",
        allow_reverting: list[str] | None = None,
    ) -> BundleSimulation:
        """Simulate `raw_txs` in order as block `block_number` on `state_block`'s state.
        Raises `BundleReverted` when a transaction whose hash is not in `allow_reverting`
        reverted."""
        state = hex(state_block) if isinstance(state_block, int) else state_block
        result = self.request(
            "eth_callBundle", [{"txs": list(raw_txs), "blockNumber": hex(block_number), "stateBlockNumber": state}]
        )
        simulation = BundleSimulation.from_rpc(result)
        allowed = {h.lower() for h in allow_reverting or []}
        bad = [t for t in simulation.reverted if t.tx_hash.lower() not in allowed]
        if bad:
            first = bad[0]
            reason = first.revert or first.error
            raise BundleReverted(f"bundle transaction {first.tx_hash} reverts in simulation: {reason}", simulation)
        return simulation

    def send_bundle(self, raw_txs: list[str], target_block: int, reverting_tx_hashes: list[str] | None = None) -> str:
        """Offer the bundle for exactly `target_block`; returns the bundle hash. Acceptance is
        not inclusion: watch the chain for the transactions."""
        bundle: dict[str, Any] = {"txs": list(raw_txs), "blockNumber": hex(target_block)}
        if reverting_tx_hashes:
            bundle["revertingTxHashes"] = list(reverting_tx_hashes)
        result = self.request("eth_sendBundle", [bundle])
        return result["bundleHash"] if isinstance(result, dict) else str(result)

    def send_bundle_for_blocks(self, raw_txs: list[str], first_block: int, blocks: int) -> list[str]:
        """One `eth_sendBundle` per block of `first_block .. first_block + blocks - 1`."""
        if blocks < 1:
            raise ValueError("blocks must be at least 1")
        return [self.send_bundle(raw_txs, first_block + i) for i in range(blocks)]

    def send_private_transaction(self, raw_tx: str, max_block_number: int) -> str:
        """Offer one transaction privately until `max_block_number`; returns its hash."""
        return str(
            self.request("eth_sendPrivateTransaction", [{"tx": raw_tx, "maxBlockNumber": hex(max_block_number)}])
        )


# ---------------------------------------------------------------- valuation


def eth_equivalent(
    moves: dict[str, int], decimals: dict[str, int], prices: dict[str, Price], reference: str
) -> int | None:
    """What `moves` (base units per token symbol) are worth in wei of ETH, priced on one
    oracle against `reference`'s price (the chain's WETH), rounded down; None when a token or
    the reference has no price (the caller treats an unvalued move as a large one)."""
    if reference not in prices:
        return None
    total = 0
    for symbol, amount in moves.items():
        if symbol not in prices or symbol not in decimals:
            return None
        total += amount * prices[symbol].price * 10**18 // (10 ** decimals[symbol] * prices[reference].price)
    return total


def private_reason(marked: list[str], moved_wei: int | None, above_wei: int) -> str:
    """Why a transaction goes through the private relay, or "" for the public mempool:
    an intent marked private, a value above the threshold, or a value nobody could price."""
    if marked:
        return f"intent {marked[0]} is marked private"
    if moved_wei is None:
        return "what it moves has no price on the chain's oracle: kept private"
    if moved_wei > above_wei:
        return f"moves {moved_wei / 10**18:.4f} ETH-equivalent, above {above_wei / 10**18:g}"
    return ""
