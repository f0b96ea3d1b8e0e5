"""The EngineWorkflow on a real Temporal dev server and the anvil chains: operations as
children, one at a time, the state machine's refusals, drift brought back by a rebalance,
capital delivered to a destination, yield measured by source."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from eth_utils.address import to_checksum_address
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.worker import Worker

from activities.deps import Deps
from client import Refused, command_fields, engine_status, ensure_engine
from floor.access.roles import Kind
from floor.catalogue import engine_input
from floor.devnet.context import Deployer
from floor.devnet.owner import as_owner
from floor.engine import EngineState, Operation
from floor.operations import EngineConfig, RebalanceResult
from floor.txqueue import queue_id
from tests.integration.engine_helpers import (
    ADMIN,
    TREASURY,
    GatedActivities,
    allocate_request,
    commander,
    engine_settings,
    finished,
    fund,
    key,
    pending_nonces,
    run_operation,
    start_allocated,
    temporal_cli,
    wait_for,
)
from tests.integration.helpers import advance_time, balance, contract, mint, positions_now
from workers.temporal import WORKFLOWS, build_worker
from workflows.engine import EngineWorkflow

STEAK = key(1, "metamorpho", "steakUSDC")


async def test_rebalance_brings_drift_back_and_cooldown_refuses_a_second(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = engine_settings(stack, task_queue)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
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
        assert steak.planned < 0
        assert {m.key.protocol for m in result.moves if m.planned > 0} == {"aave-v3", "spark"}
        for move in result.moves:  # realised against planned: rounding, and interest between the reads
            assert close(move.realised, move.planned), move
        now = positions_now(settings, web3s, [m.key for m in result.moves])
        assert {str(k): p.amount for k, p in now.items()} == {
            str(m.key): result.positions[str(m.key)] for m in result.moves
        }
        assert [c.chain_id for c in result.chains] == [1]  # only the leg that drifted moved

        with pytest.raises(Refused, match=r"rebalance cooldown: .* next is allowed in \d+ s \(cooldown 3600 s\)"):
            await commander(client, settings).ask(Operation.REBALANCE, {"by": "test"})
        status = await engine_status(client, settings.engine_id)
        assert status.state == EngineState.IDLE and status.last.kind == Operation.REBALANCE


async def test_a_step_is_told_to_the_engine_once_it_has_lasted_a_second(temporal_env, stack, web3s, signer, task_queue):
    """The steps that end inside the workflow task that began them (the reads, the builds, the
    read back) are not told to the engine: each report cost the result a task of its own. A
    step that lasts (here: the transactions waiting for a block) is, a second in, and the
    engine's status names it."""
    settings = engine_settings(stack, task_queue)
    client, w3 = temporal_env.client, web3s[1]
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await start_allocated(client, settings, web3s)
        drift_usdc_on_chain_1(settings, web3s)
        w3.provider.make_request("evm_setAutomine", [False])
        try:
            started = await commander(client, settings).ask(Operation.REBALANCE, {"by": "test"})

            async def told() -> str | None:
                operation = (await engine_status(client, settings.engine_id)).operation
                return operation.step if operation is not None and operation.step.startswith("sending ") else None

            step = await wait_for(told, what="the engine told of the step waiting for a block")
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
        w3.provider.make_request("evm_mine", [])
        handle = client.get_workflow_handle(started.workflow_id, result_type=RebalanceResult)
        assert (await handle.result()).status == "done"
    reports = [
        json.loads(e.signal_external_workflow_execution_initiated_event_attributes.input.payloads[0].data)["step"]
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    ]
    assert reports == [step]  # before: every step, "reading positions" to "reading positions back"


