"""The executor's owner: a Safe (1.4.1, the contracts' own build from npm
`@safe-global/safe-contracts`), whose owners sign every rule and list change.

On a local chain the Safe contracts are deployed from the npm artifacts through the Safe
Singleton Factory with salt 0, exactly as Safe deploys them on every public network: the
singleton, proxy factory, fallback handler and MultiSendCallOnly land at their canonical
addresses, so a batch prepared against a local chain names the same MultiSendCallOnly that
Sepolia and mainnet have.

The API:
- `SafeContracts`, `CANONICAL` / `CANONICAL_L2`: the four contracts' addresses.
  `deploy_safe_contracts(w3, deployer, l2=False) -> SafeContracts`: deploys what is missing,
  checks what is there (idempotent).
- `safe_address(contracts, owners, threshold, salt_nonce)`: where `create_safe` puts a Safe.
  `create_safe(w3, contracts, owners, threshold, salt_nonce, sender=None) -> str`: a proxy set up
  with the owners and threshold (no module, the compatibility fallback handler, no payment);
  the address read from the factory's ProxyCreation event (an existing one is returned as is).
  `safe_owners`, `safe_threshold`, `safe_nonce`: read a Safe.
- `SafeTx` (the Safe's own struct; `CALL`, `DELEGATE_CALL`), `safe_tx(...)`,
  `safe_tx_typed_data(chain_id, safe, tx)` (the EIP-712 message a wallet signs),
  `safe_tx_hash(chain_id, safe, tx) -> bytes` (equal to the Safe's `getTransactionHash`).
- `sign_safe_tx(tx_hash, key) -> SafeSignature` (a plain ECDSA signature of the EIP-712 digest,
  v 27/28), `signatures_bytes(signatures)` (sorted by owner, as `checkNSignatures` requires),
  `exec_transaction(w3, safe, tx, signatures, sender) -> TxReceipt` (simulated first: a refusal
  raises `SafeTxRefused` with the Safe's GS code, sending nothing).
- `multi_send_data(calls)`, `batch(calls, nonce, multi_send=...) -> SafeTx`: the owner's calls
  as one delegatecall to MultiSendCallOnly (one call: a plain call).
- `transaction_builder_json(chain_id, safe, calls, name, description)`: the Safe Transaction
  Builder's batch file (with its checksum), for owners who sign in their own wallets.

A sender is an address the node signs for (anvil's accounts) or a `floor.chain.signer.Signer`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.abi import decode, encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import Signature
from eth_typing import ChecksumAddress, Hash32, HexStr
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD
from web3.types import RPCEndpoint, TxParams, TxReceipt, Wei

from floor.calls import encode_call, selector
from floor.chain.signer import Signer
from floor.errors import FloorError
from floor.models import Call

SAFE_VERSION = "1.4.1"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

# The npm package's build/artifacts: in the repository's node_modules, or where
# $FLOOR_SAFE_ARTIFACTS_DIR points (the image carries only the files below, in this layout).
ARTIFACTS_DIR_ENV = "FLOOR_SAFE_ARTIFACTS_DIR"
_REPO_ARTIFACTS = (
    Path(__file__).resolve().parents[2] / "node_modules" / "@safe-global" / "safe-contracts" / "build" / "artifacts"
)
ARTIFACT_PATHS = {
    "Safe": "contracts/Safe.sol/Safe.json",
    "SafeL2": "contracts/SafeL2.sol/SafeL2.json",
    "SafeProxy": "contracts/proxies/SafeProxy.sol/SafeProxy.json",
    "SafeProxyFactory": "contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
    "CompatibilityFallbackHandler": "contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
    "MultiSendCallOnly": "contracts/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
}

# The Safe Singleton Factory (github.com/safe-global/safe-singleton-factory): the same code as
# the deterministic deployment proxy, CREATE2 with the first 32 bytes of the data as salt.
SINGLETON_FACTORY = "0x914d7Fec6aaC8cd542e72Bca78B30650d45643d7"
SINGLETON_FACTORY_CODE = (
    "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f5"
    "8015156039578182fd5b8082525050506014600cf3"
)
SALT = b"\x00" * 32  # the salt of Safe's canonical deployments

CALL, DELEGATE_CALL = 0, 1

SAFE_TX_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [{"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
    "SafeTx": [
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "data", "type": "bytes"},
        {"name": "operation", "type": "uint8"},
        {"name": "safeTxGas", "type": "uint256"},
        {"name": "baseGas", "type": "uint256"},
        {"name": "gasPrice", "type": "uint256"},
        {"name": "gasToken", "type": "address"},
        {"name": "refundReceiver", "type": "address"},
        {"name": "nonce", "type": "uint256"},
    ],
}
DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_TX_TYPEHASH = keccak(
    text="SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,"
    "uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)

# The Safe's revert codes execTransaction can answer (docs.safe.global, "Safe error codes").
GS_CODES = {
    "GS010": "not enough gas to execute the Safe transaction",
    "GS011": "could not pay gas costs with ether",
    "GS012": "could not pay gas costs with token",
    "GS013": "the Safe transaction's call failed",
    "GS020": "signatures data too short: fewer signatures than the threshold",
    "GS021": "invalid contract signature location: inside static part",
    "GS022": "invalid contract signature location: length not present",
    "GS023": "invalid contract signature location: data not complete",
    "GS024": "invalid contract signature provided",
    "GS025": "hash has not been approved",
    "GS026": "invalid owner provided: a signer is not an owner, or the signatures are not sorted by owner",
}

TX_BUILDER_VERSION = "1.16.5"  # the Transaction Builder release whose batch file this writes

Sender = str | Signer


class SafeError(FloorError):
    """A Safe could not be deployed, created or read as expected."""


class SafeTxRefused(FloorError):
    """The Safe refused a transaction (bad or too few signatures, a failing call): nothing was sent."""

    def __init__(self, code: str, detail: str):
        self.code = code
        super().__init__(f"{code}: {detail}")


# ---------------------------------------------------------------------------- the contracts


@dataclass(frozen=True)
class SafeArtifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes


def artifacts_dir() -> Path:
    return Path(os.environ.get(ARTIFACTS_DIR_ENV) or _REPO_ARTIFACTS)


@cache
def safe_artifact(name: str) -> SafeArtifact:
    """One of the Safe contracts' build artifacts from the npm package."""
    path = artifacts_dir() / ARTIFACT_PATHS[name]
    if not path.is_file():
        raise SafeError(f"Safe artifact {name!r} not found at {path}; run `npm ci` (make install) first")
    data = json.loads(path.read_text())
    return SafeArtifact(
        name, data["abi"], bytes.fromhex(data["bytecode"][2:]), bytes.fromhex(data["deployedBytecode"][2:])
    )


