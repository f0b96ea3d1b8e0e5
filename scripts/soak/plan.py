"""The soak's schedule, made from its seed before it starts: which hourly cycle gets which fault
and which market event. The same seed and cycle count give the same schedule."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Faults, and how many of each per cycle over a long soak (at least one of each in a short one).
FAULT_RATES = {
    "rpc_error": 1 / 24,  # the worker's RPC answers 502 for a few requests
    "rpc_latency": 1 / 24,  # the worker's RPC answers slowly for a while
    "worker_kill": 1 / 36,  # SIGKILL the worker in the middle of an operation
    "temporal_restart": 1 / 56,  # stop and start the Temporal dev server
    "reorg": 1 / 48,  # anvil takes back the blocks of the cycle's last transactions
}
FAULTS = tuple(FAULT_RATES)
# Market events (not faults of the engine's own infrastructure): counted in the report.
EVENT_RATES = {"stale_feed": 1 / 48, "tvl_fall": 1 / 60}
DEPOSIT_P = 0.12  # funds arriving at the treasury in a cycle
CAPITAL_P = 0.06  # a capital request in a cycle
HARVEST_EVERY = 24  # cycles: a harvest daily
TVL_RECOVERS_AFTER = 6  # cycles until the participant's funds come back and the breaker is half-opened
PRICE_STEP_BPS = 150  # the WETH feeds' hourly random walk, at most this much either way


@dataclass
class Cycle:
    index: int
    faults: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    harvest: bool = False
    deposit: dict[tuple[int, str], int] = field(default_factory=dict)  # (chain, asset) -> base units
    capital: tuple[int, str, int] | None = None  # (chain, asset, base units)
    price_bps: int = 0  # the WETH price's move this hour
    kill_after_s: float = 0.0  # how far into the cycle's operation the worker is killed
    tvl_recovers: bool = False


def make_plan(cycles: int, seed: int) -> list[Cycle]:
    rng = random.Random(seed)
    plan = [Cycle(i) for i in range(cycles)]
    usable = list(range(1, cycles))  # cycle 0 allocates the treasury, untouched by faults
    if not usable:
        return plan
    heavy = ("worker_kill", "temporal_restart", "reorg", "tvl_fall")
    taken: set[int] = set()
    for kind, rate in (FAULT_RATES | EVENT_RATES).items():
        count = max(1, round(cycles * rate))
        # One heavy fault a cycle, so the report can say which fault a finding follows.
        pool = [c for c in usable if c not in taken] if kind in heavy else usable
        chosen = rng.sample(pool, min(count, len(pool)))
        for index in chosen:
            target = plan[index].faults if kind in FAULT_RATES else plan[index].events
            target.append(kind)
            if kind in heavy:
                taken.add(index)
            if kind == "tvl_fall" and index + TVL_RECOVERS_AFTER < cycles:
                plan[index + TVL_RECOVERS_AFTER].tvl_recovers = True
    for cycle in plan[1:]:
        cycle.harvest = cycle.index % HARVEST_EVERY == HARVEST_EVERY - 1
        cycle.price_bps = rng.randint(-PRICE_STEP_BPS, PRICE_STEP_BPS)
        cycle.kill_after_s = rng.uniform(0.05, 1.5)
        if rng.random() < DEPOSIT_P:
            chain, asset = rng.choice([(1, "USDC"), (1, "WETH"), (42161, "USDC")])
            whole = rng.randint(5_000, 50_000) if asset == "USDC" else rng.randint(2, 20)
            cycle.deposit[(chain, asset)] = whole * 10 ** (6 if asset == "USDC" else 18)
        if rng.random() < CAPITAL_P:
            chain = rng.choice([1, 42161])
            cycle.capital = (chain, "USDC", rng.randint(1_000, 20_000) * 10**6)
    return plan


def planned_faults(plan: list[Cycle]) -> dict[str, int]:
    counts = dict.fromkeys(FAULTS, 0)
    for cycle in plan:
        for kind in cycle.faults:
            counts[kind] += 1
    return counts
