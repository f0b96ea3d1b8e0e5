"""Aave V3 Pool, and its forks with the same ABI (Spark).

Position: the aToken balance (it grows with the liquidity index). Rate: the reserve's
currentLiquidityRate, a ray APR, plus the normalised income as the growth index.
Liquidity: the pool's virtual balance of the reserve (`getVirtualUnderlyingBalance`, from
v3.1), which is what a withdrawal can take: tokens sent straight to the aToken raise its
holdings but not that; on a pool without the view (v3.0) it is the underlying the aToken
holds. A paused or inactive reserve lets
nothing out. Deposits are checked against the reserve's state before anything is sent: paused,
inactive or frozen reserves and a supply cap the deposit would pass refuse it by name. The
cap check is the pool's: before validating a supply the pool brings the reserve up to date,
adding the treasury's share of the interest since the last update to `accruedToTreasury`
(V3.5's `ReserveLogic._accrueToTreasury`), and that share counts towards the cap. So when the
market config names the reserve's variable debt token the quote also reads the normalised
variable debt and the debt's scaled total, and accrues the treasury's share as the pool will
at the quote's block; without it only what is already accrued is counted.

Neither supply nor withdraw takes a min-out, so both are balance-guarded: a supply must raise
the aToken balance by the amount less Aave's rounding, a withdrawal must pay the underlying
in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from floor.adapters.base import (
    MAX_UINT256,
    RAY,
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
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.errors import BadInput, InvalidAmount
from floor.guards import Expected
from floor.models import AdapterKey, Call
from floor.permissions import Membership, PermissionSet, approval, in_list, list_id, to_self, word_of
from floor.protocols.aave_v3.errors import ReserveFrozen, ReserveInactive, ReservePaused, SupplyCapExceeded
from floor.protocols.aave_v3.reserve import (
    ACCRUED_TO_TREASURY,
    CONFIGURATION,
    CURRENT_LIQUIDITY_RATE,
    RESERVE_DATA,
    VARIABLE_BORROW_INDEX,
    VARIABLE_DEBT_TOKEN,
    ReserveFlags,
)
from floor.protocols.aave_v3.wadray import a_token_balance, a_token_mint_scaled, treasury_accrual
from floor.rates import apr_from_ray

SUPPLY = "supply(address,uint256,address,uint16)"
WITHDRAW = "withdraw(address,uint256,address)"


@dataclass(frozen=True)
class AaveV3Adapter(RawWrites, Adapter):
    key: AdapterKey
    asset: Asset
    pool: str
    a_token: str
    variable_debt_token: str | None = None  # read for the treasury's accrual in the cap check
    yield_source = "rebase"  # the aToken balance grows with the liquidity index

    def deposit_calls(self, amount: int, account: str) -> list[Call]:
        check_amount(amount, f"{self.key} deposit")
        return self._approved(self.pool, amount, call(self.pool, SUPPLY, self.asset.address, amount, account, 0))

    def withdraw_calls(self, amount: int, account: str) -> list[Call]:
        check_amount(amount, f"{self.key} withdraw")
        return [call(self.pool, WITHDRAW, self.asset.address, amount, account)]

    def withdraw_all_calls(self, position: PositionReading, account: str) -> list[Call]:
        # max uint makes the Pool take the balance at execution time, interest included.
        return [call(self.pool, WITHDRAW, self.asset.address, MAX_UINT256, account)]

    def permissions(self) -> PermissionSet:
        # supply's onBehalfOf and withdraw's `to` are word 2: they must be the executor; the
        # reserve (word 0) one of the treasury's markets on this pool.
        reserves = list_id("aave.reserves", self.pool)

        # The reserve named (word 0) keys the assets valued: this one's asset and aToken only.
        def scoped(signature: str) -> PermissionSet:
            return to_self(
                self.pool,
                signature,
                2,
                conditions=[in_list(0, reserves)],
                members=[Membership(reserves, self.asset.address)],
                key=(1, 1),
                keyed={word_of(self.asset.address): [self.held(), self.held(self.a_token)]},
            )

        return PermissionSet.union([approval(self.asset.address, self.pool), scoped(SUPPLY), scoped(WITHDRAW)])

    # -- quotes ------------------------------------------------------------------------
    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        if isinstance(action, Deposit):
            reads = [
                read(self.pool, "getReserveData(address)", self.asset.address),
                read(self.pool, "getReserveNormalizedIncome(address)", self.asset.address),
                read(self.a_token, "scaledTotalSupply()"),
            ]
            if self.variable_debt_token is not None:
                reads += [
                    read(self.pool, "getReserveNormalizedVariableDebt(address)", self.asset.address),
                    read(self.variable_debt_token, "scaledTotalSupply()"),
                ]
            return reads
        return []

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        match action:
            case Deposit(amount):
                reserve = self._reserve(results[0])
                (index,) = decode_result(["uint256"], results[1], f"{self.key} getReserveNormalizedIncome")
                (scaled_supply,) = decode_result(["uint256"], results[2], f"{self.key} aToken.scaledTotalSupply")
                accruing = self._treasury_accrual(reserve, index, results[3:5])
                self._check_supply(amount, reserve, index, scaled_supply, accruing)
                # From v3.5 the supply mints floor(amount / index) scaled units and balances
                # round down: the balance rises by the amount less at most ceil(index) units.
                # That bound also covers the half-up rounding of earlier versions.
                rounding = -(-index // RAY)  # ceil(index / RAY)
                return [Expected(self.a_token, amount - rounding)]
            case Withdraw(amount):
                return [Expected(self.asset.address, amount)]
            case WithdrawAll(position):
                return [Expected(self.asset.address, position.amount)]
        raise TypeError(f"not an action: {action!r}")

    def _treasury_accrual(self, reserve: tuple[Any, ...], index: int, results: Sequence[ReadResult]) -> int:
        """The scaled aTokens the pool's state update will add to `accruedToTreasury` before it
        validates a supply at the quote's block: 0 when the debt token is not configured."""
        if self.variable_debt_token is None:
            return 0
        if reserve[VARIABLE_DEBT_TOKEN].lower() != self.variable_debt_token.lower():
            raise BadInput(
                f"{self.key}: the market config names {self.variable_debt_token} as the variable debt token; "
                f"the pool reports {reserve[VARIABLE_DEBT_TOKEN]}"
            )
        (borrow_index,) = decode_result(["uint256"], results[0], f"{self.key} getReserveNormalizedVariableDebt")
        (scaled_debt,) = decode_result(["uint256"], results[1], f"{self.key} variableDebtToken.scaledTotalSupply")
        flags = ReserveFlags.of(reserve[CONFIGURATION][0])
        return treasury_accrual(scaled_debt, reserve[VARIABLE_BORROW_INDEX], borrow_index, flags.reserve_factor, index)

    def _check_supply(
        self, amount: int, reserve: tuple[Any, ...], index: int, scaled_supply: int, accruing: int = 0
    ) -> None:
        """Refuse, before sending, a supply the pool would refuse, as its
        ValidationLogic.validateSupply does and in its order. `accruing` is the treasury's
        share the pool adds first (ReserveLogic.updateState), in scaled aTokens."""
        flags = ReserveFlags.of(reserve[CONFIGURATION][0])
        scaled = a_token_mint_scaled(amount, index)
        if scaled == 0:
            raise InvalidAmount(f"{self.key}: a supply of {amount} base units mints no aToken at index {index}")
        if not flags.active:
            raise ReserveInactive(f"{self.key}: the reserve is not active; it takes no deposit")
        if flags.paused:
            raise ReservePaused(f"{self.key}: the reserve is paused; it takes no deposit")
        if flags.frozen:
            raise ReserveFrozen(f"{self.key}: the reserve is frozen; it takes no new deposit")
        if flags.supply_cap:
            cap = flags.supply_cap * 10**flags.decimals
            accrued = reserve[ACCRUED_TO_TREASURY] + accruing
            supplied = a_token_balance(scaled_supply + accrued, index)
            if a_token_balance(scaled_supply + scaled + accrued, index) > cap:
                room = max(cap - supplied, 0)
                raise SupplyCapExceeded(
                    f"{self.key}: a deposit of {amount} base units would pass the reserve's supply cap of "
                    f"{flags.supply_cap} whole tokens; about {room} base units are left under it"
                )

    # -- reads ------------------------------------------------------------------------
    def position_reads(self, account: str) -> list[ReadCall]:
        return [read(self.a_token, "balanceOf(address)", account)]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        (balance,) = decode_result(["uint256"], results[0], f"{self.key} aToken.balanceOf")
        return PositionReading(amount=balance)

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return [
            *self.position_reads(account),
            read(self.pool, "getReserveData(address)", self.asset.address),
            read(self.pool, "getVirtualUnderlyingBalance(address)", self.asset.address),
            read(self.asset.address, "balanceOf(address)", self.a_token),
        ]

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        position = self.decode_position(results[:1]).amount
        flags = ReserveFlags.of(self._reserve(results[1])[CONFIGURATION][0])
        available = self._available(results[2], results[3])
        if flags.paused or not flags.active:
            reason = "the reserve is paused" if flags.paused else "the reserve is not active"
            return LiquidityReading(position=position, market_available=available, withdrawable=0, reason=reason)
        return LiquidityReading(position=position, market_available=available, withdrawable=min(position, available))

    def _available(self, virtual: ReadResult, held: ReadResult) -> int:
        """What a withdrawal can take now: the virtual balance where the pool keeps one (from
        v3.1; a v3.0 pool has no such view and the call reverts)."""
        if virtual.success:
            virtual_balance: int = decode_result(["uint128"], virtual, f"{self.key} getVirtualUnderlyingBalance")[0]
            return virtual_balance
        balance: int = decode_result(["uint256"], held, f"{self.key} underlying held by the aToken")[0]
        return balance

    def tvl_reads(self) -> list[ReadCall]:
        return [read(self.a_token, "totalSupply()")]

    def decode_tvl(self, results: Sequence[ReadResult]) -> int:
        total: int = decode_result(["uint256"], results[0], f"{self.key} aToken.totalSupply")[0]
        return total

    def rate_reads(self) -> list[ReadCall]:
        return [
            read(self.pool, "getReserveData(address)", self.asset.address),
            read(self.pool, "getReserveNormalizedIncome(address)", self.asset.address),
        ]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        reserve = self._reserve(results[0])
        (income,) = decode_result(["uint256"], results[1], f"{self.key} getReserveNormalizedIncome")
        return RateSnapshot(
            timestamp=timestamp, growth_index=income, quoted_apr=apr_from_ray(reserve[CURRENT_LIQUIDITY_RATE])
        )

    def _reserve(self, result: ReadResult) -> tuple[Any, ...]:
        reserve: tuple[Any, ...] = decode_result([RESERVE_DATA], result, f"{self.key} getReserveData")[0]
        return reserve
