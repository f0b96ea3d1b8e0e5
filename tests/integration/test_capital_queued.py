"""Capital requests that need Lido's withdrawal queue, on the real Temporal dev server and the
session's anvil chain 1: the request phase withdraws what can leave now and requests the
queued rest in one atomic batch, the engine is free at once, the claim phase waits on a
durable timer until the local oracle finalises the requests, then claims exactly its own ids,
wraps the ETH and delivers. Refusals leave nothing sent; a worker stopped while waiting and
an engine paused when the requests are finalised both end in the same delivery."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import WorkflowFailureError

from activities.chain import ChainActivities
from activities.deps import Deps
from client import engine_status, ensure_engine
from floor.adapters.base import Deposit
from floor.adapters.registry import AdapterRegistry
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.config import Settings
from floor.engine import EngineState, Operation
from floor.messages import ReadHoldingsInput
from floor.models import AdapterKey
from floor.operations import CapitalResult, ExitRequest
from floor.protocols.lido.requests import read_requests
from floor.txqueue import queue_id
from tests.integration.engine_helpers import access_config, commander, finished, run_operation, wait_for
from tests.integration.helpers import advance_time, balance, contract, mint, protected_calls
from workers.temporal import build_worker

ETH = 10**18
DAY = 24 * 3600
LIDO = AdapterKey(chain_id=1, protocol="lido", market="stETH")
AAVE = AdapterKey(chain_id=1, protocol="aave-v3", market="WETH")
GTWETH = AdapterKey(chain_id=1, protocol="metamorpho", market="gtWETH")
STRATEGY = [(AAVE, 1_000), (GTWETH, 1_000), (LIDO, 8_000)]
IDLE = 100 * ETH
QUEUED = 2_500 * ETH  # three requests: 1,000 + 1,000 + 500 stETH


def capital_settings(stack, task_queue: str) -> Settings:
    return Settings(
        chains=stack.chain_configs(),
        temporal={"task_queue": task_queue},
        strategy={
            "targets": [
                {"chain_id": k.chain_id, "protocol": k.protocol, "market": k.market, "weight_bps": w}
                for k, w in STRATEGY
            ]
        },
        engine={"workflow_id": f"engine-capq-{uuid.uuid4().hex[:8]}"},
        access=access_config(),
    )


class Treasury:
    """The executor's WETH floor on chain 1: Aave, gtWETH and Lido positions plus idle WETH,
    placed directly through the executor (the engine starts on top of them)."""

    def __init__(self, settings: Settings, web3s, signer, stack):
        self.settings = settings
        self.web3s = web3s
        self.w3 = web3s[1]
        self.chain = settings.chain(1)
        self.executor = self.chain.executor
        self.registry = AdapterRegistry.from_settings(settings)
        self.lido = self.registry.get(LIDO)
        self.weth = self.lido.asset.address
        self.destination = self.chain.destinations[0]
        self.admin = stack.chains[1].deployed.admin  # Lido's oracle
        self.steth = contract(self.w3, "LidoStETH", self.lido.steth)
        self.queue = contract(self.w3, "LidoWithdrawalQueueERC721", self.lido.withdrawal_queue)
        self.reader = MulticallReader(self.w3)
        self.signer = signer
        self.chains = ChainActivities(Deps(settings, signer, web3s))

    def place(self, amounts: dict[AdapterKey, int], idle: int = IDLE) -> None:
        client = ExecutorClient(self.w3, 1, self.executor, self.signer)
        mint(self.w3, self.weth, self.executor, sum(amounts.values()) + idle)
        for key, amount in amounts.items():
            client.execute(protected_calls(self.w3, self.registry.get(key), Deposit(amount), self.executor))

    def covered_now(self) -> int:
        """Idle WETH plus what the instant markets let go now: what the plan takes first."""
        read = self.chains.read_holdings(ReadHoldingsInput(chain_id=1, keys=[AAVE, GTWETH, LIDO], assets=["WETH"]))
        return read.idle["WETH"] + sum(h.withdrawable for h in read.holdings if h.exit == "instant")

    def request(self, amount: int, **extra) -> dict:
        return {
            "chain_id": 1,
            "asset": "WETH",
            "amount": str(amount),
            "destination": self.destination,
            "by": "trading-engine",
            "reason": "margin call",
            "exit_poll_s": 1,
            **extra,
        }

    def finalise(self) -> None:
        """Days pass and the oracle's report finalises every pending request (the buffer holds the stake)."""
        advance_time(self.w3, 5 * DAY)
        tx = self.steth.functions.oracleReport(ETH).transact({"from": self.admin})
        assert self.w3.eth.wait_for_transaction_receipt(tx, timeout=30)["status"] == 1

    def foreign_request(self, amount: int = 5 * ETH) -> int:
        """Someone else stakes and requests a withdrawal owned by the executor."""
        for fn, value in (
            (self.steth.functions.submit("0x" + "00" * 20), 10 * ETH),
            (self.steth.functions.approve(self.lido.withdrawal_queue, amount), 0),
            (self.queue.functions.requestWithdrawals([amount], self.executor), 0),
        ):
            tx = fn.transact({"from": self.admin, "value": value})
            assert self.w3.eth.wait_for_transaction_receipt(tx, timeout=30)["status"] == 1
        return max(r.id for r in read_requests(self.reader, self.lido, self.executor))

    def allowances(self) -> list[int]:
        spenders = [self.lido.withdrawal_queue, self.registry.get(AAVE).pool, self.registry.get(GTWETH).vault]
        return [
            contract(self.w3, "TestERC20", t).functions.allowance(self.executor, s).call()
            for t in (self.weth, self.lido.steth)
            for s in spenders
        ]

    def signer_nonces_since(self, block: int) -> list[int]:
        """Nonces of every transaction the engine's signer sent from `block` on, in order."""
        out = []
        for n in range(block, self.w3.eth.block_number + 1):
            for tx in self.w3.eth.get_block(n, full_transactions=True)["transactions"]:
                if tx["from"].lower() == self.signer.address.lower():
                    out.append(tx["nonce"])
        return out


