"""An exit drill's reductions, pure: which exits fail a drill, what each costs (realised on the
fork, else as quoted), the per-protocol view the metrics show, and the lines people read."""

from __future__ import annotations

from datetime import UTC, datetime

from floor.exit_drill import ChainDrill, DrilledExit, drill_result, exit_line

AT = datetime(2027, 1, 12, tzinfo=UTC)


def exit_(market: str, status: str, **extra) -> DrilledExit:
    return DrilledExit(
        market=market,
        protocol=market.split(":")[1],
        asset="USDC",
        decimals=6,
        position=10**12,
        mode="instant",
        status=status,
        **extra,
    )


def test_a_failed_or_partial_exit_fails_the_drill_a_manual_one_does_not() -> None:
    ok = exit_("1:aave-v3:USDC", "ok", realised=10**12, fair=10**12, slippage_bps=0)
    manual = exit_("1:native-eth:validators", "manual", reason="exit it by hand")
    partial = exit_("1:curve:3pool", "partial", realised=5 * 10**11, fair=5 * 10**11, slippage_bps=3, left=5 * 10**11)
    costly = exit_("1:balancer-v2:pool", "failed", quoted=9 * 10**11, quoted_slippage_bps=80, reason="SlippageTooHigh")
    assert drill_result([ChainDrill(chain_id=1, run_id="r", drilled_at=AT, exits=[ok, manual])]).status == "ok"
    chain = ChainDrill(chain_id=1, run_id="r", drilled_at=AT, exits=[ok, manual, partial, costly])
    result = drill_result([chain])
    assert result.status == "failed" and "2 of 4 exits ok" not in result.summary and "1 of 4 exits ok" in result.summary
    assert chain.protocols() == {
        "aave-v3": (True, 0),
        "native-eth": (True, None),
        "curve": (False, 3),
        "balancer-v2": (False, 80),  # never ran: what its quote said it would cost
    }
    assert exit_line(costly) == "1:balancer-v2:pool: FAILED (quoted 80 bps): SlippageTooHigh"
    assert exit_line(ok) == "1:aave-v3:USDC: ok 1,000,000 USDC of 1,000,000 USDC fair, 0 bps, instant"
    queued = exit_("1:lido:stETH", "ok", action="request", realised=10**12, fair=10**12, slippage_bps=0)
    queued = queued.model_copy(update={"mode": "queued", "wait_s": 5 * 86_400})
    assert exit_line(queued).endswith("0 bps, queued, about 5 days") and exit_line(queued).startswith(
        "1:lido:stETH (request)"
    )
