"""Compound V3 (Comet): one base asset per Comet, supplied and withdrawn by the executor
for itself (Comet credits and pays `msg.sender`).

Position: `balanceOf(executor)`, the present value of the executor's principal at the
supply index accrued to the block (it grows every second). Liquidity: the base token the
Comet holds, capped by the position; nothing while `isWithdrawPaused()` (the reason is
reported and the build refuses by name). Rate: Comet's supply rate per second (1e18) at the
current utilisation, `getSupplyRate(getUtilization())`, computed from the Comet's own public
rate parameters with its arithmetic (one Multicall3 batch cannot feed a result into another
read's arguments); APR = rate x seconds per year, APY by per-second compounding (an upper
bound: Comet compounds at each accrual, at most once a block). Growth index: the supply index
(`totalsBasic().baseSupplyIndex`, 1e15) accrued to the snapshot's time as
`accruedInterestIndices` does, scaled to 1e27.

Neither supply nor withdraw takes a min-out, so both are balance-guarded. Comet stores a
principal rounded down (`principalValueSupply`), so a supply of x may raise the balance by
x - 1 or x - 2: the deposit quote is what Comet computes, at the index of the quote's block
(the batch first calls `accrueAccount(executor)`, which is permissionless, so the totals read
after it are accrued exactly as a supply would accrue them). A withdrawal beyond the position
would make Comet lend the rest (a borrow): the quote refuses it by name first.

COMP rewards: `CometRewards.getRewardOwed(comet, account)` accrues the account and so is not a
view; Multicall3's aggregate3 makes plain calls, so it reads fine in an eth_call batch.
`claim(comet, executor, true)` pays the executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from floor.adapters.base import (
    MAX_UINT256,
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
    RewardClaimable,
    Withdraw,
    WithdrawAll,
    check_amount,
)
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.errors import InsufficientBalance, InvalidAmount
from floor.guards import Expected
from floor.models import AdapterKey, Call
from floor.permissions import PermissionSet, approval, equal_to, to_self
from floor.protocols.compound_v3.errors import RewardsNotConfigured, SupplyPaused, WithdrawPaused

SUPPLY = "supply(address,uint256)"
WITHDRAW = "withdraw(address,uint256)"
CLAIM = "claim(address,address,bool)"
GET_REWARD_OWED = "getRewardOwed(address,address)"

BASE_INDEX_SCALE = 10**15
FACTOR_SCALE = 10**18
# CometStorage's TotalsBasic, as totalsBasic() returns it.
TOTALS_BASIC = "(uint64,uint64,uint64,uint64,uint104,uint104,uint40,uint8)"
SUPPLY_INDEX, LAST_ACCRUAL_TIME = 0, 6
# CometStorage's UserBasic: (principal, baseTrackingIndex, baseTrackingAccrued, assetsIn, _reserved).
USER_BASIC = ["int104", "uint64", "uint64", "uint16", "uint8"]
RATE_MODEL = (
    "supplyKink()",
    "supplyPerSecondInterestRateSlopeLow()",
    "supplyPerSecondInterestRateSlopeHigh()",
    "supplyPerSecondInterestRateBase()",
)


# -- Comet's arithmetic (CometCore, CometMath), integers in base units ----------------------
def present_value_supply(index: int, principal: int) -> int:
    return principal * index // BASE_INDEX_SCALE


def principal_value_supply(index: int, present: int) -> int:
    """Rounded down, as Comet's principalValueSupply."""
    return present * BASE_INDEX_SCALE // index


def supply_rate(utilization: int, kink: int, slope_low: int, slope_high: int, base: int) -> int:
    """Comet's getSupplyRate: per second, scaled by 1e18, kinked in utilisation."""
    if utilization <= kink:
        return base + slope_low * utilization // FACTOR_SCALE
    return base + slope_low * kink // FACTOR_SCALE + slope_high * (utilization - kink) // FACTOR_SCALE


def accrued_supply_index(index: int, rate: int, elapsed: int) -> int:
    """The supply index after `elapsed` seconds at `rate`, as accruedInterestIndices grows it."""
    if elapsed <= 0:
        return index
    return index + index * (rate * elapsed) // FACTOR_SCALE


