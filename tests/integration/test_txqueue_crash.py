"""Crash safety of TxQueueWorkflow: the worker process SIGKILLed at each step of a
transaction's life, then a new worker finishes the work, with no duplicate transaction and no
nonce gap.

The worker runs as an OS process of its own (`floor-worker`, see `floor/devnet/worker_process.py`), against
the suite's Temporal dev server and anvil chains, with `FLOOR_FAILPOINT=<step>`: it SIGKILLs
itself at that step. The intents are submitted before it starts, so its first workflow task
takes them all and they travel together: at the crash all of them are signed (`after_sign`),
or broadcast (`after_broadcast`: killed before the node's answer is in history), or being
confirmed (`while_watching`), or being carried over continue-as-new (`while_draining`).
Anvil does not mine while the first worker lives, so what it broadcast is still unconfirmed
when it dies; the chain mines it while no worker runs, then a second worker, without the
failpoint, picks the queue up. The chain is the judge: each intent's transfer happened once
(the treasury got exactly the sum of distinct amounts), the signer's transactions have
contiguous nonces from where they started, one per intent, and each outcome names one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from floor.devnet.stack import sent_by
from floor.devnet.worker_process import Workers, write_config
from floor.txqueue import QueueStatus
from scripts.bench.queue_driver import QueueDriver
from tests.integration.engine_helpers import wait_for
from tests.integration.helpers import balance, mint
from tests.integration.queue_helpers import transfer_intent
from workflows.txqueue import TxQueueWorkflow

INTENTS = 8  # one transaction each; the server admits at most 10 updates in flight per workflow
CRASH_WITHIN_S = 20  # the first worker reaches its failpoint in a few seconds
SETTLED_WITHIN_S = 60  # a dead worker's activities move on within their 10 s heartbeat or timeout

# (failpoint, the queue's max_history_events, where the crash falls). The first run's history
# grows step by step (the intents in and the nonce read, then simulated and signed in one
# activity, then broadcast with the first look): a low limit makes it drain during the send and
# carry all eight broadcast transactions over continue-as-new, so the second run is watching
# them when the worker dies (30); a higher one makes it drain once they are broadcast, and the
# worker dies in the drain (40). Each scenario asserts the run its crash fell in (`crash_in`).
# The suite kills at two of them (while the transaction is watched, and while the queue drains);
# `make drills` (FLOOR_ALL_FAILPOINTS=1) at every one.
DRILL_ONLY = pytest.mark.skipif(not os.environ.get("FLOOR_ALL_FAILPOINTS"), reason="make drills runs it")
SCENARIOS = [
    pytest.param("after_sign", None, "first run", id="after_sign", marks=DRILL_ONLY),
    pytest.param("after_broadcast", None, "first run", id="after_broadcast", marks=DRILL_ONLY),
    pytest.param("while_watching", None, "first run", id="while_watching"),
    pytest.param("while_watching", 30, "a later run", id="while_watching-after-continue-as-new", marks=DRILL_ONLY),
    pytest.param("while_draining", 40, "first run", id="while_draining"),
]


@pytest.fixture
def workers(tmp_path, settings, temporal_env, task_queue, operator_key):
    """Worker processes on the test's task queue; all stopped when the test ends (before the
    queue workflows are terminated)."""
    address = temporal_env.client.service_client.config.target_host
    config = write_config(tmp_path / "floor.toml", settings, address, task_queue)
    pool = Workers(tmp_path, config, operator_key)
    yield pool
    pool.stop_all()


@pytest.mark.parametrize(("step", "max_history_events", "crash_in"), SCENARIOS)
async def test_a_worker_killed_mid_transaction_leaves_no_duplicate_and_no_gap(
    step, max_history_events, crash_in, workers, temporal_env, settings, web3s, signer, task_queue
):
    w3 = web3s[1]
    chain = settings.chain(1)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    mint(w3, usdc, chain.executor, 10**12)
    start_block, start_nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    treasury_before = balance(w3, usdc, treasury)
    overrides = {"max_history_events": max_history_events} if max_history_events else {}
    driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, **overrides)
    amounts = [10**6 * (n + 1) + n for n in range(INTENTS)]  # distinct: each transfer is told apart
    intents = [
        transfer_intent(settings, f"crash-{step}-{max_history_events}/{n}", amount) for n, amount in enumerate(amounts)
    ]
    ids = [i.id for i in intents]

    sends: list[asyncio.Task] = []
    with workers.shown_on_failure(), _cancelled_at_exit(sends):
        w3.provider.make_request("evm_setAutomine", [False])  # the first worker's transactions stay in flight
        try:
            # Submitted with no worker running: the updates wait at the server, and the first
            # worker's first workflow task accepts them all.
            sends += [asyncio.create_task(driver.send(intent)) for intent in intents]
            first_run, first_started = await _started(driver)
            began = time.monotonic()
            first = workers.start(failpoint=step)
            code = await first.exited(CRASH_WITHIN_S)
            runs = await _runs(driver, first_run, first_started)
            assert code == -signal.SIGKILL, (
                f"{first.name} should have SIGKILLed itself at {step!r}; exit code {code} after {CRASH_WITHIN_S}s. "
                f"Runs of the queue: {runs}"
            )
            crashed = time.monotonic()
            crash_run = (await driver.handle.describe()).run_id
            in_mempool = w3.eth.get_transaction_count(signer.address, "pending") - start_nonce
            mined_at_crash = w3.eth.get_transaction_count(signer.address, "latest") - start_nonce
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
        # The scenario is the one named: at the crash, nothing or everything was broadcast, none
        # mined, in the run named.
        assert ("first run" if crash_run == first_run else "a later run") == crash_in, runs
        assert mined_at_crash == 0
        assert in_mempool == (0 if step == "after_sign" else INTENTS), f"{in_mempool} in the mempool at the crash"
        w3.provider.make_request("evm_mine", [])  # mined while no worker runs

        second = workers.start()
        await second.ready()
        acks = await asyncio.gather(*sends)
        outcomes = await driver.outcomes(ids, timeout_s=SETTLED_WITHIN_S)
        settled = time.monotonic()
        status = await driver.handle.query(TxQueueWorkflow.status)
        final_run = (await driver.handle.describe()).run_id
        print(
            f"{step} (max_history_events {max_history_events}): crashed {crashed - began:.1f}s after the first "
            f"worker started; all settled {settled - crashed:.1f}s after the crash"
        )

        assert all(a.accepted for a in acks), acks
        assert all(o.ok for o in outcomes.values()), [o for o in outcomes.values() if not o.ok]
        mined = sent_by(w3, signer.address, start_block)
        # One transaction per intent, at contiguous nonces from the first: none twice, none skipped.
        assert [t["nonce"] for t in mined] == list(range(start_nonce, start_nonce + INTENTS)), mined
        assert all(t["to"] == chain.executor for t in mined)
        hashes = {"0x" + t["hash"].hex() for t in mined}
        assert {o.transaction.tx_hash for o in outcomes.values()} == hashes
        assert {o.transaction.nonce for o in outcomes.values()} == {t["nonce"] for t in mined}
        # Each transfer happened exactly once.
        assert balance(w3, usdc, treasury) - treasury_before == sum(amounts)
        # Nothing else is left in the node's mempool, nor in the queue.
        assert w3.eth.get_transaction_count(signer.address, "pending") == start_nonce + INTENTS
        assert status == QueueStatus(
            chain_id=1,
            signer=signer.address,
            next_nonce=start_nonce + INTENTS,
            pending=[],
            inflight=[],
            settled=INTENTS,
            following=INTENTS,  # every one still followed until final (anvil: 64 blocks behind)
            final_block=status.final_block,
            last_included=status.last_included,
            chain_nonce=status.chain_nonce,
        )
        assert status.last_included.startswith("nonce "), status.last_included  # the queue's details say it too
        if max_history_events:
            assert final_run != first_run, "the queue never continued as new"


@contextlib.contextmanager
def _cancelled_at_exit(tasks: list[asyncio.Task]) -> Iterator[None]:
    """A failed test leaves no submission waiting on the session's event loop."""
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()


