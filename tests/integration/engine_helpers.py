"""Running the engine in tests: settings with a strategy and who may command it, the engine
started, operations asked for (signed) and followed to their end."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import uuid
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from temporalio import activity, workflow
from temporalio.service import RPCError

from activities.chain import ChainActivities
from client import Commander, engine_status, ensure_engine
from floor.config import Settings
from floor.devnet.processes import temporal_binary
from floor.devnet.strategy import TREASURY, fund, strategy_targets
from floor.devnet.strategy import allocate_request as request_to_allocate
from floor.engine import EngineState, Operation
from floor.messages import AllocateResult, Holdings, ReadHoldingsInput
from floor.models import AdapterKey
from floor.operations import CapitalResult, HarvestResult, RebalanceResult

RESULTS = {
    Operation.ALLOCATE: AllocateResult,
    Operation.REBALANCE: RebalanceResult,
    Operation.HARVEST: HarvestResult,
    Operation.REQUEST_CAPITAL: CapitalResult,
}

# Who commands the tests' engines: fixed keys of their own (not anvil's accounts: they only sign
# commands, never a transaction). The engine rate-limits each signer (an operation kind: 3 at
# once, then one per 10 minutes), so the tests sign in turn with several founding ADMINs (an
# ADMIN may send every command an OPERATOR may).
ADMINS: list[LocalAccount] = [Account.from_key(keccak(text=f"floor-test-admin-{i}")) for i in range(8)]
ADMIN = ADMINS[0]
SCHEDULER: LocalAccount = Account.from_key(keccak(text="floor-test-scheduler"))  # the worker's scheduler service
OUTSIDER: LocalAccount = Account.from_key(keccak(text="floor-test-outsider"))  # holds no role
KEYSTORE_PASSWORD = "floor-test-password"
_turn = itertools.count()


def access_config() -> dict:
    """The tests' `access` config: the founding ADMINs and the worker's scheduler key."""
    return {"admins": [a.address for a in ADMINS], "scheduler_key": {"private_key": SCHEDULER.key.hex()}}


def next_admin() -> LocalAccount:
    return ADMINS[next(_turn) % len(ADMINS)]


def commander(client, settings: Settings, key: LocalAccount | None = None) -> Commander:
    """Commands to the test's engine, signed by `key` (default: the next founding ADMIN in turn)."""
    return Commander(client, settings, key or next_admin())


def write_keystore(key: LocalAccount, directory: Path) -> tuple[Path, Path]:
    """`key` in an encrypted keystore in `directory` (a cheap KDF: tests decrypt it often), and
    its password file."""
    keystore = directory / f"keystore-{key.address}.json"
    password = directory / "keystore.password"
    if not keystore.exists():
        keystore.write_text(json.dumps(Account.encrypt(key.key, KEYSTORE_PASSWORD, kdf="pbkdf2", iterations=1000)))
        password.write_text(KEYSTORE_PASSWORD)
    return keystore, password


def engine_settings(stack, task_queue: str, weights_of: str = "token", **engine) -> Settings:
    """The tests' engine. Weights are read per (chain, token) leg ("token") unless asked: the
    tests built on these helpers are about other things, and their amounts assume per-leg
    splits (600,000 USDC on chain 1 split 1200:1200:600). "total" tests are
    tests/integration/test_total_allocation.py."""
    return Settings(
        chains=stack.chain_configs(),
        temporal={"task_queue": task_queue},
        strategy={
            "targets": strategy_targets(),
            "weights_of": weights_of,
        },
        engine={"workflow_id": f"engine-test-{uuid.uuid4().hex[:8]}", **engine},
        access=access_config(),
    )


def own_engine(settings: Settings) -> Settings:
    """`settings` under an engine id of the test's own, for operations started by `EngineStandIn`."""
    engine = settings.engine.model_copy(update={"workflow_id": f"engine-test-{uuid.uuid4().hex[:8]}"})
    return settings.model_copy(update={"engine": engine})


