"""Circuit breakers: when the engine must stop sending capital somewhere, and why.

A breaker guards a scope: the whole engine (`engine`), a chain (`chain:1`) or a protocol
(`protocol:aave-v3`, across every chain it is deployed on: an exploit of its code is not
confined to one deployment). It is CLOSED (capital flows), OPEN (the scope is routed around;
for the engine scope, the engine is paused) or HALF_OPEN (an operator asked for a probe: the
next risk check closes it if nothing trips, or opens it again).

What trips one (`findings`), from one risk check's `RiskSample` (read on chain, with the
window's history from the store) and the engine's recent operations:
- `tvl_fall`: a market's total fell more than `tvl_fall_bps` below its highest within the
  window (a drain: the exploit signal) -> its protocol;
- `apy_drop`: a market's APY fell more than `apy_drop_bps` below its trailing average ->
  its protocol;
- `drawdown`: a market's growth index (what one unit deposited is worth) fell more than
  `drawdown_bps` below its highest within the window (bad debt, a vault's loss, slashing)
  -> its protocol;
- `gas`: the chain's base fee above the chain's fee cap -> the chain;
- `price`: the chain's price source stale, missing or deviating -> the chain;
- `error_rate`: too many of the engine's last operations failed -> the engine (judged at
  every risk check and as soon as an operation ends failed).

A reconciliation's breakers (`reconcile:<market>`, e.g. `reconcile:1:metamorpho:steakUSDC` or
`reconcile:1:tx:0x...`, and `reconcile:chain:<id>` for a chain that is not the one the engine
knew) open when a reconciliation finds a discrepancy of at least its trip size: the engine
pauses, and `resume` is refused while one is open. No risk check looks at the cache, so no
probe can close one: it closes when an operator accepts what was found (`floor reconcile
--accept ID` / `--accept-chain ID`), and only once the store holds nothing open there.

Opening is automatic; closing never is (`half_open` by an operator, then a clean check; or,
for a reconciliation's breaker, an acceptance). Every scope an operator names must be one the
engine's strategy has (`catalogue_scopes`): a scope no risk check reads could never be probed.
Pure and deterministic: the EngineWorkflow runs it, every change is a `BreakerEvent`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from floor.models import AdapterKey, FrozenModel

ENGINE = "engine"
BPS = 10_000


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class Trigger(StrEnum):
    TVL_FALL = "tvl_fall"
    APY_DROP = "apy_drop"
    DRAWDOWN = "drawdown"
    GAS = "gas"
    PRICE = "price"
    ERROR_RATE = "error_rate"
    MANUAL = "manual"  # an operator opened it
    PROBE = "probe"  # a half-open probe's outcome
    RECONCILE = "reconcile"  # a reconciliation found a discrepancy (or another chain)
    ACCEPTED = "accepted"  # an operator accepted what the reconciliation found


class BreakerRefused(ValueError):
    """A breaker change that the breaker's state does not allow (named, with the state)."""


class BreakerPolicy(FrozenModel):
    """Limits; each is explained with its default in docs/risk.md."""

    window_s: int = Field(default=86_400, gt=0)  # the TVL's highest is looked for this far back
    tvl_fall_bps: int = Field(default=3_000, gt=0, le=BPS)  # 30% below the window's highest
    # APY now (measured over the last `apy_interval_s`: a day, since staking rates move only
    # with the daily oracle report) against its average over `apy_window_s`.
    apy_interval_s: int = Field(default=86_400, gt=0)
    apy_window_s: int = Field(default=7 * 86_400, gt=0)
    apy_drop_bps: int = Field(default=5_000, gt=0, le=BPS)  # below half the trailing average
    apy_floor: float = Field(default=0.005, ge=0)  # a trailing APY under 0.5% is too small to judge
    drawdown_window_s: int = Field(default=7 * 86_400, gt=0)
    drawdown_bps: int = Field(default=500, gt=0, le=BPS)
    error_window: int = Field(default=4, gt=0)  # the engine's last operations counted
    error_rate_bps: int = Field(default=7_500, gt=0, le=BPS)  # 3 of the last 4 failed


