"""Temporal wiring shared by the worker process, the demo and the tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.api.enums.v1 import RoutingConfigUpdateState
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.access import AccessActivities
from activities.chain import ChainActivities
from activities.deps import Deps
from activities.engine import EngineDoor
from activities.exit_drill import ExitDrillActivities
from activities.exits import ExitActivities
from activities.reconcile import ReconcileActivities
from activities.rewards import RewardActivities
from activities.risk import RiskActivities
from activities.txqueue import QueueDoor, TxActivities, teller
from floor.config import TemporalConfig
from floor.errors import FloorError
from workers.sandbox import workflow_runner
from workflows.allocate import AllocateWorkflow
from workflows.capital import CapitalRequestWorkflow
from workflows.engine import EngineCheckWorkflow, EngineWorkflow
from workflows.exit_drill import ExitDrillWorkflow
from workflows.harvest import HarvestWorkflow
from workflows.panic import PanicExitWorkflow
from workflows.rebalance import RebalanceWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.txqueue import TxQueueWorkflow

WORKFLOWS = [
    EngineWorkflow,
    EngineCheckWorkflow,
    AllocateWorkflow,
    RebalanceWorkflow,
    HarvestWorkflow,
    CapitalRequestWorkflow,
    PanicExitWorkflow,
    ReconcileWorkflow,
    ExitDrillWorkflow,
    TxQueueWorkflow,
]


# On SIGTERM the worker stops taking tasks and lets activities in flight finish for this long
# (the queue's longest, a receipt watch, returns within seconds); then they are cancelled and
# Temporal retries them on another worker.
GRACEFUL_SHUTDOWN = timedelta(seconds=20)
EAGER_ACTIVITIES = 8  # activities one workflow task may start here at once (see build_worker)


def build_worker(
    client: Client,
    task_queue: str,
    deps: Deps,
    *,
    chain_activities: ChainActivities | None = None,
    max_threads: int = 16,
    extra_workflows: Sequence[type] = (),
    version: WorkerDeploymentVersion | None = None,
) -> Worker:
    """The worker with every activity class built on the one `deps`. `chain_activities`: a
    test's own (one that holds a read at a gate), built on the same deps. `extra_workflows`: a
    test's own (a stand-in for the engine that starts one operation as its child). `version`:
    the worker deployment version it serves (`worker_version`); None: unversioned."""
    # Chain activities use synchronous web3, so they run on threads.
    activities = (chain_activities or ChainActivities(deps)).all()
    activities += TxActivities(deps, teller(client, asyncio.get_running_loop())).all()
    activities += ReconcileActivities(deps).all()
    activities += RiskActivities(deps).all()
    activities += ExitActivities(deps).all()
    activities += ExitDrillActivities(deps).all()
    activities += RewardActivities(deps).all()
    activities += EngineDoor(client, task_queue, deps).all()
    activities += AccessActivities(deps.settings, deps.store).all()
    if deps.signer is not None:
        # Built now, not on an operation's or a pause's way; one that cannot be built is left
        # for the queue's door to refuse, naming why, when an operation asks.
        for chain in deps.settings.chains:
            with contextlib.suppress(FloorError):
                deps.queue_input(chain.id)
        door = QueueDoor(client, task_queue, deps)
        activities += [door.submit_intent, door.submit_intents, door.tx_chain_event]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=activities,
        activity_executor=ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="floor-activity"),
        workflow_runner=workflow_runner(client.data_converter),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        deployment_config=deployment_config(version),
        # Eager activities: an activity a workflow task schedules comes back with the task's
        # completion and starts here at once, no poll between. Up to 3 a task by default; the
        # engine and the operations schedule more at once (a leg per token, both chains' reads).
        disable_eager_activity_execution=False,
        max_eager_activity_reservations_per_workflow_task=EAGER_ACTIVITIES,
    )


def worker_version(temporal: TemporalConfig) -> WorkerDeploymentVersion | None:
    """The worker deployment version the config names: none without a build id."""
    if temporal.build_id is None:
        return None
    return WorkerDeploymentVersion(temporal.deployment_name, temporal.build_id)


def deployment_config(version: WorkerDeploymentVersion | None) -> WorkerDeploymentConfig | None:
    """Workflows are PINNED by default: an operation (allocate, rebalance, harvest, a capital
    request, a reconciliation, a check) replays only on the code that recorded it, so it finishes
    on the build it started on, however long it waits. The engine and the transaction queues
    live for ever through continue-as-new: each run is pinned too, and continues as new onto
    the deployment's current build as soon as it changes (`workflows/upgrade.py`), which is safe
    because every change to their command sequence is `workflow.patched` and the recorded
    histories replay in CI. (A behavior declared in `@workflow.defn` would be refused by
    unversioned workers.)"""
    if version is None:
        return None
    return WorkerDeploymentConfig(
        version=version, use_worker_versioning=True, default_versioning_behavior=VersioningBehavior.PINNED
    )


# Set-current waits for the server to know the version (its workers' first polls reach it
# within a second or two) and for the new routing to reach every task queue.
VERSION_SETTLE_S = 30.0


async def current_version(client: Client, deployment_name: str) -> str | None:
    """The build id new work goes to; None: the deployment does not exist yet or has no current
    version (new work goes to unversioned workers)."""
    try:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment_name)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.worker_deployment_info.routing_config.current_deployment_version.build_id or None


async def set_current_version(
    client: Client, version: WorkerDeploymentVersion, timeout_s: float = VERSION_SETTLE_S
) -> str | None:
    """Make `version` the deployment's current one (an upgrade, or a rollback to an earlier
    build whose workers still run) and return once every task queue routes new work to it.
    Returns the build id that was current before. Workflows already pinned to another build
    stay there; AUTO_UPGRADE ones move at their next task."""
    deadline = time.monotonic() + timeout_s
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace,
        deployment_name=version.deployment_name,
        build_id=version.build_id,
        identity=client.identity,
    )
    while True:
        try:
            answer = await client.workflow_service.set_worker_deployment_current_version(request)
            break
        except RPCError as exc:
            # The server learns of a version from its workers' polls; until then it refuses it.
            unknown = exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)
            if not unknown or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    while True:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=version.deployment_name)
        )
        info = described.worker_deployment_info
        routed = info.routing_config_update_state != RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS
        if routed and info.routing_config.current_deployment_version.build_id == version.build_id:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{version.to_canonical_string()} was set current but not routed in {timeout_s}s")
        await asyncio.sleep(0.1)
    return answer.previous_deployment_version.build_id or None


def workflow_ui_url(ui_url: str, namespace: str, workflow_id: str, run_id: str | None = None) -> str:
    base = f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{workflow_id}"
    return f"{base}/{run_id}/history" if run_id else base


async def adopt_if_none_current(client: Client, version: WorkerDeploymentVersion) -> bool:
    """A deployment's first build becomes current by itself (otherwise new work would wait for
    unversioned workers that a versioned deployment does not have). Later builds are made
    current by the deployment step, once their workers are up."""
    if await current_version(client, version.deployment_name) is not None:
        return False
    await set_current_version(client, version)
    return True
