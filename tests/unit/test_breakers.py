"""The circuit breakers' pure part: what trips which scope, with which figures, and the
breaker's states (only an operator half-opens, only a clean probe closes)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from floor.models import AdapterKey
from floor.risk.breakers import (
    ENGINE,
    BreakerPolicy,
    BreakerRefused,
    BreakerState,
    ChainSample,
    MarketSample,
    RiskSample,
    Trigger,
    apply_findings,
    blocked,
    findings,
    half_open,
    sample_scopes,
    trip,
)

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
POLICY = BreakerPolicy()
AAVE = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
VAULT = AdapterKey(chain_id=1, protocol="metamorpho", market="steakUSDC")
ARB_AAVE = AdapterKey(chain_id=42161, protocol="aave-v3", market="USDC")


def sample(*markets: MarketSample, chains: tuple[ChainSample, ...] = ()) -> RiskSample:
    return RiskSample(at=NOW, markets=list(markets), chains=list(chains))


def chain(base_fee: int = 10 * 10**9, cap: int = 500 * 10**9, price: str | None = None) -> ChainSample:
    return ChainSample(chain_id=1, block_number=100, base_fee_wei=base_fee, fee_cap_wei=cap, price_problem=price)


def test_a_tvl_fall_beyond_the_limit_trips_the_protocol_and_names_the_figures():
    at_limit = MarketSample(key=AAVE, tvl=7_000, tvl_peak=10_000)  # exactly 30%: not beyond it
    assert findings(sample(at_limit), POLICY) == []
    (found,) = findings(sample(MarketSample(key=AAVE, tvl=6_999, tvl_peak=10_000)), POLICY)
    assert found.scope == "protocol:aave-v3" and found.trigger == Trigger.TVL_FALL
    assert (
        found.reason == "1:aave-v3:USDC: TVL 6999 is 3001 bps below its 24 h high of 10000 base units (limit 3000 bps)"
    )
    (found,) = findings(sample(MarketSample(key=AAVE, tvl=6_900, tvl_peak=10_000)), POLICY)
    assert "3100 bps below" in found.reason


def test_a_growth_index_drawdown_and_an_apy_drop_trip_the_protocol():
    drawdown = MarketSample(key=VAULT, index=94 * 10**25, index_peak=100 * 10**25)
    (found,) = findings(sample(drawdown), POLICY)
    assert (found.scope, found.trigger) == ("protocol:metamorpho", Trigger.DRAWDOWN)
    assert "lost 600 bps" in found.reason and "limit 500 bps" in found.reason
    assert findings(sample(MarketSample(key=VAULT, index=96 * 10**25, index_peak=100 * 10**25)), POLICY) == []

    halved = MarketSample(key=AAVE, apy=0.019, apy_trailing=0.04)
    (found,) = findings(sample(halved), POLICY)
    assert found.trigger == Trigger.APY_DROP and "5250 bps below its 7 d average of 4.0000%" in found.reason
    assert findings(sample(MarketSample(key=AAVE, apy=0.021, apy_trailing=0.04)), POLICY) == []
    # A trailing APY under the floor is noise, not a signal.
    assert findings(sample(MarketSample(key=AAVE, apy=0.0, apy_trailing=0.004)), POLICY) == []


def test_gas_above_the_cap_and_a_price_problem_trip_the_chain():
    found = findings(sample(chains=(chain(base_fee=501 * 10**9, price="price of USDC stale"),)), POLICY)
    assert [(f.scope, f.trigger) for f in found] == [("chain:1", Trigger.GAS), ("chain:1", Trigger.PRICE)]
    assert findings(sample(chains=(chain(base_fee=500 * 10**9),)), POLICY) == []


def test_the_error_rate_counts_only_a_full_window_of_the_engines_last_operations():
    assert findings(sample(), POLICY, ["failed", "failed", "failed"]) == []  # fewer than the window
    assert findings(sample(), POLICY, ["failed", "failed", "done", "failed", "done"]) == []  # 2 of the last 4
    (found,) = findings(sample(), POLICY, ["done", "failed", "failed", "failed"])
    assert (found.scope, found.trigger) == (ENGINE, Trigger.ERROR_RATE) and "3 of the engine's last 4" in found.reason


def test_open_is_automatic_closing_needs_an_operator_and_a_clean_probe():
    found = findings(sample(MarketSample(key=AAVE, tvl=1, tvl_peak=10_000)), POLICY)
    book, events = apply_findings({}, found, {"protocol:aave-v3"}, NOW)
    assert [(e.scope, e.from_state, e.to_state) for e in events] == [
        ("protocol:aave-v3", BreakerState.CLOSED, BreakerState.OPEN)
    ]
    # Both Aave markets, on either chain, are routed around; other protocols are not.
    assert blocked(book, AAVE).scope == blocked(book, ARB_AAVE).scope == "protocol:aave-v3"
    assert blocked(book, VAULT) is None
    # A clean check does not close an open breaker.
    again, events = apply_findings(book, [], {"protocol:aave-v3"}, NOW)
    assert again == book and events == []
    with pytest.raises(BreakerRefused, match="only an OPEN breaker"):
        half_open(book, "protocol:metamorpho", "oncall", "probe", NOW)
    book, event = half_open(book, "protocol:aave-v3", "oncall", "looks recovered", NOW)
    assert event.to_state == BreakerState.HALF_OPEN and blocked(book, AAVE) is not None  # still routed around
    # A check that did not look at the scope does not probe it.
    unprobed, events = apply_findings(book, [], {"chain:1"}, NOW)
    assert events == [] and unprobed["protocol:aave-v3"].state == BreakerState.HALF_OPEN
    # A failing probe opens it again; a passing one closes it.
    reopened, events = apply_findings(book, found, {"protocol:aave-v3"}, NOW)
    assert reopened["protocol:aave-v3"].state == BreakerState.OPEN and events[0].reason.startswith("probe failed")
    closed, events = apply_findings(book, [], {"protocol:aave-v3"}, NOW)
    assert closed == {} and events[0].to_state == BreakerState.CLOSED and events[0].trigger == Trigger.PROBE


def test_a_manual_trip_names_its_scope_and_refuses_nonsense():
    book, event = trip({}, "chain:42161", "oncall", "sequencer down", NOW)
    assert event.trigger == Trigger.MANUAL and blocked(book, ARB_AAVE).reason == "sequencer down"
    assert blocked(book, AAVE) is None
    with pytest.raises(BreakerRefused, match="already OPEN: sequencer down"):
        trip(book, "chain:42161", "oncall", "again", NOW)
    for bad in ("chain:arb", "protocol:", "everything", ""):
        with pytest.raises(BreakerRefused, match="not a breaker scope"):
            trip({}, bad, "oncall", "x", NOW)


def test_a_check_covers_the_engine_its_chains_and_its_protocols():
    s = sample(MarketSample(key=AAVE), MarketSample(key=VAULT), chains=(chain(),))
    assert sample_scopes(s) == {ENGINE, "chain:1", "protocol:aave-v3", "protocol:metamorpho"}


def test_the_error_rate_counts_only_operations_since_the_engine_breaker_last_changed():
    from datetime import timedelta

    from floor.risk.breakers import counted_statuses

    t = [NOW + timedelta(minutes=m) for m in range(10)]
    failures = [(t[0], "failed"), (t[1], "failed"), (t[2], "failed"), (t[3], "done")]
    assert counted_statuses(failures, {}, None) == ["failed", "failed", "failed", "done"]
    book, _ = trip({}, ENGINE, "oncall", "x", t[4])  # opened (by the rate, or by hand)
    book, _ = half_open(book, ENGINE, "oncall", "fixed the RPC", t[5])
    # The probe judges what ran since the half-open: nothing yet, so the window is not full.
    assert counted_statuses(failures, book, None) == []
    assert findings(sample(), POLICY, counted_statuses(failures, book, None)) == []
    # Closed at t[6]: the old failures never count again, new ones do.
    later = [*failures, (t[7], "failed")]
    assert counted_statuses(later, {}, t[6]) == ["failed"]


def test_an_operator_names_only_scopes_the_strategy_has_and_never_the_engine_or_a_reconciliation():
    from floor.risk.breakers import catalogue_scopes, change_refusal

    known = catalogue_scopes([VAULT, ARB_AAVE, AAVE])
    assert known == ["chain:1", "chain:42161", "protocol:aave-v3", "protocol:metamorpho"]
    assert change_refusal("protocol:aave-v3", "trip", known) is None
    assert change_refusal(ENGINE, "half_open", known) is None  # the error rate opens it; a probe closes it
    for scope in ("protocol:nope", "chain:999"):
        assert change_refusal(scope, "trip", known) == (
            f"{scope!r} is not a breaker scope of this engine: use one of chain:1, chain:42161, protocol:aave-v3, "
            "protocol:metamorpho"
        )
        assert "use one of engine, chain:1, chain:42161, protocol:aave-v3" in change_refusal(scope, "half_open", known)
    assert "`floor pause` stops the whole engine" in change_refusal(ENGINE, "trip", known)
    assert "opened by a reconciliation" in change_refusal("reconcile:1:aave-v3:USDC", "trip", known)
    assert "`floor reconcile --accept ID" in change_refusal("reconcile:1:aave-v3:USDC", "half_open", known)
    assert "`floor reconcile --accept-chain 42161" in change_refusal("reconcile:chain:42161", "half_open", known)


def test_a_reconciliation_breaker_opens_once_holds_the_resume_and_closes_only_by_acceptance():
    from floor.risk.breakers import Finding, accept, reconcile_refusal, reconcile_scope

    scope = reconcile_scope(str(VAULT))
    found = Finding(scope=scope, trigger=Trigger.RECONCILE, reason="discrepancy #7 on 1:metamorpho:steakUSDC: ...")
    book, events = apply_findings({}, [found], set(), NOW, "reconciliation run-1")
    assert [(e.scope, e.to_state, e.trigger, e.actor) for e in events] == [
        (scope, BreakerState.OPEN, Trigger.RECONCILE, "reconciliation run-1")
    ]
    again, events = apply_findings(book, [found], set(), NOW, "reconciliation run-2")
    assert again == book and events == []  # a second run: the same breaker, listed once
    assert blocked(book, VAULT) is None  # the engine is paused instead: nothing is routed
    refusal = reconcile_refusal(book)
    assert scope in refusal and "discrepancy #7" in refusal and "floor reconcile --accept ID" in refusal
    with pytest.raises(BreakerRefused, match="no reconciliation breaker is open"):
        accept(book, "protocol:aave-v3", "alice", "x", NOW)
    closed, event = accept(book, scope, "alice", "INC-42", NOW)
    assert closed == {} and reconcile_refusal(closed) is None
    assert (event.from_state, event.to_state, event.trigger, event.actor) == (
        BreakerState.OPEN,
        BreakerState.CLOSED,
        Trigger.ACCEPTED,
        "alice",
    )
    assert event.reason.startswith("accepted: INC-42 (was open for: discrepancy #7")
    with pytest.raises(BreakerRefused, match="it is CLOSED"):
        accept(closed, scope, "alice", "again", NOW)
