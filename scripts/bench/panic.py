"""panic: `panic.seconds_to_broadcast` on the demo's positions: the demo's strategy (native ETH
left out: it needs deposit data) allocated on both chains of the local stack, the engine paused,
then a signed panic exit; timed from the command accepted to the last of its transactions
broadcast (the node's pending nonce of the signer, polled every 10 ms on both chains, last
moved). Target: at most 10 s."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from client import Commander, ensure_engine
from floor.chain.signer import LocalKeySigner
from floor.config import Settings
from floor.engine import Operation
from floor.messages import AllocateResult
from floor.panic import PanicExitResult
from scripts.bench.harness import start_temporal
from scripts.bench.wiring import BENCH_ACCESS, BENCH_ADMIN, deps
from scripts.demo import STRATEGY, TREASURY
from workers.temporal import build_worker

TARGET_S = 10


def panic_settings(stack, task_queue: str) -> Settings:
    return Settings(
        chains=stack.chain_configs(),
        temporal={"task_queue": task_queue},
        strategy={
            "targets": [
                {"chain_id": c, "protocol": p, "market": m, "weight_bps": w}
                for c, p, m, w in STRATEGY
                if p != "native-eth"
            ],
            "weights_of": "token",
        },
        engine={"workflow_id": f"bench-panic-{uuid.uuid4().hex[:8]}"},
        access=BENCH_ACCESS,
    )


class NonceWatch:
    """When each chain's pending nonce of the signer last moved (a transaction broadcast)."""

    def __init__(self, web3s, address: str):
        self.web3s, self.address = web3s, address
        self.last_moved = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        seen = {c: w3.eth.get_transaction_count(self.address, "pending") for c, w3 in self.web3s.items()}
        while not self.stop.is_set():
            for c, w3 in self.web3s.items():
                n = w3.eth.get_transaction_count(self.address, "pending")
                if n != seen[c]:
                    seen[c], self.last_moved = n, time.perf_counter()
            time.sleep(0.01)


async def bench_panic(stack, signer: LocalKeySigner) -> dict[str, float]:
    from floor.devnet.deploy import fund

    task_queue = f"bench-panic-{uuid.uuid4().hex[:8]}"
    settings = panic_settings(stack, task_queue)
    web3s = {cid: local.web3() for cid, local in stack.chains.items()}
    env = await start_temporal()
    try:
        client = env.client
        async with build_worker(client, task_queue, deps(settings, signer, web3s)):
            await ensure_engine(client, settings)
            admin = Commander(client, settings, BENCH_ADMIN)
            amounts = []
            for (chain_id, symbol), whole in TREASURY.items():
                decimals = settings.chain(chain_id).token(symbol).decimals
                fund(
                    web3s[chain_id],
                    stack.chains[chain_id].deployed,
                    settings.chain(chain_id).executor,
                    {symbol: whole * 10**decimals},
                )
                amounts.append({"chain_id": chain_id, "asset": symbol, "amount": str(whole * 10**decimals)})
            started = await admin.ask(Operation.ALLOCATE, {"amounts": amounts, "reason": "bench"})
            allocated = await client.get_workflow_handle(started.workflow_id, result_type=AllocateResult).result()
            if allocated.status != "done":
                raise AssertionError(f"the demo allocation did not complete: {allocated.summary}")
            await _idle(client, settings)
            await admin.pause("bench")
            watch = NonceWatch(web3s, signer.address)
            watch.thread.start()
            start = time.perf_counter()
            panic = await admin.ask(Operation.PANIC_EXIT, {"reason": "bench"})
            accepted = time.perf_counter()
            result = await client.get_workflow_handle(panic.workflow_id, result_type=PanicExitResult).result()
            time.sleep(0.05)  # the watcher's last poll
            watch.stop.set()
            watch.thread.join()
        if result.status not in ("done", "partial") or not watch.last_moved:
            raise AssertionError(f"the panic exit did not send: {result.status}: {result.summary}")
        seconds = watch.last_moved - accepted
        print(
            f"panic: {seconds:.2f} s from accepted to the last broadcast ({accepted - start:.2f} s to accept): "
            f"{result.summary}"
        )
        return {"panic.seconds_to_broadcast": round(seconds, 3), "panic.target_s": TARGET_S}
    finally:
        await env.shutdown()


async def _idle(client, settings: Settings) -> None:
    from client import engine_status

    for _ in range(300):
        if (await engine_status(client, settings.engine_id)).operation is None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the engine did not record the allocation's end")
