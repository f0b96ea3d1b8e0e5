"""The deposit attester's check: no deposit exists yet for the validator keys a batch will
deposit, and the deposit contract's root now (`floor/protocols/native_eth/attestation.py` signs
it). Run by the attester's own process (`workers/attester.py`), with a key of its own, and
asked over HTTP by the engine's worker (`AttesterClient`): the operator's key alone cannot get
a front-run deposit past the executor.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import FilterParams

from floor.calls import selector
from floor.chain.rpc import logs_between
from floor.chain.signer import LocalKeySigner
from floor.models import Call
from floor.protocols.native_eth.adapter import DEPOSIT as BEACON_DEPOSIT
from floor.protocols.native_eth.attestation import Attestation, sign
from floor.protocols.native_eth.beacon import BeaconClient
from floor.protocols.native_eth.deposit_data import DEPOSIT_WEI, GWEI, deposit_data_root
from floor.protocols.native_eth.errors import AttesterUnavailable, BadDepositData, DepositExists

DEPOSIT_EVENT = "0x" + keccak(text="DepositEvent(bytes,bytes,bytes,bytes,bytes)").hex()
GET_DEPOSIT_ROOT = [
    {
        "name": "get_deposit_root",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"type": "bytes32"}],
    }
]


def logged_pubkeys(w3: Web3, deposit_contract: str, from_block: int, to_block: int) -> set[bytes]:
    """Every pubkey the deposit contract logged a DepositEvent for in [from_block, to_block]."""
    query: FilterParams = {"address": to_checksum_address(deposit_contract), "topics": [DEPOSIT_EVENT]}
    return {decode(["bytes"] * 5, bytes(log["data"]))[0] for log in logs_between(w3, query, from_block, to_block)}


@dataclass(frozen=True)
class DepositAsked:
    """One deposit a batch will make, as the deposit contract takes it."""

    pubkey: bytes
    withdrawal_credentials: bytes
    signature: bytes
    amount_wei: int

    def data_root(self, executor: str) -> bytes:
        """Its deposit_data_root, recomputed, after checking it stakes 32 ETH with credentials
        that pay `executor`: the attester vouches for nothing else."""
        me = bytes.fromhex(to_checksum_address(executor)[2:])
        creds = self.withdrawal_credentials
        if len(creds) != 32 or creds[:1] not in (b"\x01", b"\x02") or creds[1:] != bytes(11) + me:
            raise BadDepositData(
                f"validator 0x{self.pubkey.hex()[:16]}..: credentials 0x{creds.hex()} do not pay {executor}"
            )
        if self.amount_wei != DEPOSIT_WEI or len(self.pubkey) != 48 or len(self.signature) != 96:
            raise BadDepositData(f"validator 0x{self.pubkey.hex()[:16]}..: not a 32 ETH deposit of a 48-byte key")
        return deposit_data_root(self.pubkey, creds, self.amount_wei // GWEI, self.signature)


def attest_deposits(
    w3: Web3,
    beacon: BeaconClient,
    deposit_contract: str,
    executor: str,
    chain_id: int,
    deposits: Sequence[DepositAsked],
    key: str | LocalKeySigner,  # a private key, or a signer with `sign_typed_data`
    *,
    from_block: int = 0,
    ttl_s: int = 900,
) -> Attestation:
    """Check the deposits (credentials paying the executor, 32 ETH), then at one block that
    neither the beacon node nor the deposit contract's logs know any of their keys, and sign the
    contract's deposit root at that block with their deposit_data_roots, valid for `ttl_s`."""
    if not deposits:
        raise DepositExists("no validator deposit to attest")
    data_roots = [d.data_root(executor) for d in deposits]
    pubkeys = [d.pubkey for d in deposits]
    block = w3.eth.get_block("latest")
    known = {v.pubkey for v in beacon.validators(list(pubkeys))}
    logged = logged_pubkeys(w3, deposit_contract, from_block, block["number"]) & set(pubkeys)
    if known or logged:
        shown = ", ".join(f"0x{p.hex()[:16]}.." for p in sorted(known | logged))
        raise DepositExists(f"a deposit exists for validator {shown}: not attested (it would join someone else's)")
    contract = w3.eth.contract(address=to_checksum_address(deposit_contract), abi=GET_DEPOSIT_ROOT)
    root = contract.functions.get_deposit_root().call(block_identifier=block["number"])
    return sign(key, executor, chain_id, root, data_roots, block["timestamp"] + ttl_s)


class AttesterClient:
    """The engine's side: asks the attester's process for an attestation of `pubkeys`."""

    def __init__(self, url: str, timeout_s: float = 30):
        if not url.startswith(("http://", "https://")):  # urlopen would also open file: URLs
            raise ValueError(f"attester.url must be an http(s) URL, not {url!r}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def __call__(self, chain_id: int, deposits: Iterable[DepositAsked]) -> Attestation:
        body = json.dumps({"chain_id": chain_id, "deposits": [deposit_json(d) for d in deposits]}).encode()
        request = urllib.request.Request(  # noqa: S310 (an http(s) URL: checked when made)
            f"{self.url}/attest", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 (as above)
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            reason = exc.read().decode(errors="replace")[:500]
            if exc.code == 409:
                raise DepositExists(reason) from None
            if exc.code in (400, 422):  # the request itself: asking again changes nothing
                raise BadDepositData(f"attester at {self.url} refused the deposits: {reason}") from None
            raise AttesterUnavailable(f"attester at {self.url} answered {exc.code}: {reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AttesterUnavailable(f"attester at {self.url} unreachable: {exc}") from None
        return Attestation(
            bytes.fromhex(answer["deposit_root"][2:]),
            tuple(bytes.fromhex(r[2:]) for r in answer["deposit_data_roots"]),
            int(answer["deadline"]),
            int(answer["v"]),
            bytes.fromhex(answer["r"][2:]),
            bytes.fromhex(answer["s"][2:]),
        )


def attestation_json(a: Attestation) -> dict[str, Any]:
    return {
        "deposit_root": "0x" + a.deposit_root.hex(),
        "deposit_data_roots": ["0x" + r.hex() for r in a.data_roots],
        "deadline": a.deadline,
        "v": a.v,
        "r": "0x" + a.r.hex(),
        "s": "0x" + a.s.hex(),
    }


def deposit_json(d: DepositAsked) -> dict[str, Any]:
    return {
        "pubkey": "0x" + d.pubkey.hex(),
        "withdrawal_credentials": "0x" + d.withdrawal_credentials.hex(),
        "signature": "0x" + d.signature.hex(),
        "amount_wei": str(d.amount_wei),
    }


def deposit_of_json(d: dict[str, Any]) -> DepositAsked:
    """One asked deposit from a request (hex strings, the amount in wei as a string)."""
    return DepositAsked(
        bytes.fromhex(d["pubkey"].removeprefix("0x")),
        bytes.fromhex(d["withdrawal_credentials"].removeprefix("0x")),
        bytes.fromhex(d["signature"].removeprefix("0x")),
        int(d["amount_wei"]),
    )


def deposits_in(calls: Iterable[Call], deposit_contracts: set[str]) -> list[DepositAsked]:
    """The beacon deposits among `calls` (to one of `deposit_contracts`), as the attester is asked."""
    head = "0x" + selector(BEACON_DEPOSIT).hex()
    out = []
    for c in calls:
        if c.target.lower() in deposit_contracts and c.data[:10] == head:
            pubkey, creds, signature, _ = decode(["bytes", "bytes", "bytes", "bytes32"], bytes.fromhex(c.data[10:]))
            out.append(DepositAsked(pubkey, creds, signature, c.value))
    return out
