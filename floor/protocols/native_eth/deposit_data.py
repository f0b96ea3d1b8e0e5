"""Validator deposit data as `ethstaking-deposit-cli` writes it (`deposit_data-<time>.json`: a
list of entries with pubkey, withdrawal_credentials, amount (gwei), signature,
deposit_message_root, deposit_data_root, fork_version, network_name, deposit_cli_version; hex
without 0x), loaded and checked before any ETH moves.

Every check the deposit contract makes, and the ones it cannot make, in Python: lengths
(48-byte pubkey, 32-byte credentials, 96-byte signature), the amount (the engine deposits
exactly 32 ETH), both roots recomputed as SSZ hash_tree_roots with sha256 (DepositMessage and
DepositData, as `deposit_contract.sol` rebuilds the latter), the withdrawal credentials
(0x01 or 0x02, eleven zero bytes, then the executor: the ETH must come back to the treasury)
and the fork version (the chain's genesis fork version: deposit data signed for another
network is ignored by this chain's beacon chain, and its 32 ETH lost). The BLS signature is
checked only when asked (`verify_signature`, with py_ecc: a pure-Python pairing, a second
or two per deposit); the deposit contract never checks it.

Pure: hashlib and json only (py_ecc is imported inside `verify_signature`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from floor.protocols.native_eth.errors import (
    BadDepositData,
    BadSignature,
    DepositDataRootMismatch,
    DepositMessageRootMismatch,
    WrongDepositAmount,
    WrongForkVersion,
    WrongWithdrawalCredentials,
)

GWEI = 10**9
DEPOSIT_GWEI = 32 * GWEI  # 32 ETH in gwei, the amount of a full validator deposit
DEPOSIT_WEI = DEPOSIT_GWEI * GWEI
# Execution-layer withdrawal credentials: 0x01 (EIP-4895 withdrawals) and 0x02 (EIP-7251
# compounding); 0x00 credentials are a BLS key's hash and cannot point at the executor.
CREDENTIAL_PREFIXES = (b"\x01", b"\x02")
# Each network's GENESIS_FORK_VERSION (consensus-specs configs; the deposit CLI's settings).
GENESIS_FORK_VERSIONS = {
    1: bytes.fromhex("00000000"),  # mainnet
    11155111: bytes.fromhex("90000069"),  # sepolia
    17000: bytes.fromhex("01017000"),  # holesky
    560048: bytes.fromhex("10000910"),  # hoodi
}
DOMAIN_DEPOSIT = bytes.fromhex("03000000")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _pubkey_root(pubkey: bytes) -> bytes:
    return sha256(pubkey + bytes(16))  # Bytes48: two chunks, the second zero-padded


def _amount_leaf(amount_gwei: int) -> bytes:
    return amount_gwei.to_bytes(8, "little") + bytes(24)


def deposit_message_root(pubkey: bytes, withdrawal_credentials: bytes, amount_gwei: int) -> bytes:
    """hash_tree_root(DepositMessage): three fields, padded to four leaves."""
    return sha256(sha256(_pubkey_root(pubkey) + withdrawal_credentials) + sha256(_amount_leaf(amount_gwei) + bytes(32)))


def deposit_data_root(pubkey: bytes, withdrawal_credentials: bytes, amount_gwei: int, signature: bytes) -> bytes:
    """hash_tree_root(DepositData), computed exactly as the deposit contract reconstructs it."""
    signature_root = sha256(sha256(signature[:64]) + sha256(signature[64:] + bytes(32)))
    return sha256(
        sha256(_pubkey_root(pubkey) + withdrawal_credentials) + sha256(_amount_leaf(amount_gwei) + signature_root)
    )


def deposit_signing_root(message_root: bytes, fork_version: bytes) -> bytes:
    """compute_signing_root(DepositMessage, compute_domain(DOMAIN_DEPOSIT, fork_version)): a
    deposit's domain has no genesis validators root (zero), so it holds on every fork."""
    fork_data_root = sha256(fork_version + bytes(28) + bytes(32))
    domain = DOMAIN_DEPOSIT + fork_data_root[:28]
    return sha256(message_root + domain)


