"""reconcile.p200: 200 positions (100 vaults on each chain) reconciled against the store's cache,
the chains in parallel, one Multicall3 batch each, against a loop of one eth_call per value read;
requests counted at the RPC provider."""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from floor.chain.rpc import request_counts
from floor.chain.signer import LocalKeySigner
from floor.config import Settings
from floor.devnet.context import Deployer
from floor.reconcile import ReconcileChainInput
from floor.store import Store
from scripts.bench.harness import timed
from scripts.bench.wiring import reconcile_activities

RECONCILE_MARKETS = 100  # per chain: 200 positions on two chains


def bench_reconcile(stack, signer: LocalKeySigner, tmp: Path) -> dict[str, float]:
    """200 positions on two chains reconciled (one Multicall3 batch per chain, the chains in
    parallel) against a loop reading each position's values one eth_call at a time."""
    configs = []
    for chain in stack.chains.values():
        config = chain.deployed.chain_config(chain.rpc_url)
        usdc = next(t for t in config["tokens"] if t["symbol"] == "USDC")["address"]
        d = Deployer(chain.web3())
        config["markets"] = [
            {
                "protocol": "metamorpho",
                "adapter": "erc4626",
                "market": f"v{i:03d}",
                "asset": "USDC",
                "vault": d.deploy("ERC4626Vault", usdc, f"v{i}", f"v{i}", d.admin).address,
            }
            for i in range(RECONCILE_MARKETS)
        ]
        configs.append(config)
    settings = Settings(chains=configs, store={"url": f"sqlite:///{tmp / 'bench-store.db'}"})
    store = Store.from_settings(settings)
    store.migrate()
    web3s = {cid: c.web3() for cid, c in stack.chains.items()}
    activities = reconcile_activities(settings, signer, web3s, store)

    def reconciled() -> None:
        with ThreadPoolExecutor(len(web3s)) as pool:
            list(pool.map(lambda c: activities.reconcile_chain(ReconcileChainInput(run_id="bench", chain_id=c)), web3s))

    def naive() -> None:
        for chain in settings.chains:
            w3 = web3s[chain.id]
            for adapter in activities.deps.registry.on_chain(chain.id):
                for r in adapter.position_reads(chain.executor) + adapter.rate_reads():
                    w3.eth.call({"to": r.target, "data": r.data})

    def requests() -> int:
        return sum(sum(request_counts(w3).values()) for w3 in web3s.values())

    walls, naive_walls = [], []
    for _ in range(5):
        before = requests()
        walls.append(timed(reconciled))
        used = requests() - before
        before = requests()
        naive_walls.append(timed(naive))
        naive_used = requests() - before
    wall, naive_wall = statistics.median(walls), statistics.median(naive_walls)
    return {
        "reconcile.p200.wall_s": round(wall, 4),
        "reconcile.p200.naive_wall_s": round(naive_wall, 4),
        "reconcile.p200.requests": used,
        "reconcile.p200.requests_per_chain": used / len(web3s),
        "reconcile.p200.naive_requests": naive_used,
        "reconcile.p200.speedup": round(naive_wall / wall, 1),
    }