@dataclass(frozen=True)
class SafeContracts:
    singleton: str
    proxy_factory: str
    fallback_handler: str
    multi_send_call_only: str
    l2: bool = False  # the singleton is SafeL2 (events for indexers on L2s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "singleton": self.singleton,
            "proxy_factory": self.proxy_factory,
            "fallback_handler": self.fallback_handler,
            "multi_send_call_only": self.multi_send_call_only,
            "l2": self.l2,
        }


def create2_address(factory: str, salt: bytes, init_code: bytes) -> str:
    digest = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + keccak(init_code))
    return to_checksum_address(digest[12:])


def _singleton_name(l2: bool) -> str:
    return "SafeL2" if l2 else "Safe"


def _names(l2: bool) -> dict[str, str]:
    return {
        "singleton": _singleton_name(l2),
        "proxy_factory": "SafeProxyFactory",
        "fallback_handler": "CompatibilityFallbackHandler",
        "multi_send_call_only": "MultiSendCallOnly",
    }


def canonical_contracts(l2: bool = False) -> SafeContracts:
    """Where the Safe Singleton Factory puts the npm build with salt 0: the addresses Safe
    1.4.1 has on every public network."""
    addresses = {
        field: create2_address(SINGLETON_FACTORY, SALT, safe_artifact(name).bytecode)
        for field, name in _names(l2).items()
    }
    return SafeContracts(**addresses, l2=l2)