def credentials_for(executor: str, prefix: bytes = b"\x01") -> bytes:
    """The withdrawal credentials that pay `executor`."""
    return prefix + bytes(11) + bytes.fromhex(to_checksum_address(executor)[2:])


@dataclass(frozen=True)
class DepositData:
    pubkey: bytes
    withdrawal_credentials: bytes
    amount: int  # gwei
    signature: bytes
    deposit_message_root: bytes
    deposit_data_root: bytes
    fork_version: bytes
    network_name: str
    deposit_cli_version: str

    @property
    def amount_wei(self) -> int:
        return self.amount * GWEI

    @property
    def pubkey_hex(self) -> str:
        return "0x" + self.pubkey.hex()

    def as_json(self) -> dict[str, Any]:
        """The entry as the deposit CLI writes it."""
        return {
            "pubkey": self.pubkey.hex(),
            "withdrawal_credentials": self.withdrawal_credentials.hex(),
            "amount": self.amount,
            "signature": self.signature.hex(),
            "deposit_message_root": self.deposit_message_root.hex(),
            "deposit_data_root": self.deposit_data_root.hex(),
            "fork_version": self.fork_version.hex(),
            "network_name": self.network_name,
            "deposit_cli_version": self.deposit_cli_version,
        }


def _hex(entry: dict[str, Any], field: str, size: int, where: str) -> bytes:
    value = entry.get(field)
    if not isinstance(value, str):
        raise BadDepositData(f"{where}: {field} is missing or not a hex string")
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise BadDepositData(f"{where}: {field} is not hex") from None
    if len(raw) != size:
        raise BadDepositData(f"{where}: {field} is {len(raw)} bytes, not {size}")
    return raw


def parse_entry(entry: object, where: str = "deposit data") -> DepositData:
    """One entry, with its field shapes checked (not yet its roots nor what it pays)."""
    if not isinstance(entry, dict):
        raise BadDepositData(f"{where}: an entry is not an object")
    amount = entry.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise BadDepositData(f"{where}: amount must be a positive integer in gwei, got {amount!r}")
    return DepositData(
        pubkey=_hex(entry, "pubkey", 48, where),
        withdrawal_credentials=_hex(entry, "withdrawal_credentials", 32, where),
        amount=amount,
        signature=_hex(entry, "signature", 96, where),
        deposit_message_root=_hex(entry, "deposit_message_root", 32, where),
        deposit_data_root=_hex(entry, "deposit_data_root", 32, where),
        fork_version=_hex(entry, "fork_version", 4, where),
        network_name=str(entry.get("network_name", "")),
        deposit_cli_version=str(entry.get("deposit_cli_version", "")),
    )


def check_roots(d: DepositData) -> None:
    """Both roots recomputed from the fields: a wrong deposit_data_root would revert in the
    contract; a wrong deposit_message_root means the signature signs something else."""
    message = deposit_message_root(d.pubkey, d.withdrawal_credentials, d.amount)
    if message != d.deposit_message_root:
        raise DepositMessageRootMismatch(
            f"validator {d.pubkey_hex[:18]}..: deposit_message_root {d.deposit_message_root.hex()} is not the "
            f"DepositMessage's hash_tree_root {message.hex()}"
        )
    root = deposit_data_root(d.pubkey, d.withdrawal_credentials, d.amount, d.signature)
    if root != d.deposit_data_root:
        raise DepositDataRootMismatch(
            f"validator {d.pubkey_hex[:18]}..: deposit_data_root {d.deposit_data_root.hex()} is not the "
            f"DepositData's hash_tree_root {root.hex()}"
        )


def check_credentials(d: DepositData, executor: str) -> None:
    wc = d.withdrawal_credentials
    if wc[:1] not in CREDENTIAL_PREFIXES or wc[1:12] != bytes(11) or wc[12:] != credentials_for(executor)[12:]:
        raise WrongWithdrawalCredentials(
            f"validator {d.pubkey_hex[:18]}..: withdrawal credentials 0x{wc.hex()} do not pay the executor "
            f"{to_checksum_address(executor)} (0x01 or 0x02, eleven zero bytes, the executor's address)"
        )


