"""positions.all: every position of the full strategy on both chains (every market of every
protocol the local stack deploys), with its asset's Chainlink price and its growth index, as
the position report reads them: one Multicall3 eth_call per chain, against one eth_call per
read (pinned to one block read first); both decode into the same rows. Requests counted at
the RPC provider; wall time the median of interleaved rounds, both chains one after the other."""

from __future__ import annotations

import statistics

from web3.exceptions import Web3Exception

from floor.adapters.registry import AdapterRegistry
from floor.calls import ReadResult
from floor.chain.multicall import ReadBatch
from floor.chain.report import MarketReport, chain_report_rows, plan_chain_report, read_chain_report
from floor.chain.rpc import request_counts
from floor.config import Settings
from scripts.bench.harness import timed

POSITION_ROUNDS = 20


def bench_positions(stack) -> dict[str, float]:
    """Every market of both chains with prices and growth indexes: the report's one batch per
    chain against one eth_call per read."""
    # The other participants' account: it holds a position in every market.
    chains = stack.chain_configs()
    for config, local in zip(chains, stack.chains.values(), strict=True):
        config["executor"] = local.deployed.participant
    settings = Settings(chains=chains)
    registry = AdapterRegistry.from_settings(settings)
    batched_w3 = {cid: c.web3() for cid, c in stack.chains.items()}
    naive_w3 = {cid: c.web3() for cid, c in stack.chains.items()}

    def batched() -> list[MarketReport]:
        rows = []
        for chain in settings.chains:
            rows += read_chain_report(chain, batched_w3[chain.id], registry.on_chain(chain.id), window_s=None)
        return rows

    def naive() -> list[MarketReport]:
        rows = []
        for chain in settings.chains:
            w3, adapters = naive_w3[chain.id], registry.on_chain(chain.id)
            plan, assets = plan_chain_report(chain, adapters)
            header = w3.eth.get_block("latest")
            results = []
            for r in plan.calls:
                try:
                    results.append(ReadResult(True, w3.eth.call({"to": r.target, "data": r.data}, header["number"])))
                except Web3Exception:  # a reverting read, as Multicall3 reports it
                    results.append(ReadResult(False, b""))
            batch = ReadBatch(results, header["number"], header["timestamp"], eth_calls=len(results))
            rows += chain_report_rows(chain, adapters, plan, assets, batch, {})
        return rows

    def requests(web3s) -> int:
        return sum(sum(request_counts(w3).values()) for w3 in web3s.values())

    # Both read every market (and warm up). Their amounts agree except where a read depends on
    # one before it in the same execution: Morpho's `accrueInterest` then `market(id)`, which a
    # call per read sees as of the market's last interaction (no accrual): counted, not hidden.
    first, second = batched(), naive()
    assert [(r.chain_id, r.protocol, r.market) for r in first] == [(r.chain_id, r.protocol, r.market) for r in second]
    differing = [r.protocol for r, n in zip(first, second, strict=True) if r.amount != n.amount]
    assert set(differing) <= {"morpho-blue"}, differing
    reads = sum(len(plan_chain_report(c, registry.on_chain(c.id))[0]) for c in settings.chains)
    walls, naive_walls = [], []
    before, naive_before = requests(batched_w3), requests(naive_w3)
    for _ in range(POSITION_ROUNDS):  # interleaved, so both see the same machine load
        walls.append(timed(batched))
        naive_walls.append(timed(naive))
    used = (requests(batched_w3) - before) / POSITION_ROUNDS
    naive_used = (requests(naive_w3) - naive_before) / POSITION_ROUNDS
    wall, naive_wall = statistics.median(walls), statistics.median(naive_walls)
    return {
        "positions.all.markets": len(registry),
        "positions.all.reads": reads,
        "positions.all.requests": used,
        "positions.all.requests_per_chain": used / len(settings.chains),
        "positions.all.naive_requests": naive_used,
        "positions.all.batched_ms": round(wall * 1000, 3),
        "positions.all.naive_ms": round(naive_wall * 1000, 3),
        "positions.all.speedup": round(naive_wall / wall, 1),
        "positions.all.naive_unaccrued_rows": len(differing),
    }
