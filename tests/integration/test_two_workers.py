"""Several workers: two `floor-worker` processes on the same task queue and store; the one
running the allocation's transaction is SIGKILLed while it is being confirmed, and the other
finishes the operation.

The chains do not mine while the first transaction is in flight, so the kill falls between
its broadcast and its receipt. The chain is the judge: the allocation ends done, the signer's
transactions have contiguous nonces from where they started, and none was sent twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import tomli_w
from temporalio.service import RPCError

from client.engine import engine_status
from floor.devnet.stack import sent_by
from floor.devnet.worker_process import Workers
from floor.operations import Operation
from floor.txqueue import queue_id
from tests.integration.engine_helpers import (
    SCHEDULER,
    allocate_request,
    commander,
    engine_settings,
    finished,
    fund,
    wait_for,
)


async def test_a_second_worker_finishes_the_operation_when_the_first_is_killed(
    tmp_path, stack, temporal_env, web3s, signer, operator_key, task_queue
):
    began = time.monotonic()
    client = temporal_env.client
    settings = engine_settings(stack, task_queue)
    config = settings.model_dump(mode="json", exclude_none=True)
    config["temporal"]["address"] = client.service_client.config.target_host
    config["store"] = {"url": f"sqlite:///{tmp_path / 'shared-store.db'}"}  # one store for both
    config["access"]["scheduler_key"] = {"private_key": SCHEDULER.key.hex()}
    config["log_level"] = "INFO"
    config_path = tmp_path / "floor.toml"
    config_path.write_text(tomli_w.dumps(config))
    workers = Workers(tmp_path, config_path, operator_key)
    start_nonces = {cid: w3.eth.get_transaction_count(signer.address) for cid, w3 in web3s.items()}
    start_blocks = {cid: w3.eth.block_number + 1 for cid, w3 in web3s.items()}
    try:
        with workers.shown_on_failure():
            # One after the other: each migrates the store at start, and two migrations of a
            # fresh store at once collide.
            pair = []
            for _ in range(2):
                pair.append(workers.start())
                await pair[-1].ready()
            await wait_for(lambda: _engine_up(client, settings.engine_id), what="the engine started by a worker")
            fund(settings, web3s)
            for w3 in web3s.values():
                w3.provider.make_request("evm_setAutomine", [False])  # the first transaction stays in flight
            started = await commander(client, settings).ask(Operation.ALLOCATE, allocate_request())

            # The worker confirming the first transaction: the queue's running receipt watch names it.
            async def watcher() -> int | None:
                for chain_id in web3s:
                    handle = client.get_workflow_handle(queue_id(chain_id, signer.address))
                    with contextlib.suppress(RPCError):  # the queue of this chain is not started yet
                        described = await handle.describe()
                        for pending in described.raw_description.pending_activities:
                            if pending.activity_type.name == "tx_watch" and pending.last_worker_identity:
                                return int(pending.last_worker_identity.split("@")[0])  # "<pid>@<host>"
                return None

            pid = await wait_for(watcher, timeout_s=30, what="a worker confirming the first transaction")
            victim = next(w for w in pair if w.pid == pid)
            survivor = next(w for w in pair if w.pid != pid)
            os.kill(victim.pid, signal.SIGKILL)
            assert await victim.exited(10) == -signal.SIGKILL
            killed_at = time.monotonic()
            for w3 in web3s.values():
                w3.provider.make_request("evm_setAutomine", [True])
                w3.provider.make_request("evm_mine", [])

            await finished(client, settings.engine_id, Operation.ALLOCATE, started.workflow_id, timeout_s=60)
            status = await engine_status(client, settings.engine_id)
            assert status.last.status == "done", status
            assert survivor.returncode is None, "the survivor must still run"
            print(
                f"killed {victim.name} (pid {victim.pid}) while confirming; {survivor.name} finished the allocation "
                f"{time.monotonic() - killed_at:.1f}s later; {time.monotonic() - began:.1f}s in all"
            )

        sent = 0
        for chain_id, w3 in web3s.items():
            mined = sent_by(w3, signer.address, start_blocks[chain_id])
            nonces = [t["nonce"] for t in mined]
            # Contiguous from where they started: none skipped, none twice.
            assert nonces == list(range(start_nonces[chain_id], start_nonces[chain_id] + len(mined))), nonces
            # Nothing sent twice: every transaction's call is its own, and nothing waits in the mempool.
            calls = [(t["to"], bytes(t["input"])) for t in mined]
            assert len(set(calls)) == len(calls), f"chain {chain_id}: a call was sent twice"
            assert w3.eth.get_transaction_count(signer.address, "pending") == start_nonces[chain_id] + len(mined)
            sent += len(mined)
        assert sent > 0
    finally:
        for w3 in web3s.values():
            w3.provider.make_request("evm_setAutomine", [True])
        workers.stop_all()


async def _engine_up(client, engine_id: str) -> bool:
    try:
        await engine_status(client, engine_id)
    except RPCError:  # not started yet
        return False
    return True
