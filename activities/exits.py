"""Queued-exit activities of a capital request: build the request phase's batch, find the
requests it made, follow their status, and build the claim that delivers.

Only exit queues whose payout the executor claims itself are supported (`CLAIMABLE_QUEUES`:
Lido's WithdrawalQueueERC721, through `LidoAdapter` and `floor.protocols.lido.requests`);
any other queued market is refused by name (`QueuedExitUnsupported`) before anything is
built. The request ids come from the mined transactions' own `WithdrawalRequested` logs
(requestor and owner the executor), so a request someone else made for the executor is
never taken for one of the engine's, and never claimed by it (`floor.protocols.lido.withdrawal_logs`).
"""

from __future__ import annotations

from temporalio import activity

from activities.deps import Deps
from activities.errors import named_errors
from floor.adapters.base import Action, Withdraw, WithdrawAll
from floor.calls import call, decode_result, read
from floor.errors import BadInput, FloorError, InsufficientBalance, InsufficientLiquidity
from floor.guards import ETH, Expected, guarded
from floor.models import Call, units
from floor.operations import (
    BuildClaimInput,
    BuildExitsInput,
    ClaimBuild,
    ExitRequest,
    ExitsMadeInput,
    ReadExitsInput,
)
from floor.permissions import TRANSFER
from floor.planning.capital import QueuedExitUnsupported
from floor.planning.exit import (
    ExitLine,
    ExitPlan,
    ExitStep,
    FullExitInput,
    plan_exit,
    quoted_line,
    refused_line,
    sale_tokens,
    split_sale,
)
from floor.planning.moves import check_destination
from floor.planning.rebalance import Holding
from floor.protocols.lido.adapter import LidoAdapter
from floor.protocols.lido.errors import RequestNotFinalized
from floor.protocols.lido.instant_exit import CurveEthExit, InstantExits, instant_withdrawable
from floor.protocols.lido.requests import read_requests
from floor.protocols.lido.withdrawal_logs import requests_made
from floor.readplan import ReadPlan