def supply_delta(principal: int, amount: int, index: int) -> int:
    """How much `balanceOf` rises when `amount` is supplied on top of `principal` at `index`
    (supplyBase: the new principal rounded down, its present value rounded down)."""
    before = present_value_supply(index, principal)
    after = present_value_supply(index, principal_value_supply(index, before + amount))
    return after - before


@dataclass(frozen=True)
class RewardOwed:
    token: str
    amount: int  # the reward token's base units


@dataclass(frozen=True)
class CompoundV3Adapter(RawWrites, Adapter):
    key: AdapterKey
    asset: Asset
    comet: str
    rewards: str | None = None
    yield_source = "rebase"  # balanceOf grows with the supply index

    # -- writes -----------------------------------------------------------------------
    def deposit_calls(self, amount: int, account: str) -> list[Call]:
        check_amount(amount, f"{self.key} deposit")
        return self._approved(self.comet, amount, call(self.comet, SUPPLY, self.asset.address, amount))

    def withdraw_calls(self, amount: int, account: str) -> list[Call]:
        check_amount(amount, f"{self.key} withdraw")
        return [call(self.comet, WITHDRAW, self.asset.address, amount)]

    def withdraw_all_calls(self, position: PositionReading, account: str) -> list[Call]:
        # uint256 max makes Comet withdraw balanceOf(executor) at execution, interest included.
        return [call(self.comet, WITHDRAW, self.asset.address, MAX_UINT256)]

    def claim_calls(self, account: str) -> list[Call]:
        """Claim the account's rewards on this Comet; CometRewards pays `src` (the executor)."""
        return [call(self._rewards(), CLAIM, self.comet, account, True)]

    def permissions(self) -> PermissionSet:
        # supply and withdraw credit and pay msg.sender (the executor); their asset (word 0)
        # must be the base (a collateral supply earns nothing and is valued by no balance).
        # supplyTo/withdrawTo/transfer are not allowed. claim's src (word 1) must be the executor.
        assets = [self.held(), self.held(self.comet)]
        conditions = [equal_to(0, self.asset.address)]
        sets = [
            approval(self.asset.address, self.comet),
            to_self(self.comet, SUPPLY, assets=assets, conditions=conditions),
            to_self(self.comet, WITHDRAW, assets=assets, conditions=conditions),
        ]
        if self.rewards:
            sets.append(to_self(self.rewards, CLAIM, 1))
        return PermissionSet.union(sets)

    # -- quotes ------------------------------------------------------------------------
    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        match action:
            case Deposit():
                return [
                    read(self.comet, "isSupplyPaused()"),
                    read(self.comet, "accrueAccount(address)", account),  # accrues the totals in the batch
                    read(self.comet, "totalsBasic()"),
                    read(self.comet, "userBasic(address)", account),
                ]
            case Withdraw():
                return [read(self.comet, "isWithdrawPaused()"), read(self.comet, "balanceOf(address)", account)]
            case WithdrawAll():
                return [read(self.comet, "isWithdrawPaused()")]
        raise TypeError(f"not an action: {action!r}")

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        match action:
            case Deposit(amount):
                if self._flag(results[0], "isSupplyPaused"):
                    raise SupplyPaused(f"{self.key}: supply is paused on the Comet; it takes no deposit")
                if not results[1].success:
                    decode_result([], results[1], f"{self.key} comet.accrueAccount")
                index = self._totals(results[2])[SUPPLY_INDEX]
                principal = decode_result(USER_BASIC, results[3], f"{self.key} comet.userBasic")[0]
                if principal < 0:
                    raise InsufficientBalance(f"{self.key}: the executor owes the Comet; a supply would repay it")
                delta = supply_delta(principal, amount, index)
                if delta <= 0:
                    raise InvalidAmount(f"{self.key}: a supply of {amount} base units adds nothing at index {index}")
                return [Expected(self.comet, delta)]
            case Withdraw(amount):
                self._check_withdraw(results[0])
                (held,) = decode_result(["uint256"], results[1], f"{self.key} comet.balanceOf")
                if amount > held:
                    raise InsufficientBalance(
                        f"{self.key}: withdrawing {amount} base units of a position of {held}; "
                        "Comet would lend the rest as a borrow"
                    )
                return [Expected(self.asset.address, amount)]
            case WithdrawAll(position):
                self._check_withdraw(results[0])
                return [Expected(self.asset.address, position.amount)]
        raise TypeError(f"not an action: {action!r}")

    def _check_withdraw(self, paused: ReadResult) -> None:
        if self._flag(paused, "isWithdrawPaused"):
            raise WithdrawPaused(f"{self.key}: withdrawals are paused on the Comet; nothing can leave it now")

    # -- reads ------------------------------------------------------------------------
    def position_reads(self, account: str) -> list[ReadCall]:
        return [read(self.comet, "balanceOf(address)", account)]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        (balance,) = decode_result(["uint256"], results[0], f"{self.key} comet.balanceOf")
        return PositionReading(amount=balance)

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return [
            *self.position_reads(account),
            read(self.asset.address, "balanceOf(address)", self.comet),
            read(self.comet, "isWithdrawPaused()"),
        ]

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        position = self.decode_position(results[:1]).amount
        (cash,) = decode_result(["uint256"], results[1], f"{self.key} base token held by the Comet")
        if self._flag(results[2], "isWithdrawPaused"):
            return LiquidityReading(
                position=position, market_available=cash, withdrawable=0, reason="withdrawals are paused on the Comet"
            )
        return LiquidityReading(position=position, market_available=cash, withdrawable=min(position, cash))

    def tvl_reads(self) -> list[ReadCall]:
        return [read(self.comet, "totalSupply()")]  # present value of every supplier's base

    def decode_tvl(self, results: Sequence[ReadResult]) -> int:
        total: int = decode_result(["uint256"], results[0], f"{self.key} comet.totalSupply")[0]
        return total

    def rate_reads(self) -> list[ReadCall]:
        return [
            read(self.comet, "totalsBasic()"),
            read(self.comet, "getUtilization()"),
            *(read(self.comet, signature) for signature in RATE_MODEL),
        ]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        totals = self._totals(results[0])
        (utilization,) = decode_result(["uint256"], results[1], f"{self.key} comet.getUtilization")
        model = [
            decode_result(["uint256"], r, f"{self.key} comet.{s}")[0]
            for r, s in zip(results[2:6], RATE_MODEL, strict=True)
        ]
        rate = supply_rate(utilization, *model)
        index = accrued_supply_index(totals[SUPPLY_INDEX], rate, timestamp - totals[LAST_ACCRUAL_TIME])
        return RateSnapshot(
            timestamp=timestamp,
            growth_index=index * (RAY // BASE_INDEX_SCALE),
            quoted_apr=rate * SECONDS_PER_YEAR / FACTOR_SCALE,
        )

    # -- rewards ----------------------------------------------------------------------
    def reward_reads(self, account: str) -> list[ReadCall]:
        """CometRewards' owed reward (not a view: it accrues the account first; fine in
        Multicall3). None where no CometRewards is configured: the market's rewards are not claimed."""
        if not self.rewards:
            return []
        return [read(self.rewards, GET_REWARD_OWED, self.comet, account)]

    def reward_owed(self, results: Sequence[ReadResult]) -> RewardOwed:
        ((token, owed),) = decode_result(["(address,uint256)"], results[0], f"{self.key} rewards.getRewardOwed")
        return RewardOwed(token=to_checksum_address(token), amount=owed)

    def decode_rewards(self, results: Sequence[ReadResult]) -> list[RewardClaimable]:
        """The one token CometRewards pays for this Comet (COMP), whatever it owes (0 too)."""
        if not self.rewards:
            return []
        owed = self.reward_owed(results)
        return [RewardClaimable(token=owed.token, amount=owed.amount)]

    # -- helpers ----------------------------------------------------------------------
    def _rewards(self) -> str:
        if not self.rewards:
            raise RewardsNotConfigured(f"{self.key}: no CometRewards is configured for this market")
        return self.rewards

    def _flag(self, result: ReadResult, name: str) -> bool:
        flag: bool = decode_result(["bool"], result, f"{self.key} comet.{name}")[0]
        return flag

    def _totals(self, result: ReadResult) -> tuple[Any, ...]:
        totals: tuple[Any, ...] = decode_result([TOTALS_BASIC], result, f"{self.key} comet.totalsBasic")[0]
        return totals
