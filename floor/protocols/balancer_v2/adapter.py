"""Balancer V2: a composable stable pool, joined and exited through the Vault.

The treasury deposits the market's `asset` (one of the pool's coins) with a single-sided join,
`joinPool(poolId, sender, recipient, (assets, maxAmountsIn, userData, fromInternalBalance))` with
userData `EXACT_TOKENS_IN_FOR_BPT_OUT` = abi.encode(1, amountsIn, minimumBPT), and takes it out
with `exitPool(..., (assets, minAmountsOut, userData, toInternalBalance))`:
`EXACT_BPT_IN_FOR_ONE_TOKEN_OUT` = abi.encode(0, bptAmountIn, tokenIndex) to the asset, or the
balanced `EXACT_BPT_IN_FOR_ALL_TOKENS_OUT` = abi.encode(2, bptAmountIn) (every coin, in
proportion; the other coins then stay with the executor). These are ComposableStablePool's enum
values (StablePoolUserData for V2+ pools); the legacy StablePool numbers its exits differently.
A composable stable pool registers its own BPT among its tokens: `assets` and the limits list it
(as `getPoolTokens` does, limit 0), the userData amounts and token index do not.

`sender` and `recipient` are always the executor, internal balances are never used. Every write
carries the Vault's own bound, computed from an on-chain quote through BalancerHelpers
(`queryJoin`/`queryExit`, which run the pool's real join/exit code and revert with the result) less
the tolerance: `minimumBPT` in a join's userData, `minAmountsOut` in an exit. So deposits and exits
are built only through `protected_calls` (or `join_calls`/`exit_calls` with a quote), and the
approval of the Vault is reset to 0 in the same batch.

Position: the BPT balance (shares), valued at the pool's rate (`getRate()`, invariant per BPT,
18 decimals, every coin counted at 1), in the asset's base units. `valuation_reads` /
`decode_valuation` (and `floor.protocols.balancer_v2.valuation.read_position_value`) value it both
ways: what an exit to the asset pays now (`queryExit`) and the fair value from the rate and the
coins' Chainlink prices (the cheapest coin, as BPT of a stable pool is priced); their difference
is the exit's slippage, which grows with the position as the stable math says.

A withdrawal of an amount of the asset (`Withdraw(amount, position)`) is an exit of a BPT amount
too (the stand-in, as these exits, is exact-BPT-in): the BPT the position holds in proportion to
the amount (the pool's rate) and that plus each margin of `EXIT_MARGINS_BPS`, every one quoted by
queryExit in one batch; the fewest that pays at least the amount is burnt, and it pays its quote
(the amount or a little more). When none does (the amount is about the whole position, or the exit
would cost more than the largest margin), the largest is burnt and pays exactly its quote, less
than the amount: the operation takes what the exit gives. Without the position read first, a
withdrawal is refused (`ExactOutExitUnsupported`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address

from floor.adapters.base import (
    Action,
    Adapter,
    Asset,
    Deposit,
    LiquidityReading,
    PositionReading,
    RateSnapshot,
    Slippage,
    Withdraw,
    WithdrawAll,
    check_amount,
)
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.errors import BadInput, FloorError, InsufficientBalance
from floor.guards import Expected, min_delta
from floor.models import AdapterKey, Call, Price
from floor.permissions import (
    APPROVE,
    Membership,
    PermissionSet,
    approval,
    equal_to,
    in_list,
    list_id,
    rate_asset,
    to_self,
    token_asset,
)
from floor.protocols.balancer_v2.errors import AssetNotInPool, ExactOutExitUnsupported, PoolTokensChanged

WAD = 10**18
INDEX_SCALE = 10**9  # getRate (1e18) to the growth index's 1e27

JOIN_POOL = "joinPool(bytes32,address,address,(address[],uint256[],bytes,bool))"
EXIT_POOL = "exitPool(bytes32,address,address,(address[],uint256[],bytes,bool))"
QUERY_JOIN = "queryJoin(bytes32,address,address,(address[],uint256[],bytes,bool))"
QUERY_EXIT = "queryExit(bytes32,address,address,(address[],uint256[],bytes,bool))"
GET_POOL_TOKENS = "getPoolTokens(bytes32)"

# ComposableStablePool's StablePoolUserData (V2+): JoinKind and ExitKind.
JOIN_INIT = 0
JOIN_EXACT_TOKENS_IN_FOR_BPT_OUT = 1
EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT = 0
EXIT_BPT_IN_FOR_EXACT_TOKENS_OUT = 1
EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT = 2
EXIT_KINDS = (EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT)
# A withdrawal of an amount quotes the BPT at the pool's rate for it and that plus each of these
# margins (bps): a one-token exit pays less than the rate says by its swap fee and price impact,
# a few bps for a stable pool near balance. Finer where exits cost little, so the fewest BPT
# that pays the amount pays at most a margin's step more; up to 5%, beyond any slippage limit.
EXIT_MARGINS_BPS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 500)

# The executor's head words of joinPool/exitPool: poolId (0), sender (1), recipient (2), then the
# offset of the dynamic request tuple (3).
SENDER_WORD, RECIPIENT_WORD = 1, 2

# A JoinPoolRequest or ExitPoolRequest: (assets, maxAmountsIn or minAmountsOut, userData,
# fromInternalBalance or toInternalBalance).
Request = tuple[list[str], list[int], bytes, bool]


def join_user_data(amounts_in: Sequence[int], minimum_bpt: int) -> bytes:
    """EXACT_TOKENS_IN_FOR_BPT_OUT: abi.encode(JoinKind, uint256[] amountsIn, uint256 minimumBPT);
    `amounts_in` leaves the BPT out."""
    return encode(
        ["uint256", "uint256[]", "uint256"], [JOIN_EXACT_TOKENS_IN_FOR_BPT_OUT, list(amounts_in), minimum_bpt]
    )


def init_user_data(amounts_in_with_bpt: Sequence[int]) -> bytes:
    """INIT: abi.encode(JoinKind, uint256[] amountsIn) with the BPT included (its amount is ignored)."""
    return encode(["uint256", "uint256[]"], [JOIN_INIT, list(amounts_in_with_bpt)])


def exit_one_user_data(bpt_in: int, token_index: int) -> bytes:
    """EXACT_BPT_IN_FOR_ONE_TOKEN_OUT: abi.encode(ExitKind, bptAmountIn, tokenIndex); the index
    does not count the BPT."""
    return encode(["uint256", "uint256", "uint256"], [EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, bpt_in, token_index])


def exit_all_user_data(bpt_in: int) -> bytes:
    """EXACT_BPT_IN_FOR_ALL_TOKENS_OUT: abi.encode(ExitKind, bptAmountIn)."""
    return encode(["uint256", "uint256"], [EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT, bpt_in])


@dataclass(frozen=True)
class ExitQuote:
    """queryExit's answer: the BPT burnt and what each registered token pays (the BPT's entry 0)."""

    kind: int
    bpt_in: int
    amounts_out: tuple[int, ...]


@dataclass(frozen=True)
class PositionValue:
    """A BPT position valued in the asset's base units both ways."""

    bpt: int
    rate: int  # getRate(), 1e18
    exit_value: int  # what EXACT_BPT_IN_FOR_ONE_TOKEN_OUT to the asset pays now (queryExit)
    fair_value: int  # bpt x rate x the cheapest coin's price / the asset's price

    @property
    def slippage(self) -> int:
        """What exiting now to the asset costs against the fair value (base units)."""
        return self.fair_value - self.exit_value

    @property
    def slippage_bps(self) -> float:
        return self.slippage * 10_000 / self.fair_value if self.fair_value else 0.0


