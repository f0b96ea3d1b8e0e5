"""RPC faults where the engine meets them: a passing fault is retried by the activity, a
failed poll while confirming is polled again, and an RPC URL's key never reaches the
workflow's history, its errors or the worker's logs."""

from __future__ import annotations

import json
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.chain import ChainActivities
from activities.deps import Deps
from floor.calls import call
from floor.chain.executor import ExecutorClient
from floor.chain.rpc import connect
from floor.config import Settings
from floor.devnet.faultproxy import RpcProxy
from floor.logging import REDACTED
from floor.messages import AllocateInput, ReadPositionsInput
from floor.models import AdapterKey, Position
from tests.integration.engine_helpers import EngineStandIn, own_engine
from tests.integration.test_allocate_workflow import demo_input, fund_treasury, start_allocation
from workers.temporal import build_worker

KEY, QUERY_KEY = secrets.token_hex(16), secrets.token_urlsafe(24)


# Unsandboxed: the sandbox would re-import this test module, web3 and all.
@workflow.defn(sandboxed=False)
class ReadTwice:
    """Reads positions with two attempts only, so a lasting fault fails it quickly."""

    @workflow.run
    async def run(self, input: ReadPositionsInput) -> list[Position]:
        return await workflow.execute_activity(
            "read_positions",
            input,
            result_type=list[Position],
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2),
        )


@pytest.fixture
def keyed(stack):
    """Arbitrum reached through a proxy whose URL carries a key in its path and query."""
    with RpcProxy(stack.chains[42161].rpc_url) as proxy:
        config = stack.chains[42161].deployed.chain_config(proxy.url(f"/v3/{KEY}?apikey={QUERY_KEY}"))
        yield proxy, Settings(chains=[config])


async def test_an_html_error_page_once_is_retried_and_the_allocation_completes(
    temporal_env, keyed, web3s, signer, task_queue
):
    proxy, settings = keyed
    settings = own_engine(settings)
    input = AllocateInput(legs=demo_input().legs[2:])
    fund_treasury(settings, web3s, input)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer), extra_workflows=[EngineStandIn]):
        proxy.misbehave("html")  # the workflow's first read meets it
        handle = await start_allocation(client, task_queue, settings, input)
        result = await handle.result()
    assert [t.status for t in result.transactions] == [1]
    history = await handle.fetch_history()
    assert first_attempts(history)[0] == 2  # the read was retried


def first_attempts(history) -> list[int]:
    """The attempt that completed each activity, in order: an activity's started event, or a
    local activity's marker (the operations' reads are local activities)."""
    attempts = []
    for e in history.events:
        if e.HasField("activity_task_started_event_attributes"):
            attempts.append(e.activity_task_started_event_attributes.attempt)
        elif e.marker_recorded_event_attributes.marker_name == "core_local_activity":
            data = e.marker_recorded_event_attributes.details["data"].payloads[0].data
            attempts.append(json.loads(data)["attempt"])
    return attempts


async def test_a_key_in_the_rpc_url_stays_out_of_history_errors_and_logs(
    temporal_env, keyed, signer, task_queue, log_text
):
    proxy, settings = keyed
    client = temporal_env.client
    input = ReadPositionsInput(chain_id=42161, keys=[AdapterKey(chain_id=42161, protocol="aave-v3", market="USDC")])
    activities = ChainActivities(Deps(settings, signer))
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ReadTwice],
        activities=activities.all(),
        activity_executor=ThreadPoolExecutor(2),
    ):
        proxy.misbehave("bad_gateway", times=None)
        handle = await client.start_workflow(ReadTwice.run, input, id=f"read-{uuid.uuid4()}", task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    cause = caught.value.cause.cause
    assert isinstance(cause, ApplicationError) and cause.type == "RpcUnavailable"
    assert proxy.url(f"/{REDACTED}") in cause.message and "HTTPError" in cause.message
    history = (await handle.fetch_history()).to_json()
    logs = log_text.getvalue()
    assert "RpcUnavailable" in history and "Making request HTTP" in logs  # the texts checked are the real ones
    for text in [history, cause.message, logs]:
        assert KEY not in text and QUERY_KEY not in text


def test_a_failed_poll_while_confirming_is_polled_again(stack, settings, signer, log_text):
    """The transaction is on its way whatever one poll says: an RPC fault during confirmation
    is logged and the wait goes on, instead of failing the step."""
    chain = settings.chain(1)
    usdc = chain.token("USDC").address
    with RpcProxy(stack.chains[1].rpc_url) as proxy:
        w3 = connect([proxy.url("/")], chain_id=1)
        client = ExecutorClient(w3, 1, chain.executor, signer, poll_interval_s=0.01)
        tx_hash = client.submit(client.sign([call(usdc, "approve(address,uint256)", chain.markets[0].pool, 0)]))
        proxy.misbehave("bad_gateway", times=2)
        record = client.wait(tx_hash, calls=1)
    assert record.status == 1 and record.tx_hash == tx_hash
    assert log_text.getvalue().count("confirmation poll failed; polling again") == 2