async def test_the_engine_journals_an_operations_start_once_it_ends_or_a_second_in(
    temporal_env, stack, web3s, signer, task_queue
):
    """The engine's journal (audit entries and transitions to the store) holds a burst while an
    operation runs (patch `journal-holds-during-operations`): not in the middle of its reads and
    builds, but with its end, or a second in. Here the operation waits for a block: the start's
    burst goes out when the hold's timer fires, and the end's once the operation has ended."""
    settings = engine_settings(stack, task_queue)
    client, w3 = temporal_env.client, web3s[1]
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await start_allocated(client, settings, web3s)
        drift_usdc_on_chain_1(settings, web3s)
        engine = client.get_workflow_handle(settings.engine_id)
        w3.provider.make_request("evm_setAutomine", [False])
        try:
            started = await commander(client, settings).ask(Operation.REBALANCE, {"by": "test"})

            async def journalled() -> bool:
                events = [e async for e in engine.fetch_history_events()]
                return any(journal_activity(e) for e in events[child_started(events, started.workflow_id) :])

            await wait_for(journalled, what="the start's burst journalled while the operation waits for a block")
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
        w3.provider.make_request("evm_mine", [])
        result = await client.get_workflow_handle(started.workflow_id, result_type=RebalanceResult).result()
        assert result.status == "done", result.summary

        async def since_the_start() -> list | None:
            events = [e async for e in engine.fetch_history_events()]
            after = events[child_started(events, started.workflow_id) :]
            ended = [e.event_type for e in after].index(EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED)
            return after if any(journal_activity(e) for e in after[ended:]) else None

        after = await wait_for(since_the_start, what="the end's transition journalled after the operation ended")
    hold = next(
        e.event_id
        for e in after
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and b"journal hold" in e.user_metadata.summary.data
    )
    fired = next(
        n
        for n, e in enumerate(after)
        if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED and e.timer_fired_event_attributes.started_event_id == hold
    )
    first_journal = next(n for n, e in enumerate(after) if journal_activity(e))
    assert fired < first_journal  # before the patch: scheduled with the child's start


def child_started(events: list, workflow_id: str) -> int:
    return next(
        n
        for n, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
        and e.start_child_workflow_execution_initiated_event_attributes.workflow_id == workflow_id
    )


def journal_activity(event) -> bool:
    return event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and (
        event.activity_task_scheduled_event_attributes.activity_type.name in ("append_audit", "record_engine_events")
    )


async def test_a_chain_is_read_back_once_its_own_transactions_have_outcomes(
    temporal_env, stack, web3s, signer, task_queue
):
    """A rebalance on two chains reads each back once its own transactions have outcomes (patch
    `read-back-per-chain`), as a script would: chain 42161's read back runs while chain 1's
    transaction still waits for a block. Before, every chain was read back once all had."""
    settings = engine_settings(stack, task_queue)
    client, w3 = temporal_env.client, web3s[1]
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await start_allocated(client, settings, web3s)
        drift_usdc_on_chain_1(settings, web3s)
        vault = settings.chain(42161).market("metamorpho", "gtUSDC").vault
        mint(web3s[42161], settings.chain(42161).token("USDC").address, vault, 500_000 * 10**6)
        w3.provider.make_request("evm_setAutomine", [False])
        try:
            started = await commander(client, settings).ask(Operation.REBALANCE, {"by": "test"})
            handle = client.get_workflow_handle(started.workflow_id, result_type=RebalanceResult)

            async def read_back_on_42161() -> bool:
                reads = [e async for e in handle.fetch_history_events() if reads_chain(e, 42161)]
                return len(reads) == 2  # the read before, and the read back

            await wait_for(read_back_on_42161, what="chain 42161 read back while chain 1's transaction waits")
            assert not [e async for e in handle.fetch_history_events() if reads_chain(e, 1)][1:]
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
        w3.provider.make_request("evm_mine", [])
        result = await handle.result()
    assert result.status == "done", result.summary
    assert sorted(p.chain_id for p in result.chains) == [1, 42161]
    now = positions_now(settings, web3s, [m.key for m in result.moves])
    assert {str(k): p.amount for k, p in now.items()} == {
        str(m.key): result.positions[str(m.key)] for m in result.moves
    }


def reads_chain(event, chain_id: int) -> bool:
    """A local activity's marker of a read of the chain (its summary names it)."""
    return event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and (
        f"read positions, liquidity and balances on chain {chain_id}".encode() in event.user_metadata.summary.data
    )