@pytest.fixture
def treasury(stack, web3s, signer, task_queue):
    return Treasury(capital_settings(stack, task_queue), web3s, signer, stack)


async def claim_result(client, workflow_id: str, timeout_s: float = 60) -> CapitalResult:
    return await asyncio.wait_for(
        client.get_workflow_handle(workflow_id, result_type=CapitalResult).result(), timeout_s
    )


async def exits_of(client, workflow_id: str) -> list[ExitRequest]:
    from workflows.capital import CapitalRequestWorkflow

    return await client.get_workflow_handle(workflow_id).query(CapitalRequestWorkflow.exit_requests)


async def test_a_request_bigger_than_instant_liquidity_queues_lido_exits_claims_and_delivers_the_whole_amount(
    temporal_env, treasury, signer, task_queue
):
    t, client, settings = treasury, temporal_env.client, treasury.settings
    t.place({AAVE: 300 * ETH, GTWETH: 200 * ETH, LIDO: 2_600 * ETH})
    amount = t.covered_now() + QUEUED
    first_block = t.w3.eth.block_number + 1
    before = balance(t.w3, t.weth, t.destination)
    async with build_worker(client, task_queue, Deps(settings, signer, t.web3s)):
        await ensure_engine(client, settings)
        requested = await run_operation(client, settings, Operation.REQUEST_CAPITAL, t.request(amount))

        # The request phase: one batch, three requests, nothing delivered yet (the default).
        assert requested.status == "done" and len(requested.chains[0].transactions) == 1
        assert [p.kind for p in requested.plan] == ["idle", "instant", "instant", "queued"]
        assert requested.plan[-1].amount == QUEUED and requested.plan[-1].market == str(LIDO)
        assert [r.amount for r in requested.exits] == [1_000 * ETH, 1_000 * ETH, 500 * ETH]
        assert all(r.status == "pending" for r in requested.exits)
        assert requested.delivered == 0 and requested.pending == amount
        assert requested.claim_workflow_id == f"{settings.engine_id}/capital-claim-1"
        assert balance(t.w3, t.weth, t.destination) == before
        assert balance(t.w3, t.weth, t.executor) == amount - QUEUED  # kept for the whole delivery
        assert all(a == 0 for a in t.allowances())
        ids = [r.id for r in requested.exits]
        on_chain = {r.id: r for r in read_requests(t.reader, t.lido, t.executor)}
        assert [on_chain[i].amount for i in ids] == [1_000 * ETH, 1_000 * ETH, 500 * ETH]

        # The engine is free while the queue works: another operation runs to its end.
        status = await engine_status(client, settings.engine_id)
        assert status.state == EngineState.IDLE and status.operation is None
        harvest = await run_operation(client, settings, Operation.HARVEST, {"by": "test"})
        assert harvest.status in ("done", "skipped")

        claim_id = requested.claim_workflow_id
        waiting = f"waiting for Lido requests {', '.join(map(str, ids))} to be finalised (0 of 3 finalised)"

        async def is_waiting():
            return (await client.get_workflow_handle(claim_id).query("status")) == waiting

        await wait_for(is_waiting, what="the claim phase waiting for the queue")
        assert [r.id for r in await exits_of(client, claim_id)] == ids
        foreign = t.foreign_request()  # someone else's request for the executor: not the engine's to claim
        await asyncio.sleep(2.5)  # two polls: still waiting, nothing claimed
        assert await is_waiting() and balance(t.w3, t.weth, t.destination) == before

        t.finalise()
        delivered = await claim_result(client, claim_id)

    assert delivered.status == "done" and delivered.delivered == amount
    assert balance(t.w3, t.weth, t.destination) - before == amount  # exactly, in one transfer
    assert len(delivered.chains[0].transactions) == 1
    assert [(r.id, r.status) for r in delivered.exits] == [(i, "claimed") for i in ids]
    assert balance(t.w3, t.weth, t.executor) == 0 and t.w3.eth.get_balance(t.executor) == 0
    left = read_requests(t.reader, t.lido, t.executor)
    assert [(r.id, r.finalized, r.claimed) for r in left] == [(foreign, True, False)]  # not claimed by us
    assert all(a == 0 for a in t.allowances())
    nonces = t.signer_nonces_since(first_block)
    assert len(nonces) >= 2 and nonces == list(range(nonces[0], nonces[0] + len(nonces)))  # none twice, no gap
    assert t.w3.eth.get_transaction_count(signer.address, "pending") == nonces[-1] + 1


