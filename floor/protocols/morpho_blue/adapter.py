"""Morpho Blue: one isolated market of the Morpho singleton, identified by its parameters
(loan token, collateral token, oracle, IRM, LLTV). Every call takes the MarketParams tuple
itself (Morpho hashes it to the id), never the id.

Position: the executor's supply shares (`position(id, executor)`) valued with the market's
totals after interest is accrued to the block, rounded down with Morpho's virtual shares
(1e6) and assets (1): what MorphoBalancesLib's `expectedSupplyAssets` gives. The reads
first call `accrueInterest(params)` (permissionless; Multicall3's aggregate3 makes plain
calls, so it runs inside the read's eth_call and nothing is sent), so `market(id)` read after
it in the same batch carries Morpho's own accrual (the IRM's rate, wTaylorCompounded, the
fee shares) exactly. `expected_market` is the same accrual from a stored market and the IRM's
`borrowRateView`, for checks and for callers holding both. Liquidity: total supply assets
less total borrow assets, capped by the position. Rate: the growth index is the expected
assets per share (1e27); the quoted supply APR is borrow rate x utilisation x (1 - fee)
(`supply_apr`) and the APY Morpho's own (`supply_apy`: the borrow rate wTaylorCompounded over
a year, x (1 - fee) x utilisation). The borrow rate is the one the IRM's `borrowRateView`
gives for the accrued market; one batch cannot feed a read's result into another's
arguments, so the rate reads the IRM's state after the accrual instead and computes that rate
as the IRM does (`irm.py`: AdaptiveCurveIrm's `rateAtTarget`, the local linear IRM's
parameters). An IRM neither of those quotes nothing and its APY is measured from the index;
`borrow_rate_reads` reads `borrowRateView` itself to a caller that reads twice.

Deposits and withdrawals take no min-out: both are balance-guarded on the loan token (a
supply pulls exactly `assets`; a withdrawal pays exactly `assets`; withdrawing everything
burns every share and pays what they are worth then, never less than the quote).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from floor.adapters.base import (
    RAY,
    SECONDS_PER_YEAR,
    Action,
    Adapter,
    Asset,
    Deposit,
    LiquidityReading,
    PositionReading,
    RateSnapshot,
    RawWrites,
    Withdraw,
    WithdrawAll,
    check_amount,
)
from floor.calls import ReadCall, ReadFailed, ReadResult, call, decode_result, read
from floor.errors import InsufficientBalance, InsufficientLiquidity, InvalidAmount
from floor.guards import Expected
from floor.models import AdapterKey, Call
from floor.permissions import (
    ZERO_ADDRESS,
    Membership,
    PermissionSet,
    approval,
    hash_in_list,
    holder_asset,
    list_id,
    to_self,
)
from floor.protocols.morpho_blue.errors import MarketNotCreated
from floor.protocols.morpho_blue.irm import (
    LINEAR_BASE,
    LINEAR_SLOPE,
    RATE_AT_TARGET,
    adaptive_curve_rate,
    linear_rate,
    word,
)

MARKET_PARAMS = "(address,address,address,address,uint256)"
MARKET = "(uint128,uint128,uint128,uint128,uint128,uint128)"
SUPPLY = f"supply({MARKET_PARAMS},uint256,uint256,address,bytes)"
WITHDRAW = f"withdraw({MARKET_PARAMS},uint256,uint256,address,address)"
SUPPLY_ASSETS = "supplyAssets(address,bytes32,address)"  # MorphoSupplyValuer
ACCRUE_INTEREST = f"accrueInterest({MARKET_PARAMS})"
BORROW_RATE_VIEW = f"borrowRateView({MARKET_PARAMS},{MARKET})"
# The head words of supply's and withdraw's arguments: the tuple is static, inlined as five
# words (0-4), then assets (5), shares (6), onBehalf (7), and data's offset or receiver (8).
PARAMS_WORDS = 5
ON_BEHALF_WORD = PARAMS_WORDS + 2
RECEIVER_WORD = PARAMS_WORDS + 3

WAD = 10**18
VIRTUAL_SHARES = 10**6
VIRTUAL_ASSETS = 1


@dataclass(frozen=True)
class MarketState:
    """Morpho's Market struct (the totals, lastUpdate, fee)."""

    total_supply_assets: int
    total_supply_shares: int
    total_borrow_assets: int
    total_borrow_shares: int
    last_update: int
    fee: int

    def as_tuple(self) -> tuple[int, ...]:
        return (
            self.total_supply_assets,
            self.total_supply_shares,
            self.total_borrow_assets,
            self.total_borrow_shares,
            self.last_update,
            self.fee,
        )

    @property
    def available(self) -> int:
        """What suppliers can withdraw now: supply not lent out."""
        return max(self.total_supply_assets - self.total_borrow_assets, 0)