async def test_a_rebalance_journals_what_it_mined_beside_its_read_back(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    """The journal of the mined transactions runs beside the read back (patch
    `journal-beside-read-back`): every transaction of the result is in the store's journal
    when the result is read."""
    from tests.integration.test_reconcile import with_store

    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await start_allocated(client, settings, web3s)
        drift_usdc_on_chain_1(settings, web3s)
        started = await commander(client, settings).ask(Operation.REBALANCE, {"by": "test"})
        result = await client.get_workflow_handle(started.workflow_id, result_type=RebalanceResult).result()
    assert result.status == "done", result.summary
    mined = {tx for part in result.chains for tx in part.transactions}
    assert mined and {row.tx_hash for row in store.transactions_of(started.workflow_id)} == mined


def close(realised: int, planned: int) -> bool:
    """Within rounding (2 base units) plus the interest a market accrues between the read
    before and the read after (well under 0.001% over seconds)."""
    return abs(realised - planned) <= 2 + abs(planned) // 100_000


def STEAK_VAULT(settings) -> str:
    return settings.chain(1).market("metamorpho", "steakUSDC").vault


def drift_usdc_on_chain_1(settings, web3s) -> None:
    mint(web3s[1], settings.chain(1).token("USDC").address, STEAK_VAULT(settings), 1_500_000 * 10**6)


async def queue_held(client, signer, chain_id: int) -> str:
    from workflows.txqueue import TxQueueWorkflow

    handle = client.get_workflow_handle(queue_id(chain_id, signer.address))
    return (await handle.query(TxQueueWorkflow.status)).held


@pytest.mark.parametrize("door", ["temporal-signal", "floor-cli"])
async def test_pause_mid_rebalance_sends_nothing_until_resumed(
    door, temporal_env, stack, web3s, signer, task_queue, cli
):
    """Once through Temporal's CLI (the `pause_engine` signal, unsigned; the `resume` update,
    signed), once through `floor pause` (unsigned, `--by`) / `floor resume` (signed)."""
    settings = engine_settings(stack, task_queue)
    cli.use(settings)
    cli.key = ADMIN
    client = temporal_env.client

    async def pause_or_resume_by(pause: bool, reason: str) -> None:
        if door == "floor-cli":
            args = ("pause", "--reason", reason, "--by", "oncall") if pause else ("resume", "--reason", reason)
            ran = await cli(*args, keyless=pause)
            assert ran.code == 0, ran.err
            return
        if pause:
            payload = json.dumps({"reason": reason, "by": "oncall"})
            command = ("signal", "--name", "pause_engine", "--input", payload)
        else:  # as `floor sign resume` prints it
            payload = commander(client, settings, ADMIN).sign(Kind.RESUME, {"reason": reason}).model_dump_json()
            command = ("update", "execute", "--name", "resume", "--input", payload)
        code, _, err = await temporal_cli(client, "workflow", *command, "--workflow-id", settings.engine_id)
        assert code == 0, err

    activities = GatedActivities(Deps(settings, signer, web3s))
    async with build_worker(client, task_queue, activities.deps, chain_activities=activities):
        await start_allocated(client, settings, web3s)
        drift_usdc_on_chain_1(settings, web3s)
        activities.gate.clear()
        started = await commander(client, settings, ADMIN).ask(Operation.REBALANCE, {"reason": "test"})
        await activities.wait_arrived()  # the rebalance is reading positions, held at the gate

        await pause_or_resume_by(True, "incident drill")

        async def paused():
            status = await engine_status(client, settings.engine_id)
            return status.state == EngineState.PAUSED and await queue_held(client, signer, 1)

        await wait_for(paused, what="the engine paused and its queue held")
        status = await engine_status(client, settings.engine_id)
        assert status.paused_from == EngineState.REBALANCING and status.pause_reason == "incident drill"
        nonces = pending_nonces(web3s, signer.address)
        activities.gate.set()  # the read finishes; the next step must wait for the resume
        child = client.get_workflow_handle(started.workflow_id)

        async def child_waiting():
            return (await child.query("status")).endswith("(paused)")

        await wait_for(child_waiting, what="the rebalance waiting at its next step")
        await asyncio.sleep(2)
        assert pending_nonces(web3s, signer.address) == nonces  # nothing sent while paused
        code, out, _ = await temporal_cli(
            client, "workflow", "list", "--query", f'WorkflowId="{settings.engine_id}" AND FloorEngineState="PAUSED"'
        )
        assert code == 0 and settings.engine_id in out  # found by its search attribute

        await pause_or_resume_by(False, "drill over")
        result = await finished(client, settings.engine_id, Operation.REBALANCE, started.workflow_id)
        assert not await queue_held(client, signer, 1)
        transitions = [(t["from_state"], t["to_state"], t["actor"]) for t in await history(client, settings)]

    # The same end state an unpaused run reaches: every planned move realised, drift back.
    assert result.status == "done" and result.drift_before_bps > 500 >= result.drift_after_bps
    assert all(close(m.realised, m.planned) for m in result.moves)
    assert result.drift_after_bps == result.projected_drift_bps
    assert transitions[-4:] == [
        ("IDLE", "REBALANCING", ADMIN.address),  # the signer, named by its address (no name in the book)
        ("REBALANCING", "PAUSED", "oncall"),  # a pause goes unsigned: who it says it is
        ("PAUSED", "REBALANCING", ADMIN.address),
        ("REBALANCING", "IDLE", "engine"),
    ]


async def history(client, settings) -> list[dict]:
    from workflows.engine import EngineWorkflow

    return await client.get_workflow_handle(settings.engine_id).query(EngineWorkflow.history)


async def test_state_machine_refusals_reach_every_door_with_their_reason(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = engine_settings(stack, task_queue)
    client = temporal_env.client
    activities = GatedActivities(Deps(settings, signer, web3s))
    async with build_worker(client, task_queue, activities.deps, chain_activities=activities):
        await ensure_engine(client, settings)
        nonces = pending_nonces(web3s, signer.address)
        with pytest.raises(Refused, match=r"^the engine is not paused \(state IDLE\)$"):
            await commander(client, settings).resume("no reason")
        # Raw JSON through Temporal's CLI: refused by the validator, in one line, out of history.
        code, _, err = await temporal_cli(
            client,
            "workflow", "update", "execute", "--workflow-id", settings.engine_id, "--name", "allocate",
            "--input", '{"amounts": [{"chain_id": 1, "asset": "USDC", "amount": 0}]}',
        )  # fmt: skip
        assert code != 0 and "not a signed command" in err  # an operation is a signed command now
        fields = command_fields(
            Kind.REQUEST_CAPITAL, {"chain_id": 1, "asset": "USDC", "amount": "5", "destination": "0x" + "ab" * 20}
        )
        raw = commander(client, settings).sign(Kind.REQUEST_CAPITAL, fields).model_dump_json()
        code, _, err = await temporal_cli(
            client,
            "workflow", "update", "execute", "--workflow-id", settings.engine_id, "--name", "request_capital",
            "--input", raw,
        )  # fmt: skip
        assert code != 0 and f"{to_checksum_address('0x' + 'ab' * 20)} is not a listed destination on chain 1" in err
        with pytest.raises(Refused, match="chain 10 is not configured"):
            await commander(client, settings).ask(Operation.ALLOCATE, allocate_request({(10, "USDC"): 5}))

        activities.gate.clear()
        started = await commander(client, settings).ask(Operation.REBALANCE, {"by": "test"})
        await activities.wait_arrived()
        with pytest.raises(Refused, match=rf"the engine is REBALANCING \({started.workflow_id}\): one operation"):
            await commander(client, settings).ask(Operation.HARVEST, {"by": "test"})
        await commander(client, settings, ADMIN).pause("incident")
        with pytest.raises(Refused, match=r"the engine is paused: only resume is accepted \(asked: allocate\)"):
            await commander(client, settings).ask(Operation.ALLOCATE, allocate_request())
        # A pause is never refused: a second one says since when (it is not silently dropped).
        again = await commander(client, settings).pause("again")
        assert again.startswith("already paused since ") and again.endswith(f" by {ADMIN.address}: incident"), again
        await commander(client, settings).resume("over")
        activities.gate.set()
        result = await finished(client, settings.engine_id, Operation.REBALANCE, started.workflow_id)
        assert result.status == "skipped"  # nothing allocated, nothing drifted
        assert pending_nonces(web3s, signer.address) == nonces

        # No refused request entered the engine's history.
        events = [e async for e in client.get_workflow_handle(settings.engine_id).fetch_history_events()]
        rejected = [e for e in events if e.HasField("workflow_execution_update_rejected_event_attributes")]
        accepted = [e for e in events if e.HasField("workflow_execution_update_accepted_event_attributes")]
        assert not rejected and len(accepted) == 4  # the rebalance, two pauses, the resume (configure: none)


async def test_operations_started_raw_from_temporal_cli_fail_at_once_as_not_the_engines(temporal_env, task_queue):
    """An operation runs only as the engine's child, asked for by a signed command: one started
    by hand (whatever its input) fails at once, in one line, saying so."""
    client = temporal_env.client
    reason = "was not started by its engine (no parent): operations run only as the engine's children"
    cases = {
        "AllocateWorkflow": (
            '{"legs": [{"chain_id": 1, "asset": "USDC", "amount": 0, "targets": '
            '[{"key": {"chain_id": 1, "protocol": "aave-v3", "market": "USDC"}, "weight_bps": 1}]}]}',
            reason,
        ),
        "RebalanceWorkflow": ('{"targets": []}', reason),
        "CapitalRequestWorkflow": ('"not an object"', reason),
    }
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=[]):
        for workflow_type, (raw, reason) in cases.items():
            workflow_id = f"raw-{uuid.uuid4().hex[:8]}"
            code, _, err = await temporal_cli(
                client,
                "workflow", "start", "--type", workflow_type, "--task-queue", task_queue,
                "--workflow-id", workflow_id, "--input", raw,
            )  # fmt: skip
            assert code == 0, err
            with pytest.raises(WorkflowFailureError) as caught:
                await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 20)
            cause = caught.value.cause
            assert cause.type == "NotStartedByEngine" and reason in cause.message, cause.message
            assert "\n" not in cause.message


