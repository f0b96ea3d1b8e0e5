"""Aave V3 Pool, and its forks with the same ABI (Spark).

Position: the aToken balance (it grows with the liquidity index). Rate: the reserve's
currentLiquidityRate, a ray APR, plus the normalised income as the growth index. Liquidity:
the underlying held by the aToken (what is not borrowed out). Neither supply nor withdraw
takes a min-out, so both are balance-guarded: a supply must raise the aToken balance by the
amount less Aave's rounding, a withdrawal must pay the underlying in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    Withdraw,
    WithdrawAll,
    check_amount,
)
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.guards import Expected
from floor.models import AdapterKey, Call
from floor.permissions import PermissionSet, approval, to_self
from floor.rates import apr_from_ray

# Aave's ReserveDataLegacy, as getReserveData returns it (v3.0 to v3.3).
RESERVE_DATA = (
    "((uint256),uint128,uint128,uint128,uint128,uint128,uint40,uint16,"
    "address,address,address,address,uint128,uint128,uint128)"
)
_CURRENT_LIQUIDITY_RATE = 2

SUPPLY = "supply(address,uint256,address,uint16)"
WITHDRAW = "withdraw(address,uint256,address)"


@dataclass(frozen=True)
class AaveV3Adapter(Adapter):
    key: AdapterKey
    asset: Asset
    pool: str
    a_token: str
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
        # supply's onBehalfOf and withdraw's `to` are word 2: they must be the executor.
        return PermissionSet.union(
            [approval(self.asset.address, self.pool), to_self(self.pool, SUPPLY, 2), to_self(self.pool, WITHDRAW, 2)]
        )

    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        if isinstance(action, Deposit):
            return [read(self.pool, "getReserveNormalizedIncome(address)", self.asset.address)]
        return []

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        match action:
            case Deposit(amount):
                # aToken balances are scaled by the index and rounded half-up both ways, so a
                # supply can show up to about index/2 + 1 units under the amount.
                (index,) = decode_result(["uint256"], results[0], f"{self.key} getReserveNormalizedIncome")
                return [Expected(self.a_token, amount - index // RAY - 1)]
            case Withdraw(amount):
                return [Expected(self.asset.address, amount)]
            case WithdrawAll(position):
                return [Expected(self.asset.address, position.amount)]
        raise TypeError(f"not an action: {action!r}")

    def position_reads(self, account: str) -> list[ReadCall]:
        return [read(self.a_token, "balanceOf(address)", account)]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        (balance,) = decode_result(["uint256"], results[0], f"{self.key} aToken.balanceOf")
        return PositionReading(amount=balance)

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return [*self.position_reads(account), read(self.asset.address, "balanceOf(address)", self.a_token)]

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        position = self.decode_position(results[:1]).amount
        (available,) = decode_result(["uint256"], results[1], f"{self.key} underlying held by the aToken")
        return LiquidityReading(position=position, market_available=available, withdrawable=min(position, available))

    def rate_reads(self) -> list[ReadCall]:
        return [
            read(self.pool, "getReserveData(address)", self.asset.address),
            read(self.pool, "getReserveNormalizedIncome(address)", self.asset.address),
        ]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        (reserve,) = decode_result([RESERVE_DATA], results[0], f"{self.key} getReserveData")
        (income,) = decode_result(["uint256"], results[1], f"{self.key} getReserveNormalizedIncome")
        return RateSnapshot(
            timestamp=timestamp, growth_index=income, quoted_apr=apr_from_ray(reserve[_CURRENT_LIQUIDITY_RATE])
        )
