"""HarvestWorkflow: measure what every position earned since the last harvest, by source, and
claim and sell the reward tokens the markets pay.

Yield that compounds in place is measured, not moved: an aToken's balance grows with the
liquidity index ("rebase"), a vault's shares with its share price ("exchange_rate"). Both
are read as growth indexes; a market's yield since the baseline is its amount now less the
same claim valued at the baseline's index.

Rewards (CRV and crvUSD from Curve gauges, CRV and CVX from Convex, COMP from Compound V3):
every target market's claimable rewards are read, one Multicall3 batch per chain
(`read_rewards`). Where any token is claimable above its dust threshold (the chain's
`swaps.routes[].dust`), the chain gets one atomic batch (`build_harvest`, sent through the
signer's queue): the claims, then each reward token sold for the base asset of the markets
that paid it, with a min-out from a fresh on-chain quote (QuoterV2 or Curve's get_dy) less
the tolerance (`max_slippage_bps`, the strategy's by default), between approve and
approve(0). A sale whose min-out cannot be met reverts the whole batch: nothing is claimed or
sold, and the chain's part says why. The proceeds stay idle in the executor for the next
allocation or rebalance. A token with no route is claimed and kept idle, and named. Histories
recorded before the reward steps replay without them (`workflow.patched("harvest-rewards")`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

from workflows.operation import (
    READ_TIMEOUT,
    RETRY,
    OperationBase,
    chain_intents,
    chain_part,
    read_holdings,
    refuse_unless_started_by_engine,
    reports_failure,
    validated,
)

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.messages import Holdings, ReadHoldingsInput
    from floor.operations import (
        ChainPart,
        HarvestInput,
        HarvestResult,
        RewardClaim,
        RewardKept,
        RewardProceeds,
        RewardSale,
        YieldLine,
        overall_status,
        units,
    )
    from floor.swaps.harvest import BuildHarvestInput, HarvestBuild, ReadRewardsInput, RewardsRead


def _total_text(key: str, amount: int, decimals: dict[tuple[int, str], int]) -> str:
    """A yield total ("<chain>:<asset>:<source>") for people: "chain 1 USDC rebase 12.5 USDC"."""
    chain_id, asset, source = key.split(":")
    return f"chain {chain_id} {asset} {source} {units(amount, decimals.get((int(chain_id), asset)), asset)}"


def accrued(amount: int, index_now: int, index_then: int) -> int:
    """Base units earned by a claim worth `amount` now, since its index was `index_then`."""
    if index_now <= 0 or index_then <= 0:
        return 0
    return amount - amount * index_then // index_now


@workflow.defn(failure_exception_types=[FloorError])
class HarvestWorkflow(OperationBase):
    @workflow.run
    @reports_failure
    async def run(self, raw: Any = None) -> HarvestResult:
        refuse_unless_started_by_engine()
        input = validated(HarvestInput, raw, "harvest")
        await self.step("reading positions and growth indexes")
        read = await read_holdings(input.targets, assets=False)
        yields, totals, baseline = [], {}, {}
        for chain in read:
            baseline.update(chain.growth)
            for h in chain.holdings:
                name = str(h.key)
                source = h.yield_source
                then = input.baseline.get(name)
                if then is None or h.amount == 0:
                    continue
                earned = accrued(h.amount, chain.growth[name], then)
                yields.append(YieldLine(key=h.key, asset=h.asset, decimals=h.decimals, source=source, amount=earned))
                total_key = f"{h.key.chain_id}:{h.asset}:{source}"
                totals[total_key] = totals.get(total_key, 0) + earned
        decimals = {(h.key.chain_id, h.asset): h.decimals for chain in read for h in chain.holdings}
        rewards = await self._rewards(input, decimals) if workflow.patched("harvest-rewards") else {}
        self.stage = "done"
        if not input.baseline:
            summary = f"baseline set for {len(baseline)} markets; the next harvest reports yield since now"
        else:
            summary = "yield since the last harvest: " + (
                ", ".join(_total_text(k, v, decimals) for k, v in sorted(totals.items())) or "no positions"
            )
        parts = rewards.get("chains", [])
        if rewards.get("summary"):
            summary += "; " + rewards["summary"]
        return await self.finish(
            HarvestResult(
                status=overall_status(parts) if parts else "done",
                summary=summary,
                chains=parts,
                positions={str(h.key): h.amount for chain in read for h in chain.holdings},
                yields=yields,
                totals=totals,
                baseline=baseline,
                **{k: v for k, v in rewards.items() if k not in ("chains", "summary")},
            )
        )

    async def _rewards(self, input: HarvestInput, decimals: dict[tuple[int, str], int]) -> dict:
        """Read every market's claimable rewards; claim and sell them where worth it."""
        chains = sorted({t.key.chain_id for t in input.targets})
        await self.step("reading claimable rewards")
        reads: list[RewardsRead] = list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        "read_rewards",
                        ReadRewardsInput(chain_id=c, keys=[t.key for t in input.targets if t.key.chain_id == c]),
                        result_type=RewardsRead,
                        start_to_close_timeout=READ_TIMEOUT,
                        retry_policy=RETRY,
                        summary=f"read claimable rewards on chain {c}",
                    )
                    for c in chains
                )
            )
        )
        # The dust thresholds are the chain's config, which only activities read: the build
        # input carries every market with rewards, and the plan is made from the read here.
        wanted = {r.chain_id: [m for m in r.markets if any(x.amount > 0 for x in m.rewards)] for r in reads}
        wanted = {c: ms for c, ms in wanted.items() if ms}
        if not wanted:
            return {"summary": "no rewards to claim"}
        await self.step(f"quoting reward sales and building claims on chains {sorted(wanted)}")
        held = {r.chain_id: r.held for r in reads}
        builds: list[HarvestBuild] = list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        "build_harvest",
                        BuildHarvestInput(
                            chain_id=c, claim=ms, held=held.get(c, {}), tolerance_bps=input.max_slippage_bps
                        ),
                        result_type=HarvestBuild,
                        start_to_close_timeout=READ_TIMEOUT,
                        retry_policy=RETRY,
                        summary=f"quote reward sales and build the harvest batch on chain {c}",
                    )
                    for c, ms in sorted(wanted.items())
                )
            )
        )
        builds = [b for b in builds if b.calls]
        if not builds:
            return {"summary": "rewards below the dust thresholds: nothing claimed"}
        claimed = {(b.chain_id, str(k)) for b in builds for k in b.claimed}
        claims = [
            RewardClaim(key=m.key, token=r.token, symbol=r.symbol, amount=r.amount)
            for c, ms in sorted(wanted.items())
            for m in ms
            if (c, str(m.key)) in claimed
            for r in m.rewards
        ]
        intents = []
        for b in builds:
            quoted: dict[str, int] = {}
            for s in b.swaps:
                quoted[s.to] = quoted.get(s.to, 0) + s.quoted
            # What the batch is worth, for the queue's private-relay rule: the sales' quotes.
            moves = [(max(quoted, key=quoted.get), sum(quoted.values()))] if quoted else [(min(b.base_before), 0)]
            intents += chain_intents(b.chain_id, [b.calls], "harvest", moves)
        await self.step(f"claiming and selling rewards: {len(intents)} transactions")
        outcomes = await self.send(intents, {})
        parts = [chain_part(b.chain_id, intents, outcomes) for b in builds]
        await self.step("reading the proceeds back")
        after = {
            h.chain_id: h
            for h in await asyncio.gather(
                *(
                    workflow.execute_activity(
                        "read_holdings",
                        ReadHoldingsInput(chain_id=b.chain_id, keys=[], assets=sorted(b.base_before)),
                        result_type=Holdings,
                        start_to_close_timeout=READ_TIMEOUT,
                        retry_policy=RETRY,
                        summary=f"read the executor's base assets on chain {b.chain_id}",
                    )
                    for b in builds
                )
            )
        }
        proceeds = []
        for b in builds:
            for asset, before in sorted(b.base_before.items()):
                quoted = sum(s.quoted for s in b.swaps if s.to == asset)
                proceeds.append(
                    RewardProceeds(
                        chain_id=b.chain_id, asset=asset, quoted=quoted, realised=after[b.chain_id].idle[asset] - before
                    )
                )
        sales = [RewardSale(chain_id=b.chain_id, **s.model_dump()) for b in builds for s in b.swaps]
        kept = [RewardKept(chain_id=b.chain_id, **k.model_dump()) for b in builds for k in b.kept]
        ok = {p.chain_id for p in parts if p.status == "done"}
        summary = (
            f"rewards: {len(claims)} claimed from {len(claimed)} markets, {len(sales)} sales; "
            + ", ".join(
                f"chain {p.chain_id} {p.asset} quoted {units(p.quoted, decimals.get((p.chain_id, p.asset)), p.asset)}"
                f" realised {units(p.realised, decimals.get((p.chain_id, p.asset)), p.asset)}"
                for p in proceeds
            )
            + "".join(f"; {units(k.amount, None, k.symbol or k.token)} kept idle ({k.reason})" for k in kept)
            + "".join(f"; chain {p.chain_id} failed: {p.error}" for p in parts if p.status == "failed")
        )
        if not ok:
            claims, sales, kept = [], [], []  # the batches reverted: nothing was claimed or sold
        else:
            claims = [c for c in claims if c.key.chain_id in ok]
            sales = [s for s in sales if s.chain_id in ok]
            kept = [k for k in kept if k.chain_id in ok]
        chains_parts: list[ChainPart] = parts
        return {
            "chains": chains_parts,
            "summary": summary,
            "claims": claims,
            "sales": sales,
            "kept": kept,
            "proceeds": proceeds,
        }
