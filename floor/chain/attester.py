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

from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from floor.protocols.native_eth.attestation import Attestation, sign
from floor.protocols.native_eth.beacon import BeaconClient
from floor.protocols.native_eth.errors import AttesterUnavailable, DepositExists

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


def logged_pubkeys(w3: Web3, deposit_contract: str, from_block: int, to_block: int, chunk: int = 10_000) -> set[bytes]:
    """Every pubkey the deposit contract logged a DepositEvent for in [from_block, to_block]."""
    found: set[bytes] = set()
    start = from_block
    while start <= to_block:
        end = min(start + chunk - 1, to_block)
        logs = w3.eth.get_logs(
            {
                "address": to_checksum_address(deposit_contract),
                "topics": [DEPOSIT_EVENT],
                "fromBlock": start,
                "toBlock": end,
            }
        )
        for log in logs:
            found.add(decode(["bytes"] * 5, bytes(log["data"]))[0])
        start = end + 1
    return found


def attest_deposits(
    w3: Web3,
    beacon: BeaconClient,
    deposit_contract: str,
    executor: str,
    chain_id: int,
    pubkeys: Sequence[bytes],
    key: str,
    *,
    from_block: int = 0,
    ttl_s: int = 900,
) -> Attestation:
    """Check at one block that neither the beacon node nor the deposit contract's logs know any of
    `pubkeys`, and sign the contract's deposit root at that block, valid for `ttl_s`."""
    if not pubkeys:
        raise DepositExists("no validator key to attest")
    block = w3.eth.get_block("latest")
    known = {v.pubkey for v in beacon.validators(list(pubkeys))}
    logged = logged_pubkeys(w3, deposit_contract, from_block, block["number"]) & set(pubkeys)
    if known or logged:
        shown = ", ".join(f"0x{p.hex()[:16]}.." for p in sorted(known | logged))
        raise DepositExists(f"a deposit exists for validator {shown}: not attested (it would join someone else's)")
    contract = w3.eth.contract(address=to_checksum_address(deposit_contract), abi=GET_DEPOSIT_ROOT)
    root = contract.functions.get_deposit_root().call(block_identifier=block["number"])
    return sign(key, executor, chain_id, root, block["timestamp"] + ttl_s)


class AttesterClient:
    """The engine's side: asks the attester's process for an attestation of `pubkeys`."""

    def __init__(self, url: str, timeout_s: float = 30):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def __call__(self, chain_id: int, pubkeys: Iterable[bytes]) -> Attestation:
        body = json.dumps({"chain_id": chain_id, "pubkeys": ["0x" + p.hex() for p in pubkeys]}).encode()
        request = urllib.request.Request(
            f"{self.url}/attest", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            reason = exc.read().decode(errors="replace")[:500]
            if exc.code == 409:
                raise DepositExists(reason) from None
            raise AttesterUnavailable(f"attester at {self.url} answered {exc.code}: {reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AttesterUnavailable(f"attester at {self.url} unreachable: {exc}") from None
        return Attestation(
            bytes.fromhex(answer["deposit_root"][2:]),
            int(answer["deadline"]),
            int(answer["v"]),
            bytes.fromhex(answer["r"][2:]),
            bytes.fromhex(answer["s"][2:]),
        )


def attestation_json(a: Attestation) -> dict:
    return {
        "deposit_root": "0x" + a.deposit_root.hex(),
        "deadline": a.deadline,
        "v": a.v,
        "r": "0x" + a.r.hex(),
        "s": "0x" + a.s.hex(),
    }
