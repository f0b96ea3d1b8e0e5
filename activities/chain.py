"""Chain activities: thin wrappers that get their dependencies injected and call floor.*.

Errors leave an activity as an ApplicationError named for the failure. A `FloorError` keeps
its own verdict (bad input, a revert found by gas estimation, a mined transaction that
failed, a nonce taken by someone else: non-retryable; a transport fault: retryable); any
other exception is an unexpected fault and is retried. Messages are scrubbed of registered
secrets (RPC URLs' keys) before they enter Temporal's history.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError, FailureError
from web3 import Web3

from floor.adapters.base import Deposit, PositionReading, Slippage, Withdraw, WithdrawAll
from floor.adapters.registry import AdapterRegistry
from floor.calls import call, decode_result, read
from floor.chain.attester import AttesterClient, deposits_in
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions
from floor.chain.prices import decode_prices, plan_prices
from floor.chain.rpc import connect
from floor.chain.signer import Signer
from floor.config import ChainConfig, Settings
from floor.errors import BadInput, FloorError, InsufficientBalance, InsufficientLiquidity, SlippageTooHigh, UnknownChain
from floor.logging import get_logger, scrub
from floor.messages import BuildDepositsInput, BuildMovesInput, Holdings, ReadHoldingsInput, ReadPositionsInput
from floor.models import Call, Position, units
from floor.permissions import TRANSFER
from floor.protocols.native_eth.errors import AttesterNotConfigured
from floor.protocols.native_eth.position import with_beacon_views
from floor.readplan import ReadPlan
from floor.risk.rebalance import Holding


def _named_errors(fn):
    """Map errors to Temporal errors named for the failure, retryable as the failure means.

    `from None`: the original exception's text (which may quote a URL) stays out of the
    history; its traceback goes to the worker's log, where secrets are scrubbed.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FailureError:  # Temporal's own (a cancellation, an ApplicationError): as they are
            raise
        except FloorError as exc:
            raise ApplicationError(scrub(str(exc)), type=type(exc).__name__, non_retryable=not exc.retryable) from None
        except Exception as exc:
            get_logger(activity=fn.__name__).warning("activity failed; it will be retried", exc_info=True)
            raise ApplicationError(scrub(f"{type(exc).__name__}: {exc}"), type=type(exc).__name__) from None

    return wrapper


@dataclass
class ChainContext:
    config: ChainConfig
    w3: Web3
    reader: MulticallReader