def check_amount(d: DepositData) -> None:
    if d.amount != DEPOSIT_GWEI:
        raise WrongDepositAmount(
            f"validator {d.pubkey_hex[:18]}..: a deposit of {d.amount} gwei; the engine deposits exactly "
            f"{DEPOSIT_GWEI} gwei (32 ETH)"
        )


def check_fork(d: DepositData, chain_id: int) -> None:
    expected = GENESIS_FORK_VERSIONS.get(chain_id)
    if expected is None:
        raise WrongForkVersion(f"chain {chain_id} has no known beacon chain genesis fork version")
    if d.fork_version != expected:
        raise WrongForkVersion(
            f"validator {d.pubkey_hex[:18]}..: deposit data for fork version 0x{d.fork_version.hex()} "
            f"({d.network_name or 'unnamed network'}), not chain {chain_id}'s 0x{expected.hex()}"
        )


def verify_signature(d: DepositData) -> None:
    """The BLS signature over the deposit message in the deposit domain of its fork version
    (py_ecc, slow: a second or two)."""
    from eth_typing import BLSPubkey, BLSSignature
    from py_ecc.bls.ciphersuites import G2ProofOfPossession as bls

    signing_root = deposit_signing_root(
        deposit_message_root(d.pubkey, d.withdrawal_credentials, d.amount), d.fork_version
    )
    try:
        ok = bls.Verify(BLSPubkey(d.pubkey), signing_root, BLSSignature(d.signature))
    except Exception:  # py_ecc raises on points not on the curve
        ok = False
    if not ok:
        raise BadSignature(f"validator {d.pubkey_hex[:18]}..: the BLS signature does not verify")


def check(d: DepositData, executor: str, chain_id: int, signature: bool = False) -> DepositData:
    """Every check before `d` may be deposited by `executor` on `chain_id`."""
    check_amount(d)
    check_fork(d, chain_id)
    check_credentials(d, executor)
    check_roots(d)
    if signature:
        verify_signature(d)
    return d


def load(path: str | Path) -> list[DepositData]:
    """Entries from a `deposit_data-*.json` file, or from every such file of a directory (in
    name order); duplicate pubkeys are an error. Shapes only: `check` each before use."""
    p = Path(path)
    files = sorted(p.glob("deposit_data-*.json")) if p.is_dir() else [p]
    out: dict[bytes, DepositData] = {}
    for f in files:
        try:
            entries = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise BadDepositData(f"{f}: cannot read deposit data ({exc})") from None
        if not isinstance(entries, list):
            raise BadDepositData(f"{f}: deposit data is a list of entries")
        for i, entry in enumerate(entries):
            d = parse_entry(entry, f"{f.name}[{i}]")
            if d.pubkey in out:
                raise BadDepositData(f"{f.name}[{i}]: validator {d.pubkey_hex[:18]}.. is listed twice")
            out[d.pubkey] = d
    return list(out.values())


def make(
    secret_key: int,
    executor: str,
    amount_gwei: int = DEPOSIT_GWEI,
    fork_version: bytes = GENESIS_FORK_VERSIONS[1],
    network_name: str = "mainnet",
    prefix: bytes = b"\x01",
) -> DepositData:
    """An entry as the deposit CLI writes it, for a validator key `secret_key` paying
    `executor`, really signed (py_ecc: a fraction of a second): for the local stack and tests,
    which have no validator keys of their own. Never for a real key: the CLI is for those."""
    from py_ecc.bls.ciphersuites import G2ProofOfPossession as bls

    pubkey = bls.SkToPk(secret_key)
    wc = credentials_for(executor, prefix)
    message = deposit_message_root(pubkey, wc, amount_gwei)
    signature = bls.Sign(secret_key, deposit_signing_root(message, fork_version))
    return DepositData(
        pubkey=pubkey,
        withdrawal_credentials=wc,
        amount=amount_gwei,
        signature=signature,
        deposit_message_root=message,
        deposit_data_root=deposit_data_root(pubkey, wc, amount_gwei, signature),
        fork_version=fork_version,
        network_name=network_name,
        deposit_cli_version="floor-devnet",
    )


def write(path: str | Path, entries: list[DepositData]) -> Path:
    """`entries` as a deposit_data-*.json file (the CLI's format)."""
    p = Path(path)
    p.write_text(json.dumps([e.as_json() for e in entries], indent=1))
    return p
