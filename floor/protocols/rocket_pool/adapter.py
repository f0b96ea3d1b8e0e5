"""Rocket Pool: ETH staked for rETH, whose exchange rate grows, and burnt back for ETH at once
while rETH's collateral covers it.

The treasury holds ETH as WETH (the market's `asset`). A deposit unwraps it and stakes it in
one atomic batch: WETH `withdraw(amount)`, then the deposit pool's `deposit()` carrying the
ETH. Before anything is sent the adapter reads RocketStorage's deposit pool (it must still be
the configured one), whether deposits are enabled, the minimum and `getMaximumDepositAmount()`
and refuses by name, with the figure, as the pool would; the rETH minted (net of the deposit
fee, at the reported rate) is the deposit's balance guard.

Position: the rETH balance (as shares) times `getExchangeRate()` / 1e18, rounded down: the
ETH it is worth. The rate moves only when Rocket Pool's oracle DAO submits network balances;
it is the growth index (scaled to 1e27). The quoted rate is the rate's growth between the last
two submissions (`balances.py`: their BalancesUpdated events, over the time between their
slots), compounded once per period for the APY; the report reads the events first
(`rate_logs`, `floor.chain.ratelogs`). Without them (another reader, or one submission so
far) the APY is measured from the index over time.

Exit is instant but bounded: `burn(rethAmount)` pays ETH only while `getTotalCollateral()`
(ETH held by rETH plus the deposit pool's excess) covers it, so liquidity is
min(position, collateral) and a larger withdrawal is refused before sending, saying how much
can be withdrawn now. The ETH a burn pays is wrapped back to WETH in the same batch, so the
treasury's accounting stays in WETH: a withdrawal of `amount` burns the rETH worth at least
`amount` (getRethValue(amount) + 1: a burn rounds down) and wraps exactly `amount`, a
withdrawal of everything burns the whole balance and wraps exactly what it pays
(getEthValue(balance)). The rETH to burn and the ETH to wrap come from the quote, so Rocket
Pool's withdrawals are only built through `protected_calls`; the guards check that the burn
paid at least what is wrapped (the executor's ETH balance may not fall) and that WETH rose by it.

Instant exit beyond the collateral (optional, `instant_exit_pool` configured): rETH sold for
ETH through a Curve ETH/rETH pool, quoted against `getEthValue` first
(`instant_exit_quote_reads`/`decode_instant_exit_quote`) and built with its min-out
(`instant_exit_calls`); see `instant_exit.py`. Liquidity stays the burn's (the collateral).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from eth_utils.crypto import keccak

from floor.adapters.base import (
    Action,
    Adapter,
    Asset,
    Deposit,
    EventLog,
    LiquidityReading,
    LogQuery,
    PositionReading,
    RateSnapshot,
    Withdraw,
    WithdrawAll,
    check_amount,
)
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.errors import InsufficientBalance
from floor.guards import ETH, Expected, guarded
from floor.models import AdapterKey, Call
from floor.permissions import ZERO_ADDRESS, PermissionSet, converted_asset, to_self, token_asset
from floor.protocols.lido.instant_exit import InstantExits
from floor.protocols.rocket_pool.balances import BALANCES_UPDATED, REPORTS, BalancesUpdate, balances_quote
from floor.protocols.rocket_pool.errors import (
    BelowMinimumDeposit,
    DepositPoolFull,
    DepositPoolMoved,
    DepositsDisabled,
    InsufficientCollateral,
)
from floor.protocols.rocket_pool.instant_exit import RethCurveExit

WAD = 10**18
INDEX_SCALE = 10**9  # getExchangeRate (per 1e18) to the growth index's 1e27
POOL_DEPOSIT = "deposit()"
BURN = "burn(uint256)"
WETH_WITHDRAW = "withdraw(uint256)"
WETH_DEPOSIT = "deposit()"


def contract_key(name: str) -> bytes:
    """RocketStorage's key of a network contract's address: keccak256(abi.encodePacked("contract.address", name))."""
    return keccak(b"contract.address" + name.encode())


def burn_margin(rate: int) -> int:
    """The most a burn of getRethValue(amount) + 1 rETH pays beyond `amount`: one rETH unit's
    worth, rounded up (`rate` is getExchangeRate, ETH per 1e18 rETH, rounded down)."""
    return -(-(rate + 1) // WAD)


@dataclass(frozen=True)
class RocketPoolAdapter(InstantExits, Adapter):
    key: AdapterKey
    asset: Asset  # the chain's WETH
    rocket_storage: str
    deposit_pool: str
    reth: str
    instant_exit_pool: str | None = None  # a Curve ETH/rETH pool (instant_exit.py)
    balances: tuple[BalancesUpdate, ...] | None = None  # the last submissions (`with_rate_logs`), oldest first
    yield_source = "exchange_rate"  # rETH's balance stays; its ETH value grows

    # -- writes -----------------------------------------------------------------------
    def deposit_calls(self, amount: int, account: str) -> list[Call]:
        """Unwrap `amount` of WETH and stake it in the deposit pool. No plain withdrawal goes
        with it (the burn is sized by the exchange rate, from a quote): not a `RawWrites` adapter."""
        check_amount(amount, f"{self.key} deposit")
        return [
            call(self.asset.address, WETH_WITHDRAW, amount),
            call(self.deposit_pool, POOL_DEPOSIT, value=amount),
        ]

    def burn_calls(self, reth_amount: int, wrap: int) -> list[Call]:
        """Burn `reth_amount` of rETH and wrap `wrap` wei of the ETH it pays back to WETH."""
        check_amount(reth_amount, f"{self.key} burn")
        check_amount(wrap, f"{self.key} wrap")
        return [call(self.reth, BURN, reth_amount), call(self.asset.address, WETH_DEPOSIT, value=wrap)]

    def protected_calls(self, action: Action, account: str, quote: Sequence[Expected], slippage_bps: int) -> list[Call]:
        if isinstance(action, Deposit):
            return guarded(account, self.deposit_calls(action.amount, account), quote, slippage_bps)
        wrap = next(e.delta for e in quote if e.token == self.asset.address)
        burn = -next(e.delta for e in quote if e.token == self.reth)
        # The amounts are exact (the burn takes exactly its rETH, the wrap exactly its ETH):
        # no slippage on these guards.
        return guarded(account, self.burn_calls(burn, wrap), quote, 0)

    def permissions(self) -> PermissionSet:
        # deposit() and WETH's deposit() carry ETH; burn and WETH's withdraw pay their caller.
        # ETH, WETH and rETH (at getEthValue) are valued.
        instant = [self.instant_exit.permissions()] if self.instant_exit else []
        eth, weth = token_asset(ZERO_ADDRESS, "WETH", 18), token_asset(self.asset.address, "WETH", 18)
        reth = converted_asset(self.reth, "WETH", 18, self.reth, "getEthValue(uint256)")
        return PermissionSet.union(
            [
                to_self(self.asset.address, WETH_WITHDRAW, assets=[weth, eth]),
                to_self(self.asset.address, WETH_DEPOSIT, carries_value=True, assets=[weth, eth]),
                to_self(self.deposit_pool, POOL_DEPOSIT, carries_value=True, assets=[eth, reth]),
                to_self(self.reth, BURN, assets=[reth, eth]),
                *instant,
            ]
        )

    # -- instant exit (a Curve ETH/rETH pool): `InstantExits` ----------------------------
    exit_route = RethCurveExit
    no_pool = "rETH leaves by burning it"

    def staked_token(self) -> str:
        return self.reth

    # -- quotes ------------------------------------------------------------------------
    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        match action:
            case Deposit(amount):
                return [
                    read(self.rocket_storage, "getAddress(bytes32)", contract_key("rocketDepositPool")),
                    read(self.deposit_pool, "getDepositEnabled()"),
                    read(self.deposit_pool, "getMinimumDeposit()"),
                    read(self.deposit_pool, "getMaximumDepositAmount()"),
                    read(self.deposit_pool, "getDepositFee()"),
                    read(self.reth, "getRethValue(uint256)", amount),
                ]
            case Withdraw(amount):
                return [
                    read(self.reth, "getRethValue(uint256)", amount),
                    read(self.reth, "balanceOf(address)", account),
                    read(self.reth, "getTotalCollateral()"),
                    read(self.reth, "getExchangeRate()"),
                ]
            case WithdrawAll(position):
                return [
                    read(self.reth, "getEthValue(uint256)", position.shares or 0),
                    read(self.reth, "getTotalCollateral()"),
                    read(self.reth, "getExchangeRate()"),
                ]
        raise TypeError(f"not an action: {action!r}")

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        match action:
            case Deposit(amount):
                return [Expected(self.reth, self._check_deposit(amount, results))]
            case Withdraw(amount):
                (reth_value,) = decode_result(["uint256"], results[0], f"{self.key} rETH.getRethValue")
                (balance,) = decode_result(["uint256"], results[1], f"{self.key} rETH.balanceOf")
                collateral, rate = self._collateral_and_rate(results[2], results[3])
                position = balance * rate // WAD
                if amount > position:
                    raise InsufficientBalance(
                        f"{self.key}: withdrawing {amount} wei, the executor's {balance} rETH are worth {position} wei"
                    )
                self._check_collateral(amount + burn_margin(rate), collateral, rate, position)
                burn = min(reth_value + 1, balance)  # worth at least `amount`: a burn rounds down
                return [Expected(self.asset.address, amount), Expected(ETH, 0), Expected(self.reth, -burn)]
            case WithdrawAll(position):
                if not position.shares:
                    raise InsufficientBalance(f"{self.key}: no rETH to burn")
                (paid,) = decode_result(["uint256"], results[0], f"{self.key} rETH.getEthValue")
                collateral, rate = self._collateral_and_rate(results[1], results[2])
                self._check_collateral(paid, collateral, rate, position.amount)
                return [Expected(self.asset.address, paid), Expected(ETH, 0), Expected(self.reth, -position.shares)]
        raise TypeError(f"not an action: {action!r}")

    def _check_deposit(self, amount: int, results: Sequence[ReadResult]) -> int:
        """Refuse, before sending, a deposit the pool would refuse, in its order; the rETH it
        mints at least (net of the fee, at the reported rate)."""
        what = f"{self.key} depositPool"
        (registered,) = decode_result(["address"], results[0], f"{self.key} rocketStorage.getAddress")
        (enabled,) = decode_result(["bool"], results[1], f"{what}.getDepositEnabled")
        (minimum,) = decode_result(["uint256"], results[2], f"{what}.getMinimumDeposit")
        (most,) = decode_result(["uint256"], results[3], f"{what}.getMaximumDepositAmount")
        fee: int = decode_result(["uint256"], results[4], f"{what}.getDepositFee")[0]
        reth_value: int = decode_result(["uint256"], results[5], f"{self.key} rETH.getRethValue")[0]
        if registered.lower() != self.deposit_pool.lower():
            raise DepositPoolMoved(
                f"{self.key}: RocketStorage names {registered} as the deposit pool, not the configured "
                f"{self.deposit_pool}; update the market and the executor's rules"
            )
        if not enabled:
            raise DepositsDisabled(f"{self.key}: deposits into Rocket Pool are disabled")
        if amount < minimum:
            raise BelowMinimumDeposit(f"{self.key}: a deposit of {amount} wei is below the minimum of {minimum} wei")
        if amount > most:
            raise DepositPoolFull(
                f"{self.key}: a deposit of {amount} wei is above what the deposit pool takes now ({most} wei)"
            )
        net = amount - amount * fee // WAD
        # rETH minted is floor(net * supply / total); getRethValue(amount) is floor(amount * supply / total).
        return net * reth_value // amount

    def _collateral_and_rate(self, collateral: ReadResult, rate: ReadResult) -> tuple[int, int]:
        (c,) = decode_result(["uint256"], collateral, f"{self.key} rETH.getTotalCollateral")
        (r,) = decode_result(["uint256"], rate, f"{self.key} rETH.getExchangeRate")
        return c, r

    def _check_collateral(self, paid: int, collateral: int, rate: int, position: int) -> None:
        if paid > collateral:
            now = withdrawable_now(position, collateral, rate)
            raise InsufficientCollateral(
                f"{self.key}: the burn pays up to {paid} wei and rETH's collateral covers {collateral} wei; "
                f"{now} wei can be withdrawn now (about {now * WAD // rate if rate else 0} rETH burnt)"
            )

    # -- reads ------------------------------------------------------------------------
    def position_reads(self, account: str) -> list[ReadCall]:
        return [read(self.reth, "balanceOf(address)", account), read(self.reth, "getExchangeRate()")]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        (balance,) = decode_result(["uint256"], results[0], f"{self.key} rETH.balanceOf")
        (rate,) = decode_result(["uint256"], results[1], f"{self.key} rETH.getExchangeRate")
        return PositionReading(amount=balance * rate // WAD, shares=balance)

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return [*self.position_reads(account), read(self.reth, "getTotalCollateral()")]

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        position = self.decode_position(results[:2]).amount
        collateral, rate = self._collateral_and_rate(results[2], results[1])
        now = withdrawable_now(position, collateral, rate)
        reason = None
        if now < position:
            reason = f"rETH's collateral (its ETH and the deposit pool's excess) covers {collateral} wei now"
        return LiquidityReading(position=position, market_available=collateral, withdrawable=now, reason=reason)

    def tvl_reads(self) -> list[ReadCall]:
        return [read(self.reth, "totalSupply()"), read(self.reth, "getExchangeRate()")]

    def decode_tvl(self, results: Sequence[ReadResult]) -> int:
        supply: int = decode_result(["uint256"], results[0], f"{self.key} rETH.totalSupply")[0]
        rate: int = decode_result(["uint256"], results[1], f"{self.key} rETH.getExchangeRate")[0]
        return supply * rate // 10**18  # ETH behind every rETH, as getEthValue(totalSupply) rounds

    def rate_reads(self) -> list[ReadCall]:
        return [read(self.reth, "getExchangeRate()")]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        (rate,) = decode_result(["uint256"], results[0], f"{self.key} rETH.getExchangeRate")
        index = rate * INDEX_SCALE
        if self.balances is None:
            return RateSnapshot(timestamp=timestamp, growth_index=index, note="Rocket Pool's balances were not read")
        apr, apy, note = balances_quote(self.balances)
        return RateSnapshot(timestamp=timestamp, growth_index=index, quoted_apr=apr, quoted_apy=apy, note=note)

    def rate_logs(self) -> LogQuery:
        # RocketNetworkBalances is upgraded with the network: the one RocketStorage names now.
        network_balances = read(self.rocket_storage, "getAddress(bytes32)", contract_key("rocketNetworkBalances"))
        return LogQuery(topic0=BALANCES_UPDATED, count=REPORTS, resolve=network_balances)

    def with_rate_logs(self, logs: Sequence[EventLog]) -> RocketPoolAdapter:
        return replace(self, balances=tuple(BalancesUpdate.from_log(e) for e in logs))


def withdrawable_now(position: int, collateral: int, rate: int) -> int:
    """What a withdrawal can take now: the position, up to the collateral less one burn's rounding."""
    if position == 0:
        return 0
    return min(position, max(collateral - burn_margin(rate), 0))