# -- Morpho's arithmetic (MathLib, SharesMathLib, MorphoBalancesLib) -----------------------
def w_mul_down(x: int, y: int) -> int:
    return x * y // WAD


def w_taylor_compounded(x: int, n: int) -> int:
    """e^(x n) - 1 by the first three terms of its Taylor series, as MathLib.wTaylorCompounded."""
    first = x * n
    second = first * first // (2 * WAD)
    third = second * first // (3 * WAD)
    return first + second + third


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    return assets * (total_shares + VIRTUAL_SHARES) // (total_assets + VIRTUAL_ASSETS)


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    return shares * (total_assets + VIRTUAL_ASSETS) // (total_shares + VIRTUAL_SHARES)


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    d = total_assets + VIRTUAL_ASSETS
    return (assets * (total_shares + VIRTUAL_SHARES) + d - 1) // d


def expected_market(market: MarketState, borrow_rate: int, now: int) -> MarketState:
    """The market after interest accrued to `now` at the IRM's `borrow_rate` (per second,
    WAD), as MorphoBalancesLib.expectedMarketBalances computes it: interest on the borrow,
    compounded by wTaylorCompounded, added to both totals; the fee's part minted as supply
    shares to the fee recipient."""
    elapsed = now - market.last_update
    if elapsed <= 0 or market.total_borrow_assets == 0:
        return market
    interest = w_mul_down(market.total_borrow_assets, w_taylor_compounded(borrow_rate, elapsed))
    supply_assets = market.total_supply_assets + interest
    supply_shares = market.total_supply_shares
    if market.fee:
        fee_amount = w_mul_down(interest, market.fee)
        supply_shares += to_shares_down(fee_amount, supply_assets - fee_amount, supply_shares)
    return MarketState(
        supply_assets,
        supply_shares,
        market.total_borrow_assets + interest,
        market.total_borrow_shares,
        now,
        market.fee,
    )


def utilization(market: MarketState) -> int:
    """Borrowed over supplied, WAD (0 on an empty market)."""
    if market.total_supply_assets == 0:
        return 0
    return market.total_borrow_assets * WAD // market.total_supply_assets


def supply_apr(borrow_rate: int, market: MarketState) -> float:
    """Suppliers' APR: the borrow rate per second (WAD) x seconds per year x utilisation x
    (1 - fee). An APR: Morpho compounds at each interaction."""
    return borrow_rate * SECONDS_PER_YEAR / WAD * utilization(market) / WAD * (1 - market.fee / WAD)


