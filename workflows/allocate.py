"""AllocateWorkflow: put treasury funds held by the executors into markets, by weight.

read positions -> plan (pure) -> per chain: build guarded calls, pack them into batches,
and per batch sign, submit, confirm -> read back. Each deposit's calls (balance guard
included) land whole or not at all; a chain's deposits go in as few execute(calls)
transactions as the executor's bounds allow. Between steps the workflow waits while paused.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from floor.batching import pack_batches
    from floor.errors import FloorError
    from floor.messages import (
        AllocateInput,
        AllocateResult,
        BuildDepositsInput,
        ConfirmInput,
        EngineSignal,
        ExecuteInput,
        ReadPositionsInput,
        SignedTx,
    )
    from floor.models import Call, Position, TxRecord
    from floor.risk.allocation import deposit_outcomes, plan_leg

# Reads and writes retry alike: a write's retries re-send the same signed bytes (see _execute).
# Which failures are worth retrying is the error's own verdict (floor.errors), carried by
# the activity's ApplicationError as non_retryable.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)


# A FloorError raised by the workflow's own code (a group too large for one batch) fails
# the workflow with its name, instead of retrying the workflow task forever.
@workflow.defn(failure_exception_types=[FloorError])
class AllocateWorkflow:
    def __init__(self) -> None:
        self.paused = False
        self.stage = "starting"

    @workflow.signal
    def pause_engine(self, signal: EngineSignal) -> None:
        self.paused = True
        workflow.logger.info("paused", extra={"reason": signal.reason, "by": signal.by})

    @workflow.signal
    def resume_engine(self, signal: EngineSignal) -> None:
        self.paused = False
        workflow.logger.info("resumed", extra={"reason": signal.reason, "by": signal.by})

    @workflow.query
    def status(self) -> str:
        return f"{self.stage} (paused)" if self.paused else self.stage

    async def _step(self, stage: str) -> None:
        self.stage = stage
        await workflow.wait_condition(lambda: not self.paused)

    async def _read_positions(self, input: AllocateInput) -> list[Position]:
        positions: list[Position] = []
        for chain_id in _chains(input):
            keys = [t.key for leg in input.legs if leg.chain_id == chain_id for t in leg.targets]
            positions += await workflow.execute_activity(
                "read_positions",
                ReadPositionsInput(chain_id=chain_id, keys=keys),
                result_type=list[Position],
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
        return positions

    @workflow.run
    async def run(self, input: AllocateInput) -> AllocateResult:
        await self._step("reading positions")
        before = await self._read_positions(input)

        planned = {(leg.chain_id, leg.asset): plan_leg(leg) for leg in input.legs}
        transactions: list[TxRecord] = []
        for chain_id in _chains(input):
            await self._step(f"building calls for chain {chain_id}")
            groups: list[list[Call]] = []
            for leg in input.legs:
                if leg.chain_id == chain_id:
                    groups += await workflow.execute_activity(
                        "build_deposit_calls",
                        BuildDepositsInput(chain_id=chain_id, asset=leg.asset, deposits=planned[(chain_id, leg.asset)]),
                        result_type=list[list[Call]],
                        start_to_close_timeout=timedelta(seconds=30),
                        retry_policy=RETRY,
                    )
            batches = pack_batches(groups)
            for number, batch in enumerate(batches, start=1):
                transactions.append(await self._execute(chain_id, batch, f"batch {number} of {len(batches)}"))

        await self._step("reading positions back")
        after = await self._read_positions(input)
        self.stage = "done"
        deposits = [d for leg_deposits in planned.values() for d in leg_deposits]
        return AllocateResult(
            planned=deposits,
            transactions=transactions,
            positions_before=before,
            positions_after=after,
            outcomes=deposit_outcomes(deposits, before, after),
        )

    async def _execute(self, chain_id: int, calls: list[Call], batch: str) -> TxRecord:
        await self._step(f"signing {batch} on chain {chain_id}")
        signed = await workflow.execute_activity(
            "sign_execute",
            ExecuteInput(chain_id=chain_id, calls=calls),
            result_type=SignedTx,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )
        # From here the transaction exists: submit and confirm only ever re-send the same
        # signed bytes, so a retry cannot spend the treasury twice.
        self.stage = f"submitting {signed.tx_hash} on chain {chain_id}"
        await workflow.execute_activity(
            "submit_transaction",
            signed,
            result_type=str,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )
        self.stage = f"confirming {signed.tx_hash} on chain {chain_id}"
        return await workflow.execute_activity(
            "confirm_transaction",
            ConfirmInput(chain_id=chain_id, tx_hash=signed.tx_hash, calls=signed.calls),
            result_type=TxRecord,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )


def _chains(input: AllocateInput) -> list[int]:
    return sorted({leg.chain_id for leg in input.legs})
