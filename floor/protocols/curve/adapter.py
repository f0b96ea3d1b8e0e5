"""Curve StableSwap: one coin of a stable pool, deposited single-sided for LP tokens that are
staked in the pool's gauge for CRV.

Two kinds of pool take the same calls with different array types: the old, fixed-size pools
(3pool: `add_liquidity(uint256[3],uint256)`, `calc_token_amount(uint256[3],bool)`,
`remove_liquidity(uint256,uint256[3])`) and Stableswap-NG (`uint256[]` in all three). Both
index coins with `int128` (`remove_liquidity_one_coin(uint256,int128,uint256)`,
`calc_withdraw_one_coin(uint256,int128)`) and both mint, burn and pay the caller, the
executor, so no call needs a receiver argument. The market's config says which kind.

Every write carries the pool's own min-out, computed from an on-chain quote and the slippage
allowed, so the writes are only built through `quote_reads`/`decode_quote`/`protected_calls`
(the bound is the pool's argument, not a balance guard):
- deposit: `calc_token_amount(amounts, true)` (old pools leave the fee out of it, so their
  quote is taken down by the whole swap fee); `add_liquidity(amounts, min_mint_amount)`
  between approve(pool, amount) and approve(pool, 0); with a gauge, the `min_mint_amount`
  LP tokens (all the deposit is sure to have minted) are staked in the same batch between
  approve(gauge) and approve(gauge, 0). What the mint gave above that stays in the executor
  (counted in the position; `stake_calls` stakes it).
- withdrawal of an amount: the fewest LP tokens whose one-coin exit pays the amount, found
  with the pool's own math (`calc_withdraw_one_coin`, ported below integer for integer, on the
  pool's state read in the same batch: balances, A, fee, LP supply, rates; NG's off-peg
  multiplier), started from `calc_token_amount(amounts, false)` (which the old pools take
  without the fee and NG with it) and quoted at exactly what that burn pays, so the payout
  matches the quote to the unit. The port is first checked against the pool's own views
  read with it (the virtual price and `calc_withdraw_one_coin` of two probe burns); a pool it
  does not reproduce (another variant of the math, rates that move) is quoted as before: the
  quote's LP tokens plus the whole swap fee and one unit, paying at least about the amount.
  The burn is taken first from the executor and the rest from the gauge
  (`withdraw(uint256)`), burnt by `remove_liquidity_one_coin(burn, i, min_amount)` with
  min_amount the quoted payout less the slippage.
- withdrawal of everything: every LP token, quoted by `calc_withdraw_one_coin`.
- balanced exit (`balanced_*`): `remove_liquidity(burn, min_amounts)`, each coin's share of
  the pool's balances less the slippage.
A decoded quote is the balance changes it plans: +coin, the executor's LP tokens and its
gauge stake (`Expected(gauge, -unstaked)`), from which `protected_calls` takes the burn.

Value: the position is the LP tokens held and staked at the pool's `get_virtual_price()`
(fair value, in the coin's base units); what a one-coin exit would pay now is a second
read (`exit_value_reads`, `calc_withdraw_one_coin`), so the difference, the exit's
slippage under the invariant, can be reported; `slippage(action, quote)` gives the same
comparison for any action from its quote reads, which end with the virtual price. The
virtual price is the growth index: fees the pool keeps raise it.

CRV: the gauge's `claimable_tokens(account)` (a checkpointing call, read by eth_call) and the
Minter's `mint(gauge)`, which pays the caller, as on mainnet; a gauge's own reward tokens
(configured) are read with `claimable_reward(account, token)` and paid by `claim_rewards()`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eth_abi.abi import decode

from floor.adapters.base import (
    Action,
    Adapter,
    Asset,
    Deposit,
    LiquidityReading,
    PositionReading,
    RateSnapshot,
    RewardClaimable,
    Slippage,
    Withdraw,
    WithdrawAll,
    check_amount,
)
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.errors import BadInput, InsufficientBalance, InsufficientLiquidity, InvalidAmount
from floor.guards import Expected, min_delta
from floor.models import AdapterKey, Call
from floor.permissions import (
    APPROVE,
    Condition,
    PermissionSet,
    ValuedAsset,
    approval,
    equal_to,
    rate_asset,
    to_self,
)
from floor.protocols.curve.errors import CoinNotInPool, NoGauge, PositionChanged

WAD = 10**18
FEE_DENOMINATOR = 10**10
A_PRECISION = 100  # NG keeps A * 100
INDEX_SCALE = 10**9  # get_virtual_price (1e18) to the growth index's 1e27

REMOVE_ONE = "remove_liquidity_one_coin(uint256,int128,uint256)"
CALC_ONE = "calc_withdraw_one_coin(uint256,int128)"
VIRTUAL_PRICE = "get_virtual_price()"
GAUGE_DEPOSIT = "deposit(uint256)"
GAUGE_WITHDRAW = "withdraw(uint256)"
CLAIMABLE = "claimable_tokens(address)"
MINT = "mint(address)"
CLAIM_REWARDS = "claim_rewards()"
CLAIMABLE_REWARD = "claimable_reward(address,address)"
BALANCE_OF = "balanceOf(address)"


def fair_value(lp: int, virtual_price: int, decimals: int) -> int:
    """LP tokens at the virtual price, in a coin's base units (rounded down): what they are
    worth with the pool balanced, before any exit's slippage."""
    value = lp * virtual_price // WAD  # 18 decimals
    # Annotated: a power of an int is typed Any.
    scaled: int = value // 10 ** (18 - decimals) if decimals <= 18 else value * 10 ** (decimals - 18)
    return scaled


