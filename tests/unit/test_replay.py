"""Replay recorded histories with the current code: a change that breaks determinism for
running workflows fails here. tests/histories/index.json names each file's workflow id; the
files are recorded by tests/integration/test_recorded_histories.py (FLOOR_RECORD_HISTORIES=1).
allocate.json was recorded before AllocateWorkflow's "engine-v2" change (reads and builds of
every chain at once, steps reported to the engine) and is kept: the patched code replays it."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.allocate import AllocateWorkflow

HISTORIES = Path(__file__).parents[1] / "histories"
INDEX = json.loads((HISTORIES / "index.json").read_text()) | {"allocate.json": "allocate-recorded"}


def history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(INDEX[name], (HISTORIES / name).read_text())


def all_workflows() -> list:
    from workers.temporal import WORKFLOWS  # not at module level: the sandbox re-imports this module

    return WORKFLOWS


@pytest.mark.parametrize("name", sorted(INDEX))
async def test_recorded_history_replays(name):
    WORKFLOWS = all_workflows()
    result = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history(name), raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure


def test_every_workflow_has_a_recorded_history():
    WORKFLOWS = all_workflows()
    recorded = {
        json.loads((HISTORIES / n).read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"][
            "name"
        ]
        for n in INDEX
    }
    assert recorded == {w.__name__ for w in WORKFLOWS}


@workflow.defn(name="AllocateWorkflow")
class UnpatchedAllocate(AllocateWorkflow):
    """The engine-v2 change without its workflow.patched guard."""

    @workflow.run
    async def run(self, raw: Any):
        return await super().run(raw)

    def _engine_v2(self) -> bool:
        return True


async def test_the_patch_guard_is_what_lets_the_old_history_replay():
    result = await Replayer(workflows=[UnpatchedAllocate], data_converter=pydantic_data_converter).replay_workflow(
        history("allocate.json"), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None


@workflow.defn(name="AllocateWorkflow")
class ReorderedAllocate:
    """A changed AllocateWorkflow: builds calls before reading positions."""

    @workflow.run
    async def run(self, input: Any) -> None:
        await workflow.execute_activity("build_deposit_calls", input, start_to_close_timeout=timedelta(seconds=5))


async def test_replay_catches_a_reordered_workflow():
    """The check has teeth: a workflow that runs its activities in another order fails replay."""
    result = await Replayer(workflows=[ReorderedAllocate], data_converter=pydantic_data_converter).replay_workflow(
        history("allocate.json"), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