def deploy_safe_contracts(w3: Web3, deployer: Sender, l2: bool = False) -> SafeContracts:
    """Deploy the Safe contracts that are not on the chain yet, at their canonical addresses;
    those already there are checked to be the npm build (another contract there is an error).
    A local chain without the Singleton Factory gets it (anvil_setCode), as it would have the
    factory's presigned deployment on a public one."""
    contracts = canonical_contracts(l2)
    if not w3.eth.get_code(to_checksum_address(SINGLETON_FACTORY)):
        _install_singleton_factory(w3)
    for field, name in _names(l2).items():
        address = getattr(contracts, field)
        artifact = safe_artifact(name)
        code = bytes(w3.eth.get_code(to_checksum_address(address)))
        if not code:
            _send(w3, deployer, SINGLETON_FACTORY, SALT + artifact.bytecode)
            code = bytes(w3.eth.get_code(to_checksum_address(address)))
        if code != artifact.deployed_bytecode:
            raise SafeError(f"{name} at {address} is not Safe {SAFE_VERSION}'s code")
    return contracts


def _install_singleton_factory(w3: Web3) -> None:
    client = str(w3.client_version).lower()
    if not client.startswith("anvil"):
        raise SafeError(
            f"no Safe Singleton Factory at {SINGLETON_FACTORY} on chain {w3.eth.chain_id}: "
            "the Safe contracts cannot be deployed at their canonical addresses"
        )
    w3.provider.make_request(RPCEndpoint("anvil_setCode"), [SINGLETON_FACTORY, SINGLETON_FACTORY_CODE])


# ---------------------------------------------------------------------------- a Safe


def _setup_data(contracts: SafeContracts, owners: Sequence[str], threshold: int) -> bytes:
    return encode_call(
        "setup(address[],uint256,address,bytes,address,address,uint256,address)",
        [to_checksum_address(o) for o in owners],
        threshold,
        ZERO_ADDRESS,
        b"",
        contracts.fallback_handler,
        ZERO_ADDRESS,
        0,
        ZERO_ADDRESS,
    )


def safe_address(contracts: SafeContracts, owners: Sequence[str], threshold: int, salt_nonce: int) -> str:
    """The address `create_safe` gives a Safe with these owners, threshold and salt nonce
    (SafeProxyFactory.createProxyWithNonce's CREATE2)."""
    initializer = _setup_data(contracts, owners, threshold)
    salt = keccak(keccak(initializer) + salt_nonce.to_bytes(32, "big"))
    init_code = safe_artifact("SafeProxy").bytecode + encode(["address"], [contracts.singleton])
    return create2_address(contracts.proxy_factory, salt, init_code)


def create_safe(
    w3: Web3,
    contracts: SafeContracts,
    owners: Sequence[str],
    threshold: int,
    salt_nonce: int,
    sender: Sender | None = None,
) -> str:
    """A Safe proxy with `owners` and `threshold`, the compatibility fallback handler, no
    modules and no payment; the one already created with these inputs is returned as it is.
    `sender` pays (default: the node's first account, on a local chain)."""
    if not 1 <= threshold <= len(owners):
        raise SafeError(f"threshold {threshold} for {len(owners)} owners")
    expected = safe_address(contracts, owners, threshold, salt_nonce)
    if w3.eth.get_code(to_checksum_address(expected)):
        return expected
    factory = w3.eth.contract(
        address=to_checksum_address(contracts.proxy_factory), abi=safe_artifact("SafeProxyFactory").abi
    )
    data = encode_call(
        "createProxyWithNonce(address,bytes,uint256)",
        contracts.singleton,
        _setup_data(contracts, owners, threshold),
        salt_nonce,
    )
    receipt = _send(w3, sender if sender is not None else w3.eth.accounts[0], contracts.proxy_factory, data)
    created = factory.events.ProxyCreation().process_receipt(receipt, errors=DISCARD)
    if len(created) != 1:
        raise SafeError(f"creating the Safe emitted {len(created)} ProxyCreation events")
    address = to_checksum_address(created[0]["args"]["proxy"])
    if address != expected:
        raise SafeError(f"the factory created the Safe at {address}, expected {expected}")
    return address


