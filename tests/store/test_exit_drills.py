"""The exit drills' tables on both databases: a chain's drill and its exits written once however
often a retry writes them (a market may exit in two steps), and each chain's latest drill read
back as it was written (exact amounts, a chain that could not be drilled)."""

from __future__ import annotations

from floor.exit_drill import ChainDrill, DrilledExit
from floor.store import Store

from .conftest import at

BIG = 2**200  # amounts far past 2**64: stored exactly


def drilled(market: str, status: str = "ok", action: str = "withdraw_all", **extra) -> DrilledExit:
    protocol = market.split(":")[1]
    fields = {"position": BIG, "amount": BIG, "quoted": BIG - 5, "fair": BIG, "realised": BIG - 7, "slippage_bps": 1}
    return DrilledExit(
        market=market,
        protocol=protocol,
        asset="WETH",
        decimals=18,
        mode="queued" if action == "request" else "instant",
        status=status,
        action=action,
        **(fields | extra),
    )


def test_each_chains_latest_drill_comes_back_as_written(store: Store) -> None:
    old = ChainDrill(
        chain_id=1, run_id="d1", drilled_at=at(0), block_number=7, limit_bps=50, exits=[drilled("1:aave-v3:USDC")]
    )
    lido = [drilled("1:lido:stETH", action="sell"), drilled("1:lido:stETH", action="request", wait_s=432_000)]
    curve = drilled(
        "1:curve:3pool",
        "failed",
        slippage_bps=None,
        quoted_slippage_bps=1,
        reason="reverts: CallFailed(call 1): ERC20InsufficientBalance",
    )
    new = ChainDrill(chain_id=1, run_id="d2", drilled_at=at(60), block_number=9, limit_bps=50, exits=[*lido, curve])
    down = ChainDrill(chain_id=42161, run_id="d2", drilled_at=at(60), error="ForkFailed: no fork of chain 42161")
    assert store.record_exit_drill(old) == 2
    assert store.record_exit_drill(new) == 4
    assert store.record_exit_drill(new) == 0  # a retried write adds nothing
    store.record_exit_drill(down)
    assert store.latest_exit_drills() == [new, down]
    assert store.latest_exit_drills([42161]) == [down] and store.latest_exit_drills([5]) == []
    assert new.protocols() == {"lido": (True, 1), "curve": (False, 1)}  # curve: quoted, never ran
    assert down.protocols() == {"all": (False, None)} and not down.ok
