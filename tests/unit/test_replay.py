"""Replay a recorded AllocateWorkflow history with the current code: a change that breaks
determinism for running workflows fails here. Re-record (FLOOR_RECORD_HISTORIES=1 and the
integration test) only for a deliberate, patched() change."""

from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from floor.messages import AllocateInput
from workflows.allocate import AllocateWorkflow

HISTORY = Path(__file__).parents[1] / "histories" / "allocate.json"


async def test_recorded_allocation_replays():
    history = WorkflowHistory.from_json("allocate-recorded", HISTORY.read_text())
    result = await Replayer(workflows=[AllocateWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        history
    )
    assert result.replay_failure is None


@workflow.defn(name="AllocateWorkflow")
class ReorderedAllocate:
    """A changed AllocateWorkflow: builds calls before reading positions."""

    @workflow.run
    async def run(self, input: AllocateInput) -> None:
        await workflow.execute_activity("build_deposit_calls", input, start_to_close_timeout=timedelta(seconds=5))


async def test_replay_catches_a_reordered_workflow():
    """The check has teeth: a workflow that runs its activities in another order fails replay."""
    history = WorkflowHistory.from_json("allocate-recorded", HISTORY.read_text())
    result = await Replayer(workflows=[ReorderedAllocate], data_converter=pydantic_data_converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
