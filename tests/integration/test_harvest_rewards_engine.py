"""The engine's harvest with rewarding positions: USDC allocated to Compound V3 and Convex on
the local stack's chain 1, time passes (Convex's gauge CRV earmarked into its reward pool),
and the HarvestWorkflow, through the engine and the signer's transaction queue, reads the
claimable COMP, CRV and CVX in one batch, claims them and sells them for USDC with min-outs,
in one atomic transaction; the result names what was claimed per market and what the sales
were quoted and really paid. No allowance is left behind."""

from __future__ import annotations

from temporalio import activity

import workers.temporal
from activities.deps import Deps
from activities.rewards import RewardActivities, build_harvest
from client import ensure_engine
from floor.config import Settings
from floor.devnet.context import Deployer
from floor.engine import Operation
from floor.swaps.harvest import BuildHarvestInput, HarvestBuild
from tests.integration.engine_helpers import commander, engine_settings, finished, run_operation
from tests.integration.helpers import advance_time, balance, contract, mint
from workers.temporal import build_worker

DAY = 86_400
TARGETS = [(1, "compound-v3", "cUSDCv3", 5_000), (1, "convex", "crvUSD-USDC", 5_000)]
AMOUNT = 200_000 * 10**6


def rewarding_settings(stack, task_queue: str) -> Settings:
    base = engine_settings(stack, task_queue, harvest_cooldown_s=0)
    strategy = base.strategy.model_copy(
        update={
            "targets": [
                base.strategy.targets[0].model_copy(update={"chain_id": c, "protocol": p, "market": m, "weight_bps": w})
                for c, p, m, w in TARGETS
            ]
        }
    )
    return base.model_copy(update={"strategy": strategy})


