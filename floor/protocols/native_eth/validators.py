"""Validators as a Beacon node's REST API describes them, pure: the response of
`/eth/v1/beacon/states/{state_id}/validators[/{validator_id}]` parsed into integers (the API
gives every number as a decimal string, balances in gwei), and the consensus-layer clock.

A `BeaconSnapshot` is what one read of the node gives: the market's validators, the state's
epoch, and the node's genesis. The adapter carries one to decode a position (balances in gwei
-> wei) and the wait of an exit (the validator's withdrawable epoch, then the withdrawal
sweep's payout)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from floor.protocols.native_eth.errors import BeaconUnavailable

GWEI = 10**9
SECONDS_PER_SLOT = 12
SLOTS_PER_EPOCH = 32
EPOCH_S = SECONDS_PER_SLOT * SLOTS_PER_EPOCH
FAR_FUTURE_EPOCH = 2**64 - 1
# After withdrawable_epoch the balance is paid by the withdrawal sweep, which visits every
# validator in turn (16 withdrawals a slot): about 9 days for mainnet's ~1.1M validators at
# worst, half that on average. Plans count on the average.
SWEEP_WAIT_S = 4 * 24 * 3600 + 12 * 3600

PENDING = ("pending_initialized", "pending_queued")
ACTIVE = ("active_ongoing", "active_exiting", "active_slashed")
EXITING = ("active_exiting", "exited_unslashed", "exited_slashed", "withdrawal_possible")
DONE = ("withdrawal_done",)
STATUSES = PENDING + ACTIVE + ("exited_unslashed", "exited_slashed", "withdrawal_possible") + DONE


@dataclass(frozen=True)
class Validator:
    index: int
    pubkey: bytes
    balance: int  # gwei
    status: str
    withdrawal_credentials: bytes
    effective_balance: int  # gwei
    slashed: bool
    activation_eligibility_epoch: int
    activation_epoch: int
    exit_epoch: int
    withdrawable_epoch: int

    @property
    def balance_wei(self) -> int:
        return self.balance * GWEI

    @property
    def exit_requested(self) -> bool:
        return self.exit_epoch != FAR_FUTURE_EPOCH

    @property
    def can_exit(self) -> bool:
        """A full exit request is taken from an active validator that has no exit yet."""
        return self.status == "active_ongoing" and not self.exit_requested


@dataclass(frozen=True)
class Genesis:
    genesis_time: int
    genesis_fork_version: bytes


@dataclass(frozen=True)
class BeaconSnapshot:
    validators: tuple[Validator, ...]
    epoch: int  # the state's epoch (from the node's genesis and the chain's time)
    genesis: Genesis

    def of(self, pubkey: bytes) -> Validator | None:
        return next((v for v in self.validators if v.pubkey == pubkey), None)

    @property
    def balance_wei(self) -> int:
        return sum(v.balance_wei for v in self.validators if v.status not in DONE)

    def exit_wait_s(self, v: Validator) -> int | None:
        """Seconds until an exiting validator's balance should reach the executor; None if it
        is not exiting."""
        if not v.exit_requested or v.status in DONE:
            return None
        return max(0, (v.withdrawable_epoch - self.epoch) * EPOCH_S) + SWEEP_WAIT_S


def epoch_at(timestamp: int, genesis_time: int) -> int:
    return max(0, timestamp - genesis_time) // EPOCH_S


def _int(value: object, what: str) -> int:
    if not isinstance(value, str) or not value.isdigit():
        raise BeaconUnavailable(f"beacon API: {what} is {value!r}, not a decimal string")
    return int(value)


def _hex(value: object, size: int, what: str) -> bytes:
    try:
        raw = bytes.fromhex(str(value).removeprefix("0x"))
    except ValueError:
        raise BeaconUnavailable(f"beacon API: {what} is not hex") from None
    if len(raw) != size:
        raise BeaconUnavailable(f"beacon API: {what} is {len(raw)} bytes, not {size}")
    return raw


def parse_validator(item: Mapping[str, Any]) -> Validator:
    """One `data` item of the validators endpoints (ValidatorResponse)."""
    try:
        v = item["validator"]
        status = item["status"]
        if status not in STATUSES:
            raise BeaconUnavailable(f"beacon API: unknown validator status {status!r}")
        return Validator(
            index=_int(item["index"], "index"),
            pubkey=_hex(v["pubkey"], 48, "pubkey"),
            balance=_int(item["balance"], "balance"),
            status=status,
            withdrawal_credentials=_hex(v["withdrawal_credentials"], 32, "withdrawal_credentials"),
            effective_balance=_int(v["effective_balance"], "effective_balance"),
            slashed=bool(v["slashed"]),
            activation_eligibility_epoch=_int(v["activation_eligibility_epoch"], "activation_eligibility_epoch"),
            activation_epoch=_int(v["activation_epoch"], "activation_epoch"),
            exit_epoch=_int(v["exit_epoch"], "exit_epoch"),
            withdrawable_epoch=_int(v["withdrawable_epoch"], "withdrawable_epoch"),
        )
    except (KeyError, TypeError) as exc:
        raise BeaconUnavailable(f"beacon API: a validator lacks {exc}") from None


def parse_validators(body: object) -> list[Validator]:
    """The body of `/eth/v1/beacon/states/{state_id}/validators` (a list) or of
    `.../validators/{validator_id}` (one)."""
    if not isinstance(body, dict) or "data" not in body:
        raise BeaconUnavailable("beacon API: the response has no `data`")
    data = body["data"]
    return [parse_validator(item) for item in (data if isinstance(data, list) else [data])]


def parse_genesis(body: object) -> Genesis:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or "genesis_time" not in data or "genesis_fork_version" not in data:
        raise BeaconUnavailable("beacon API: /eth/v1/beacon/genesis has no genesis_time")
    return Genesis(_int(data["genesis_time"], "genesis_time"), _hex(data["genesis_fork_version"], 4, "fork"))


def snapshot(validators: Sequence[Validator], genesis: Genesis, timestamp: int) -> BeaconSnapshot:
    return BeaconSnapshot(tuple(validators), epoch_at(timestamp, genesis.genesis_time), genesis)
