"""AllocateWorkflow: put treasury funds held by the executors into markets, by weight.

read positions -> plan (pure) -> per chain: build guarded calls, pack them into batches
-> send each batch to the signer's transaction queue as one intent and wait for the
outcomes the queue signals back -> read back. Each deposit's calls (balance guard included)
land whole or not at all; a chain's deposits go in as few execute(calls) transactions as the
executor's bounds allow. Intent ids derive from this workflow's id, so a re-run with the same
id never sends a batch twice. Between steps the workflow waits while paused.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from floor.batching import pack_batches
    from floor.errors import FloorError
    from floor.messages import (
        AllocateInput,
        AllocateResult,
        BuildDepositsInput,
        EngineSignal,
        ReadPositionsInput,
    )
    from floor.models import Call, Position, TxRecord
    from floor.risk.allocation import deposit_outcomes, plan_leg
    from floor.txqueue import SubmitAck, TxIntent, TxOutcome

# Reads and writes retry alike: a write's retries re-send the same signed bytes (see _execute).
# Which failures are worth retrying is the error's own verdict (floor.errors), carried by
# the activity's ApplicationError as non_retryable.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
# How long to wait for the queue's signal before asking it again.
ASK_AGAIN = timedelta(minutes=10)


# A FloorError raised by the workflow's own code (a group too large for one batch) fails
# the workflow with its name, instead of retrying the workflow task forever.
@workflow.defn(failure_exception_types=[FloorError])
class AllocateWorkflow:
    def __init__(self) -> None:
        self.paused = False
        self.stage = "starting"
        self.outcomes: dict[str, TxOutcome] = {}

    @workflow.signal
    def tx_outcome(self, outcome: TxOutcome) -> None:
        """The transaction queue's answer to one of this workflow's intents."""
        self.outcomes[outcome.intent_id] = outcome

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
        intents: list[TxIntent] = []
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
            for number, batch in enumerate(pack_batches(groups), start=1):
                intents.append(
                    TxIntent(
                        id=f"{workflow.info().workflow_id}/chain-{chain_id}/batch-{number}",
                        chain_id=chain_id,
                        groups=batch,
                        reply_to=workflow.info().workflow_id,
                    )
                )
        transactions = await self._send(intents)

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

    async def _send(self, intents: list[TxIntent]) -> list[TxRecord]:
        """Every intent to its queue, then the queue's outcomes; a failed intent fails the
        allocation with the queue's reason (the other batches, once sent, are followed to the end)."""
        await self._step(f"sending {len(intents)} transactions")
        unsettled = intents
        while unsettled:
            # Sending an intent again is harmless (the queue knows its id) and answers with its
            # outcome once settled: this also covers a signal sent while no run was listening.
            for intent in unsettled:
                ack = await workflow.execute_activity(
                    "submit_intent",
                    intent,
                    result_type=SubmitAck,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RETRY,
                    summary=f"queue {intent.id}",
                )
                if ack.outcome is not None:
                    self.outcomes[intent.id] = ack.outcome
            self.stage = f"waiting for {len(intents)} transactions"
            try:
                await workflow.wait_condition(lambda: all(i.id in self.outcomes for i in intents), timeout=ASK_AGAIN)
            except TimeoutError:
                pass
            unsettled = [i for i in intents if i.id not in self.outcomes]
        for intent in intents:
            outcome = self.outcomes[intent.id]
            if not outcome.ok:
                raise ApplicationError(
                    f"{intent.id}: {outcome.message}", type=outcome.error or "TransactionFailed", non_retryable=True
                )
        return [self.outcomes[i.id].transaction for i in intents]


def _chains(input: AllocateInput) -> list[int]:
    return sorted({leg.chain_id for leg in input.legs})