async def test_harvest_claims_rewards_and_sells_them_for_usdc_with_min_outs(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = rewarding_settings(stack, task_queue)
    client = temporal_env.client
    chain, w3 = settings.chain(1), web3s[1]
    usdc = chain.token("USDC").address
    swaps = chain.swaps
    routes = {r.symbol: r for r in swaps.routes}
    ex = chain.executor
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
        mint(w3, usdc, ex, AMOUNT)
        request = {
            "by": "test",
            "reason": "new capital",
            "amounts": [{"chain_id": 1, "asset": "USDC", "amount": str(AMOUNT)}],
        }
        started = await commander(client, settings).ask(Operation.ALLOCATE, request)
        allocated = await finished(client, settings.engine_id, Operation.ALLOCATE, started.workflow_id)
        assert allocated.status == "done", allocated.summary
        advance_time(w3, DAY)
        convex = chain.market("convex", "crvUSD-USDC")
        booster = contract(w3, "ConvexBooster", convex.booster)
        d = Deployer(w3)
        d.send(booster.functions.earmarkRewards(convex.pid), d.participant)
        advance_time(w3, DAY)
        usdc_before = balance(w3, usdc, ex)
        result = await run_operation(client, settings, Operation.HARVEST, {"by": "test"})

    assert result.status == "done", result.summary
    ((part,),) = [result.chains]
    assert part.chain_id == 1 and part.status == "done" and len(part.transactions) == 1  # one atomic batch
    claimed = {(str(c.key), c.symbol) for c in result.claims if c.amount > 0}
    assert claimed == {
        ("1:compound-v3:cUSDCv3", "COMP"),
        ("1:convex:crvUSD-USDC", "CRV"),
        ("1:convex:crvUSD-USDC", "CVX"),
    }
    sales = {s.symbol: s for s in result.sales}
    assert set(sales) == {"COMP", "CRV", "CVX"} and not result.kept
    for s in sales.values():
        assert s.to == "USDC" and s.venue == "uniswap"
        assert s.min_out == s.quoted * (10_000 - settings.strategy.max_slippage_bps) // 10_000 > 0
    ((proceeds,),) = [result.proceeds]
    quoted = sum(s.quoted for s in sales.values())
    assert (proceeds.asset, proceeds.quoted) == ("USDC", quoted)
    assert proceeds.realised == quoted  # nobody traded in between: the pools paid the quotes
    assert balance(w3, usdc, ex) - usdc_before == quoted  # idle in the executor, for the next allocation
    assert "rewards: 3 claimed from 2 markets, 3 sales" in result.summary
    for r in routes.values():  # no allowance left on any venue or market
        for spender in (swaps.router, r.curve_pool, convex.booster, convex.pool):
            if spender:
                assert contract(w3, "TestERC20", r.token).functions.allowance(ex, spender).call() == 0
    for spender in (convex.pool, convex.booster, chain.market("compound-v3", "cUSDCv3").comet, swaps.router):
        assert contract(w3, "TestERC20", usdc).functions.allowance(ex, spender).call() == 0


async def test_a_sale_whose_min_out_cannot_be_met_fails_the_harvest_and_nothing_is_lost(
    temporal_env, stack, web3s, signer, task_queue, monkeypatch
):
    """The CVX pool moves after the harvest's quotes (someone sells into it): the batch's CVX
    sale cannot meet its min-out, so the whole batch is refused; no claim, no sale, no
    allowance; the rewards are still there for the next harvest."""
    settings = rewarding_settings(stack, task_queue)
    client = temporal_env.client
    chain, w3 = settings.chain(1), web3s[1]
    usdc, ex = chain.token("USDC").address, chain.executor
    cvx = next(r for r in chain.swaps.routes if r.symbol == "CVX")
    d = Deployer(w3)

    class PoolMovesAfterTheQuote(RewardActivities):
        @activity.defn(name="build_harvest")
        def build_harvest(self, input: BuildHarvestInput) -> HarvestBuild:
            built = build_harvest(self.deps, input)
            sold = 40_000 * 10**18  # 10% of the pool's CVX
            d.send(contract(w3, "TestERC20", cvx.token).functions.approve(chain.swaps.router, sold), d.participant)
            router = contract(w3, "UniswapSwapRouter02", chain.swaps.router)
            params = (cvx.token, usdc, cvx.fee, d.participant, sold, 1, 0)
            d.send(router.functions.exactInputSingle(params), d.participant)
            return built

    monkeypatch.setattr(workers.temporal, "RewardActivities", PoolMovesAfterTheQuote)
    convex = chain.market("convex", "crvUSD-USDC")
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
        mint(w3, usdc, ex, AMOUNT)
        request = {
            "by": "test",
            "reason": "new capital",
            "amounts": [{"chain_id": 1, "asset": "USDC", "amount": str(AMOUNT)}],
        }
        started = await commander(client, settings).ask(Operation.ALLOCATE, request)
        assert (await finished(client, settings.engine_id, Operation.ALLOCATE, started.workflow_id)).status == "done"
        advance_time(w3, DAY)
        d.send(contract(w3, "ConvexBooster", convex.booster).functions.earmarkRewards(convex.pid), d.participant)
        advance_time(w3, DAY)
        usdc_before = balance(w3, usdc, ex)
        result = await run_operation(client, settings, Operation.HARVEST, {"by": "test"})

    assert result.status == "failed", result.summary
    ((part,),) = [result.chains]
    assert part.status == "failed" and not part.transactions and "Too little received" in part.error
    assert not result.claims and not result.sales and "chain 1 failed" in result.summary
    assert result.yields == [] and result.baseline  # the growth measurement is still reported
    assert balance(w3, usdc, ex) - usdc_before == 0
    rewards = contract(w3, "ConvexBaseRewardPool", convex.reward_pool)
    assert rewards.functions.earned(ex).call() > 0  # still claimable
    for r in chain.swaps.routes:
        assert balance(w3, r.token, ex) == 0
        if r.fee:
            assert contract(w3, "TestERC20", r.token).functions.allowance(ex, chain.swaps.router).call() == 0