async def test_partial_delivery_sends_what_is_free_now_and_the_claim_survives_a_worker_stop_and_a_pause(
    temporal_env, treasury, signer, task_queue
):
    t, client, settings = treasury, temporal_env.client, treasury.settings
    t.place({AAVE: 300 * ETH, GTWETH: 200 * ETH, LIDO: 2_600 * ETH})
    now = t.covered_now()
    amount = now + QUEUED
    before = balance(t.w3, t.weth, t.destination)
    worker = build_worker(client, task_queue, Deps(settings, signer, t.web3s))
    async with worker:
        await ensure_engine(client, settings)
        requested = await run_operation(client, settings, Operation.REQUEST_CAPITAL, t.request(amount, partial=True))
        assert requested.delivered == now and requested.pending == QUEUED
        assert balance(t.w3, t.weth, t.destination) - before == now  # what idle and instant exits cover, at once
        ids = [r.id for r in requested.exits]
        claim_id = requested.claim_workflow_id
        await wait_for(
            lambda: _status_startswith(client, claim_id, "waiting for Lido requests"), what="the claim waiting"
        )
        await commander(client, settings).pause("incident drill")
    # The worker is gone while the requests are finalised; the engine is paused.
    t.finalise()
    nonce = t.w3.eth.get_transaction_count(signer.address, "pending")
    async with build_worker(client, task_queue, Deps(settings, signer, t.web3s)):
        await wait_for(
            lambda: _status_startswith(client, claim_id, "waiting for 1 transactions"),
            what="the claim held by the paused queue",
        )
        await asyncio.sleep(2)
        assert t.w3.eth.get_transaction_count(signer.address, "pending") == nonce  # nothing sent while paused
        assert {r.id for r in read_requests(t.reader, t.lido, t.executor)} == set(ids)  # finalised, unclaimed
        assert balance(t.w3, t.weth, t.destination) - before == now
        await commander(client, settings).resume("drill over")
        delivered = await claim_result(client, claim_id)
        status = await engine_status(client, settings.engine_id)
    assert delivered.status == "done" and delivered.delivered == amount
    assert balance(t.w3, t.weth, t.destination) - before == amount
    assert read_requests(t.reader, t.lido, t.executor) == []
    assert all(a == 0 for a in t.allowances())
    assert status.state == EngineState.IDLE


async def _status_startswith(client, workflow_id: str, prefix: str) -> bool:
    try:
        return (await client.get_workflow_handle(workflow_id).query("status")).startswith(prefix)
    except Exception:  # not started yet, or no worker to answer for a moment
        return False


