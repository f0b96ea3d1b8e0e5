"""The transaction queues' door for services, the CLI and the engine's own door activities:
send intents to a signer's queue (starting it if it is not running) and send the config's
policy to running queues."""

from __future__ import annotations

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy

from floor.catalogue import queue_input
from floor.config import Settings
from floor.txqueue import QueueInput, SubmitAck, TxIntent, queue_id


async def submit(client: Client, task_queue: str, queue: QueueInput, intent: TxIntent) -> SubmitAck:
    """Send an intent to its queue, starting the queue if it is not running (update-with-start).
    For services and the CLI; workflows use the `submit_intent` activity, which calls this."""
    (ack,) = await submit_many(client, task_queue, queue, [intent])
    return ack


async def submit_many(client: Client, task_queue: str, queue: QueueInput, intents: list[TxIntent]) -> list[SubmitAck]:
    """Several intents in one update: a burst from one producer."""
    from workflows.txqueue import TxQueueWorkflow

    start = WithStartWorkflowOperation(
        TxQueueWorkflow.run,
        queue,
        id=queue_id(queue.chain_id, queue.signer),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=task_queue,
    )
    payload = [i.model_dump(mode="json") for i in intents]
    return await client.execute_update_with_start_workflow(
        TxQueueWorkflow.submit_many, payload, start_workflow_operation=start
    )


async def ensure_queue(client: Client, task_queue: str, queue: QueueInput) -> str:
    """Start the signer's queue on a chain if it is not running, as the first intent would, and
    return once a worker has run its first task (its `status` query answered). A queue runs for
    ever once started; the benchmark starts them before it times an operation. Returns its id."""
    from workflows.txqueue import TxQueueWorkflow

    handle = await client.start_workflow(
        TxQueueWorkflow.run,
        queue,
        id=queue_id(queue.chain_id, queue.signer),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=task_queue,
    )
    await handle.query("status")
    return handle.id


async def configure_running_queues(client: Client, settings: Settings, signer: str) -> list[str]:
    """Send the current configuration to the signer's running queues (at worker start), so a
    new market's calls, or a new pipelining or stuck policy, reach them without a restart.
    Returns the queues whose policy changed."""
    from temporalio.service import RPCError

    from workflows.txqueue import TxQueueWorkflow

    changed = []
    for chain in settings.chains:
        if chain.executor is None:
            continue
        handle = client.get_workflow_handle(queue_id(chain.id, signer))
        policy = queue_input(settings, chain.id, signer).policy()
        try:
            await handle.execute_update(TxQueueWorkflow.configure, policy)
        except RPCError:  # not started yet: it will start with this configuration
            continue
        except WorkflowUpdateFailedError:  # unchanged: nothing entered its history
            continue
        changed.append(handle.id)
    return changed
