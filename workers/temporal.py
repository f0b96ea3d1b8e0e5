"""Temporal wiring shared by the worker process, the demo and the tests."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.access import AccessActivities
from activities.chain import ChainActivities
from activities.deps import Deps
from activities.engine import EngineDoor
from activities.exits import ExitActivities
from activities.reconcile import ReconcileActivities
from activities.rewards import RewardActivities
from activities.risk import RiskActivities
from activities.txqueue import QueueDoor, TxActivities
from workflows.allocate import AllocateWorkflow
from workflows.capital import CapitalRequestWorkflow
from workflows.engine import EngineCheckWorkflow, EngineWorkflow
from workflows.harvest import HarvestWorkflow
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
    ReconcileWorkflow,
    TxQueueWorkflow,
]


# On SIGTERM the worker stops taking tasks and lets activities in flight finish for this long
# (the queue's longest, a receipt watch, returns within seconds); then they are cancelled and
# Temporal retries them on another worker.
GRACEFUL_SHUTDOWN = timedelta(seconds=20)


def build_worker(
    client: Client,
    task_queue: str,
    deps: Deps,
    *,
    chain_activities: ChainActivities | None = None,
    max_threads: int = 16,
    extra_workflows: Sequence[type] = (),
) -> Worker:
    """The worker with every activity class built on the one `deps`. `chain_activities`: a
    test's own (one that holds a read at a gate), built on the same deps. `extra_workflows`: a
    test's own (a stand-in for the engine that starts one operation as its child)."""
    # Chain activities use synchronous web3, so they run on threads.
    activities = (chain_activities or ChainActivities(deps)).all()
    activities += TxActivities(deps).all()
    activities += ReconcileActivities(deps).all()
    activities += RiskActivities(deps).all()
    activities += ExitActivities(deps).all()
    activities += RewardActivities(deps).all()
    signer = deps.signer.address if deps.signer else None
    activities += EngineDoor(client, task_queue, deps.settings, signer).all()
    activities += AccessActivities(deps.settings, deps.store).all()
    if deps.signer is not None:
        door = QueueDoor(client, task_queue, deps)
        activities += [door.submit_intent, door.tx_chain_event]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=activities,
        activity_executor=ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="floor-activity"),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


def workflow_ui_url(ui_url: str, namespace: str, workflow_id: str, run_id: str | None = None) -> str:
    base = f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{workflow_id}"
    return f"{base}/{run_id}/history" if run_id else base