def protocol_scope(protocol: str) -> str:
    return f"protocol:{protocol}"


def chain_scope(chain_id: int) -> str:
    return f"chain:{chain_id}"


def scopes_of(key: AdapterKey) -> tuple[str, str, str]:
    """The scopes a market sits in, widest first."""
    return (ENGINE, chain_scope(key.chain_id), protocol_scope(key.protocol))


def valid_scope(scope: str) -> str:
    kind, _, name = scope.partition(":")
    if scope == ENGINE or (kind == "protocol" and name) or (kind == "chain" and name.isdigit()):
        return scope
    raise BreakerRefused(f"{scope!r} is not a breaker scope: use 'engine', 'chain:<id>' or 'protocol:<name>'")


RECONCILE_PREFIX = "reconcile:"


def reconcile_scope(subject: str) -> str:
    """A reconciliation's breaker: `subject` is a discrepancy's market (`1:aave-v3:USDC`,
    `1:idle:USDC`, `1:tx:<hash>`) or a chain (`chain:42161`)."""
    return f"{RECONCILE_PREFIX}{subject}"


def accept_hint(scope: str) -> str:
    """How an operator closes a reconciliation's breaker."""
    subject = scope.removeprefix(RECONCILE_PREFIX)
    if subject.startswith("chain:"):
        return f"`floor reconcile --accept-chain {subject.removeprefix('chain:')} --reason ...`"
    return "`floor reconcile --accept ID --reason ...` (`floor reconcile --open` lists the open discrepancies)"


def catalogue_scopes(keys: Iterable[AdapterKey]) -> list[str]:
    """The chain and protocol scopes of the strategy's markets: those a risk check reads, so
    a breaker opened there can be probed closed again."""
    keys = list(keys)
    chains = [chain_scope(c) for c in sorted({k.chain_id for k in keys})]
    return chains + [protocol_scope(p) for p in sorted({k.protocol for k in keys})]


def change_refusal(scope: str, action: str, catalogue: Sequence[str]) -> str | None:
    """Why an operator's `trip` or `half_open` of `scope` is refused whatever the breaker's
    state: the engine scope is not tripped by hand, a reconciliation's breaker closes only by
    an acceptance, and any other scope must be one of the `catalogue`'s (`catalogue_scopes`)."""
    if scope.startswith(RECONCILE_PREFIX):
        if action == "trip":
            return f"{scope} is opened by a reconciliation, not by hand"
        return f"the {scope} breaker closes when what the reconciliation found is accepted: {accept_hint(scope)}"
    if scope == ENGINE:
        if action != "trip":
            return None
        return (
            "the engine scope is not tripped by hand: `floor pause` stops the whole engine (the engine's"
            " breaker opens on the error rate of its operations)"
        )
    if scope not in catalogue:
        valid = ([] if action == "trip" else [ENGINE]) + list(catalogue)
        return f"{scope!r} is not a breaker scope of this engine: use one of {', '.join(valid)}"
    return None


class MarketSample(FrozenModel):
    """One market as a risk check saw it; `None` where the market cannot tell."""

    key: AdapterKey
    tvl: int | None = None  # the market's total, asset base units
    tvl_peak: int | None = None  # the highest total within the window, this reading included
    apy: float | None = None  # now
    apy_trailing: float | None = None  # the window's average
    index: int | None = None  # growth index now, 1e27 scale
    index_peak: int | None = None  # the highest within the window, this reading included


class ChainSample(FrozenModel):
    chain_id: int
    block_number: int
    base_fee_wei: int
    fee_cap_wei: int
    price_problem: str | None = None  # a stale, missing or deviating price, in words


class RiskCheckInput(FrozenModel):
    """What a risk check reads: the strategy's markets (their chains with them)."""

    keys: list[AdapterKey]
    policy: BreakerPolicy = BreakerPolicy()