@workflow.defn(sandboxed=False)
class EngineStandIn:
    """Starts one operation as the engine does, as its child at `<its own id>/<kind>-1` (an
    operation started on its own fails NotStartedByEngine), and waits for it to end."""

    @workflow.run
    async def run(self, workflow_name: str, kind: str, input: Any) -> None:
        await workflow.execute_child_workflow(workflow_name, input, id=f"{workflow.info().workflow_id}/{kind}-1")


async def start_operation(
    client, task_queue: str, workflow_name: str, kind: str, input: Any, engine_id: str, result_type: type
):
    """The operation `workflow_name` started by an `EngineStandIn` at `engine_id` (the worker's
    `settings.engine_id`: the queue door takes intents only from operations under it; the worker
    runs `extra_workflows=[EngineStandIn]`); its handle once it has started."""
    stand_in = await client.start_workflow(
        EngineStandIn.run, args=[workflow_name, kind, input], id=engine_id, task_queue=task_queue
    )
    operation_id = f"{engine_id}/{kind}-1"

    async def started() -> str | None:
        with contextlib.suppress(RPCError):  # not started yet
            run = await client.get_workflow_handle(operation_id).describe()
            # A re-run's id holds the earlier stand-in's run too: only this stand-in's child.
            return run.run_id if run.parent_run_id == stand_in.result_run_id else None
        return None

    run_id = await wait_for(started, what=f"{operation_id} started")
    return client.get_workflow_handle(operation_id, run_id=run_id, result_type=result_type)


def key(chain_id: int, protocol: str, market: str) -> AdapterKey:
    return AdapterKey(chain_id=chain_id, protocol=protocol, market=market)


def allocate_request(amounts: dict[tuple[int, str], int] = TREASURY) -> dict:
    return request_to_allocate(amounts, by="test")


async def finished(client, engine_id: str, kind: Operation, workflow_id: str, timeout_s: float = 120):
    """The operation's result once the engine has recorded it and is back to IDLE or PAUSED."""
    handle = client.get_workflow_handle(workflow_id, result_type=RESULTS[kind])
    result = await asyncio.wait_for(handle.result(), timeout_s)
    for _ in range(int(timeout_s * 10)):
        status = await engine_status(client, engine_id)
        if status.operation is None:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"the engine did not record the end of {workflow_id}")


async def run_operation(client, settings: Settings, kind: Operation, request: dict):
    started = await commander(client, settings).ask(kind, request)
    return await finished(client, settings.engine_id, kind, started.workflow_id)


async def start_allocated(client, settings: Settings, web3s):
    """Engine started, the demo treasury funded and allocated; the allocation's result."""
    await ensure_engine(client, settings)
    fund(settings, web3s)
    result = await run_operation(client, settings, Operation.ALLOCATE, allocate_request())
    status = await engine_status(client, settings.engine_id)
    assert status.state == EngineState.IDLE and status.last.status == "done", status
    return result


class GatedActivities(ChainActivities):
    """ChainActivities whose `read_holdings` waits at a gate the test opens: an operation held
    in the middle of its first step, so a test can act at a known point."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()

    @activity.defn(name="read_holdings")
    def read_holdings(self, input: ReadHoldingsInput) -> Holdings:
        self.arrived.set()
        assert self.gate.wait(timeout=120), "the test never opened the gate"
        return super().read_holdings(input)

    async def wait_arrived(self, timeout_s: float = 30) -> None:
        assert await asyncio.to_thread(self.arrived.wait, timeout_s), "no operation reached read_holdings"


async def temporal_cli(client, *args: str) -> tuple[int, str, str]:
    """Temporal's own CLI against the test server: the operator's other door."""
    proc = await asyncio.create_subprocess_exec(
        temporal_binary(),
        *args,
        "--address",
        client.service_client.config.target_host,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def wait_for(predicate, timeout_s: float = 30, what: str = "condition"):
    for _ in range(int(timeout_s * 10)):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def pending_nonces(web3s, address: str) -> dict[int, int]:
    return {cid: w3.eth.get_transaction_count(address, "pending") for cid, w3 in web3s.items()}


async def current_details(client, workflow_id: str) -> str:
    """A workflow's current details, as the Web UI reads them (the SDK's metadata query)."""
    from temporalio.api.sdk.v1 import WorkflowMetadata

    meta = await client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return meta.current_details