async def test_capital_request_takes_idle_then_instant_exits_and_delivers(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = engine_settings(stack, task_queue)
    client = temporal_env.client
    chain = settings.chain(1)
    usdc = chain.token("USDC").address
    treasury = chain.destinations[0]
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await start_allocated(client, settings, web3s)
        mint(web3s[1], usdc, chain.executor, 10_000 * 10**6)  # some idle funds
        drift_usdc_on_chain_1(settings, web3s)  # steakUSDC is now the most overweight
        before = balance(web3s[1], usdc, treasury)
        amount = 300_000 * 10**6
        request = {
            "chain_id": 1,
            "asset": "USDC",
            "amount": str(amount),
            "destination": treasury,
            "by": "trading-engine",
            "reason": "margin call",
        }
        result = await run_operation(client, settings, Operation.REQUEST_CAPITAL, request)
        assert balance(web3s[1], usdc, treasury) - before == amount == result.delivered
        assert [(p.kind, p.market) for p in result.plan][:2] == [("idle", ""), ("instant", str(STEAK))]
        assert result.plan[0].amount == 10_000 * 10**6 and sum(p.amount for p in result.plan) == amount
        assert balance(web3s[1], usdc, chain.executor) == 0

        nonces = pending_nonces(web3s, signer.address)
        too_much = dict(request, amount=str(10**9 * 10**6))
        started = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, too_much)
        with pytest.raises(WorkflowFailureError) as caught:
            await client.get_workflow_handle(started.workflow_id).result()
        assert caught.value.cause.type == "InsufficientLiquidity" and "nothing was moved" in caught.value.cause.message
        assert pending_nonces(web3s, signer.address) == nonces
        status = await wait_for(lambda: _idle_status(client, settings), what="the engine back to IDLE")
        assert status.last.status == "failed" and "InsufficientLiquidity" in status.last.summary