def _safe(w3: Web3, safe: str) -> Any:
    return w3.eth.contract(address=to_checksum_address(safe), abi=safe_artifact("Safe").abi)


def safe_owners(w3: Web3, safe: str) -> list[str]:
    return [to_checksum_address(o) for o in _safe(w3, safe).functions.getOwners().call()]


def safe_threshold(w3: Web3, safe: str) -> int:
    threshold: int = _safe(w3, safe).functions.getThreshold().call()
    return threshold


def safe_nonce(w3: Web3, safe: str) -> int:
    nonce: int = _safe(w3, safe).functions.nonce().call()
    return nonce


# ---------------------------------------------------------------------------- Safe transactions


@dataclass(frozen=True)
class SafeTx:
    """A Safe transaction, field for field the Safe's EIP-712 `SafeTx`. The gas refund fields
    stay 0: the sender of `execTransaction` pays its gas, and with safeTxGas 0 a failing call
    reverts the whole transaction (GS013), so the nonce moves only when the call succeeded."""

    to: str
    value: int
    data: bytes
    operation: int
    nonce: int
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: str = ZERO_ADDRESS
    refund_receiver: str = ZERO_ADDRESS

    def __post_init__(self) -> None:
        if self.operation not in (CALL, DELEGATE_CALL):
            raise ValueError(f"operation {self.operation}: 0 (call) or 1 (delegatecall)")

    def message(self) -> dict[str, Any]:
        """The EIP-712 message, JSON-ready (what eth_signTypedData_v4 takes)."""
        return {
            "to": to_checksum_address(self.to),
            "value": self.value,
            "data": "0x" + self.data.hex(),
            "operation": self.operation,
            "safeTxGas": self.safe_tx_gas,
            "baseGas": self.base_gas,
            "gasPrice": self.gas_price,
            "gasToken": to_checksum_address(self.gas_token),
            "refundReceiver": to_checksum_address(self.refund_receiver),
            "nonce": self.nonce,
        }

    def args(self) -> tuple[Any, ...]:
        """execTransaction's (and getTransactionHash's) arguments before the signatures (nonce)."""
        return (
            to_checksum_address(self.to),
            self.value,
            self.data,
            self.operation,
            self.safe_tx_gas,
            self.base_gas,
            self.gas_price,
            to_checksum_address(self.gas_token),
            to_checksum_address(self.refund_receiver),
        )


def safe_tx(safe: str, to: str, value: int, data: bytes | str, operation: int, nonce: int) -> SafeTx:
    """A Safe transaction for `safe` (its nonce is the Safe's); `data` as bytes or 0x-hex."""
    del safe  # the Safe is bound by the hash's domain, not the struct
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else data
    return SafeTx(to_checksum_address(to), value, raw, operation, nonce)


def safe_tx_typed_data(chain_id: int, safe: str, tx: SafeTx) -> dict[str, Any]:
    """The full EIP-712 typed data of `tx` for `safe` on `chain_id`, as wallets sign it."""
    return {
        "types": SAFE_TX_TYPES,
        "primaryType": "SafeTx",
        "domain": {"chainId": chain_id, "verifyingContract": to_checksum_address(safe)},
        "message": tx.message(),
    }


def domain_separator(chain_id: int, safe: str) -> bytes:
    return keccak(encode(["bytes32", "uint256", "address"], [DOMAIN_TYPEHASH, chain_id, to_checksum_address(safe)]))


def safe_tx_hash(chain_id: int, safe: str, tx: SafeTx) -> bytes:
    """The digest the owners sign: Safe.getTransactionHash, computed here."""
    struct = encode(
        [
            "bytes32",
            "address",
            "uint256",
            "bytes32",
            "uint8",
            "uint256",
            "uint256",
            "uint256",
            "address",
            "address",
            "uint256",
        ],
        [
            SAFE_TX_TYPEHASH,
            to_checksum_address(tx.to),
            tx.value,
            keccak(tx.data),
            tx.operation,
            tx.safe_tx_gas,
            tx.base_gas,
            tx.gas_price,
            to_checksum_address(tx.gas_token),
            to_checksum_address(tx.refund_receiver),
            tx.nonce,
        ],
    )
    return keccak(b"\x19\x01" + domain_separator(chain_id, safe) + keccak(struct))


