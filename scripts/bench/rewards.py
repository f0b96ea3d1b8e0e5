"""rewards.read: the claimable rewards of every rewarding position on chain 1 (CRV of both Curve
gauges and crvUSD of the NG gauge's, Convex's CRV and CVX, Compound's COMP; the other
participant's positions, two days after the deployment), as the harvest reads them: one Multicall3
eth_call, against one eth_call per read (pinned to one block read first); both decode into the
same amounts. Requests counted at the RPC provider; wall time the median of interleaved rounds."""

from __future__ import annotations

import statistics

from web3.exceptions import Web3Exception

from floor.adapters.registry import AdapterRegistry
from floor.calls import ReadResult
from floor.chain.multicall import MulticallReader
from floor.chain.rpc import request_counts
from floor.config import Settings
from floor.devnet.context import Deployer
from floor.readplan import ReadPlan
from scripts.bench.harness import timed

REWARD_ROUNDS = 20
REWARD_WAIT_S = 86_400  # a day, Convex earmarks, a day: every rewarding position has something to claim


def bench_rewards(stack) -> dict[str, float]:
    """Every rewarding position's claimable rewards on chain 1, read as the harvest reads them
    (one Multicall3 batch) against one eth_call per read. The chain's clock moves a day for it
    and is put back (a snapshot), so later benchmarks see the stack as deployed."""
    chain = next(c for c in stack.chain_configs() if c["id"] == 1)
    local = stack.chains[1]
    chain["executor"] = local.deployed.participant  # it holds a position in every market
    settings = Settings(chains=[chain])
    batched_w3, naive_w3 = local.web3(), local.web3()
    account = chain["executor"]
    adapters = [a for a in AdapterRegistry.from_settings(settings).on_chain(1) if a.reward_reads(account)]
    plan = ReadPlan()
    for i, adapter in enumerate(adapters):
        plan.add(i, adapter.reward_reads(account))
    reader = MulticallReader(batched_w3)
    snapshot = batched_w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        d = Deployer(batched_w3)
        batched_w3.provider.make_request("evm_increaseTime", [REWARD_WAIT_S])
        batched_w3.provider.make_request("evm_mine", [])
        for m in chain["markets"]:  # Convex streams the gauge's CRV once someone earmarks it
            if m["adapter"] == "convex":
                d.send(d.at("ConvexBooster", m["booster"]).functions.earmarkRewards(m["pid"]), d.participant)
        batched_w3.provider.make_request("evm_increaseTime", [REWARD_WAIT_S])
        batched_w3.provider.make_request("evm_mine", [])

        def decoded(results) -> list:
            got = plan.results(results)
            return [(str(a.key), a.decode_rewards(got[i])) for i, a in enumerate(adapters)]

        def batched() -> list:
            return decoded(reader.read(plan.calls).results)

        def naive() -> list:
            block = naive_w3.eth.block_number
            results = []
            for r in plan.calls:
                try:
                    results.append(ReadResult(True, naive_w3.eth.call({"to": r.target, "data": r.data}, block)))
                except Web3Exception:  # a reverting read, as Multicall3 reports it
                    results.append(ReadResult(False, b""))
            return decoded(results)

        first, second = batched(), naive()  # both decode the same amounts (and warm up)
        assert first == second, (first, second)
        lines = [line for _, rewards in first for line in rewards]
        assert lines and all(line.amount > 0 for line in lines), first
        walls, naive_walls = [], []
        before, naive_before = sum(request_counts(batched_w3).values()), sum(request_counts(naive_w3).values())
        for _ in range(REWARD_ROUNDS):  # interleaved, so both see the same machine load
            walls.append(timed(batched))
            naive_walls.append(timed(naive))
        used = (sum(request_counts(batched_w3).values()) - before) / REWARD_ROUNDS
        naive_used = (sum(request_counts(naive_w3).values()) - naive_before) / REWARD_ROUNDS
    finally:
        batched_w3.provider.make_request("evm_revert", [snapshot])
    wall, naive_wall = statistics.median(walls), statistics.median(naive_walls)
    return {
        "rewards.read.positions": len(adapters),
        "rewards.read.tokens": len(lines),
        "rewards.read.reads": len(plan.calls),
        "rewards.read.requests": used,
        "rewards.read.naive_requests": naive_used,
        "rewards.read.batched_ms": round(wall * 1000, 3),
        "rewards.read.naive_ms": round(naive_wall * 1000, 3),
        "rewards.read.speedup": round(naive_wall / wall, 1),
    }