def supply_apy(borrow_rate: int, market: MarketState) -> int:
    """Suppliers' APY (WAD) as Morpho computes it (morpho-blue-snippets' supplyAPY, Morpho's
    docs): the borrow APY, wTaylorCompounded(borrow rate, 365 days), x (1 - fee) x utilisation
    (wDivUp), each product wMulDown."""
    if market.total_borrow_assets == 0 or market.total_supply_assets == 0:
        return 0
    borrow_apy = w_taylor_compounded(borrow_rate, SECONDS_PER_YEAR)
    used = -(-market.total_borrow_assets * WAD // market.total_supply_assets)  # wDivUp
    return w_mul_down(w_mul_down(borrow_apy, WAD - market.fee), used)


def market_id(params: tuple[str, str, str, str, int]) -> bytes:
    """Morpho's Id: keccak256(abi.encode(MarketParams))."""
    return keccak(encode(["address", "address", "address", "address", "uint256"], list(params)))


@dataclass(frozen=True)
class MorphoBlueAdapter(RawWrites, Adapter):
    key: AdapterKey
    asset: Asset  # the market's loan token
    morpho: str
    collateral_token: str
    oracle: str
    irm: str
    lltv: int
    supply_valuer: str | None = None  # MorphoSupplyValuer: what the executor's supply is worth

    @cached_property
    def params(self) -> tuple[str, str, str, str, int]:
        """The MarketParams tuple every Morpho call takes."""
        return (self.asset.address, self.collateral_token, self.oracle, self.irm, self.lltv)

    @cached_property
    def id(self) -> bytes:
        return market_id(self.params)

    # -- writes -----------------------------------------------------------------------
    def deposit_calls(self, amount: int, account: str) -> list[Call]:
        check_amount(amount, f"{self.key} deposit")
        return self._approved(self.morpho, amount, call(self.morpho, SUPPLY, self.params, amount, 0, account, b""))

    def withdraw_calls(self, amount: int, account: str) -> list[Call]:
        check_amount(amount, f"{self.key} withdraw")
        return [call(self.morpho, WITHDRAW, self.params, amount, 0, account, account)]

    def withdraw_all_calls(self, position: PositionReading, account: str) -> list[Call]:
        # By shares: every share is burnt, so no dust stays (by assets, shares round up).
        if not position.shares:
            raise InvalidAmount(f"{self.key}: no supply shares to withdraw")
        return [call(self.morpho, WITHDRAW, self.params, 0, position.shares, account, account)]

    def permissions(self) -> PermissionSet:
        return PermissionSet.union(
            [
                approval(self.asset.address, self.morpho),
                self._scoped(SUPPLY, ON_BEHALF_WORD),
                self._scoped(WITHDRAW, ON_BEHALF_WORD, RECEIVER_WORD),
            ]
        )

    def _scoped(self, signature: str, *words: int) -> PermissionSet:
        """Morpho's `signature` with the executor at `words`. The MarketParams (words 0-4) must hash to a market id on the owner's list (this
        market's: not an attacker's market with the same loan token, nor a zero-IRM one); the
        loan token and the executor's supply in the market are valued around the batch."""
        markets = list_id("morpho.markets", self.morpho)
        position = holder_asset(
            list_id("asset.morpho-supply", self.morpho, self.id),
            self.asset.symbol,
            self.asset.decimals,
            self.supply_valuer or ZERO_ADDRESS,
            SUPPLY_ASSETS,
            self.morpho,
            self.id,
        )
        return to_self(
            self.morpho,
            signature,
            *words,
            conditions=[hash_in_list(0, PARAMS_WORDS, markets)],
            members=[Membership(markets, self.id)],
            key=(1, PARAMS_WORDS),  # the market id keys what is valued: this market's only
            keyed={self.id: [self.held(), position]},
        )

    # -- quotes ------------------------------------------------------------------------
    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        if isinstance(action, Deposit):
            return self._market_reads()
        return self.position_reads(account)

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        market = self._market(results)
        match action:
            case Deposit(amount):
                if to_shares_down(amount, market.total_supply_assets, market.total_supply_shares) == 0:
                    raise InvalidAmount(f"{self.key}: a supply of {amount} base units mints no share")
                return [Expected(self.asset.address, -amount)]
            case Withdraw(amount):
                held = self._assets(market, self._shares(results))
                if amount > held:
                    raise InsufficientBalance(f"{self.key}: withdrawing {amount} base units of a position of {held}")
                self._check_available(amount, market)
                return [Expected(self.asset.address, amount)]
            case WithdrawAll(position):
                shares = position.shares or 0
                if shares > self._shares(results):
                    raise InsufficientBalance(f"{self.key}: the executor holds fewer than {shares} supply shares")
                assets = self._assets(market, shares)
                self._check_available(assets, market)
                return [Expected(self.asset.address, assets)]
        raise TypeError(f"not an action: {action!r}")

    def _check_available(self, amount: int, market: MarketState) -> None:
        if amount > market.available:
            raise InsufficientLiquidity(
                f"{self.key}: withdrawing {amount} base units, the market has {market.available} not lent out"
            )

    # -- reads ------------------------------------------------------------------------
    def position_reads(self, account: str) -> list[ReadCall]:
        return [*self._market_reads(), read(self.morpho, "position(bytes32,address)", self.id, account)]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        market = self._market(results)
        shares = self._shares(results)
        return PositionReading(amount=self._assets(market, shares), shares=shares)

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return self.position_reads(account)

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        market = self._market(results)
        position = self._assets(market, self._shares(results))
        return LiquidityReading(
            position=position, market_available=market.available, withdrawable=min(position, market.available)
        )

    def tvl_reads(self) -> list[ReadCall]:
        return self._market_reads()

    def decode_tvl(self, results: Sequence[ReadResult]) -> int:
        return self._market(results).total_supply_assets

    def rate_reads(self) -> list[ReadCall]:
        # After accrueInterest: the IRM's state as the accrual left it (irm.py).
        return [
            *self._market_reads(),
            read(self.irm, RATE_AT_TARGET, self.id),
            read(self.irm, LINEAR_BASE),
            read(self.irm, LINEAR_SLOPE),
        ]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        market = self._market(results)
        index = (market.total_supply_assets + VIRTUAL_ASSETS) * RAY // (market.total_supply_shares + VIRTUAL_SHARES)
        rate = self._borrow_rate_now(market, results[2:5])
        if rate is None:
            note = f"the IRM {self.irm} is neither Morpho's AdaptiveCurveIrm nor the linear IRM: no rate from its state"
            return RateSnapshot(timestamp=timestamp, growth_index=index, note=note)
        return RateSnapshot(
            timestamp=timestamp,
            growth_index=index,
            quoted_apr=supply_apr(rate, market),
            quoted_apy=supply_apy(rate, market) / WAD,
        )

    def _borrow_rate_now(self, market: MarketState, irm: Sequence[ReadResult]) -> int | None:
        """The IRM's borrow rate for the accrued `market`, from the IRM's state (irm.py); None
        for an IRM this cannot model."""
        at_target, base, slope = word(irm[0], signed=True), word(irm[1]), word(irm[2])
        if at_target is not None:
            return adaptive_curve_rate(at_target, market.total_borrow_assets, market.total_supply_assets)
        if base is not None and slope is not None:
            return linear_rate(base, slope, market.total_borrow_assets, market.total_supply_assets)
        return None

    def borrow_rate_reads(self, market: MarketState) -> list[ReadCall]:
        """The IRM's borrow rate for `market` (read first): a second read, for the quoted APR."""
        return [read(self.irm, BORROW_RATE_VIEW, self.params, market.as_tuple())]

    def decode_borrow_rate(self, results: Sequence[ReadResult]) -> int:
        rate: int = decode_result(["uint256"], results[0], f"{self.key} irm.borrowRateView")[0]
        return rate

    # -- helpers ----------------------------------------------------------------------
    def _market_reads(self) -> list[ReadCall]:
        # accrueInterest first: the market read after it, in the same eth_call, is accrued.
        return [read(self.morpho, ACCRUE_INTEREST, self.params), read(self.morpho, "market(bytes32)", self.id)]

    def _market(self, results: Sequence[ReadResult]) -> MarketState:
        market = MarketState(*decode_result(["uint128"] * 6, results[1], f"{self.key} morpho.market"))
        if market.last_update == 0:
            raise MarketNotCreated(f"{self.key}: Morpho has no market with id 0x{self.id.hex()}")
        if not results[0].success:
            raise ReadFailed(f"{self.key}: morpho.accrueInterest reverted; the market's totals would be stale")
        return market

    def _shares(self, results: Sequence[ReadResult]) -> int:
        shares: int = decode_result(["uint256", "uint128", "uint128"], results[2], f"{self.key} morpho.position")[0]
        return shares

    @staticmethod
    def _assets(market: MarketState, shares: int) -> int:
        return to_assets_down(shares, market.total_supply_assets, market.total_supply_shares)