class RiskSample(FrozenModel):
    at: datetime
    markets: list[MarketSample] = []
    chains: list[ChainSample] = []


class Finding(FrozenModel):
    scope: str
    trigger: Trigger
    reason: str


class Breaker(FrozenModel):
    scope: str
    state: BreakerState
    trigger: Trigger
    reason: str
    since: datetime
    by: str  # "risk-check" or the operator


class BreakerEvent(FrozenModel):
    scope: str
    at: datetime
    from_state: BreakerState
    to_state: BreakerState
    trigger: Trigger
    reason: str
    actor: str


Book = dict[str, Breaker]


def _fell(now: int, peak: int, limit_bps: int) -> int | None:
    """How far `now` is below `peak`, in bps, when beyond the limit."""
    if peak <= 0 or now >= peak:
        return None
    fall = (peak - now) * BPS // peak
    return fall if fall > limit_bps else None


def findings(sample: RiskSample, policy: BreakerPolicy, recent_statuses: Sequence[str] = ()) -> list[Finding]:
    """Everything in `sample` (and the engine's recent operation statuses, oldest first) that
    trips a breaker, with the figures in its reason."""
    found: list[Finding] = []
    hours = policy.window_s // 3600
    days = policy.drawdown_window_s // 86_400
    apy_days = policy.apy_window_s // 86_400
    for m in sample.markets:
        scope = protocol_scope(m.key.protocol)
        if m.tvl is not None and m.tvl_peak is not None:
            fall = _fell(m.tvl, m.tvl_peak, policy.tvl_fall_bps)
            if fall is not None:
                found.append(
                    Finding(
                        scope=scope,
                        trigger=Trigger.TVL_FALL,
                        reason=f"{m.key}: TVL {m.tvl} is {fall} bps below its {hours} h high of {m.tvl_peak} "
                        f"base units (limit {policy.tvl_fall_bps} bps)",
                    )
                )
        if m.index is not None and m.index_peak is not None:
            fall = _fell(m.index, m.index_peak, policy.drawdown_bps)
            if fall is not None:
                found.append(
                    Finding(
                        scope=scope,
                        trigger=Trigger.DRAWDOWN,
                        reason=f"{m.key}: a unit deposited lost {fall} bps from its {days} d high "
                        f"(growth index {m.index} against {m.index_peak}; limit {policy.drawdown_bps} bps)",
                    )
                )
        if m.apy is not None and m.apy_trailing is not None and m.apy_trailing >= policy.apy_floor:
            drop = int((m.apy_trailing - m.apy) * BPS / m.apy_trailing)
            if drop > policy.apy_drop_bps:
                found.append(
                    Finding(
                        scope=scope,
                        trigger=Trigger.APY_DROP,
                        reason=f"{m.key}: APY {m.apy:.4%} is {drop} bps below its {apy_days} d average of "
                        f"{m.apy_trailing:.4%} (limit {policy.apy_drop_bps} bps)",
                    )
                )
    for c in sample.chains:
        if c.base_fee_wei > c.fee_cap_wei:
            found.append(
                Finding(
                    scope=chain_scope(c.chain_id),
                    trigger=Trigger.GAS,
                    reason=f"chain {c.chain_id}: base fee {c.base_fee_wei} wei at block {c.block_number} is above "
                    f"the fee cap of {c.fee_cap_wei} wei",
                )
            )
        if c.price_problem:
            found.append(
                Finding(
                    scope=chain_scope(c.chain_id),
                    trigger=Trigger.PRICE,
                    reason=f"chain {c.chain_id}: {c.price_problem}",
                )
            )
    error_rate = error_rate_finding(recent_statuses, policy)
    if error_rate is not None:
        found.append(error_rate)
    return found


