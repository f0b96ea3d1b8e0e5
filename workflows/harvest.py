"""HarvestWorkflow: measure what every position earned since the last harvest, by source.

Yield that compounds in place is measured, not moved: an aToken's balance grows with the
liquidity index ("rebase"), a vault's shares with its share price ("exchange_rate"). Both
are read as growth indexes; a market's yield since the baseline is its amount now less the
same claim valued at the baseline's index. Markets that pay claimable reward tokens would be
claimed, swapped to the base asset with a min-out and compounded here; no market of the
floor's current adapters pays any, so there is no claim step yet (rather than one that
claims nothing).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows.operation import OperationBase, validated
from workflows.rebalance import read_holdings

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.operations import HarvestInput, HarvestResult, YieldLine


def accrued(amount: int, index_now: int, index_then: int) -> int:
    """Base units earned by a claim worth `amount` now, since its index was `index_then`."""
    if index_now <= 0 or index_then <= 0:
        return 0
    return amount - amount * index_then // index_now


@workflow.defn(failure_exception_types=[FloorError])
class HarvestWorkflow(OperationBase):
    @workflow.run
    async def run(self, raw: Any) -> HarvestResult:
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
        self.stage = "done"
        if not input.baseline:
            summary = f"baseline set for {len(baseline)} markets; the next harvest reports yield since now"
        else:
            summary = "yield since the last harvest: " + (
                ", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "no positions"
            )
        return await self.finish(
            HarvestResult(
                status="done",
                summary=summary,
                positions={str(h.key): h.amount for chain in read for h in chain.holdings},
                yields=yields,
                totals=totals,
                baseline=baseline,
            )
        )
