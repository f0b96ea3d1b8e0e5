"""Chain activities: thin wrappers that read the chain through their `Deps` and call floor.*.

The decisions of `build_moves` (what each move is, what fits, the order, the largest chunk
under the slippage limit) are pure functions in `floor.planning.moves`; errors leave as
`activities.errors.named_errors` names them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from activities.deps import ChainContext, Deps
from activities.errors import named_errors
from floor.adapters.base import Deposit, Slippage
from floor.calls import decode_result, read
from floor.chain.attester import deposits_in
from floor.chain.positions import read_positions
from floor.chain.prices import decode_prices, plan_prices
from floor.errors import InsufficientBalance
from floor.logging import get_logger
from floor.messages import BuildDepositsInput, BuildMovesInput, Holdings, ReadHoldingsInput, ReadPositionsInput
from floor.models import Call, Position, units
from floor.planning.moves import (
    check_assets,
    check_funds,
    chunk_candidates,
    delivery_calls,
    deposit_to_shrink,
    largest_chunk,
    move_action,
    planned_totals,
    quoted_exits,
    slippage_refusal,
    withdrawals_first,
    within_limit,
)
from floor.planning.rebalance import Holding
from floor.protocols.native_eth.errors import AttesterNotConfigured
from floor.readplan import ReadPlan


class ChainActivities:
    def __init__(self, deps: Deps):
        self.deps = deps

    def _log(self, chain_id: int, **bound):
        info = activity.info()
        return get_logger(chain_id=chain_id, workflow_id=info.workflow_id, activity=info.activity_type, **bound)

    @activity.defn
    @named_errors
    def read_positions(self, input: ReadPositionsInput) -> list[Position]:
        adapters = self.deps.adapters(input.chain_id, input.keys)
        positions = read_positions(self.deps.chain(input.chain_id).reader, adapters, self.deps.account(input.chain_id))
        self._log(input.chain_id).info(
            "positions read", markets=len(positions), block=positions[0].block_number if positions else None
        )
        return positions

    @activity.defn
    @named_errors
    def build_deposit_calls(self, input: BuildDepositsInput) -> list[list[Call]]:
        """One group of executor calls per deposit of one token, each guarded by a fresh quote
        and the configured slippage (refused before sending past it, as `build_moves` does),
        after checking the executor holds enough. The balance
        and every quote are read in one Multicall3 batch, at one block. A group must land
        whole; the workflow packs groups into batches."""
        ctx = self.deps.chain(input.chain_id)
        account = self.deps.account(input.chain_id)
        token = ctx.config.token(input.asset)
        adapters = self.deps.adapters(input.chain_id, [d.key for d in input.deposits])
        check_assets([d.key for d in input.deposits], adapters, input.asset)
        actions = [Deposit(d.amount) for d in input.deposits]
        plan = ReadPlan()
        plan.add("held", [read(token.address, "balanceOf(address)", account)])
        for i, (adapter, action) in enumerate(zip(adapters, actions, strict=True)):
            plan.add(("quote", i), adapter.quote_reads(action, account))
        results = plan.results(ctx.reader.read(plan.calls).results)
        (held,) = decode_result(["uint256"], results["held"][0], f"{token.symbol}.balanceOf(executor)")
        needed = sum(action.amount for action in actions)
        if held < needed:
            raise InsufficientBalance(
                f"executor {account} on chain {input.chain_id} holds {units(held, token.decimals, token.symbol)}, "
                f"the allocation needs {units(needed, token.decimals, token.symbol)}"
            )
        groups = []
        for i, (adapter, action) in enumerate(zip(adapters, actions, strict=True)):
            quote = adapter.decode_quote(action, results["quote", i])
            self._check_slippage(ctx, adapter, action, results["quote", i], account)
            groups.append(adapter.protected_calls(action, account, quote, self.deps.slippage_bps))
        return self._attested(input.chain_id, groups)

    @activity.defn
    @named_errors
    def read_holdings(self, input: ReadHoldingsInput) -> Holdings:
        """Every market's position, what can leave it now, its growth index, the executor's
        idle balance of each token and, when asked, each token's Chainlink price: one
        Multicall3 batch, one block. A token without a usable price (no feed, a stale or
        missing answer) fails the read by name (PriceUnavailable, PriceStale; not retried)."""
        ctx = self.deps.chain(input.chain_id)
        account = self.deps.account(input.chain_id)
        adapters = self.deps.adapters(input.chain_id, input.keys)
        tokens = [ctx.config.token(symbol) for symbol in input.assets]
        plan = ReadPlan()
        for i, adapter in enumerate(adapters):
            plan.add(("liquidity", i), adapter.liquidity_reads(account))
        for i, adapter in enumerate(adapters):
            plan.add(("rate", i), adapter.rate_reads())
        for t in tokens:
            plan.add(("idle", t.symbol), [read(t.address, "balanceOf(address)", account)])
        priced = plan_prices(plan, ctx.config, input.assets) if input.prices else []
        # What the store keeps is read at a block named by its hash: the reconciliation can tell
        # when a reorg later replaced it.
        batch = ctx.reader.read_pinned(plan.calls) if self.deps.store is not None else ctx.reader.read(plan.calls)
        results = plan.results(batch.results)
        prices = decode_prices(ctx.config, priced, results, batch) if priced else {}
        holdings, growth = [], {}
        for i, adapter in enumerate(adapters):
            holdings.append(Holding.read(adapter, adapter.decode_liquidity(results["liquidity", i])))
        for i, adapter in enumerate(adapters):
            growth[str(adapter.key)] = adapter.decode_rate(results["rate", i], batch.timestamp).growth_index
        idle = {}
        for token in tokens:
            (idle[token.symbol],) = decode_result(
                ["uint256"], results["idle", token.symbol][0], f"{token.symbol}.balanceOf(executor)"
            )
        if self.deps.store is not None:
            self._snapshot(
                input.chain_id, holdings, growth, batch, {t.symbol: (t.decimals, idle[t.symbol]) for t in tokens}
            )
        return Holdings(
            chain_id=input.chain_id,
            block_number=batch.block_number,
            timestamp=batch.timestamp,
            holdings=holdings,
            idle=idle,
            growth=growth,
            prices=prices,
        )

    def _snapshot(
        self, chain_id: int, holdings: list[Holding], growth: dict[str, int], batch, idle: dict[str, tuple[int, int]]
    ) -> None:
        """The positions and idle balances (token -> (decimals, amount)) just read, as the
        store's snapshot; keyed by this activity, so a retry writes nothing twice."""
        from floor.reconcile import idle_key
        from floor.store.tables import PositionSnapshot

        info = activity.info()
        taken_at = datetime.fromtimestamp(batch.timestamp, UTC)
        rows = [(str(h.key), h.asset, h.decimals, h.amount, growth.get(str(h.key))) for h in holdings]
        rows += [(idle_key(chain_id, symbol), symbol, d, amount, None) for symbol, (d, amount) in idle.items()]
        self.deps.store.record_snapshot(
            [
                PositionSnapshot(
                    snapshot_id=f"{info.workflow_id}/{info.activity_id}",
                    operation_id=info.workflow_id,
                    chain_id=chain_id,
                    market=market,
                    asset=asset,
                    decimals=decimals,
                    amount=amount,
                    growth_index=index,
                    block_number=batch.block_number,
                    block_hash=batch.block_hash,
                    taken_at=taken_at,
                )
                for market, asset, decimals, amount, index in rows
            ]
        )

    @activity.defn
    @named_errors
    def build_moves(self, input: BuildMovesInput) -> list[list[Call]]:
        """One group of guarded executor calls per move of one token on one chain, withdrawals
        before deposits, and the delivery (a transfer to a listed destination) last.

        Checked against a fresh read before anything is built: every withdrawal fits what
        the market lets the executor take now, and deposits plus the delivery fit the idle
        balance plus what the withdrawals free. Quotes come from the same reads' block."""
        ctx = self.deps.chain(input.chain_id)
        account = self.deps.account(input.chain_id)
        token = ctx.config.token(input.asset)
        adapters = self.deps.adapters(input.chain_id, [m.key for m in input.moves])
        check_assets([m.key for m in input.moves], adapters, input.asset)
        plan = ReadPlan()
        plan.add("idle", [read(token.address, "balanceOf(address)", account)])
        for i, adapter in enumerate(adapters):
            plan.add(("liquidity", i), adapter.liquidity_reads(account))
            plan.add(("position", i), adapter.position_reads(account))
        state = plan.results(ctx.reader.read(plan.calls).results)
        (idle,) = decode_result(["uint256"], state["idle"][0], f"{token.symbol}.balanceOf(executor)")
        actions = [
            move_action(
                move,
                adapter.decode_liquidity(state["liquidity", i]),
                adapter.decode_position(state["position", i]),
                token,
            )
            for i, (move, adapter) in enumerate(zip(input.moves, adapters, strict=True))
        ]
        needed, freed = planned_totals(actions)
        quote_plan = ReadPlan()
        for i, (adapter, action) in enumerate(zip(adapters, actions, strict=True)):
            quote_plan.add(i, adapter.quote_reads(action, account))
        quotes = quote_plan.results(ctx.reader.read(quote_plan.calls).results if len(quote_plan) else [])
        protected = [
            self._protected(ctx, adapter, action, quotes[i], account)
            for i, (adapter, action) in enumerate(zip(adapters, actions, strict=True))
        ]
        groups = [calls for calls, _ in protected]
        paid_beyond_plan, exits_short = quoted_exits(actions, [slippage for _, slippage in protected])
        freed += paid_beyond_plan
        delivery = input.deliver.amount if input.deliver else 0
        short = needed + delivery - idle - freed
        j = deposit_to_shrink(actions, short, exits_short)
        if j is not None:
            actions[j] = Deposit(actions[j].amount - short)
            fresh = ctx.reader.read(adapters[j].quote_reads(actions[j], account)).results
            groups[j] = self._protected(ctx, adapters[j], actions[j], fresh, account)[0]
            needed -= short
        check_funds(idle, freed, needed, delivery, token, account, input.chain_id)
        groups = withdrawals_first(groups, actions)
        if input.deliver:
            groups.append(delivery_calls(input.deliver, ctx.config.destinations, token, input.chain_id))
        return self._attested(input.chain_id, groups)

    def _attested(self, chain_id: int, groups: list[list[Call]]) -> list[list[Call]]:
        """A group that stakes validators starts with the attester's vouching that no deposit
        exists for their keys (the executor's `attestDeposit`): without it the executor refuses
        the deposits, and a front-run since makes them revert."""
        contracts = {
            m.deposit_contract.lower() for m in self.deps.chain(chain_id).config.markets if m.adapter == "native_eth"
        }
        out = []
        for group in groups:
            deposits = deposits_in(group, contracts) if contracts else []
            if deposits:
                if self.deps.attester is None:
                    raise AttesterNotConfigured(
                        f"chain {chain_id}: validator deposits need the deposit attester (set attester.url)"
                    )
                group = [self.deps.attester(chain_id, deposits).call(self.deps.account(chain_id)), *group]
            out.append(group)
        return out

    def _protected(self, ctx: ChainContext, adapter, action, quote, account: str) -> tuple[list[Call], Slippage | None]:
        """The action's calls bound by its quote (`quote`: the results of its `quote_reads`), once
        the quote's slippage is within the limit; and that slippage, when the market has one."""
        expected = adapter.decode_quote(action, quote)
        slippage = self._check_slippage(ctx, adapter, action, quote, account)
        return adapter.protected_calls(action, account, expected, self.deps.slippage_bps), slippage

    def _check_slippage(self, ctx: ChainContext, adapter, action, quote, account: str) -> Slippage | None:
        """Refuse, before anything is sent, an action whose quote loses more than the limit
        against its fair value, naming the figures and the largest chunk that stays under it
        (halvings of the amount, quoted in one batch). The slippage, when the market has one."""
        slippage = adapter.slippage(action, quote)
        if within_limit(slippage, self.deps.slippage_bps):
            return slippage
        has_amount = getattr(action, "amount", None) is not None
        chunk = self._largest_chunk(ctx, adapter, action, account) if has_amount else None
        raise slippage_refusal(adapter, action, slippage, self.deps.slippage_bps, chunk)

    def _largest_chunk(self, ctx: ChainContext, adapter, action, account: str) -> tuple[int, int] | None:
        candidates = chunk_candidates(action)
        plan = ReadPlan()
        for i, candidate in enumerate(candidates):
            plan.add(i, adapter.quote_reads(candidate, account))
        results = plan.results(ctx.reader.read(plan.calls).results)
        return largest_chunk(adapter, candidates, [results[i] for i in range(len(candidates))], self.deps.slippage_bps)

    def all(self) -> list:
        return [
            self.read_positions,
            self.build_deposit_calls,
            self.read_holdings,
            self.build_moves,
        ]