def fee_margin(lp: int, fee: int) -> int:
    """The whole swap fee on `lp`, rounded up: more than any single-sided fee of a deposit or
    exit of that size (Curve charges fee * N / (4 (N - 1)) on the imbalance, about half the
    swap fee on a one-coin move)."""
    return -(-lp * fee // FEE_DENOMINATOR)


# -- the pool's own math, for exits sized in the coin -------------------------------------
# Curve's StableSwap integer for integer (curvefi/curve-contract StableSwap3Pool.vy for the
# old pools, curvefi/stableswap-ng CurveStableSwapNG.vy for NG; tests/curve_math.py is the
# tests' independent copy). Where the pool would revert (a uint256 below zero, a division by
# zero, NG's Newton not converging) these raise ArithmeticError.


@dataclass(frozen=True)
class PoolState:
    """What `calc_withdraw_one_coin` reads of a pool: its balances as its math counts them
    (admin fees excluded), its rates (10**(36 - decimals) for a plain coin), A as the math
    takes it (NG: A * A_PRECISION, `A_precise()`), the fee, the LP supply and, for NG, the
    off-peg fee multiplier."""

    balances: tuple[int, ...]
    rates: tuple[int, ...]
    amp: int
    fee: int
    supply: int
    ng: bool
    offpeg_fee_multiplier: int = 0

    @property
    def xp(self) -> list[int]:
        return [r * b // WAD for r, b in zip(self.rates, self.balances, strict=True)]


def _sub(a: int, b: int) -> int:
    if b > a:
        raise ArithmeticError("uint256 underflow")
    return a - b


def _get_d(xp: Sequence[int], amp: int, ng: bool) -> int:
    n, s = len(xp), sum(xp)
    if s == 0:
        return 0
    d, ann = s, amp * n
    for _ in range(255):
        d_p = d
        if ng:
            for x in xp:
                d_p = d_p * d // x
            d_p //= n**n
            prev = d
            d = (ann * s // A_PRECISION + d_p * n) * d // ((ann - A_PRECISION) * d // A_PRECISION + (n + 1) * d_p)
        else:
            for x in xp:
                d_p = d_p * d // (x * n)
            prev = d
            d = (ann * s + d_p * n) * d // ((ann - 1) * d + (n + 1) * d_p)
        if abs(d - prev) <= 1:
            return d
    if ng:
        raise ArithmeticError("get_D did not converge")
    return d  # the old pools return the last D


def _get_y_d(amp: int, i: int, xp: Sequence[int], d: int, ng: bool) -> int:
    """x[i] when D falls to d, the other balances held."""
    n = len(xp)
    c, s, ann = d, 0, amp * n
    for k, x in enumerate(xp):
        if k != i:
            s += x
            c = c * d // (x * n)
    if ng:
        c = c * d * A_PRECISION // (ann * n)
        b = s + d * A_PRECISION // ann
    else:
        c = c * d // (ann * n)
        b = s + d // ann
    y = d
    for _ in range(255):
        prev = y
        y = (y * y + c) // _sub(2 * y + b, d)
        if abs(y - prev) <= 1:
            return y
    if ng:
        raise ArithmeticError("get_y_D did not converge")
    return y


def _dynamic_fee(xpi: int, xpj: int, fee: int, multiplier: int) -> int:
    if multiplier <= FEE_DENOMINATOR:
        return fee
    xps2 = (xpi + xpj) ** 2
    return multiplier * fee // ((multiplier - FEE_DENOMINATOR) * 4 * xpi * xpj // xps2 + FEE_DENOMINATOR)


def withdraw_one_coin(pool: PoolState, burn: int, i: int) -> int:
    """What `remove_liquidity_one_coin(burn, i, ...)` pays now: the pool's
    `_calc_withdraw_one_coin(burn, i)[0]`."""
    n, xp, amp, ng = len(pool.balances), pool.xp, pool.amp, pool.ng
    d0 = _get_d(xp, amp, ng)
    d1 = _sub(d0, burn * d0 // pool.supply)
    new_y = _get_y_d(amp, i, xp, d1, ng)
    base_fee = pool.fee * n // (4 * (n - 1))
    ys = (d0 + d1) // (2 * n)
    reduced = list(xp)
    for j in range(n):
        if j == i:
            expected, xavg = _sub(xp[j] * d1 // d0, new_y), (xp[j] + new_y) // 2
        else:
            expected, xavg = _sub(xp[j], xp[j] * d1 // d0), xp[j]
        fee = _dynamic_fee(xavg, ys, base_fee, pool.offpeg_fee_multiplier) if ng else base_fee
        reduced[j] = _sub(xp[j], fee * expected // FEE_DENOMINATOR)
    dy = _sub(_sub(reduced[i], _get_y_d(amp, i, reduced, d1, ng)), 1)
    return dy * WAD // pool.rates[i] if ng else dy // (pool.rates[i] // WAD)


def fewest_lp_for(pays: Callable[[int], int], amount: int, start: int, most: int) -> int | None:
    """The smallest burn in 1..most that `pays` at least `amount` (`pays` grows with the
    burn), searched from `start`; None when even `most` pays less."""
    if pays(most) < amount:
        return None
    hi = min(max(start, 1), most)
    step = max(hi // 10_000, 1)
    if pays(hi) >= amount:  # walk down to a burn that pays too little
        lo = hi - step
        while lo > 0 and pays(lo) >= amount:
            hi, step = lo, step * 2
            lo = hi - step
        lo = max(lo, 0)
    else:  # walk up to one that pays enough
        lo = hi
        while True:
            hi = min(lo + step, most)
            if pays(hi) >= amount:
                break
            lo, step = hi, step * 2
    while hi - lo > 1:  # pays(lo) < amount <= pays(hi)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if pays(mid) >= amount else (mid, hi)
    return hi


@dataclass(frozen=True)
class CurveRewards:
    crv: int  # claimable_tokens: what the Minter would mint now
    tokens: tuple[tuple[str, int], ...] = ()  # (reward token, claimable_reward)


@dataclass(frozen=True)
class CurveAdapter(Adapter):
    key: AdapterKey
    asset: Asset  # the pool's coin at coin_index
    pool: str
    lp_token: str  # the pool itself for Stableswap-NG
    kind: str  # "old" (uint256[N]) or "ng" (uint256[])
    n_coins: int
    coin_index: int
    gauge: str | None = None
    minter: str | None = None
    crv: str | None = None
    reward_tokens: tuple[str, ...] = ()  # the gauge's own reward tokens, paid by claim_rewards
    yield_source = "exchange_rate"  # the LP tokens stay; the virtual price grows with fees
    # No quote: a pool keeps no rate, only its virtual price now (fees raise it; no history
    # of it on chain), so its APY is measured from the virtual price over time. CRV is
    # another token (the gauge's inflation_rate x weight / working_supply per LP unit):
    # pricing it against the LP needs a CRV price the engine does not read.
    rate_note = "measured: a Curve pool keeps no rate on chain (virtual price growth over time); gauge CRV not included"

    @property
    def staking(self) -> str | None:
        """Where the LP tokens are staked, one LP token to one unit of its balanceOf: the gauge."""
        return self.gauge

    # -- signatures ---------------------------------------------------------------------
    @property
    def _array(self) -> str:
        return f"uint256[{self.n_coins}]" if self.kind == "old" else "uint256[]"

    @property
    def add_liquidity_sig(self) -> str:
        return f"add_liquidity({self._array},uint256)"

    @property
    def calc_token_amount_sig(self) -> str:
        return f"calc_token_amount({self._array},bool)"

    @property
    def remove_liquidity_sig(self) -> str:
        return f"remove_liquidity(uint256,{self._array})"

    def amounts(self, amount: int) -> list[int]:
        """The pool's amounts argument: `amount` of the market's coin, none of the others."""
        out = [0] * self.n_coins
        out[self.coin_index] = amount
        return out

    # -- writes (built only from a quote: every one carries the pool's min-out) ----------
    def deposit_with_min(self, amount: int, min_mint: int) -> list[Call]:
        """approve, add_liquidity(amounts, min_mint), approve 0; then, with a gauge, stake
        the `min_mint` LP tokens the deposit is sure to have minted."""
        check_amount(amount, f"{self.key} deposit")
        check_amount(min_mint, f"{self.key} min_mint_amount")
        calls = [
            call(self.asset.address, APPROVE, self.pool, amount),
            call(self.pool, self.add_liquidity_sig, self.amounts(amount), min_mint),
            call(self.asset.address, APPROVE, self.pool, 0),
        ]
        return calls + (self.stake_calls(min_mint) if self.staking else [])

    def stake_calls(self, lp: int) -> list[Call]:
        """Stake `lp` of the executor's LP tokens in the gauge: approve, deposit, approve 0."""
        gauge = self._gauge()
        check_amount(lp, f"{self.key} stake")
        return [
            call(self.lp_token, APPROVE, gauge, lp),
            call(gauge, GAUGE_DEPOSIT, lp),
            call(self.lp_token, APPROVE, gauge, 0),
        ]

    def unstake_calls(self, lp: int) -> list[Call]:
        check_amount(lp, f"{self.key} unstake")
        return [call(self._gauge(), GAUGE_WITHDRAW, lp)]

    def exit_one_coin(self, burn: int, unstake: int, min_amount: int) -> list[Call]:
        """Take `unstake` LP tokens out of the gauge, then burn `burn` for at least `min_amount` of the coin."""
        check_amount(burn, f"{self.key} burn")
        check_amount(min_amount, f"{self.key} min_amount")
        if not 0 <= unstake <= burn:
            raise InvalidAmount(f"{self.key}: unstaking {unstake} LP tokens to burn {burn}")
        head = self.unstake_calls(unstake) if unstake else []
        return [*head, call(self.pool, REMOVE_ONE, burn, self.coin_index, min_amount)]

    def protected_calls(self, action: Action, account: str, quote: Sequence[Expected], slippage_bps: int) -> list[Call]:
        deltas = {e.token: e.delta for e in quote}
        if isinstance(action, Deposit):
            minted = deltas[self.lp_token]
            return self.deposit_with_min(action.amount, min_delta(minted, slippage_bps))
        out = deltas[self.asset.address]
        unstake = -deltas.get(self.staking, 0) if self.staking else 0
        burn = unstake - deltas[self.lp_token]
        return self.exit_one_coin(burn, unstake, min_delta(out, slippage_bps))

    def permissions(self) -> PermissionSet:
        # The pool mints LP tokens to, burns them from and pays coins to its caller; the
        # gauge stakes for and pays back its caller; the Minter mints the caller's CRV. Only
        # the market's coin goes in or comes out (the other amounts are zero, the exit's coin
        # index is the market's): the coin and the LP tokens (at the virtual price) are valued.
        # The balanced remove_liquidity is not allowed: it pays coins the executor does not value.
        coin_lp = [self.held(), self.lp_valued(self.lp_token)]
        sets = [
            approval(self.asset.address, self.pool),
            to_self(self.pool, self.add_liquidity_sig, assets=coin_lp, conditions=self._other_amounts_zero()),
            to_self(self.pool, REMOVE_ONE, assets=coin_lp, conditions=[equal_to(1, self.coin_index)]),
        ]
        if self.gauge:
            staked = [self.lp_valued(self.lp_token), self.lp_valued(self.gauge)]
            sets += [
                approval(self.lp_token, self.gauge),
                to_self(self.gauge, GAUGE_DEPOSIT, assets=staked),
                to_self(self.gauge, GAUGE_WITHDRAW, assets=staked),
                to_self(self._minter(), MINT),
                to_self(self.gauge, CLAIM_REWARDS),
            ]
        return PermissionSet.union(sets)

    def lp_valued(self, token: str) -> ValuedAsset:
        """LP tokens (or a stake of them, one to one) at the pool's virtual price, in the
        market asset's price (a stable pool's virtual price counts its coins at par)."""
        return rate_asset(token, self.asset.symbol, 18, self.pool, VIRTUAL_PRICE)

    def _other_amounts_zero(self) -> list[Condition]:
        """add_liquidity's amounts: none of the other coins (old pools: head words 0..n-1;
        NG: the array's elements after its length word, which must be n)."""
        others = [k for k in range(self.n_coins) if k != self.coin_index]
        if self.kind == "old":
            return [equal_to(k, 0) for k in others]
        return [equal_to(0, self.n_coins, inner=1), *(equal_to(0, 0, inner=k + 2) for k in others)]

    # -- quotes ------------------------------------------------------------------------
    def _held_reads(self, account: str) -> list[ReadCall]:
        reads = [read(self.lp_token, BALANCE_OF, account)]
        if self.staking:
            reads.append(read(self.staking, BALANCE_OF, account))
        return reads

    def _held(self, results: Sequence[ReadResult]) -> tuple[int, int]:
        """(LP tokens in the executor, LP tokens it has staked: in the gauge, or Convex's reward pool)."""
        (wallet,) = decode_result(["uint256"], results[0], f"{self.key} lpToken.balanceOf")
        staked = 0
        if self.staking:
            (staked,) = decode_result(["uint256"], results[1], f"{self.key} staking.balanceOf")
        return wallet, staked

    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        """The pool's quote of the action, and its virtual price (the fair value `slippage` measures against)."""
        return [*self._curve_quote_reads(action, account), read(self.pool, VIRTUAL_PRICE)]

    def _split_quote(self, action: Action, results: Sequence[ReadResult]) -> tuple[Sequence[ReadResult], ReadResult]:
        """(the pool's quote reads, the virtual price read) of `quote_reads`' results."""
        return results[:-1], results[-1]

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        curve, price = self._split_quote(action, results)
        return self._decode_curve_quote(action, curve, price)

    def slippage(self, action: Action, quote: Sequence[ReadResult]) -> Slippage:
        """The quote against fair value at the virtual price: a deposit's LP tokens valued at
        it against the coin put in; an exit's coin paid against the LP tokens it burns, valued
        at it. The difference is the imbalance's cost under the invariant, fees included."""
        curve, price_read = self._split_quote(action, quote)
        expected = {e.token: e.delta for e in self._decode_curve_quote(action, curve, price_read)}
        (price,) = decode_result(["uint256"], price_read, f"{self.key} pool.get_virtual_price")
        decimals = self.asset.decimals
        if isinstance(action, Deposit):
            return Slippage(quoted=fair_value(expected[self.lp_token], price, decimals), fair=action.amount)
        burn = -(expected[self.lp_token] + (expected.get(self.staking, 0) if self.staking else 0))
        return Slippage(quoted=expected[self.asset.address], fair=fair_value(burn, price, decimals))

    def _curve_quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        match action:
            case Deposit(amount):
                check_amount(amount, f"{self.key} deposit")
                return [
                    read(self.pool, "coins(uint256)", self.coin_index),
                    read(self.pool, "fee()"),
                    read(self.pool, self.calc_token_amount_sig, self.amounts(amount), True),
                ]
            case Withdraw(amount):
                check_amount(amount, f"{self.key} withdrawal")
                return [
                    *self._held_reads(account),
                    read(self.pool, "fee()"),
                    read(self.pool, self.calc_token_amount_sig, self.amounts(amount), False),
                    *self._state_reads(amount),
                ]
            case WithdrawAll(position):
                return [*self._held_reads(account), read(self.pool, CALC_ONE, position.shares or 0, self.coin_index)]
        raise TypeError(f"not an action: {action!r}")

    def _decode_curve_quote(self, action: Action, results: Sequence[ReadResult], price: ReadResult) -> list[Expected]:
        """The balance changes `_curve_quote_reads`' results plan; `price` is the virtual price
        read with them (an exit in the coin checks its port of the pool's math on it)."""
        match action:
            case Deposit(amount):
                (coin,) = decode_result(["address"], results[0], f"{self.key} pool.coins")
                if coin.lower() != self.asset.address.lower():
                    raise CoinNotInPool(
                        f"{self.key}: the pool's coin {self.coin_index} is {coin}, not {self.asset.symbol} "
                        f"({self.asset.address})"
                    )
                (fee,) = decode_result(["uint256"], results[1], f"{self.key} pool.fee")
                (minted,) = decode_result(["uint256"], results[2], f"{self.key} pool.calc_token_amount")
                if self.kind == "old":  # the old pools' calc_token_amount leaves the fee out
                    minted -= fee_margin(minted, fee)
                if minted <= 0:
                    raise InvalidAmount(f"{self.key}: a deposit of {amount} mints no LP tokens")
                return [Expected(self.asset.address, -amount), Expected(self.lp_token, minted)]
            case Withdraw(amount):
                wallet, staked = self._held(results)
                rest = results[2:] if self.staking else results[1:]
                (fee,) = decode_result(["uint256"], rest[0], f"{self.key} pool.fee")
                (needed,) = decode_result(["uint256"], rest[1], f"{self.key} pool.calc_token_amount")
                balances = self._decode_balances(rest[2 : 2 + self.n_coins])
                in_pool = balances[self.coin_index]
                if amount >= in_pool:
                    raise InsufficientLiquidity(
                        f"{self.key}: withdrawing {amount} of {self.asset.symbol}, the pool holds {in_pool}"
                    )
                if needed == 0:
                    raise InvalidAmount(f"{self.key}: a withdrawal of {amount} burns no LP tokens")
                held = wallet + staked
                if needed > held:
                    raise InsufficientBalance(
                        f"{self.key}: withdrawing {amount} of {self.asset.symbol} burns about {needed} LP tokens; "
                        f"the executor holds {wallet} and has {staked} staked"
                    )
                state = self._pool_state(amount, fee, balances, rest[2 + self.n_coins :], price)
                if state is None:  # not the port's math: the quote plus the whole fee, the amount quoted
                    return self._exit_quote(amount, min(needed + fee_margin(needed, fee) + 1, held), wallet)

                def pays(burn: int) -> int:
                    try:
                        return withdraw_one_coin(state, burn, self.coin_index)
                    except ArithmeticError:  # the pool would revert: nothing paid
                        return 0

                # The fewest LP tokens that pay the amount; all of them when that is more than
                # is held (the quote then pays less than the amount, and says so).
                burn = fewest_lp_for(pays, amount, needed, min(held, state.supply)) or min(held, state.supply)
                return self._exit_quote(pays(burn), burn, wallet)
            case WithdrawAll(position):
                if not position.shares:
                    raise InsufficientBalance(f"{self.key}: no LP tokens to withdraw")
                wallet, staked = self._held(results)
                if wallet + staked != position.shares:
                    raise PositionChanged(
                        f"{self.key}: the position read {position.shares} LP tokens; the executor holds {wallet} "
                        f"and has {staked} staked now"
                    )
                (paid,) = decode_result(["uint256"], results[-1], f"{self.key} pool.calc_withdraw_one_coin")
                if paid == 0:
                    raise InvalidAmount(f"{self.key}: {position.shares} LP tokens pay no {self.asset.symbol}")
                return self._exit_quote(paid, position.shares, wallet)
        raise TypeError(f"not an action: {action!r}")

    def _probes(self, amount: int) -> tuple[int, int]:
        """Two burns near what an exit of `amount` takes (the amount in 18 decimals, and half
        of it), at which the pool's own `calc_withdraw_one_coin` checks the port."""
        scaled = amount * 10 ** (18 - self.asset.decimals) if self.asset.decimals <= 18 else amount
        return scaled, max(scaled // 2, 1)

    def _state_reads(self, amount: int) -> list[ReadCall]:
        """The pool's state `withdraw_one_coin` takes, and the pool's own views it is checked on:
        balances, A, LP supply, `calc_withdraw_one_coin` of the two probes; NG's off-peg
        multiplier and rates; for an old pool (its rates are constants it does not expose),
        what one whole coin buys of each other coin, which says the coin's decimals."""
        reads = [
            *(read(self.pool, "balances(uint256)", k) for k in range(self.n_coins)),
            read(self.pool, "A_precise()" if self.kind == "ng" else "A()"),
            read(self.lp_token, "totalSupply()"),
            *(read(self.pool, CALC_ONE, probe, self.coin_index) for probe in self._probes(amount)),
        ]
        if self.kind == "ng":
            return [*reads, read(self.pool, "offpeg_fee_multiplier()"), read(self.pool, "stored_rates()")]
        unit = 10**self.asset.decimals
        others = [k for k in range(self.n_coins) if k != self.coin_index]
        return reads + [read(self.pool, "get_dy(int128,int128,uint256)", self.coin_index, k, unit) for k in others]

    def _decode_balances(self, results: Sequence[ReadResult]) -> list[int]:
        return [decode_result(["uint256"], r, f"{self.key} pool.balances")[0] for r in results]

    def _pool_state(
        self, amount: int, fee: int, balances: list[int], results: Sequence[ReadResult], price_read: ReadResult
    ) -> PoolState | None:
        """The pool's state from `_state_reads`' results after the balances, if the port
        reproduces the pool's own views on it to the unit (the virtual price, both probes);
        None if it does not (another variant of the math) or a read failed."""

        def word(r: ReadResult) -> int | None:
            return decode(["uint256"], r.data)[0] if r.success and len(r.data) >= 32 else None

        amp, supply, probe_paid = word(results[0]), word(results[1]), [word(r) for r in results[2:4]]
        price = word(price_read)
        if not amp or not supply or price is None:
            return None
        if self.kind == "ng":
            multiplier = word(results[4])
            try:
                (rates,) = decode(["uint256[]"], results[5].data) if results[5].success else (None,)
            except Exception:  # a pool without stored_rates(): not NG's math
                return None
            if multiplier is None or rates is None or len(rates) != self.n_coins:
                return None
        else:
            multiplier, rates = 0, []
            others = iter(results[4:])
            for k in range(self.n_coins):
                decimals = self.asset.decimals
                if k != self.coin_index:
                    bought = word(next(others))
                    if not bought:
                        return None
                    decimals = round(math.log10(bought))  # a stable pool's coins trade near par
                if not 0 <= decimals <= 36:
                    return None
                rates.append(10 ** (36 - decimals))
        state = PoolState(tuple(balances), tuple(rates), amp, fee, supply, self.kind == "ng", multiplier)

        def port_pays(burn: int) -> int | None:
            try:
                return withdraw_one_coin(state, burn, self.coin_index)
            except ArithmeticError:  # ZeroDivisionError too: where the pool reverts
                return None

        try:
            if _get_d(state.xp, amp, state.ng) * WAD // supply != price:
                return None
        except ArithmeticError:
            return None
        if any(port_pays(p) != paid for p, paid in zip(self._probes(amount), probe_paid, strict=True)):
            return None
        return state

    def _exit_quote(self, out: int, burn: int, wallet: int) -> list[Expected]:
        unstake = max(burn - wallet, 0)
        quote = [Expected(self.asset.address, out), Expected(self.lp_token, unstake - burn)]
        if self.staking:
            quote.append(Expected(self.staking, -unstake))
        return quote

    # -- balanced exit ---------------------------------------------------------------------
    def balanced_quote_reads(self) -> list[ReadCall]:
        return [
            *(read(self.pool, "balances(uint256)", k) for k in range(self.n_coins)),
            read(self.lp_token, "totalSupply()"),
        ]

    def decode_balanced_quote(self, burn: int, results: Sequence[ReadResult]) -> list[int]:
        """What `remove_liquidity(burn, ...)` pays of each coin: balance * burn / supply, rounded down."""
        check_amount(burn, f"{self.key} balanced exit")
        balances = [decode_result(["uint256"], r, f"{self.key} pool.balances")[0] for r in results[: self.n_coins]]
        (supply,) = decode_result(["uint256"], results[self.n_coins], f"{self.key} lpToken.totalSupply")
        if burn > supply:
            raise InsufficientBalance(f"{self.key}: burning {burn} of {supply} LP tokens")
        return [b * burn // supply for b in balances]

    def balanced_exit_calls(self, burn: int, unstake: int, quoted: Sequence[int], slippage_bps: int) -> list[Call]:
        """Unstake `unstake`, then `remove_liquidity(burn, min_amounts)`, each coin's quote less the slippage."""
        check_amount(burn, f"{self.key} balanced exit")
        if len(quoted) != self.n_coins:
            raise InvalidAmount(f"{self.key}: {len(quoted)} quoted amounts for {self.n_coins} coins")
        if not 0 <= unstake <= burn:
            raise InvalidAmount(f"{self.key}: unstaking {unstake} LP tokens to burn {burn}")
        mins = [max(min_delta(q, slippage_bps), 0) for q in quoted]
        head = self.unstake_calls(unstake) if unstake else []
        return [*head, call(self.pool, self.remove_liquidity_sig, burn, mins)]

    # -- CRV ----------------------------------------------------------------------------
    def _gauge(self) -> str:
        if not self.gauge:
            raise NoGauge(f"{self.key}: no gauge configured")
        return self.gauge

    def _minter(self) -> str:
        # The market config sets the Minter with the gauge; only an adapter built by hand lacks it.
        if not self.minter:
            raise BadInput(f"{self.key}: no Minter configured for the gauge's CRV")
        return self.minter

    def reward_reads(self, account: str) -> list[ReadCall]:
        """The CRV the gauge has accrued to `account` and the Minter has not minted yet, and
        each reward token's `claimable_reward`. None without a gauge: nothing pays rewards."""
        if not self.gauge:
            return []
        return [
            read(self.gauge, CLAIMABLE, account),
            *(read(self.gauge, CLAIMABLE_REWARD, account, token) for token in self.reward_tokens),
        ]

    def curve_rewards(self, results: Sequence[ReadResult]) -> CurveRewards:
        (claimable,) = decode_result(["uint256"], results[0], f"{self.key} gauge.claimable_tokens")
        tokens = tuple(
            (token, decode_result(["uint256"], r, f"{self.key} gauge.claimable_reward")[0])
            for token, r in zip(self.reward_tokens, results[1:], strict=True)
        )
        return CurveRewards(crv=claimable, tokens=tokens)

    def decode_rewards(self, results: Sequence[ReadResult]) -> list[RewardClaimable]:
        """CRV (the Minter's, when the market names the CRV token), then each gauge reward token."""
        if not self.gauge:
            return []
        got = self.curve_rewards(results)
        crv = [RewardClaimable(token=self.crv, amount=got.crv, symbol="CRV")] if self.crv else []
        return crv + [RewardClaimable(token=token, amount=amount) for token, amount in got.tokens]

    def claim_calls(self, account: str) -> list[Call]:
        """The Minter's `mint(gauge)`, which mints the caller's (`account`, the executor's) CRV,
        and, where the gauge pays reward tokens, its `claim_rewards()`, which pays the caller."""
        gauge = self._gauge()
        calls = [call(self._minter(), MINT, gauge)]
        return calls + ([call(gauge, CLAIM_REWARDS)] if self.reward_tokens else [])

    # -- reads ------------------------------------------------------------------------
    def position_reads(self, account: str) -> list[ReadCall]:
        return [*self._held_reads(account), read(self.pool, VIRTUAL_PRICE)]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        """The LP tokens held and staked (shares), at the virtual price (amount, in the coin)."""
        wallet, staked = self._held(results)
        lp = wallet + staked
        if lp == 0:
            return PositionReading(amount=0, shares=0)
        (price,) = decode_result(["uint256"], results[-1], f"{self.key} pool.get_virtual_price")
        return PositionReading(amount=fair_value(lp, price, self.asset.decimals), shares=lp)

    def staked(self, results: Sequence[ReadResult]) -> tuple[int, int]:
        """(in the executor, staked in the gauge) from `position_reads`' results."""
        return self._held(results)

    def exit_value_reads(self, lp: int) -> list[ReadCall]:
        """What burning `lp` LP tokens for the market's coin pays now (a second read: it
        needs the LP balance the position read)."""
        check_amount(lp, f"{self.key} exit value")
        return [read(self.pool, CALC_ONE, lp, self.coin_index)]

    def decode_exit_value(self, results: Sequence[ReadResult]) -> int:
        paid: int = decode_result(["uint256"], results[0], f"{self.key} pool.calc_withdraw_one_coin")[0]
        return paid

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return [*self.position_reads(account), read(self.pool, "balances(uint256)", self.coin_index)]

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        position = self.decode_position(results[:-1]).amount
        (in_pool,) = decode_result(["uint256"], results[-1], f"{self.key} pool.balances")
        withdrawable = min(position, in_pool)
        reason = None
        if withdrawable < position:
            reason = f"the pool holds {in_pool} of {self.asset.symbol}; a one-coin exit cannot take more"
        return LiquidityReading(position=position, market_available=in_pool, withdrawable=withdrawable, reason=reason)

    def rate_reads(self) -> list[ReadCall]:
        return [read(self.pool, VIRTUAL_PRICE)]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        (price,) = decode_result(["uint256"], results[0], f"{self.key} pool.get_virtual_price")
        return RateSnapshot(timestamp=timestamp, growth_index=price * INDEX_SCALE, note=self.rate_note)