def error_rate_finding(recent_statuses: Sequence[str], policy: BreakerPolicy) -> Finding | None:
    """The engine's finding when too many of its last operations (statuses oldest first, a
    full window of them) failed."""
    last = list(recent_statuses)[-policy.error_window :]
    failed = sum(1 for s in last if s == "failed")
    if len(last) == policy.error_window and failed * BPS >= policy.error_rate_bps * len(last):
        return Finding(
            scope=ENGINE,
            trigger=Trigger.ERROR_RATE,
            reason=f"{failed} of the engine's last {len(last)} operations failed "
            f"(limit {policy.error_rate_bps * len(last) // BPS})",
        )
    return None


def counted_statuses(finished: Sequence[tuple[datetime, str]], book: Book, counted_from: datetime | None) -> list[str]:
    """The operation statuses (oldest first) the error rate counts: those finished after the
    engine breaker last changed (an open or half-open one: its probe is judged on what ran
    since, not on the failures that opened it) and after it last closed (`counted_from`), so
    old failures can neither keep a probe failing nor trip a closed breaker again."""
    since = counted_from
    engine = book.get(ENGINE)
    if engine is not None:
        since = max(since, engine.since) if since else engine.since
    return [status for at, status in finished if since is None or at > since]


def sample_scopes(sample: RiskSample) -> set[str]:
    """The scopes a check looked at: a half-open breaker there is probed by it."""
    scopes = {ENGINE}
    scopes |= {chain_scope(c.chain_id) for c in sample.chains}
    scopes |= {protocol_scope(m.key.protocol) for m in sample.markets}
    return scopes


def apply_findings(
    book: Book, found: Iterable[Finding], checked: set[str], now: datetime, actor: str = "risk-check"
) -> tuple[Book, list[BreakerEvent]]:
    """Open every scope with a finding (its first finding is the recorded trigger, all of
    them the reason); close a half-open scope the check covered and found clean. `actor`:
    who found them (a risk check, a reconciliation, the engine on an operation's end)."""
    book = dict(book)
    events: list[BreakerEvent] = []
    by_scope: dict[str, list[Finding]] = {}
    for f in found:
        by_scope.setdefault(f.scope, []).append(f)
    for scope, fs in sorted(by_scope.items()):
        current = book.get(scope)
        if current is not None and current.state == BreakerState.OPEN:
            continue  # already open: the first reason stands
        reason = "; ".join(f.reason for f in fs)
        before = current.state if current else BreakerState.CLOSED
        book[scope] = Breaker(
            scope=scope, state=BreakerState.OPEN, trigger=fs[0].trigger, reason=reason, since=now, by=actor
        )
        events.append(
            BreakerEvent(
                scope=scope,
                at=now,
                from_state=before,
                to_state=BreakerState.OPEN,
                trigger=fs[0].trigger if before == BreakerState.CLOSED else Trigger.PROBE,
                reason=reason if before == BreakerState.CLOSED else f"probe failed: {reason}",
                actor=actor,
            )
        )
    for scope, breaker in sorted(book.items()):
        if breaker.state == BreakerState.HALF_OPEN and scope in checked and scope not in by_scope:
            del book[scope]
            events.append(
                BreakerEvent(
                    scope=scope,
                    at=now,
                    from_state=BreakerState.HALF_OPEN,
                    to_state=BreakerState.CLOSED,
                    trigger=Trigger.PROBE,
                    reason=f"probe passed: nothing tripped (half-opened by {breaker.by}: {breaker.reason})",
                    actor=actor,
                )
            )
    return book, events


def half_open(book: Book, scope: str, actor: str, reason: str, now: datetime) -> tuple[Book, BreakerEvent]:
    """An operator asks for a probe of an open breaker; the next risk check decides."""
    current = book.get(valid_scope(scope))
    if current is None or current.state != BreakerState.OPEN:
        state = current.state.value if current else BreakerState.CLOSED.value
        raise BreakerRefused(f"the {scope} breaker is {state}: only an OPEN breaker can be half-opened")
    book = dict(book)
    book[scope] = Breaker(
        scope=scope, state=BreakerState.HALF_OPEN, trigger=Trigger.PROBE, reason=reason, since=now, by=actor
    )
    event = BreakerEvent(
        scope=scope,
        at=now,
        from_state=BreakerState.OPEN,
        to_state=BreakerState.HALF_OPEN,
        trigger=Trigger.PROBE,
        reason=f"probe asked: {reason} (was open for: {current.reason})",
        actor=actor,
    )
    return book, event