class ExitActivities:
    def __init__(self, deps: Deps):
        self.deps = deps

    def _queue(self, key) -> LidoAdapter:
        adapter = self.deps.registry.get(key)
        if not isinstance(adapter, LidoAdapter):
            raise QueuedExitUnsupported(
                f"{key}: a capital request can follow only a queued exit the executor claims itself "
                f"(Lido's withdrawal queue); this market's exit is {adapter.exit}"
            )
        return adapter

    @activity.defn
    @named_errors
    def build_capital_exits(self, input: BuildExitsInput) -> list[list[Call]]:
        """One group per part, in order (instant withdrawals, then queued exit requests), and
        the transfer last when `deliver` is set. Checked against one fresh read: each instant
        withdrawal fits what its market lets go now, each queued exit fits the position, and
        the transfer fits the idle balance plus what the instant withdrawals free."""
        ctx = self.deps.chain(input.chain_id)
        account = self.deps.account(input.chain_id)
        token = ctx.config.token(input.asset)
        adapters = []
        for part in input.parts:
            adapter = self._queue(part.key) if part.queued else self.deps.registry.get(part.key)
            if adapter.asset.symbol != input.asset:
                raise BadInput(f"{part.key} takes {adapter.asset.symbol}, not {input.asset}")
            if not part.queued and adapter.exit != "instant":
                raise BadInput(f"{part.key} has no instant exit: plan it as a queued one")
            adapters.append(adapter)
        plan = ReadPlan()
        plan.add("idle", [read(token.address, "balanceOf(address)", account)])
        for i, adapter in enumerate(adapters):
            plan.add(("liquidity", i), adapter.liquidity_reads(account))
            plan.add(("position", i), adapter.position_reads(account))
        state = plan.results(ctx.reader.read(plan.calls).results)
        (idle,) = decode_result(["uint256"], state["idle"][0], f"{token.symbol}.balanceOf(executor)")
        # Quoted with the positions just read: a Balancer exit sizes the BPT it burns from its position.
        actions = [
            Withdraw(part.amount, adapter.decode_position(state["position", i]))
            for i, (part, adapter) in enumerate(zip(input.parts, adapters, strict=True))
        ]
        quotes = ReadPlan()
        for i, (adapter, action) in enumerate(zip(adapters, actions, strict=True)):
            quotes.add(i, adapter.quote_reads(action, account))
        quoted = quotes.results(ctx.reader.read(quotes.calls).results if len(quotes) else [])
        groups, freed = [], 0
        for i, (part, adapter) in enumerate(zip(input.parts, adapters, strict=True)):
            liquidity = adapter.decode_liquidity(state["liquidity", i])
            can = liquidity.position if part.queued else liquidity.withdrawable
            if part.amount > can:
                what = "queue an exit of" if part.queued else "take"
                raise InsufficientLiquidity(
                    f"{part.key}: the capital request needs {units(part.amount, token.decimals, token.symbol)}; "
                    f"the executor can {what} {units(can, token.decimals, token.symbol)} now"
                )
            quote = adapter.decode_quote(actions[i], quoted[i])
            groups.append(adapter.protected_calls(actions[i], account, quote, self.deps.slippage_bps))
            if not part.queued:  # what the exit pays (a pool's exit: its quote, the amount or a little more)
                freed += next((e.delta for e in quote if e.token.lower() == token.address.lower()), part.amount)
        if input.deliver:
            check_destination(input.destination, ctx.config.destinations, input.chain_id)
            if idle + freed < input.deliver:
                raise InsufficientBalance(
                    f"executor {account} on chain {input.chain_id} holds {units(idle, token.decimals, token.symbol)} "
                    f"and the instant withdrawals free {units(freed, token.decimals, token.symbol)}; the delivery "
                    f"needs {units(input.deliver, token.decimals, token.symbol)}"
                )
            groups.append([call(token.address, TRANSFER, input.destination, input.deliver)])
        return groups

    @activity.defn
    @named_errors
    def exit_requests_made(self, input: ExitsMadeInput) -> list[ExitRequest]:
        """The requests these mined transactions made in `key`'s queue for the executor, from
        their `WithdrawalRequested(requestId, requestor, owner, amountOfStETH, shares)` logs."""
        adapter = self._queue(input.key)
        ctx = self.deps.chain(input.chain_id)
        account = self.deps.account(input.chain_id)
        made = []
        for tx_hash in input.tx_hashes:
            receipt = ctx.w3.eth.get_transaction_receipt(tx_hash)
            made += [
                ExitRequest(id=r.id, amount=r.amount)
                for r in requests_made(receipt["logs"], adapter.withdrawal_queue, account)
            ]
        return sorted(made, key=lambda r: r.id)

    @activity.defn
    @named_errors
    def read_exit_requests(self, input: ReadExitsInput) -> list[ExitRequest]:
        """The status of `ids` (the executor's requests in `key`'s queue): pending, finalised
        with what a claim pays now, or claimed (no longer among the executor's requests)."""
        adapter = self._queue(input.key)
        ctx = self.deps.chain(input.chain_id)
        unclaimed = {r.id: r for r in read_requests(ctx.reader, adapter, self.deps.account(input.chain_id))}
        out = []
        for i in input.ids:
            r = unclaimed.get(i)
            if r is None:
                out.append(ExitRequest(id=i, amount=0, status="claimed"))
            else:
                status = "finalized" if r.finalized else "pending"
                out.append(ExitRequest(id=i, amount=r.amount, status=status, claimable=r.claimable))
        return out

    @activity.defn
    @named_errors
    def build_exit_claim(self, input: BuildClaimInput) -> ClaimBuild:
        """The claim of `ids` (every one finalised and unclaimed, read now), guarded so the
        executor's asset rises by exactly what the queue pays and no ETH stays unwrapped, then
        the transfer of `deliver` (or of what the executor has, if less: the result says so)."""
        adapter = self._queue(input.key)
        ctx = self.deps.chain(input.chain_id)
        account = self.deps.account(input.chain_id)
        token = ctx.config.token(input.asset)
        if adapter.asset.symbol != input.asset:
            raise BadInput(f"{input.key} pays {adapter.asset.symbol}, not {input.asset}")
        if input.deliver:
            check_destination(input.destination, ctx.config.destinations, input.chain_id)
        unclaimed = {r.id: r for r in read_requests(ctx.reader, adapter, account)}
        missing = [i for i in input.ids if i not in unclaimed]
        if missing:
            raise QueuedExitUnsupported(
                f"{input.key}: requests {missing} are no longer the executor's to claim (claimed already?)"
            )
        waiting = [i for i in input.ids if not unclaimed[i].finalized]
        if waiting:
            raise RequestNotFinalized(f"{input.key}: requests {waiting} are not finalised yet")
        ids = sorted(input.ids)
        hints = [unclaimed[i].hint for i in ids]
        claimable = sum(unclaimed[i].claimable for i in ids)
        (idle,) = decode_result(
            ["uint256"],
            ctx.reader.read([read(token.address, "balanceOf(address)", account)]).results[0],
            f"{token.symbol}.balanceOf(executor)",
        )
        claim = guarded(
            account,
            adapter.claim_withdrawal_calls(ids, hints, claimable, account),
            [Expected(token.address, claimable), Expected(ETH, 0)],
            0,
        )
        deliver = min(input.deliver, idle + claimable)
        groups = [claim]
        if deliver:
            groups.append([call(token.address, TRANSFER, input.destination, deliver)])
        return ClaimBuild(groups=groups, claimable=claimable, idle=idle, deliver=deliver)

    @activity.defn
    @named_errors
    def build_full_exit(self, input: FullExitInput) -> ExitPlan:
        """The full exit of `keys` on one chain (`floor.planning.exit`): positions and
        liquidity in one read; what each staking token's instant-exit pool pays within the
        slippage limit (its ladder of quotes) in a second; every step's quote in a third, each
        step built with its quote-guarded calls (`protected_calls`, the slippage limit) unless
        the market refuses it now or its quote is past the limit (the line says which)."""
        ctx = self.deps.chain(input.chain_id)
        account = self.deps.account(input.chain_id)
        limit = self.deps.slippage_bps
        adapters = {a.key: a for a in self.deps.adapters(input.chain_id, input.keys)}
        plan = ReadPlan()
        for key, adapter in adapters.items():
            plan.add(("liquidity", key), adapter.liquidity_reads(account))
            plan.add(("position", key), adapter.position_reads(account))
        tokens = {a.asset.symbol: a.asset.address for a in adapters.values()}
        for symbol, address in tokens.items():
            plan.add(("idle", symbol), [read(address, "balanceOf(address)", account)])
        pools = {key: pool for key, a in adapters.items() if (pool := _pool(a)) is not None}
        for key, pool in pools.items():
            plan.add(("staked", key), [read(pool.token, "balanceOf(address)", account)])
        batch = ctx.reader.read(plan.calls)
        state = plan.results(batch.results)
        idle = {
            symbol: decode_result(["uint256"], state["idle", symbol][0], f"{symbol}.balanceOf(executor)")[0]
            for symbol in tokens
        }
        holdings, positions = [], {}
        for key, adapter in adapters.items():
            holdings.append(Holding.read(adapter, adapter.decode_liquidity(state["liquidity", key])))
            positions[key] = adapter.decode_position(state["position", key])
        held = {
            key: decode_result(["uint256"], state["staked", key][0], f"{key} {pool.symbol}.balanceOf(executor)")[0]
            for key, pool in pools.items()
        }
        steps = self._with_sales(ctx.reader, plan_exit(holdings), adapters, held, limit)
        quotes = ReadPlan()
        actions: dict[int, Action] = {}
        for i, step in enumerate(steps):
            if step.action == "sell":
                quotes.add(i, _pool(adapters[step.key]).quote_reads(step.tokens, account))
            elif step.action != "none":
                actions[i] = exit_action(step, positions[step.key])
                quotes.add(i, adapters[step.key].quote_reads(actions[i], account))
        quoted = quotes.results(ctx.reader.read(quotes.calls).results if len(quotes) else [])
        lines: list[ExitLine] = []
        groups = []
        for i, step in enumerate(steps):
            if step.action == "none":
                lines.append(ExitLine(step=step, fair=step.position))
                continue
            adapter = adapters[step.key]
            try:
                if step.action == "sell":
                    line, calls = _sale_line(step, _pool(adapter), quoted[i], account, limit)
                else:
                    expected = adapter.decode_quote(actions[i], quoted[i])
                    slippage = adapter.slippage(actions[i], quoted[i])
                    line = quoted_line(step, expected, slippage, adapter.asset.address, limit)
                    calls = adapter.protected_calls(actions[i], account, expected, limit) if line.built else []
                if line.built:
                    groups.append(calls)
                    line = line.model_copy(update={"group": len(groups) - 1})
            except FloorError as exc:  # the market's named refusal: this step waits, the others go
                line = refused_line(step, exc)
            lines.append(line)
        return ExitPlan(
            chain_id=input.chain_id,
            lines=lines,
            groups=groups,
            limit_bps=limit,
            idle=idle,
            block_number=batch.block_number,
        )

    def _with_sales(self, reader, steps: list[ExitStep], adapters: dict, held: dict, limit: int) -> list[ExitStep]:
        """Steps whose staking token has an instant-exit pool, split into the largest sale the
        pool pays within `limit` (one read of each pool's ladder of quotes) and the rest; a step
        the pool cannot help says why in its reason. `held`: each such market's token balance."""
        ladders = ReadPlan()
        offers: dict[int, int] = {}
        for i, step in enumerate(steps):
            pool = _pool(adapters[step.key])
            tokens = sale_tokens(step, held.get(step.key, 0)) if pool is not None and step.paid_by == "claim" else 0
            if tokens > 0 and pool is not None:
                offers[i] = tokens
                ladders.add(i, pool.ladder_reads(tokens))
        if not offers:
            return steps
        results = ladders.results(reader.read(ladders.calls).results)
        out: list[ExitStep] = []
        for i, step in enumerate(steps):
            if i not in offers:
                out.append(step)
                continue
            pool = _pool(adapters[step.key])
            ladder = pool.decode_ladder(offers[i], results[i])
            best = instant_withdrawable(ladder, limit)
            if best is None:
                cheapest = min(ladder, key=lambda q: q.amount)
                why = (
                    f"the instant-exit pool pays {cheapest.discount_bps} bps under fair value for even "
                    f"{cheapest.amount} of {offers[i]}, past the {limit} bps limit"
                )
                out.append(step.model_copy(update={"reason": "; ".join(r for r in (step.reason, why) if r)}))
                continue
            out += split_sale(step, best.amount, best.fair)
        return out

    def all(self) -> list:
        return [
            self.build_capital_exits,
            self.exit_requests_made,
            self.read_exit_requests,
            self.build_exit_claim,
            self.build_full_exit,
        ]


def _pool(adapter) -> CurveEthExit | None:
    """The market's instant-exit pool, if it is a staking market that names one."""
    return adapter.instant_exit if isinstance(adapter, InstantExits) else None


def _sale_line(
    step: ExitStep, pool: CurveEthExit | None, results, account: str, limit: int
) -> tuple[ExitLine, list[Call]]:
    """A sale's line and calls from the pool's fresh quote of exactly what it sells: bound to
    the limit both against fair value (refused past it) and between quote and send (min_out)."""
    if pool is None:
        raise BadInput(f"{step.key}: no instant-exit pool to sell through")
    quote = pool.decode_quote(step.tokens, results, limit, max_discount_bps=limit)
    line = ExitLine(
        step=step,
        quoted=quote.quoted,
        fair=quote.fair,
        min_out=quote.min_out,
        slippage_bps=quote.discount_bps,
        built=True,
    )
    return line, pool.exit_calls(quote, account)


def exit_action(step: ExitStep, position) -> Action:
    """A step's adapter action: all of the position (a request of all of it, for a queue), or
    the part that can leave now (or that the queue takes after a sale)."""
    if step.action == "withdraw" or step.amount < step.position:
        return Withdraw(step.amount, position)
    return WithdrawAll(position)
