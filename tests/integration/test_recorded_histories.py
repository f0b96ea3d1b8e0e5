"""Histories of every workflow, recorded from one real run of the engine and replayed with the
current code. With FLOOR_RECORD_HISTORIES=1 the run also writes them to tests/histories/ (the
unit replay test then replays them on every run): re-record only with a deliberate change,
guarded by workflow.patched for the runs already in flight."""

from __future__ import annotations

import json
import os
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.deps import Deps
from client import engine_status, ensure_engine, reconcile
from floor.access.roles import Kind
from floor.engine import Operation
from floor.txqueue import queue_id
from tests.integration.engine_helpers import (
    commander,
    engine_settings,
    finished,
    run_operation,
    start_allocated,
    temporal_cli,
    wait_for,
)
from tests.integration.helpers import advance_time, mint
from tests.integration.test_reconcile import with_store
from workers.temporal import WORKFLOWS, build_worker
from workflows.engine import EngineCheckWorkflow

HISTORIES = Path(__file__).parents[1] / "histories"
INDEX = HISTORIES / "index.json"  # file name -> the workflow id it was recorded under


async def test_every_workflow_replays_its_recorded_history(temporal_env, stack, web3s, signer, task_queue, tmp_path):
    settings = engine_settings(stack, task_queue, harvest_cooldown_s=0)
    settings = settings.model_copy(update={"engine": settings.engine.model_copy(update={"workflow_id": "engine-rec"})})
    settings, store = with_store(settings, tmp_path)
    client = temporal_env.client
    engine_id = settings.engine_id
    ids = {"engine.json": engine_id}
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        await start_allocated(client, settings, web3s)
        ids["allocate-v2-child.json"] = f"{engine_id}/allocate-1"
        chain = settings.chain(1)
        mint(web3s[1], chain.token("USDC").address, chain.market("metamorpho", "steakUSDC").vault, 1_500_000 * 10**6)
        advance_time(web3s[1], 86_400)
        started = await commander(client, settings).ask(Operation.REBALANCE, {"reason": "drift"})
        # Mid-rebalance, as an operator would: the open pause signal, then a signed resume.
        resume = commander(client, settings).sign(Kind.RESUME, {"reason": "rec"}).model_dump_json()
        for command in (("signal", "--name", "pause_engine", "--input", '{"by": "rec"}'),
                        ("update", "execute", "--name", "resume", "--input", resume)):  # fmt: skip
            code, _, err = await temporal_cli(client, "workflow", *command, "--workflow-id", engine_id)
            assert code == 0, err
        await finished(client, engine_id, Operation.REBALANCE, started.workflow_id)
        ids["rebalance.json"] = started.workflow_id
        await run_operation(client, settings, Operation.HARVEST, {"by": "recorder"})
        advance_time(web3s[1], 86_400)
        await run_operation(client, settings, Operation.HARVEST, {"by": "recorder"})
        ids["harvest.json"] = f"{engine_id}/harvest-4"
        request = {"chain_id": 1, "asset": "USDC", "amount": "1000000", "destination": chain.destinations[0]}
        capital = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, request)
        await finished(client, engine_id, Operation.REQUEST_CAPITAL, capital.workflow_id)
        ids["capital.json"] = capital.workflow_id
        check = await client.execute_workflow(
            EngineCheckWorkflow.run,
            {"engine_id": engine_id, "kind": "rebalance"},
            id="engine-rec-check",
            task_queue=task_queue,
        )
        assert check.startswith("refused: rebalance cooldown")
        ids["engine-check.json"] = "engine-rec-check"
        ids["txqueue.json"] = queue_id(1, signer.address)
        reconciliation = await reconcile(client, settings, wait=False)
        assert (await reconciliation.result()).status == "clean"
        ids["reconcile.json"] = reconciliation.id
        assert (await engine_status(client, engine_id)).operation is None

        async def histories():
            return {name: await client.get_workflow_handle(wid).fetch_history() for name, wid in ids.items()}

        recorded = await wait_for(histories, what="the histories")
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    for name, history in recorded.items():
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (name, result.replay_failure)
    if os.environ.get("FLOOR_RECORD_HISTORIES"):
        index = json.loads(INDEX.read_text()) if INDEX.exists() else {}
        for name, history in recorded.items():
            (HISTORIES / name).write_text(history.to_json())
            index[name] = ids[name]
        INDEX.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
