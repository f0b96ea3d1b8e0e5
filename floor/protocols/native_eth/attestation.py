"""The attester's vouching for a validator deposit (FloorExecutor.vy's `attestDeposit`).

A deposit for a validator key that someone else deposited first joins their validator, with
their withdrawal credentials: the classic front-running of the deposit contract. The attester
(a key of its own, never the operator's) checks that no deposit exists for the key (the Beacon
API and the deposit contract's DepositEvent logs), reads the contract's `get_deposit_root()`
and signs it with a deadline, as EIP-712 typed data. The batch starts with `attestDeposit`; the
executor refuses each deposit unless the contract's root is still the attested one, so a
deposit made since (the front-run) makes the engine's deposit revert: Lido's deposit security
module's pattern, with one guardian.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from eth_account import Account
from eth_account.messages import encode_typed_data

from floor.calls import call
from floor.models import Call

ATTEST_DEPOSIT = "attestDeposit(bytes32,uint256,uint8,bytes32,bytes32,bytes32[])"
ATTESTATION_TYPE = {
    "DepositRootAttestation": [
        {"name": "depositRoot", "type": "bytes32"},
        {"name": "depositDataRoots", "type": "bytes32[]"},
        {"name": "deadline", "type": "uint256"},
    ]
}
MAX_ATTESTED = 16  # FloorExecutor.vy's bound


def typed_data(
    executor: str, chain_id: int, deposit_root: bytes, data_roots: list[bytes], deadline: int
) -> dict[str, Any]:
    """The EIP-712 message the attester signs (the executor's domain: name FloorExecutor,
    version 1): the deposit contract's root, and the validators (their deposit_data_roots) it
    checked no deposit exists for. The executor takes deposits of those validators only."""
    return {
        "domain": {"name": "FloorExecutor", "version": "1", "chainId": chain_id, "verifyingContract": executor},
        "types": ATTESTATION_TYPE,
        "primaryType": "DepositRootAttestation",
        "message": {"depositRoot": deposit_root, "depositDataRoots": list(data_roots), "deadline": deadline},
    }


@dataclass(frozen=True)
class Attestation:
    deposit_root: bytes
    data_roots: tuple[bytes, ...]
    deadline: int
    v: int
    r: bytes
    s: bytes

    def call(self, executor: str) -> Call:
        """The batch entry, addressed to the executor, that must precede the deposits."""
        return call(
            executor, ATTEST_DEPOSIT, self.deposit_root, self.deadline, self.v, self.r, self.s, list(self.data_roots)
        )


class TypedDataSigner(Protocol):
    """A signer that keeps its key (floor.chain.signer.LocalKeySigner)."""

    def sign_typed_data(self, full_message: dict[str, Any]) -> tuple[int, bytes, bytes]: ...


def sign(
    key: str | TypedDataSigner,
    executor: str,
    chain_id: int,
    deposit_root: bytes,
    data_roots: list[bytes],
    deadline: int,
) -> Attestation:
    """The attester's signature, by a private key or a signer with `sign_typed_data`
    (floor.chain.signer.LocalKeySigner); its caller has checked that no deposit exists."""
    if not 0 < len(data_roots) <= MAX_ATTESTED:
        raise ValueError(f"an attestation vouches for 1 to {MAX_ATTESTED} validators, not {len(data_roots)}")
    full = typed_data(executor, chain_id, deposit_root, data_roots, deadline)
    if hasattr(key, "sign_typed_data"):
        v, r, s = key.sign_typed_data(full)
    else:
        signed = Account.sign_message(encode_typed_data(full_message=full), key)
        v, r, s = signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
    return Attestation(deposit_root, tuple(data_roots), deadline, v, r, s)
