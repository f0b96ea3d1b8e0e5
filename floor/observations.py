"""What a finished operation tells the metrics: a small summary the engine builds from the
operation's result as it records it (pure, so the engine's workflow can), and hands to the
store with its state transitions (`record_engine_events`), which turns it into metric events.

- its kind, workflow id, start and finish (the workflow's own clock), status and error type;
- each failed part: its chain (None when the operation failed as a whole and no chain is named)
  and the error type that failed it;
- each move's realised slippage (`move_slippage`);
- a harvest's yield per (chain, token, source): the growth of its positions (`rebase`,
  `exchange_rate`) and the realised proceeds of the rewards it claimed and sold (`claimed`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from pydantic import Field

from floor.messages import AllocateResult
from floor.models import AdapterKey, FrozenModel, SignedAmount
from floor.operations import HarvestResult, MoveOutcome, OperationResult, RebalanceResult

BPS = 10_000
# How a failed chain part names its error (`workflows.operation.chain_part`): "<intent id>:
# <ErrorType>: <message>", the intent id ".../chain-<id>/<label>-<n>". A failed operation's
# failure joins its parts' errors with "; ".
_PART_ERROR = re.compile(r"/chain-(\d+)/[^\s:;]+: ([A-Za-z_][A-Za-z0-9_]*): ")
_ERROR_TYPE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): ")
UNKNOWN_ERROR = "unknown"


class FailedPart(FrozenModel):
    chain_id: int | None  # None: the operation failed as a whole, no chain named
    error_type: str


class MoveSlippage(FrozenModel):
    key: AdapterKey
    planned: SignedAmount  # + into the market, - out of it, base units
    realised: SignedAmount  # the position's change between the reads before and after
    bps: float = Field(ge=0)


class YieldTotal(FrozenModel):
    chain_id: int
    token: str
    source: str  # "rebase", "exchange_rate" or "claimed"
    amount: SignedAmount  # base units of `token` (negative: the markets lost value)
    decimals: int


class OperationObservation(FrozenModel):
    kind: str
    workflow_id: str
    started_at: datetime
    finished_at: datetime
    status: str  # "done", "skipped", "partial", "failed"
    error_type: str = ""  # the first failure's type; "" when nothing failed
    failed: list[FailedPart] = []
    slippage: list[MoveSlippage] = []
    yields: list[YieldTotal] = []

    @property
    def duration_s(self) -> float:
        return max((self.finished_at - self.started_at).total_seconds(), 0.0)


def observe_operation(
    kind: str,
    workflow_id: str,
    started_at: datetime,
    finished_at: datetime,
    result: OperationResult | None,
    failure: str = "",
    decimals: Mapping[tuple[int, str], int] | None = None,
) -> OperationObservation:
    """The summary of an operation that ended with `result`, or failed with `failure` (its
    innermost error as "Type: message") when there is none. `decimals`: the catalogue's tokens
    by (chain id, symbol), for reward proceeds (the yield lines carry their own)."""
    base = {"kind": kind, "workflow_id": workflow_id, "started_at": started_at, "finished_at": finished_at}
    if result is None:
        failed = failed_parts(failure)
        return OperationObservation(**base, status="failed", error_type=error_type(failure), failed=failed)
    failed = [
        FailedPart(chain_id=p.chain_id, error_type=part_error_type(p.error))
        for p in result.chains
        if p.status == "failed"
    ]
    done = {p.chain_id for p in result.chains if p.status == "done"}
    return OperationObservation(
        **base,
        status=result.status,
        error_type=failed[0].error_type if failed else "",
        failed=failed,
        slippage=_slippage(result, done),
        yields=_yields(result, done, decimals or {}) if isinstance(result, HarvestResult) else [],
    )


def error_type(failure: str) -> str:
    """The type of a failure written "Type: message"."""
    found = _ERROR_TYPE.match(failure)
    return found.group(1) if found else UNKNOWN_ERROR


def part_error_type(error: str) -> str:
    """The error type of a failed chain part ("<intent id>: <ErrorType>: <message>")."""
    found = _PART_ERROR.search(error)
    return found.group(2) if found else UNKNOWN_ERROR


def failed_parts(failure: str) -> list[FailedPart]:
    """The chains a failed operation's failure names with their error types (its parts'
    errors, as a failed allocation, rebalance or capital request joins them), each chain once;
    else the operation as a whole with the failure's own type."""
    parts: dict[int, str] = {}
    for chain, kind in _PART_ERROR.findall(failure):
        parts.setdefault(int(chain), kind)
    if not parts:
        return [FailedPart(chain_id=None, error_type=error_type(failure))]
    return [FailedPart(chain_id=c, error_type=t) for c, t in parts.items()]


def move_slippage(planned: int, realised: int) -> float | None:
    """A move's realised slippage: how far the position's change fell short of the planned
    amount, in bps of it: (planned - realised) / |planned| for a deposit (+) and a withdrawal
    (-) alike, so a deposit that added less, or a withdrawal that took more out of the position
    than planned, costs; 0 when it did as planned or better (interest accrued between the
    reads). None where it says nothing: nothing planned, or a position that did not move the
    way planned (a move that did not land, or a market whose position follows later, as a
    validator deposit's does)."""
    if planned == 0 or realised * planned <= 0:
        return None
    return max((planned - realised) * BPS / abs(planned), 0.0)


def _moves(result: OperationResult) -> list[MoveOutcome]:
    if isinstance(result, RebalanceResult):
        return list(result.moves)
    if isinstance(result, AllocateResult):
        if result.moves:  # a total allocation: withdrawals and deposits
            return list(result.moves)
        return [
            MoveOutcome(key=o.key, action="deposit", planned=o.planned, realised=o.realised) for o in result.outcomes
        ]
    return []


def _slippage(result: OperationResult, done: set[int]) -> list[MoveSlippage]:
    """The slippage of each move into or out of a market on a chain whose part was done (a
    withdraw-all is left out: the whole position leaves whatever it pays)."""
    out = []
    for move in _moves(result):
        if move.action not in ("deposit", "withdraw") or move.key.chain_id not in done:
            continue
        bps = move_slippage(move.planned, move.realised)
        if bps is not None:
            out.append(MoveSlippage(key=move.key, planned=move.planned, realised=move.realised, bps=bps))
    return out


def _yields(result: HarvestResult, done: set[int], decimals: Mapping[tuple[int, str], int]) -> list[YieldTotal]:
    """The harvest's totals per (chain, token, source), then the realised proceeds of the
    rewards sold on each chain whose batch was mined."""
    places = {(y.key.chain_id, y.asset): y.decimals for y in result.yields}
    out = []
    for name, amount in sorted(result.totals.items()):
        chain, _, rest = name.partition(":")
        token, _, source = rest.partition(":")
        if chain.isdigit() and (int(chain), token) in places:
            out.append(
                YieldTotal(
                    chain_id=int(chain), token=token, source=source, amount=amount, decimals=places[int(chain), token]
                )
            )
    for p in result.proceeds:
        places_of = places.get((p.chain_id, p.asset), decimals.get((p.chain_id, p.asset)))
        if p.chain_id in done and places_of is not None:
            out.append(
                YieldTotal(chain_id=p.chain_id, token=p.asset, source="claimed", amount=p.realised, decimals=places_of)
            )
    return out