@dataclass(frozen=True)
class SafeSignature:
    owner: str
    signature: bytes  # r (32) s (32) v (1), v 27 or 28

    def __post_init__(self) -> None:
        if len(self.signature) != 65:
            raise ValueError(f"a signature is 65 bytes, got {len(self.signature)}")


def sign_safe_tx(tx_hash: bytes, key: str | bytes | LocalAccount) -> SafeSignature:
    """An owner's signature of a SafeTx digest: ECDSA over the EIP-712 digest itself (no
    eth_sign prefix), v 27/28, which the Safe checks with ecrecover."""
    account: LocalAccount = key if isinstance(key, LocalAccount) else Account.from_key(key)
    signed = account.unsafe_sign_hash(Hash32(tx_hash))
    signature = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    return SafeSignature(to_checksum_address(account.address), signature)


def recover_owner(tx_hash: bytes, signature: bytes) -> str:
    """Who signed `tx_hash` with this 65-byte (r, s, v) signature."""
    r, s, v = signature[:32], signature[32:64], signature[64]
    ecdsa = Signature(vrs=(v - 27, int.from_bytes(r, "big"), int.from_bytes(s, "big")))
    return to_checksum_address(ecdsa.recover_public_key_from_msg_hash(tx_hash).to_checksum_address())


def signatures_bytes(signatures: Iterable[SafeSignature]) -> bytes:
    """The signatures as execTransaction takes them: concatenated in ascending owner order
    (the Safe refuses any other order, so one owner cannot count twice)."""
    ordered = sorted(signatures, key=lambda s: int(s.owner, 16))
    return b"".join(s.signature for s in ordered)


def exec_transaction(
    w3: Web3, safe: str, tx: SafeTx, signatures: Iterable[SafeSignature] | bytes, sender: Sender
) -> TxReceipt:
    """Run a signed Safe transaction. It is simulated first: a refusal raises `SafeTxRefused`
    with the Safe's code and sends nothing; a mined transaction that failed is a `SafeError`."""
    packed = signatures if isinstance(signatures, bytes) else signatures_bytes(signatures)
    data = encode_call(
        "execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)",
        *tx.args(),
        packed,
    )
    address = sender if isinstance(sender, str) else sender.address
    params: TxParams = {
        "from": to_checksum_address(address),
        "to": to_checksum_address(safe),
        "data": HexStr(data.hex()),
    }
    try:
        result = w3.eth.call(params)
    except ContractLogicError as exc:
        raise _refusal(exc) from None
    if not decode(["bool"], bytes(result))[0]:
        raise SafeTxRefused("GS013", GS_CODES["GS013"])
    return _send(w3, sender, safe, data)


def _refusal(exc: ContractLogicError) -> SafeTxRefused:
    code = _error_string(exc.data) or str(exc.message or exc).removeprefix("execution reverted: ")
    return SafeTxRefused(code, GS_CODES.get(code, "the Safe transaction reverted"))


def _error_string(data: Any) -> str | None:
    raw = bytes(HexBytes(data)) if isinstance(data, str | bytes) else b""
    if raw[:4] != selector("Error(string)"):
        return None
    try:
        text: str = decode(["string"], raw[4:])[0]
    except Exception:  # malformed: the node's message instead
        return None
    return text


# ---------------------------------------------------------------------------- batches


def multi_send_data(calls: Sequence[Call]) -> bytes:
    """MultiSendCallOnly.multiSend's calldata: each call packed as (uint8 operation 0, address
    to, uint256 value, uint256 data length, bytes data)."""
    packed = b""
    for c in calls:
        payload = bytes(HexBytes(c.data))
        packed += (
            bytes([CALL])
            + bytes.fromhex(to_checksum_address(c.target)[2:])
            + c.value.to_bytes(32, "big")
            + len(payload).to_bytes(32, "big")
            + payload
        )
    return encode_call("multiSend(bytes)", packed)


