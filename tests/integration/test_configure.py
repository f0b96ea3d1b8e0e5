"""Reconfiguring the engine is explicit: `ensure_engine` starts an engine that is not running and
leaves a running one as it is; `configure` sends the config and says what changed (and starts
an engine not running with it)."""

from __future__ import annotations

from activities.deps import Deps
from client import engine_config, ensure_engine
from tests.integration.engine_helpers import commander, engine_settings
from workers.temporal import build_worker


async def test_only_configure_changes_a_running_engine(temporal_env, stack, web3s, signer, task_queue):
    settings = engine_settings(stack, task_queue)
    client = temporal_env.client
    first, second, *rest = targets = settings.strategy.targets  # 100 bps moved from the first to the second
    reweighted = [
        first.model_copy(update={"weight_bps": first.weight_bps - 100}),
        second.model_copy(update={"weight_bps": second.weight_bps + 100}),
        *rest,
    ]
    strategy = settings.strategy.model_copy(update={"targets": reweighted, "min_rebalance_interval_s": 60})
    other = settings.model_copy(update={"strategy": strategy})
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        started = await commander(client, settings).configure()
        assert started.started and len(started.added) == len(targets), started
        running = await engine_config(client, settings.engine_id)

        assert await ensure_engine(client, other) == settings.engine_id
        assert await engine_config(client, settings.engine_id) == running  # left as it was

        change = await commander(client, other).configure()
        assert not change.started and not change.added and not change.removed
        assert [(r.from_bps, r.to_bps) for r in change.reweighted] == [
            (first.weight_bps, first.weight_bps - 100),
            (second.weight_bps, second.weight_bps + 100),
        ]
        assert [f.field for f in change.fields] == ["policy.rebalance_cooldown_s"]
        assert (await engine_config(client, settings.engine_id)).policy.rebalance_cooldown_s == 60
        assert not (await commander(client, other).configure()).changed
