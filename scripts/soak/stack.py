"""The soak's processes: two anvil chains with everything deployed, a Temporal dev server on a
database file (so a restart keeps every workflow), a fault proxy in front of each chain's RPC,
and `floor-worker` as an OS process of its own (so it can be SIGKILLed), sharing one store."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from web3 import Web3

from floor.config import Settings
from floor.devnet.faultproxy import RpcProxy
from floor.devnet.processes import free_port, start_temporal, stop_process
from floor.devnet.stack import CHAIN_IDS, LocalStack, new_operator_key, start_chains
from floor.devnet.strategy import strategy_targets
from floor.devnet.worker_process import WorkerProcess
from floor.store import Store

TASK_QUEUE = "floor-soak"
ENGINE_ID = "engine-floor-soak"


@dataclass
class SoakStack:
    directory: Path
    operator_key: str = field(default_factory=new_operator_key)
    chains: LocalStack | None = None
    proxies: dict[int, RpcProxy] = field(default_factory=dict)
    temporal_port: int = field(default_factory=free_port)
    temporal: subprocess.Popen[bytes] | None = None
    worker: WorkerProcess | None = None
    workers_started: int = 0
    settings: Settings | None = None
    web3s: dict[int, Web3] = field(default_factory=dict)
    client: Client | None = None
    store: Store | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    async def start(self) -> None:
        from floor.chain.signer import LocalKeySigner

        self.directory.mkdir(parents=True, exist_ok=True)
        signer = LocalKeySigner.from_private_key(self.operator_key).address
        self.chains = start_chains({cid: free_port() for cid in CHAIN_IDS}, signer, self.directory)
        self.web3s = {cid: chain.web3() for cid, chain in self.chains.chains.items()}
        for cid, chain in self.chains.chains.items():
            self.proxies[cid] = RpcProxy(chain.rpc_url).__enter__()
        self.settings = self._settings()
        self.store = Store(self.settings.store.url)
        self.store.migrate()
        self.start_temporal()
        self.client = await self.connect()
        (self.directory / "floor.toml").write_text(tomli_w.dumps(self._config()))
        await self.start_worker()

    def _settings(self) -> Settings:
        assert self.chains is not None
        chains = []
        for cid, chain in self.chains.chains.items():
            config = chain.deployed.chain_config(self.proxies[cid].url("/"))
            # A reorg is noticed within a second, not a minute: the soak's hours are seconds long.
            chains.append({**config, "finality_poll_s": 1})
        return Settings(
            chains=chains,
            temporal={"address": self.address, "task_queue": TASK_QUEUE},
            strategy={
                "targets": strategy_targets(),
                "weights_of": "token",
                # The soak's hours pass in seconds of the engine's clock: it asks when its cycle says.
                "min_rebalance_interval_s": 0,
            },
            engine={"workflow_id": ENGINE_ID, "harvest_cooldown_s": 0},
            access=access_config(),
            store={"url": f"sqlite:///{self.directory / 'floor.db'}"},
        )

    def _config(self) -> dict[str, Any]:
        assert self.settings is not None
        config = self.settings.model_dump(mode="json", exclude_none=True)
        config["access"] = access_config()  # the key unmasked
        config["log_level"] = "INFO"
        return config

    def start_temporal(self) -> None:
        self.temporal = start_temporal(
            self.temporal_port, free_port(), self.directory / "temporal.db", self.directory / "temporal.log"
        )

    async def connect(self) -> Client:
        return await Client.connect(self.address, data_converter=pydantic_data_converter)

    async def restart_temporal(self) -> float:
        """SIGTERM the dev server and start it again on the same port and database; seconds down."""
        assert self.temporal is not None
        began = time.monotonic()
        stop_process(self.temporal)
        self.start_temporal()
        self.client = await self.connect()
        return time.monotonic() - began

    async def start_worker(self) -> WorkerProcess:
        self.workers_started += 1
        log = self.directory / f"worker-{self.workers_started}.log"
        self.worker = WorkerProcess(
            f"worker-{self.workers_started}", self.directory / "floor.toml", self.operator_key, log
        )
        await self.worker.ready(timeout_s=60)
        return self.worker

    async def kill_worker(self) -> None:
        """SIGKILL the worker (no clean shutdown: activities in flight are lost) and start another."""
        assert self.worker is not None
        self.worker.process.send_signal(signal.SIGKILL)
        await self.worker.exited(10)
        await self.start_worker()

    async def stop(self) -> None:
        if self.worker is not None:
            await asyncio.to_thread(self.worker.stop)
        for proxy in self.proxies.values():
            proxy.__exit__(None, None, None)
        if self.temporal is not None:
            stop_process(self.temporal)
        if self.chains is not None:
            self.chains.stop()
        if self.store is not None:
            self.store.close()


def access_config() -> dict[str, Any]:
    """Who commands the soak's engine: its founding ADMINs, and the worker's scheduler key."""
    from eth_account import Account
    from eth_utils.crypto import keccak

    scheduler = Account.from_key(keccak(text="floor-soak-scheduler"))
    return {"admins": [a.address for a in admins()], "scheduler_key": {"private_key": scheduler.key.hex()}}


def admins():
    """The soak's founding ADMINs: the engine rate-limits each signer (an operation kind: 3 at
    once, then one per 10 minutes), and the soak asks for an operation every few seconds."""
    from eth_account import Account
    from eth_utils.crypto import keccak

    return [Account.from_key(keccak(text=f"floor-soak-admin-{i}")) for i in range(48)]