class ChainActivities:
    def __init__(
        self, settings: Settings, signer: Signer | None, web3s: dict[int, Web3] | None = None, store=None, attester=None
    ):
        self.settings = settings
        # Asks the deposit attester's process to vouch for validator deposits (floor.chain.attester).
        self.attester = attester or (AttesterClient(settings.attester.url) if settings.attester.url else None)
        # floor.store.Store: every read of holdings becomes a snapshot, the reconciliation's
        # cache. floor-worker always has one; a test worker without one records nothing.
        self.store = store
        self.registry = AdapterRegistry.from_settings(settings)
        self.signer = signer
        self.slippage_bps = settings.strategy.max_slippage_bps
        self.chains: dict[int, ChainContext] = {}
        self.beacons: dict = {}  # Beacon API clients by URL (native ETH)
        for chain in settings.chains:
            w3 = (web3s or {}).get(chain.id) or connect(chain.rpc_urls, chain.rpc_timeout_s, chain_id=chain.id)
            reader = MulticallReader(w3, chain.multicall3, gas_cap=chain.multicall_gas_cap)
            self.chains[chain.id] = ChainContext(chain, w3, reader)

    def _chain(self, chain_id: int) -> ChainContext:
        if chain_id not in self.chains:
            raise UnknownChain(f"chain {chain_id} is not configured (configured: {sorted(self.chains)})")
        return self.chains[chain_id]

    def adapters(self, chain_id: int, keys) -> list:
        """The markets' adapters, native ETH's with its validators' beacon snapshot (one Beacon
        API request), so its position is the consensus layer's and a deposit takes the next
        validator not yet known there."""
        return with_beacon_views(self._chain(chain_id).reader, [self.registry.get(k) for k in keys], self.beacons)

    def _account(self, chain_id: int) -> str:
        """The executor contract: the account whose positions the engine reads and moves."""
        account = self._chain(chain_id).config.executor
        if account is None:
            raise UnknownChain(f"chain {chain_id} has no executor address configured")
        return account

    def _log(self, chain_id: int, **bound):
        info = activity.info()
        return get_logger(chain_id=chain_id, workflow_id=info.workflow_id, activity=info.activity_type, **bound)

    @activity.defn
    @_named_errors
    def read_positions(self, input: ReadPositionsInput) -> list[Position]:
        adapters = self.adapters(input.chain_id, input.keys)
        positions = read_positions(self._chain(input.chain_id).reader, adapters, self._account(input.chain_id))
        self._log(input.chain_id).info(
            "positions read", markets=len(positions), block=positions[0].block_number if positions else None
        )
        return positions

    @activity.defn
    @_named_errors
    def build_deposit_calls(self, input: BuildDepositsInput) -> list[list[Call]]:
        """One group of executor calls per deposit of one token, each guarded by a fresh quote
        and the configured slippage (refused before sending past it, as `build_moves` does),
        after checking the executor holds enough. The balance
        and every quote are read in one Multicall3 batch, at one block. A group must land
        whole; the workflow packs groups into batches."""
        ctx = self._chain(input.chain_id)
        account = self._account(input.chain_id)
        token = ctx.config.token(input.asset)
        adapters = self.adapters(input.chain_id, [d.key for d in input.deposits])
        for deposit, adapter in zip(input.deposits, adapters, strict=True):
            if adapter.asset.symbol != input.asset:
                raise BadInput(f"{deposit.key} takes {adapter.asset.symbol}, not {input.asset}")
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
            groups.append(adapter.protected_calls(action, account, quote, self.slippage_bps))
        return self._attested(input.chain_id, groups)

    @activity.defn
    @_named_errors
    def read_holdings(self, input: ReadHoldingsInput) -> Holdings:
        """Every market's position, what can leave it now, its growth index, the executor's
        idle balance of each token and, when asked, each token's Chainlink price: one
        Multicall3 batch, one block. A token without a usable price (no feed, a stale or
        missing answer) fails the read by name (PriceUnavailable, PriceStale; not retried)."""
        ctx = self._chain(input.chain_id)
        account = self._account(input.chain_id)
        adapters = self.adapters(input.chain_id, input.keys)
        tokens = [ctx.config.token(symbol) for symbol in input.assets]
        plan = ReadPlan()
        for i, adapter in enumerate(adapters):
            plan.add(("liquidity", i), adapter.liquidity_reads(account))
        for i, adapter in enumerate(adapters):
            plan.add(("rate", i), adapter.rate_reads())
        for t in tokens:
            plan.add(("idle", t.symbol), [read(t.address, "balanceOf(address)", account)])
        priced = plan_prices(plan, ctx.config, input.assets) if input.prices else []
        batch = ctx.reader.read(plan.calls)
        results = plan.results(batch.results)
        prices = decode_prices(ctx.config, priced, results, batch) if priced else {}
        holdings, growth = [], {}
        for i, adapter in enumerate(adapters):
            liquidity = adapter.decode_liquidity(results["liquidity", i])
            holdings.append(
                Holding(
                    key=adapter.key,
                    asset=adapter.asset.symbol,
                    decimals=adapter.asset.decimals,
                    amount=liquidity.position,
                    withdrawable=liquidity.withdrawable,
                    exit=adapter.exit,
                    exit_wait_s=adapter.exit_wait_s,
                    yield_source=adapter.yield_source,
                )
            )
        for i, adapter in enumerate(adapters):
            growth[str(adapter.key)] = adapter.decode_rate(results["rate", i], batch.timestamp).growth_index
        idle = {}
        for token in tokens:
            (idle[token.symbol],) = decode_result(
                ["uint256"], results["idle", token.symbol][0], f"{token.symbol}.balanceOf(executor)"
            )
        if self.store is not None:
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
        self.store.record_snapshot(
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
                    taken_at=taken_at,
                )
                for market, asset, decimals, amount, index in rows
            ]
        )

    @activity.defn
    @_named_errors
    def build_moves(self, input: BuildMovesInput) -> list[list[Call]]:
        """One group of guarded executor calls per move of one token on one chain, withdrawals
        before deposits, and the delivery (a transfer to a listed destination) last.

        Checked against a fresh read before anything is built: every withdrawal fits what
        the market lets the executor take now, and deposits plus the delivery fit the idle
        balance plus what the withdrawals free. Quotes come from the same reads' block."""
        ctx = self._chain(input.chain_id)
        account = self._account(input.chain_id)
        token = ctx.config.token(input.asset)
        adapters = self.adapters(input.chain_id, [m.key for m in input.moves])
        for move, adapter in zip(input.moves, adapters, strict=True):
            if adapter.asset.symbol != input.asset:
                raise BadInput(f"{move.key} takes {adapter.asset.symbol}, not {input.asset}")
        plan = ReadPlan()
        plan.add("idle", [read(token.address, "balanceOf(address)", account)])
        for i, adapter in enumerate(adapters):
            plan.add(("liquidity", i), adapter.liquidity_reads(account))
            plan.add(("position", i), adapter.position_reads(account))
        state = plan.results(ctx.reader.read(plan.calls).results)
        (idle,) = decode_result(["uint256"], state["idle"][0], f"{token.symbol}.balanceOf(executor)")
        actions, freed, needed = [], 0, 0
        for i, (move, adapter) in enumerate(zip(input.moves, adapters, strict=True)):
            liquidity = adapter.decode_liquidity(state["liquidity", i])
            position: PositionReading = adapter.decode_position(state["position", i])
            if move.action == "deposit":
                actions.append(Deposit(move.amount))
                needed += move.amount
                continue
            wanted = move.amount if move.action == "withdraw" else position.amount
            if wanted > liquidity.withdrawable:
                why = f": {liquidity.reason}" if liquidity.reason else ""
                what = units(wanted, token.decimals, token.symbol)
                raise InsufficientLiquidity(
                    f"{move.key}: withdrawing {'' if move.action == 'withdraw' else 'all '}{what}, "
                    f"the market lets the executor take {units(liquidity.withdrawable, token.decimals, token.symbol)}"
                    f" now{why}"
                )
            actions.append(Withdraw(move.amount, position) if move.action == "withdraw" else WithdrawAll(position))
            freed += wanted
        quote_plan = ReadPlan()
        for i, (adapter, action) in enumerate(zip(adapters, actions, strict=True)):
            quote_plan.add(i, adapter.quote_reads(action, account))
        quotes = quote_plan.results(ctx.reader.read(quote_plan.calls).results if len(quote_plan) else [])
        groups, exits_short = [], 0
        for i, (adapter, action) in enumerate(zip(adapters, actions, strict=True)):
            calls, slippage = self._protected(ctx, adapter, action, quotes[i], account)
            if slippage is not None and not isinstance(action, Deposit):
                # A pool's exit pays its quote, not the amount planned: a Balancer exit burns
                # whole BPT (the amount or a little more), a full exit pays below fair value.
                planned = action.amount if isinstance(action, Withdraw) else action.position.amount
                freed += slippage.quoted - planned
                exits_short += max(planned - slippage.quoted, 0)
            groups.append(calls)
        delivery = input.deliver.amount if input.deliver else 0
        short = needed + delivery - idle - freed
        if 0 < short <= exits_short:
            # The exits pay less than planned: the largest deposit takes what they give.
            deposits = [i for i, a in enumerate(actions) if isinstance(a, Deposit)]
            j = max(deposits, key=lambda i: actions[i].amount, default=None)
            if j is not None and actions[j].amount > short:
                actions[j] = Deposit(actions[j].amount - short)
                fresh = ctx.reader.read(adapters[j].quote_reads(actions[j], account)).results
                groups[j] = self._protected(ctx, adapters[j], actions[j], fresh, account)[0]
                needed -= short
        if idle + freed < needed + delivery:
            raise InsufficientBalance(
                f"executor {account} on chain {input.chain_id} holds {units(idle, token.decimals, token.symbol)} "
                f"and the withdrawals free {units(freed, token.decimals, token.symbol)}; deposits and delivery need "
                f"{units(needed + delivery, token.decimals, token.symbol)}"
            )
        # Withdrawals first, so deposits and the delivery spend what they freed.
        order = sorted(range(len(groups)), key=lambda i: isinstance(actions[i], Deposit))
        groups = [groups[i] for i in order]
        if input.deliver:
            destination = input.deliver.destination
            if destination.lower() not in [d.lower() for d in ctx.config.destinations]:
                raise BadInput(f"{destination} is not a listed destination on chain {input.chain_id}")
            groups.append([call(token.address, TRANSFER, destination, input.deliver.amount)])
        return self._attested(input.chain_id, groups)

    def _attested(self, chain_id: int, groups: list[list[Call]]) -> list[list[Call]]:
        """A group that stakes validators starts with the attester's vouching that no deposit
        exists for their keys (the executor's `attestDeposit`): without it the executor refuses
        the deposits, and a front-run since makes them revert."""
        contracts = {
            m.deposit_contract.lower() for m in self._chain(chain_id).config.markets if m.adapter == "native_eth"
        }
        out = []
        for group in groups:
            deposits = deposits_in(group, contracts) if contracts else []
            if deposits:
                if self.attester is None:
                    raise AttesterNotConfigured(
                        f"chain {chain_id}: validator deposits need the deposit attester (set attester.url)"
                    )
                group = [self.attester(chain_id, deposits).call(self._account(chain_id)), *group]
            out.append(group)
        return out

    def _protected(self, ctx: ChainContext, adapter, action, quote, account: str) -> tuple[list[Call], Slippage | None]:
        """The action's calls bound by its quote (`quote`: the results of its `quote_reads`), once
        the quote's slippage is within the limit; and that slippage, when the market has one."""
        expected = adapter.decode_quote(action, quote)
        slippage = self._check_slippage(ctx, adapter, action, quote, account)
        return adapter.protected_calls(action, account, expected, self.slippage_bps), slippage

    def _check_slippage(self, ctx: ChainContext, adapter, action, quote, account: str) -> Slippage | None:
        """Refuse, before anything is sent, an action whose quote loses more than the limit
        against its fair value, naming the figures and the largest chunk that stays under it
        (halvings of the amount, quoted in one batch). The slippage, when the market has one."""
        slippage = adapter.slippage(action, quote)
        if slippage is None or slippage.bps <= self.slippage_bps:
            return slippage
        what = type(action).__name__.lower()
        amount = getattr(action, "amount", None)
        asset = adapter.asset

        def human(n: int) -> str:
            return units(n, asset.decimals, asset.symbol)

        message = (
            f"{adapter.key}: {what} {'' if amount is None else f'{human(amount)} '}would lose "
            f"{slippage.bps} bps against fair value (quoted {human(slippage.quoted)}, fair {human(slippage.fair)})"
            f"; the limit is {self.slippage_bps} bps per operation"
        )
        chunk = self._largest_chunk(ctx, adapter, action, account) if amount is not None else None
        if chunk is not None:
            size, bps = chunk
            message += f"; {human(size)} at a time stay under it ({bps} bps): move it in chunks"
        else:
            message += "; no smaller chunk of it stays under the limit now"
        raise SlippageTooHigh(message)

    def _largest_chunk(self, ctx: ChainContext, adapter, action, account: str) -> tuple[int, int] | None:
        sizes = [action.amount >> k for k in range(1, 11) if action.amount >> k > 0]
        candidates = [replace(action, amount=size) for size in sizes]
        plan = ReadPlan()
        for i, candidate in enumerate(candidates):
            plan.add(i, adapter.quote_reads(candidate, account))
        results = plan.results(ctx.reader.read(plan.calls).results)
        for i, candidate in enumerate(candidates):
            try:
                slippage = adapter.slippage(candidate, results[i])
            except FloorError:
                continue
            if slippage is None or slippage.bps <= self.slippage_bps:
                return candidate.amount, slippage.bps if slippage else 0
        return None

    def all(self) -> list:
        return [
            self.read_positions,
            self.build_deposit_calls,
            self.read_holdings,
            self.build_moves,
        ]