async def _idle_status(client, settings):
    status = await engine_status(client, settings.engine_id)
    return status if status.state == EngineState.IDLE and status.operation is None else None


async def test_harvest_reports_yield_by_source_since_the_last_harvest(temporal_env, stack, web3s, signer, task_queue):
    settings = engine_settings(stack, task_queue, harvest_cooldown_s=0)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await start_allocated(client, settings, web3s)
        first = await run_operation(client, settings, Operation.HARVEST, {"by": "test"})
        assert first.status == "done" and not first.yields and "baseline set" in first.summary
        for w3 in web3s.values():
            advance_time(w3, 90 * 86_400)
        second = await run_operation(client, settings, Operation.HARVEST, {"by": "test"})
    assert second.status == "done" and not second.acted  # measured, nothing moved
    by_market = {str(y.key): y for y in second.yields}
    assert len(by_market) == len(second.positions)
    assert by_market["1:aave-v3:USDC"].source == "rebase" and by_market["1:metamorpho:steakUSDC"].source == (
        "exchange_rate"
    )
    for name, line in by_market.items():
        grew = second.positions[name] - first.positions[name]  # no flows in between: all of it is yield
        assert grew > 0 and abs(line.amount - grew) <= 2, (name, line.amount, grew)
    assert second.totals["1:USDC:rebase"] == by_market["1:aave-v3:USDC"].amount + by_market["1:spark:USDC"].amount


