"""Cooldowns on Temporal's time-skipping test server: an hour (and a day) pass in
milliseconds. The engine and its operation workflows are the real ones; the activities are
stand-ins that answer as the chain would, so only the engine's own clock is under test.
(The time-skipping server implements no Schedules API; schedules are tested on the dev
server in test_schedules.py.)"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from client import Refused, send
from client.engine import recorded
from client.signing import new_command
from floor.access.commands import CommandDomain, sign_command
from floor.access.roles import Kind
from floor.devnet.processes import venv_binary
from floor.engine import EnginePolicy, Operation
from floor.messages import BuildMovesInput, Holdings, ReadHoldingsInput
from floor.models import AdapterKey, Call, TxRecord
from floor.operations import Catalogue, ChainCatalogue, EngineAccess, EngineInput, StrategyTarget
from floor.planning.rebalance import Holding
from floor.swaps.harvest import ReadRewardsInput, RewardsRead
from floor.txqueue import SubmitAck, TxIntent, TxOutcome
from tests.integration.engine_helpers import ADMINS, next_admin
from workers.temporal import WORKFLOWS
from workflows.engine import EngineWorkflow

A = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
B = AdapterKey(chain_id=1, protocol="metamorpho", market="steakUSDC")


@pytest.fixture
async def time_env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    # The engine publishes its state as a search attribute, which must be registered first.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={"FloorEngineState": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
        )
    )
    yield env
    await env.shutdown()


@activity.defn
async def read_holdings(input: ReadHoldingsInput) -> Holdings:
    """Always 70/30 against a 50/50 strategy: every rebalance finds drift to act on."""
    amounts = {A: 700_000, B: 300_000}
    return Holdings(
        chain_id=input.chain_id,
        block_number=1,
        timestamp=1,
        holdings=[
            Holding(key=k, asset="USDC", decimals=6, amount=amounts[k], withdrawable=amounts[k]) for k in input.keys
        ],
        idle=dict.fromkeys(input.assets, 0),
        growth={str(k): 10**27 for k in input.keys},
    )


@activity.defn
async def read_rewards(input: ReadRewardsInput) -> RewardsRead:
    """No market pays reward tokens here: the harvest only measures."""
    return RewardsRead(chain_id=input.chain_id, block_number=1, markets=[])


@activity.defn
async def build_moves(input: BuildMovesInput) -> list[list[Call]]:
    return [[Call(target="0x" + "11" * 20, data="0x")] for _ in input.moves]


@activity.defn
async def submit_intent(intent: TxIntent) -> SubmitAck:
    tx = TxRecord(
        chain_id=1,
        tx_hash="0x" + "ab" * 32,
        nonce=0,
        block_number=2,
        gas_used=1,
        effective_gas_price=1,
        status=1,
        calls=1,
    )
    return SubmitAck(
        intent_id=intent.id, accepted=True, outcome=TxOutcome(intent_id=intent.id, ok=True, transaction=tx)
    )


@activity.defn
async def submit_intents(intents: list[TxIntent]) -> list[SubmitAck]:
    return [await submit_intent(i) for i in intents]


@activity.defn
async def hold_queues(raw: dict) -> list[str]:
    return []


@activity.defn
async def pause_schedules(raw: dict) -> list[str]:
    return []


@activity.defn
async def record_engine_events(raw: dict) -> int:
    return len(raw["events"])


@activity.defn
async def journal_transactions(raw: dict) -> int:
    return 0


@activity.defn
async def append_audit(raw: dict) -> int:
    return len(raw["entries"])


EXECUTOR = "0x" + "11" * 20  # the command domain's: no chain here


@activity.defn
async def engine_access(_: object = None) -> EngineAccess:
    """What a worker's settings give the engine: its domain and founders (the tests' ADMINs)."""
    domain = CommandDomain(chain_id=1, executor=EXECUTOR, engine=activity.info().workflow_id)
    input = engine_input()
    return EngineAccess(
        domain=domain, admins=[a.address for a in ADMINS], catalogue=input.catalogue, policy=input.policy
    )


def signed_by_admin(kind: Operation, engine_id: str, now: int) -> dict:
    """`kind`'s command, signed by the next founding ADMIN for this engine's domain, at `now`."""
    command = new_command(Kind(kind.value), {"reason": "test"}, now=now)
    domain = CommandDomain(chain_id=1, executor=EXECUTOR, engine=engine_id)
    return sign_command(Kind(kind.value), command, next_admin(), domain).model_dump(mode="json")


def engine_input() -> EngineInput:
    return EngineInput(
        catalogue=Catalogue(
            chains=[ChainCatalogue(chain_id=1, tokens={"USDC": 6})],
            targets=[StrategyTarget(key=k, asset="USDC", weight_bps=5_000) for k in (A, B)],
        ),
        policy=EnginePolicy(rebalance_cooldown_s=3600, harvest_cooldown_s=86_400),
    )


async def test_rebalance_and_harvest_cooldowns_follow_the_engines_clock(time_env):
    client = time_env.client
    task_queue = f"time-{uuid.uuid4().hex[:8]}"
    engine_id = f"engine-{uuid.uuid4().hex[:8]}"
    fakes = [
        read_holdings,
        read_rewards,
        build_moves,
        submit_intent,
        submit_intents,
        hold_queues,
        pause_schedules,
        record_engine_events,
    ]
    fakes += [journal_transactions, append_audit, engine_access]
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=fakes):
        await client.start_workflow(
            EngineWorkflow.run, engine_input().model_dump(mode="json"), id=engine_id, task_queue=task_queue
        )

        async def ask(kind: Operation):
            # signed at the server's (skipped) time: the engine checks the deadline by its clock
            now = int((await time_env.get_current_time()).timestamp())
            return await send(client, engine_id, kind.value, signed_by_admin(kind, engine_id, now))

        async def operate(kind: Operation):
            started = await ask(kind)
            result = await client.get_workflow_handle(started.workflow_id).result()
            # The result reaches the client a workflow task before the engine records the end.
            await recorded(client, engine_id, started.workflow_id)
            return result

        first = await operate(Operation.REBALANCE)
        assert first["status"] == "done" and first["chains"][0]["transactions"]
        with pytest.raises(Refused, match=r"rebalance cooldown: .*allowed in 3\d\d\d s"):
            await ask(Operation.REBALANCE)
        await time_env.sleep(timedelta(minutes=59))
        with pytest.raises(Refused, match=r"rebalance cooldown: .*allowed in [1-9]\d? s"):
            await ask(Operation.REBALANCE)
        await time_env.sleep(timedelta(minutes=2))
        assert (await operate(Operation.REBALANCE))["status"] == "done"

        assert (await operate(Operation.HARVEST))["status"] == "done"
        await time_env.sleep(timedelta(hours=23))
        with pytest.raises(Refused, match="harvest cooldown"):
            await ask(Operation.HARVEST)
        await time_env.sleep(timedelta(hours=1, seconds=1))
        assert (await operate(Operation.HARVEST))["status"] == "done"