@dataclass(frozen=True)
class BalancerV2Adapter(Adapter):
    key: AdapterKey
    asset: Asset
    balancer_vault: str  # the Vault (named so, not `vault`: an ERC-4626 vault is a share token)
    pool: str  # the pool is its own BPT
    pool_id: str  # 0x + 64 hex
    helpers: str
    tokens: tuple[str, ...]  # getPoolTokens order, BPT included
    yield_source = "exchange_rate"  # the BPT balance stays; its rate grows with the fees

    def __post_init__(self) -> None:
        tokens = tuple(to_checksum_address(t) for t in self.tokens)
        if to_checksum_address(self.pool) not in tokens:
            raise AssetNotInPool(f"{self.key}: the pool's BPT {self.pool} is not among its registered tokens")
        if to_checksum_address(self.asset.address) not in tokens:
            raise AssetNotInPool(f"{self.key}: {self.asset.symbol} is not one of the pool's tokens")
        object.__setattr__(self, "tokens", tokens)

    # -- indices ----------------------------------------------------------------------
    @property
    def bpt_index(self) -> int:
        return self.tokens.index(to_checksum_address(self.pool))

    @property
    def asset_index(self) -> int:
        """The asset's index among the registered tokens (the Vault's arrays)."""
        return self.tokens.index(to_checksum_address(self.asset.address))

    def user_index(self, registered_index: int) -> int:
        """A registered token's index in userData, which leaves the BPT out."""
        if registered_index == self.bpt_index:
            raise BadInput(f"{self.key}: the BPT has no userData index")
        return registered_index - (1 if registered_index > self.bpt_index else 0)

    @property
    def coins(self) -> tuple[str, ...]:
        return tuple(t for i, t in enumerate(self.tokens) if i != self.bpt_index)

    @property
    def _pool_id(self) -> bytes:
        return bytes.fromhex(self.pool_id.removeprefix("0x"))

    # -- requests ----------------------------------------------------------------------
    def join_request(self, amount: int, minimum_bpt: int) -> Request:
        """JoinPoolRequest for a single-sided join of `amount` of the asset."""
        max_in = [amount if i == self.asset_index else 0 for i in range(len(self.tokens))]
        amounts = [0] * (len(self.tokens) - 1)
        amounts[self.user_index(self.asset_index)] = amount
        return (list(self.tokens), max_in, join_user_data(amounts, minimum_bpt), False)

    def exit_request(self, kind: int, bpt_in: int, min_amounts_out: Sequence[int]) -> Request:
        """ExitPoolRequest; `min_amounts_out` in registered order (the BPT's 0)."""
        if kind == EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT:
            user_data = exit_one_user_data(bpt_in, self.user_index(self.asset_index))
        elif kind == EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT:
            user_data = exit_all_user_data(bpt_in)
        else:
            raise BadInput(f"{self.key}: exit kind {kind} is not built here (only {EXIT_KINDS})")
        if len(min_amounts_out) != len(self.tokens):
            raise BadInput(f"{self.key}: {len(min_amounts_out)} minimum amounts for {len(self.tokens)} tokens")
        return (list(self.tokens), list(min_amounts_out), user_data, False)

    # -- writes -----------------------------------------------------------------------
    def join_calls(self, amount: int, minimum_bpt: int, account: str) -> list[Call]:
        """approve(Vault, amount), joinPool (sender = recipient = the executor), approve(Vault, 0)."""
        check_amount(amount, f"{self.key} join")
        if not isinstance(minimum_bpt, int) or minimum_bpt < 0:
            raise BadInput(f"{self.key}: minimumBPT must be a non-negative integer, got {minimum_bpt!r}")
        join = call(
            self.balancer_vault, JOIN_POOL, self._pool_id, account, account, self.join_request(amount, minimum_bpt)
        )
        return self._approved(self.balancer_vault, amount, join)

    def exit_calls(self, kind: int, bpt_in: int, min_amounts_out: Sequence[int], account: str) -> list[Call]:
        """exitPool burning `bpt_in` (sender = recipient = the executor); no approval needed."""
        check_amount(bpt_in, f"{self.key} exit")
        if any(not isinstance(m, int) or m < 0 for m in min_amounts_out):
            raise BadInput(f"{self.key}: minAmountsOut must be non-negative integers, got {list(min_amounts_out)}")
        request = self.exit_request(kind, bpt_in, min_amounts_out)
        return [call(self.balancer_vault, EXIT_POOL, self._pool_id, account, account, request)]

    def _exact_out_refused(self) -> ExactOutExitUnsupported:
        return ExactOutExitUnsupported(
            f"{self.key}: a Balancer exit burns an exact BPT amount, sized from the position and quoted: "
            "build a withdrawal with Withdraw(amount, position), quote_reads/decode_quote and protected_calls"
        )

    def protected_calls(self, action: Action, account: str, quote: Sequence[Expected], slippage_bps: int) -> list[Call]:
        """The action with the Vault's own bound: minimumBPT (a join) or minAmountsOut (an exit),
        the quote less `slippage_bps`; no balance guard is needed."""
        match action:
            case Deposit(amount):
                bpt_out = self._expected(quote, self.pool)
                return self.join_calls(amount, max(min_delta(bpt_out, slippage_bps), 0), account)
            case WithdrawAll(position):
                return self._exit_to_asset(position.shares or 0, quote, slippage_bps, account)
            case Withdraw(amount, position):
                if position is None:
                    raise self._exact_out_refused()
                return self._exit_to_asset(-self._expected(quote, self.pool), quote, slippage_bps, account)
        raise TypeError(f"not an action: {action!r}")

    def _exit_to_asset(self, bpt_in: int, quote: Sequence[Expected], slippage_bps: int, account: str) -> list[Call]:
        """EXACT_BPT_IN_FOR_ONE_TOKEN_OUT of `bpt_in` to the asset, bound by what the quote pays of
        it less `slippage_bps`."""
        bound = [0] * len(self.tokens)
        bound[self.asset_index] = max(min_delta(self._expected(quote, self.asset.address), slippage_bps), 0)
        return self.exit_calls(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, bpt_in, bound, account)

    def exit_bound(self, quote: ExitQuote, slippage_bps: int) -> list[int]:
        """minAmountsOut from an exit quote: each amount less `slippage_bps`, rounded so the bound is lower."""
        return [max(min_delta(a, slippage_bps), 0) for a in quote.amounts_out]

    def permissions(self) -> PermissionSet:
        return PermissionSet.union(
            [
                approval(self.asset.address, self.balancer_vault),
                self._scoped(JOIN_POOL),
                self._scoped(EXIT_POOL),
            ]
        )

    def _scoped(self, signature: str) -> PermissionSet:
        """The Vault's `signature` paying and crediting the executor (sender and recipient). The poolId (word 0) must be on the owner's list (not a pool an attacker registered
        with the Vault); the request (word 3) may not use the Vault's internal balances (its
        word 3: fromInternalBalance, toInternalBalance), which no balance would value. The
        pool's tokens (each priced by its own feed) and the BPT (at getRate) are valued."""
        pools = list_id("balancer.pools", self.balancer_vault)
        coins = [token_asset(t, t, None) for t in self.tokens if t not in (self.pool, self.asset.address)]
        bpt = rate_asset(self.pool, self.asset.symbol, 18, self.pool, "getRate()")
        return to_self(
            self.balancer_vault,
            signature,
            SENDER_WORD,
            RECIPIENT_WORD,
            assets=[self.held(), *coins, bpt],
            conditions=[in_list(0, pools), equal_to(3, 0, inner=4)],
            members=[Membership(pools, bytes.fromhex(self.pool_id[2:]))],
        )

    # -- quotes ------------------------------------------------------------------------
    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        match action:
            case Deposit(amount):
                check_amount(amount, f"{self.key} join")
                request = self.join_request(amount, 0)
                return [
                    read(self.balancer_vault, GET_POOL_TOKENS, self._pool_id),
                    read(self.helpers, QUERY_JOIN, self._pool_id, account, account, request),
                    read(self.pool, "getRate()"),  # the BPT's fair value, for `slippage`
                ]
            case WithdrawAll(position):
                if not position.shares:
                    raise InsufficientBalance(f"{self.key}: no BPT to exit")
                return self.exit_quote_reads(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, position.shares, account)
            case Withdraw(amount, position):
                return [
                    read(self.balancer_vault, GET_POOL_TOKENS, self._pool_id),
                    read(self.pool, "getRate()"),  # the BPT's fair value, for `slippage`
                    *(
                        read(self.helpers, QUERY_EXIT, self._pool_id, account, account, request)
                        for request in (
                            self.exit_request(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, bpt, [0] * len(self.tokens))
                            for bpt in self.exit_probes(amount, position)
                        )
                    ),
                ]
        raise TypeError(f"not an action: {action!r}")

    def exit_probes(self, amount: int, position: PositionReading | None) -> list[int]:
        """The BPT amounts a withdrawal of `amount` quotes, ascending: the position's BPT in
        proportion to the amount (its rate; rounded up), and that plus each of
        `EXIT_MARGINS_BPS`, none above the position."""
        check_amount(amount, f"{self.key} withdrawal")
        if position is None:
            raise self._exact_out_refused()  # a withdrawal needs the position read first
        if not position.shares or position.amount <= 0:
            raise InsufficientBalance(f"{self.key}: no BPT to exit")
        at_rate = -(-amount * position.shares // position.amount)
        return sorted({min(at_rate + -(-at_rate * m // 10_000), position.shares) for m in EXIT_MARGINS_BPS})

    def withdraw_quote(self, action: Withdraw, results: Sequence[ReadResult]) -> tuple[ExitQuote, int]:
        """The exit a withdrawal makes, from `quote_reads`' results: the fewest quoted BPT that
        pay the amount, else the most quoted (it pays less: what the exit gives); and the
        pool's rate, read with them."""
        self._check_tokens(results[0])
        (rate,) = decode_result(["uint256"], results[1], f"{self.key} pool.getRate")
        chosen = None
        for result in results[2:]:
            try:
                bpt_in, amounts = decode_result(["uint256", "uint256[]"], result, f"{self.key} queryExit")
            except FloorError:
                if chosen is None:
                    raise
                break  # more than the pool can pay out: the smaller exits are the ones there are
            chosen = ExitQuote(kind=EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, bpt_in=bpt_in, amounts_out=tuple(amounts))
            if amounts[self.asset_index] >= action.amount:
                break
        if chosen is None:
            raise BadInput(f"{self.key}: no exit quoted for a withdrawal of {action.amount}")
        return chosen, rate

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        match action:
            case Deposit(amount):
                self._check_tokens(results[0])
                bpt_out, amounts_in = decode_result(["uint256", "uint256[]"], results[1], f"{self.key} queryJoin")
                if amounts_in[self.asset_index] != amount:
                    raise PoolTokensChanged(
                        f"{self.key}: queryJoin takes {list(amounts_in)}, not {amount} of the asset"
                    )
                return [Expected(self.pool, bpt_out), Expected(self.asset.address, -amount)]
            case WithdrawAll():
                return self._paid(self.decode_exit_quote(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, results))
            case Withdraw():
                return self._paid(self.withdraw_quote(action, results)[0])
        raise TypeError(f"not an action: {action!r}")

    def _paid(self, quote: ExitQuote) -> list[Expected]:
        """An exit to the asset's balance changes: the asset it pays, the BPT it burns."""
        return [Expected(self.asset.address, quote.amounts_out[self.asset_index]), Expected(self.pool, -quote.bpt_in)]

    def slippage(self, action: Action, quote: Sequence[ReadResult]) -> Slippage | None:
        """A join's BPT at the pool's rate against the asset put in; an exit's asset paid
        against the BPT it burns at the rate (the position's own value). Each coin counted at
        1, as the position is."""
        match action:
            case Deposit(amount):
                bpt_out = self.decode_quote(action, quote)[0].delta
                (rate,) = decode_result(["uint256"], quote[2], f"{self.key} pool.getRate")
                return Slippage(quoted=self.at_rate(bpt_out, rate), fair=amount)
            case WithdrawAll(position):
                paid = self.decode_quote(action, quote)[0].delta
                return Slippage(quoted=paid, fair=position.amount)
            case Withdraw():
                made, rate = self.withdraw_quote(action, quote)
                return Slippage(quoted=made.amounts_out[self.asset_index], fair=self.at_rate(made.bpt_in, rate))
        return None

    def exit_quote_reads(self, kind: int, bpt_in: int, account: str) -> list[ReadCall]:
        check_amount(bpt_in, f"{self.key} exit")
        request = self.exit_request(kind, bpt_in, [0] * len(self.tokens))
        return [
            read(self.balancer_vault, GET_POOL_TOKENS, self._pool_id),
            read(self.helpers, QUERY_EXIT, self._pool_id, account, account, request),
        ]

    def decode_exit_quote(self, kind: int, results: Sequence[ReadResult]) -> ExitQuote:
        self._check_tokens(results[0])
        bpt_in, amounts = decode_result(["uint256", "uint256[]"], results[1], f"{self.key} queryExit")
        return ExitQuote(kind=kind, bpt_in=bpt_in, amounts_out=tuple(amounts))

    def _check_tokens(self, result: ReadResult) -> list[int]:
        tokens, balances, _ = decode_result(
            ["address[]", "uint256[]", "uint256"], result, f"{self.key} Vault.getPoolTokens"
        )
        if tuple(to_checksum_address(t) for t in tokens) != self.tokens:
            raise PoolTokensChanged(
                f"{self.key}: the Vault lists the pool's tokens as {list(tokens)}, not the configured {list(self.tokens)}"
            )
        return list(balances)

    def _expected(self, quote: Sequence[Expected], token: str) -> int:
        for e in quote:
            if to_checksum_address(e.token) == to_checksum_address(token):
                return e.delta
        raise BadInput(f"{self.key}: the quote has no change of {token}")

    # -- reads ------------------------------------------------------------------------
    def position_reads(self, account: str) -> list[ReadCall]:
        return [read(self.pool, "balanceOf(address)", account), read(self.pool, "getRate()")]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        (bpt,) = decode_result(["uint256"], results[0], f"{self.key} BPT.balanceOf")
        (rate,) = decode_result(["uint256"], results[1], f"{self.key} pool.getRate")
        return PositionReading(amount=self.at_rate(bpt, rate), shares=bpt)

    def at_rate(self, bpt: int, rate: int) -> int:
        """BPT at the pool's rate, in the asset's base units (each coin counted at 1), rounded down."""
        # Annotated: a power of an int is typed Any.
        at_rate: int = bpt * rate // WAD // 10 ** (18 - self.asset.decimals)
        return at_rate

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return [*self.position_reads(account), read(self.balancer_vault, GET_POOL_TOKENS, self._pool_id)]

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        position = self.decode_position(results[:2]).amount
        balances = self._check_tokens(results[2])
        available = balances[self.asset_index]
        reason = None
        if available < position:
            reason = f"the pool holds {available} of {self.asset.symbol}; an exit to it alone cannot pay more"
        return LiquidityReading(
            position=position, market_available=available, withdrawable=min(position, available), reason=reason
        )

    def rate_reads(self) -> list[ReadCall]:
        return [read(self.pool, "getRate()")]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        (rate,) = decode_result(["uint256"], results[0], f"{self.key} pool.getRate")
        # No quote: a composable stable pool keeps its rate (BPT's value) now, not a rate of
        # growth; swap fees and its tokens' own yield (their rate providers') show only in
        # getRate over time, so the APY is measured from it. BAL from a gauge is not included.
        note = "measured: a Balancer pool keeps no rate on chain (getRate growth over time); BAL not included"
        return RateSnapshot(timestamp=timestamp, growth_index=rate * INDEX_SCALE, note=note)

    # -- valuation ----------------------------------------------------------------------
    def valuation_reads(self, bpt: int, account: str) -> list[ReadCall]:
        """The rate and, for a position, queryExit of all of it to the asset."""
        reads = [read(self.pool, "getRate()")]
        if bpt:
            reads += self.exit_quote_reads(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, bpt, account)
        return reads

    def decode_valuation(
        self, bpt: int, results: Sequence[ReadResult], coin_prices: Sequence[Price], asset_price: Price
    ) -> PositionValue:
        """`coin_prices`: the pool's coins' USD prices (Chainlink, `floor.chain.prices`), `asset_price` the asset's."""
        (rate,) = decode_result(["uint256"], results[0], f"{self.key} pool.getRate")
        exit_value = 0
        if bpt:
            quote = self.decode_exit_quote(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, results[1:3])
            exit_value = quote.amounts_out[self.asset_index]
        return PositionValue(
            bpt=bpt,
            rate=rate,
            exit_value=exit_value,
            fair_value=fair_value(self, bpt, rate, coin_prices, asset_price),
        )


def fair_value(
    adapter: BalancerV2Adapter, bpt: int, rate: int, coin_prices: Sequence[Price], asset_price: Price
) -> int:
    """BPT x rate (pool units of 18 decimals, every coin counted at 1) at the cheapest coin's USD
    price, in the asset's base units at the asset's price; rounded down. A stable pool's BPT is
    worth no more than its invariant in its weakest coin."""
    if not coin_prices:
        raise BadInput(f"{adapter.key}: no prices for the pool's coins")
    # The cheapest coin, compared across feeds of any decimals.
    cheapest = min(coin_prices, key=lambda p: (p.price * 10**36) // p.unit)
    # Annotated: a power of an int is typed Any.
    numerator: int = bpt * rate * cheapest.price * asset_price.unit * 10**adapter.asset.decimals
    return numerator // (WAD * WAD * cheapest.unit * asset_price.price)


__all__ = [
    "APPROVE",
    "BalancerV2Adapter",
    "ExitQuote",
    "PositionValue",
    "fair_value",
]