async def test_a_chain_that_fails_leaves_a_partial_result_and_a_retry_of_its_own(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = engine_settings(stack, task_queue)
    client = temporal_env.client
    executor = contract(web3s[42161], "FloorExecutor", settings.chain(42161).executor)
    guardian = Deployer(web3s[42161]).guardian
    Deployer(web3s[42161]).send(executor.functions.pause(), guardian)  # chain 42161 refuses everything
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
        fund(settings, web3s)
        result = await run_operation(client, settings, Operation.ALLOCATE, allocate_request())
        assert result.status == "partial"
        parts = {p.chain_id: p for p in result.chains}
        assert parts[1].status == "done" and len(parts[1].transactions) == 1
        assert parts[42161].status == "failed" and "ExecutionReverted" in parts[42161].error
        assert [(leg.chain_id, leg.asset, leg.amount) for leg in result.retry.legs] == [
            (42161, "USDC", TREASURY[(42161, "USDC")])
        ]
        status = await engine_status(client, settings.engine_id)
        assert status.state == EngineState.IDLE and status.last.status == "partial"
        assert "chains [42161] failed" in status.last.summary

        as_owner(web3s[42161], executor.address, [executor.functions.unpause()])
        retry = {(leg.chain_id, leg.asset): leg.amount for leg in result.retry.legs}
        again = await run_operation(client, settings, Operation.ALLOCATE, allocate_request(retry))
    assert again.status == "done" and [p.chain_id for p in again.chains] == [42161]


async def test_continue_as_new_keeps_the_engines_memory_and_bounds_its_history(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = engine_settings(stack, task_queue)
    client = temporal_env.client
    input = engine_input(settings)
    # The engine's first run takes its policy from the worker's settings: a short history is
    # an ADMIN's signed configuration.
    short = EngineConfig(catalogue=input.catalogue, policy=input.policy.model_copy(update={"max_history_events": 60}))
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        handle = await client.start_workflow(
            EngineWorkflow.run, input.model_dump(mode="json"), id=settings.engine_id, task_queue=task_queue
        )
        await client.get_workflow_handle(settings.engine_id).query(EngineWorkflow.status)  # a worker runs it
        assert (await commander(client, settings).configure("short history", short)).changed
        for n in range(6):
            await commander(client, settings).pause(f"drill {n}")
            await commander(client, settings).resume(f"drill {n} over")
        latest = client.get_workflow_handle(settings.engine_id)

        async def continued():
            return (await latest.describe()).run_id != handle.first_execution_run_id

        await wait_for(continued, what="a continue-as-new")
        transitions = await latest.query(EngineWorkflow.history)
        status = await engine_status(client, settings.engine_id)
        events = [e async for e in client.get_workflow_handle(settings.engine_id).fetch_history_events()]
    assert [t["reason"] for t in transitions] == [r for n in range(6) for r in (f"drill {n}", f"drill {n} over")]
    assert status.state == EngineState.IDLE
    assert len(events) < 60 + 30  # the new run's history starts small