async def test_refusals_before_anything_moves(temporal_env, treasury, signer, task_queue):
    """A deadline the queue cannot meet, a queued remainder under Lido's minimum: refused by
    name, no transaction sent, no request made."""
    t, client, settings = treasury, temporal_env.client, treasury.settings
    t.place({AAVE: 300 * ETH, GTWETH: 200 * ETH, LIDO: 2_600 * ETH})
    now = t.covered_now()
    async with build_worker(client, task_queue, Deps(settings, signer, t.web3s)):
        await ensure_engine(client, settings)
        nonce = t.w3.eth.get_transaction_count(signer.address, "pending")
        cases = [
            (
                t.request(now + QUEUED, deadline=(datetime.now(UTC) + timedelta(days=2)).isoformat()),
                "DeadlineUnreachable",
                "after the deadline",
            ),
            (t.request(now + 50), "RequestAmountTooSmall", "50 wei of stETH is below the queue's minimum of 100 wei"),
            (t.request(now + 10**6 * ETH), "InsufficientLiquidity", "nothing was moved"),
        ]
        for request, kind, text in cases:
            started = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, request)
            with pytest.raises(WorkflowFailureError) as caught:
                await finished(client, settings.engine_id, Operation.REQUEST_CAPITAL, started.workflow_id)
            cause = caught.value.cause
            while getattr(cause, "cause", None) is not None:
                cause = cause.cause
            assert cause.type == kind and text in cause.message, (kind, cause.message)
            await wait_for(lambda: _idle(client, settings), what="the engine back to IDLE")
    assert t.w3.eth.get_transaction_count(signer.address, "pending") == nonce
    assert read_requests(t.reader, t.lido, t.executor) == []


async def _idle(client, settings) -> bool:
    status = await engine_status(client, settings.engine_id)
    return status.state == EngineState.IDLE and status.operation is None


@pytest.fixture
def workers(tmp_path, treasury, temporal_env, task_queue, operator_key):
    """`floor-worker` processes on the test's task queue (so one can be SIGKILLed)."""
    from floor.devnet.worker_process import Workers, write_config

    address = temporal_env.client.service_client.config.target_host
    config = write_config(tmp_path / "floor.toml", treasury.settings, address, task_queue)
    pool = Workers(tmp_path, config, operator_key)
    yield pool
    pool.stop_all()


async def test_a_worker_killed_while_the_claim_waits_is_replaced_and_the_claim_goes_on(
    temporal_env, treasury, signer, task_queue, workers
):
    t, client, settings = treasury, temporal_env.client, treasury.settings
    t.place({AAVE: 300 * ETH, GTWETH: 200 * ETH, LIDO: 2_600 * ETH})
    amount = t.covered_now() + QUEUED
    first_block = t.w3.eth.block_number + 1
    before = balance(t.w3, t.weth, t.destination)
    async with build_worker(client, task_queue, Deps(settings, signer, t.web3s)):
        await ensure_engine(client, settings)
        requested = await run_operation(client, settings, Operation.REQUEST_CAPITAL, t.request(amount, exit_poll_s=3))
    claim = client.get_workflow_handle(requested.claim_workflow_id)

    async def sleeping_after(n: int) -> bool:
        """The worker process has polled the queue more than `n` times and the workflow now
        sleeps on its timer (no workflow task outstanding)."""
        done, last = 0, None
        async for e in claim.fetch_history_events():
            done += e.HasField("activity_task_completed_event_attributes")
            last = e
        return done > n and last is not None and last.HasField("timer_started_event_attributes")

    with workers.shown_on_failure():
        process = workers.start()  # an OS process of its own: it takes the waiting claim over
        await process.ready()
        seen = sum(
            [1 async for e in claim.fetch_history_events() if e.HasField("activity_task_completed_event_attributes")]
        )
        await wait_for(lambda: sleeping_after(seen + 1), what="the worker process polling the queue")
        process.process.kill()  # SIGKILL, mid-wait: no clean shutdown
        assert await process.exited(10) == -9
        # Temporal gives a dead worker's sticky queue 10 s before the normal queue takes a
        # workflow's next task; asked for at once (the claim's timer has not fired; the signer's
        # queue, which the dead worker ran too, is idle), so the test stays fast.
        for workflow_id in (claim.id, queue_id(1, signer.address)):
            await client.workflow_service.reset_sticky_task_queue(
                ResetStickyTaskQueueRequest(
                    namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
                )
            )
        t.finalise()
        async with build_worker(client, task_queue, Deps(settings, signer, t.web3s)):
            delivered = await claim_result(client, requested.claim_workflow_id)
    assert delivered.status == "done" and delivered.delivered == amount
    assert balance(t.w3, t.weth, t.destination) - before == amount
    assert [r.status for r in delivered.exits] == ["claimed"] * 3
    nonces = t.signer_nonces_since(first_block)
    assert len(nonces) == 2 and nonces[1] == nonces[0] + 1  # the request batch, then the claim: none twice