def batch(calls: Sequence[Call], nonce: int, multi_send: str | None = None) -> SafeTx:
    """The owner's calls as one Safe transaction: several as a delegatecall to MultiSendCallOnly
    (all or nothing), one as a plain call."""
    if not calls:
        raise ValueError("a Safe transaction needs at least one call")
    if len(calls) == 1:
        only = calls[0]
        return SafeTx(to_checksum_address(only.target), only.value, bytes(HexBytes(only.data)), CALL, nonce)
    target = multi_send if multi_send is not None else canonical_contracts().multi_send_call_only
    return SafeTx(to_checksum_address(target), 0, multi_send_data(calls), DELEGATE_CALL, nonce)


def transaction_builder_json(
    chain_id: int,
    safe: str,
    calls: Sequence[Call],
    name: str,
    description: str,
    created_at_ms: int | None = None,
) -> dict[str, Any]:
    """The Safe Transaction Builder's batch file: owners load it in the Safe app, which sends
    the calls as one MultiSend transaction for them to sign in their own wallets."""
    batch_file: dict[str, Any] = {
        "version": "1.0",
        "chainId": str(chain_id),
        "createdAt": created_at_ms if created_at_ms is not None else int(time.time() * 1000),
        "meta": {
            "name": name,
            "description": description,
            "txBuilderVersion": TX_BUILDER_VERSION,
            "createdFromSafeAddress": to_checksum_address(safe),
            "createdFromOwnerAddress": "",
        },
        "transactions": [
            {
                "to": to_checksum_address(c.target),
                "value": str(c.value),
                "data": "0x" + bytes(HexBytes(c.data)).hex(),
                "contractMethod": None,
                "contractInputsValues": None,
            }
            for c in calls
        ],
    }
    batch_file["meta"]["checksum"] = transaction_builder_checksum(batch_file)
    return batch_file


def transaction_builder_checksum(batch_file: dict[str, Any]) -> str:
    """The checksum the Transaction Builder writes and checks on import: keccak of its own
    serialisation of the file, with the name left out (owners may rename a batch)."""
    meta = {k: v for k, v in batch_file["meta"].items() if k != "checksum"} | {"name": None}
    return "0x" + keccak(text=_builder_serialise({**batch_file, "meta": meta})).hex()


def _builder_serialise(value: Any) -> str:
    # The Builder's serializeJSONObject: an object is "{" + its sorted keys as a JSON array +
    # each value followed by "," + "}"; anything else as JSON.stringify writes it.
    if isinstance(value, list):
        return "[" + ",".join(_builder_serialise(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value)
        return "{" + _json(keys) + "".join(_builder_serialise(value[k]) + "," for k in keys) + "}"
    return _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------- sending


def _send(w3: Web3, sender: Sender, to: str, data: bytes, value: int = 0) -> TxReceipt:
    """Send and wait for the receipt; a reverted transaction is a `SafeError`."""
    address = to_checksum_address(sender if isinstance(sender, str) else sender.address)
    tx: TxParams = {
        "from": address,
        "to": to_checksum_address(to),
        "data": HexStr("0x" + data.hex()),
        "value": Wei(value),
    }
    tx["gas"] = w3.eth.estimate_gas(tx) * 6 // 5  # headroom: the Safe forwards 63/64 of what is left to its call
    if isinstance(sender, str):
        tx_hash = w3.eth.send_transaction(tx)
    else:
        tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(_signable(w3, address, tx)).raw)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    if receipt["status"] != 1:
        raise SafeError(f"transaction {tx_hash.hex()} to {to} reverted")
    return receipt


def _signable(w3: Web3, address: ChecksumAddress, tx: TxParams) -> dict[str, Any]:
    base_fee = w3.eth.get_block("pending").get("baseFeePerGas")
    fees: dict[str, Any] = (
        {"gasPrice": w3.eth.gas_price}
        if base_fee is None
        else {"maxPriorityFeePerGas": (tip := w3.eth.max_priority_fee), "maxFeePerGas": 2 * base_fee + tip}
    )
    return {**tx, "nonce": w3.eth.get_transaction_count(address, "pending"), "chainId": w3.eth.chain_id, **fees}