async def _started(driver: QueueDriver, timeout_s: float = 10) -> tuple[str, datetime]:
    """The queue's first run and its start, once update-with-start has created it (no worker is
    needed). The workflow id is the signer's: the previous test's run is there, terminated."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            described = await driver.handle.describe()
            if described.status == WorkflowExecutionStatus.RUNNING:
                return described.run_id, described.start_time
        except RPCError:  # not created yet
            pass
        assert time.monotonic() < deadline, f"the queue was not started within {timeout_s}s"
        await asyncio.sleep(0.05)


async def _runs(driver: QueueDriver, first_run: str, since: datetime) -> str:
    """The test's runs of the queue, from the server (no worker is needed), for a failure message."""
    runs = []
    query = f"WorkflowId = '{driver.handle.id}' AND StartTime >= '{since.isoformat()}'"
    async for execution in driver.client.list_workflows(query):
        status = execution.status.name if execution.status else None
        runs.append(f"{execution.run_id}{' (first)' if execution.run_id == first_run else ''}: {status}")
    return "; ".join(runs) or "none listed yet"


async def test_sigterm_lets_the_activity_in_flight_finish_and_the_next_worker_goes_on(
    workers, temporal_env, settings, web3s, signer, task_queue
):
    """A graceful stop (SIGTERM, as a deploy sends): the worker takes no new task, the receipt
    watch it is running finishes (completed, not timed out or cancelled), it exits 0, and the
    next worker confirms the transaction with no duplicate."""
    w3 = web3s[1]
    chain = settings.chain(1)
    usdc = chain.token("USDC").address
    mint(w3, usdc, chain.executor, 10**6)
    nonce = w3.eth.get_transaction_count(signer.address)
    w3.provider.make_request("evm_setAutomine", [False])  # broadcast, then watched, not mined
    try:
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        first = workers.start()
        with workers.shown_on_failure():
            await first.ready()
            await driver.send(transfer_intent(settings, "graceful/0", 10**6))

            async def watching():
                events = [e async for e in driver.handle.fetch_history_events()]
                return any(
                    e.activity_task_started_event_attributes.attempt
                    for e in events
                    if e.HasField("activity_task_started_event_attributes")
                ) and any(_scheduled(e, "tx_watch") for e in events)

            await wait_for(watching, what="the queue watching its transaction")
            first.process.send_signal(signal.SIGTERM)
            assert await first.exited(timeout_s=30) == 0
            assert "worker stopped" in first.log()
            events = [e async for e in driver.handle.fetch_history_events()]
            assert not any(
                e.HasField("activity_task_timed_out_event_attributes")
                or e.HasField("activity_task_canceled_event_attributes")
                for e in events
            )
            w3.provider.make_request("evm_setAutomine", [True])
            w3.provider.make_request("evm_mine", [])
            second = workers.start()
            await second.ready()
            outcome = await driver.outcome("graceful/0", timeout_s=SETTLED_WITHIN_S)
        assert outcome.ok and outcome.transaction.nonce == nonce
        assert w3.eth.get_transaction_count(signer.address) == nonce + 1
    finally:
        w3.provider.make_request("evm_setAutomine", [True])


def _scheduled(event, activity_type: str) -> bool:
    return (
        event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    )