def trip(book: Book, scope: str, actor: str, reason: str, now: datetime) -> tuple[Book, BreakerEvent]:
    """An operator opens a breaker by hand."""
    current = book.get(valid_scope(scope))
    if current is not None and current.state == BreakerState.OPEN:
        raise BreakerRefused(f"the {scope} breaker is already OPEN: {current.reason}")
    book = dict(book)
    book[scope] = Breaker(
        scope=scope, state=BreakerState.OPEN, trigger=Trigger.MANUAL, reason=reason, since=now, by=actor
    )
    before = current.state if current else BreakerState.CLOSED
    event = BreakerEvent(
        scope=scope,
        at=now,
        from_state=before,
        to_state=BreakerState.OPEN,
        trigger=Trigger.MANUAL,
        reason=reason,
        actor=actor,
    )
    return book, event


def accept(book: Book, scope: str, actor: str, reason: str, now: datetime) -> tuple[Book, BreakerEvent]:
    """An operator accepted what a reconciliation found (the store holds it, with who and
    why): its breaker closes."""
    current = book.get(scope)
    if not scope.startswith(RECONCILE_PREFIX) or current is None:
        state = current.state.value if current else BreakerState.CLOSED.value
        raise BreakerRefused(f"no reconciliation breaker is open at {scope} (it is {state})")
    book = dict(book)
    del book[scope]
    event = BreakerEvent(
        scope=scope,
        at=now,
        from_state=current.state,
        to_state=BreakerState.CLOSED,
        trigger=Trigger.ACCEPTED,
        reason=f"accepted: {reason} (was open for: {current.reason})",
        actor=actor,
    )
    return book, event


def reconcile_refusal(book: Book) -> str | None:
    """Why the engine cannot resume while a reconciliation's breaker is open: each one, with
    what it found and how to accept it."""
    open_ = [b for scope, b in sorted(book.items()) if scope.startswith(RECONCILE_PREFIX)]
    if not open_:
        return None
    return "a reconciliation's circuit breaker is open: " + "; ".join(
        f"{b.scope} is {b.state.value} since {b.since.isoformat(timespec='seconds')} ({b.reason}): accept it with "
        f"{accept_hint(b.scope)}"
        for b in open_
    )


def blocked(book: Book, key: AdapterKey) -> Breaker | None:
    """The breaker (widest first) that keeps capital away from `key`'s market, if any: an
    open or half-open one (a half-open breaker routes around until its probe passes)."""
    for scope in scopes_of(key):
        breaker = book.get(scope)
        if breaker is not None and breaker.state != BreakerState.CLOSED:
            return breaker
    return None


class BreakerChange(FrozenModel):
    """An operator's change of a breaker, through the engine's `half_open_breaker` or
    `trip_breaker` update (the CLI, Temporal's CLI or Web UI, a service)."""

    scope: str = Field(min_length=1, max_length=300)
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class ReconcileTrip(FrozenModel):
    """What a reconciliation run tells the engine (its `internal_reconcile_breakers` signal):
    the `reconcile:` scopes to open, each with what was found, and the run's pause reason."""

    run_id: str = Field(min_length=1, max_length=300)
    findings: list[Finding] = Field(min_length=1, max_length=1000)
    pause_reason: str = Field(min_length=1, max_length=1000)


class RiskCheckResult(FrozenModel):
    block_numbers: dict[int, int]  # per chain, the block the check read
    events: list[BreakerEvent]  # what this check changed
    breakers: list[Breaker]  # every breaker not CLOSED, after it
