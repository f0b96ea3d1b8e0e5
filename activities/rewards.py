"""Harvest activities: read every market's claimable rewards (one Multicall3 batch per chain)
and build the chain's harvest batch: the claims, then each reward token sold for the base
asset of the markets that paid it, with a min-out from a fresh on-chain quote (QuoterV2 or
Curve's get_dy, one Multicall3 batch) less the strategy's slippage tolerance, between
approve and approve(0). The proceeds stay idle in the executor for the next allocation or
rebalance. Pure planning in `floor.swaps.harvest`, encoders in `floor.swaps.venue`.
"""

from __future__ import annotations

from temporalio import activity

from activities.deps import Deps
from activities.errors import named_errors
from floor.calls import decode_result, read
from floor.readplan import ReadPlan
from floor.swaps import venue
from floor.swaps.harvest import (
    BuildHarvestInput,
    HarvestBuild,
    KeptLine,
    MarketRewards,
    ReadRewardsInput,
    RewardLine,
    RewardsRead,
    SwapLine,
    sale_amounts,
    worth_claiming,
)

BALANCE_OF = "balanceOf(address)"


class RewardActivities:
    def __init__(self, deps: Deps):
        self.deps = deps

    @activity.defn
    @named_errors
    def read_rewards(self, input: ReadRewardsInput) -> RewardsRead:
        """Every market's claimable reward tokens and the executor's balance of each routed
        reward token, in one Multicall3 batch (one block)."""
        return read_rewards(self.deps, input)

    @activity.defn
    @named_errors
    def build_harvest(self, input: BuildHarvestInput) -> HarvestBuild:
        return build_harvest(self.deps, input)

    def all(self) -> list:
        return [self.read_rewards, self.build_harvest]


def read_rewards(deps: Deps, input: ReadRewardsInput) -> RewardsRead:
    ctx = deps.chain(input.chain_id)
    account = deps.account(input.chain_id)
    swaps = ctx.config.swaps
    adapters = [deps.registry.get(key) for key in input.keys]
    routed = sorted({r.token for r in swaps.routes if r.venue}) if swaps else []
    plan = ReadPlan()
    for i, adapter in enumerate(adapters):
        plan.add(("rewards", i), adapter.reward_reads(account))
    for token in routed:
        plan.add(("held", token), [read(token, BALANCE_OF, account)])
    batch = ctx.reader.read(plan.calls) if len(plan) else None
    results = plan.results(batch.results if batch else [])
    markets = []
    for i, adapter in enumerate(adapters):
        lines = []
        for r in adapter.decode_rewards(results["rewards", i]):
            known = swaps.known(r.token) if swaps else None
            lines.append(RewardLine(token=r.token, symbol=r.symbol or (known.symbol if known else ""), amount=r.amount))
        markets.append(MarketRewards(key=adapter.key, asset=adapter.asset.symbol, rewards=lines))
    held = {
        token: decode_result(["uint256"], results["held", token][0], f"reward token {token}.balanceOf(executor)")[0]
        for token in routed
    }
    return RewardsRead(
        chain_id=input.chain_id, block_number=batch.block_number if batch else 0, markets=markets, held=held
    )


def build_harvest(deps: Deps, input: BuildHarvestInput) -> HarvestBuild:
    """Claims first, then per (reward token, base asset) the sale, quoted in one batch with the
    executor's base-asset balances (the realised figure's starting point). A token with no
    route, the base asset itself, or a quote of nothing is claimed and kept, and named."""
    ctx = deps.chain(input.chain_id)
    account = deps.account(input.chain_id)
    swaps = ctx.config.swaps
    tolerance = deps.slippage_bps if input.tolerance_bps is None else input.tolerance_bps
    claim = worth_claiming(input.claim, swaps)
    if not claim:
        return HarvestBuild(chain_id=input.chain_id, calls=[])
    calls = []
    for m in claim:
        calls += deps.registry.get(m.key).claim_calls(account)
    sales, kept = [], []
    for token, symbol, base, amount in sale_amounts(claim, input.held):
        route = swaps.route(token, base) if swaps else None
        name = symbol or (route.symbol if route else "")
        if amount <= 0:
            continue
        if token.lower() == ctx.config.token(base).address.lower():
            kept.append(KeptLine(token=token, symbol=name, to=base, amount=amount, reason="already the base asset"))
        elif route is None or route.venue is None:
            kept.append(KeptLine(token=token, symbol=name, to=base, amount=amount, reason=f"no swap route to {base}"))
        elif route.price_feed is None:
            # The executor values both sides of a sale: without a feed it would refuse it.
            kept.append(KeptLine(token=token, symbol=name, to=base, amount=amount, reason="no price feed to sell by"))
        else:
            sales.append((route, base, amount))
    bases = sorted({m.asset for m in claim})
    plan = ReadPlan()
    for i, (route, base, amount) in enumerate(sales):
        plan.add(("quote", i), [venue.quote_read(swaps, route, ctx.config.token(base).address, amount)])
    for base in bases:
        plan.add(("base", base), [read(ctx.config.token(base).address, BALANCE_OF, account)])
    results = plan.results(ctx.reader.read(plan.calls).results)
    lines = []
    for i, (route, base, amount) in enumerate(sales):
        quoted = venue.decode_quote(route, results["quote", i][0])
        least = venue.min_out(quoted, tolerance)
        if least <= 0:
            kept.append(
                KeptLine(
                    token=route.token, symbol=route.symbol, to=base, amount=amount, reason="its sale quotes nothing"
                )
            )
            continue
        calls += venue.swap_calls(swaps, route, ctx.config.token(base).address, amount, least, account)
        lines.append(
            SwapLine(
                token=route.token,
                symbol=route.symbol,
                to=base,
                venue=route.venue,
                amount_in=amount,
                quoted=quoted,
                min_out=least,
            )
        )
    before = {
        base: decode_result(["uint256"], results["base", base][0], f"{base}.balanceOf(executor)")[0] for base in bases
    }
    return HarvestBuild(
        chain_id=input.chain_id,
        calls=calls,
        claimed=[m.key for m in claim],
        swaps=lines,
        kept=kept,
        base_before=before,
    )
