"""The EngineWorkflow on a real Temporal dev server and the anvil chains: operations as
children, one at a time, the state machine's refusals, drift brought back by a rebalance,
capital delivered to a destination, yield measured by source."""

from __future__ import annotations

import pytest

from activities.chain import ChainActivities
from activities.engine import Refused, ask, engine_status
from floor.engine import EngineState, Operation
from tests.integration.engine_helpers import (
    engine_settings,
    key,
    run_operation,
    start_allocated,
)
from tests.integration.helpers import advance_time, mint, positions_now
from workers.temporal import build_worker

STEAK = key(1, "metamorpho", "steakUSDC")


async def test_rebalance_brings_drift_back_and_cooldown_refuses_a_second(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = engine_settings(stack, task_queue)
    client = temporal_env.client
    async with build_worker(client, task_queue, ChainActivities(settings, signer, web3s)):
        await start_allocated(client, settings, web3s)
        # Prices move: the vault's share price jumps (a donation to it), time passes (interest).
        usdc = settings.chain(1).token("USDC").address
        mint(web3s[1], usdc, STEAK_VAULT(settings), 1_500_000 * 10**6)
        advance_time(web3s[1], 30 * 86_400)
        result = await run_operation(client, settings, Operation.REBALANCE, {"by": "test", "reason": "drift"})
        assert result.status == "done", result.summary
        assert result.drift_before_bps > 500 >= result.drift_after_bps, result.summary
        # The vault was over its weight: money came out of it and went into the other two.
        steak = next(m for m in result.moves if m.key == STEAK)
        assert steak.planned < 0 and abs(steak.realised - steak.planned) <= 2
        assert {m.key.protocol for m in result.moves if m.planned > 0} == {"aave-v3", "spark"}
        for move in result.moves:  # realised against planned, to a few base units of rounding
            assert abs(move.realised - move.planned) <= 2, move
        now = positions_now(settings, web3s, [m.key for m in result.moves])
        assert {str(k): p.amount for k, p in now.items()} == {
            str(m.key): result.positions[str(m.key)] for m in result.moves
        }
        assert [c.chain_id for c in result.chains] == [1]  # only the leg that drifted moved

        with pytest.raises(Refused, match=r"rebalance cooldown: .* next is allowed in \d+ s \(cooldown 3600 s\)"):
            await ask(client, settings.engine_id, Operation.REBALANCE, {"by": "test"})
        status = await engine_status(client, settings.engine_id)
        assert status.state == EngineState.IDLE and status.last.kind == Operation.REBALANCE


def STEAK_VAULT(settings) -> str:
    return settings.chain(1).market("metamorpho", "steakUSDC").vault
