"""ExitDrillWorkflow: the full exit of every position, simulated on an anvil fork of each chain.

Every chain at once, each one activity (`drill_chain_exits`: fork, plan, each step alone on the
fork, the fork stopped; heartbeating per step, bounded by the input's `timeout_s`); a chain whose
fork cannot be made or read is reported as not drilled, and the others are not held up. Each
chain's drill is then recorded in the store (`record_exit_drill`), which the exporter's
`floor_engine_exit_drill_*` series and `floor exit-drill --last` read. Reads only: it never
touches the chains themselves, so its schedule runs while the engine is paused.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.doors import validated
from workflows.operation import READ_TIMEOUT, RETRY

with workflow.unsafe.imports_passed_through():
    from floor.exit_drill import ChainDrill, DrillChainInput, ExitDrillResult, ExitDrillStart, drill_result

# A step on the fork takes seconds; building the plan on a fork of a remote chain fetches every
# contract's state over the RPC first, and has no heartbeat of its own.
HEARTBEAT = timedelta(minutes=5)
FORK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=2)


@workflow.defn
class ExitDrillWorkflow:
    @workflow.run
    async def run(self, raw: Any = None) -> ExitDrillResult:
        input = validated(ExitDrillStart, raw, "exit drill", example='{"chains": [1, 42161]}')
        run_id = workflow.info().workflow_id
        workflow.set_current_details(f"**step:** the full exit on forks of chains {input.chains}")
        drills = await asyncio.gather(*(self._drill(run_id, c, input.timeout_s) for c in input.chains))
        workflow.set_current_details("**step:** recording the drills")
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    "record_exit_drill",
                    drill,
                    start_to_close_timeout=READ_TIMEOUT,
                    retry_policy=RETRY,
                    summary=f"record the exit drill of chain {drill.chain_id}",
                )
                for drill in drills
            )
        )
        result = drill_result(list(drills))
        workflow.set_current_details(f"**{result.status}:** {result.summary}"[:2000])
        return result

    async def _drill(self, run_id: str, chain_id: int, timeout_s: int) -> ChainDrill:
        try:
            return await workflow.execute_activity(
                "drill_chain_exits",
                DrillChainInput(run_id=run_id, chain_id=chain_id),
                result_type=ChainDrill,
                start_to_close_timeout=timedelta(seconds=timeout_s),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=FORK_RETRY,
                summary=f"the full exit on a fork of chain {chain_id}",
            )
        except ActivityError as exc:  # this chain not drilled; the others still are
            cause = exc.cause or exc
            return ChainDrill(
                chain_id=chain_id,
                run_id=run_id,
                drilled_at=workflow.now(),
                error=f"{getattr(cause, 'type', None) or type(cause).__name__}: {cause}"[:1000],
            )
