"""ERC-4626 vaults: MetaMorpho, sDAI/sUSDS, Yearn V3 and any other standard vault.

Position: the shares and their value in the asset, read in one round. `maxWithdraw` is the
exact `convertToAssets(balanceOf)` whenever the vault's liquidity covers the whole position
(maxRedeem == balance); when liquidity is short it is capped, so the value falls back to the
share price read alongside (rounded down, at most one base unit under the vault's own figure).
Liquidity: `maxWithdraw`, what the vault lets the executor take now. Not the asset the vault
holds idle: a MetaMorpho vault keeps its assets in Morpho markets and sDAI in the DSR, so
either holds almost nothing idle and still pays out in full. The standard has no view of a
vault's liquidity for anyone else, so what the market can pay out is reported as what it
pays the executor.
Rate: measured from the share price over time; vaults publish none. ERC-4626 takes no
min-out, so every action is balance-guarded on a fresh preview: a deposit must mint the
previewed shares (a donation that inflates the share price just before it reverts the batch),
a withdrawal must burn no more shares than previewed, a redemption must pay what it previewed.
Refused before anything is sent: a deposit above `maxDeposit` (a vault's caps), one that mints
no share (a vault already inflated), one whose shares are worth less than the amount by more
than the slippage limit (`slippage`: shares at the share price against the amount), and a
withdrawal or redemption above `maxWithdraw`/`maxRedeem` (the vault's liquidity: the previews
ignore it, and MetaMorpho reverts `NotEnoughLiquidity()` past it). A deposit's guard bound is
at least one share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from floor.adapters.base import (
    RAY,
    Action,
    Adapter,
    Asset,
    Deposit,
    LiquidityReading,
    PositionReading,
    RateSnapshot,
    RawWrites,
    Slippage,
    Withdraw,
    WithdrawAll,
    check_amount,
)
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.errors import InsufficientLiquidity, InvalidAmount
from floor.guards import Expected, guarded, min_delta
from floor.models import AdapterKey, Call
from floor.permissions import PermissionSet, ValuedAsset, approval, converted_asset, to_self
from floor.protocols.erc4626.errors import ExceededMaxDeposit

DEPOSIT = "deposit(uint256,address)"
WITHDRAW = "withdraw(uint256,address,address)"
REDEEM = "redeem(uint256,address,address)"
CONVERT_TO_ASSETS = "convertToAssets(uint256)"
PRICE_SCALE = RAY  # shares priced per 1e27, enough precision for any vault's decimals


@dataclass(frozen=True)
class Erc4626Adapter(RawWrites, Adapter):
    key: AdapterKey
    asset: Asset
    vault: str

    def deposit_calls(self, amount: int, account: str) -> list[Call]:
        check_amount(amount, f"{self.key} deposit")
        return self._approved(self.vault, amount, call(self.vault, DEPOSIT, amount, account))

    def withdraw_calls(self, amount: int, account: str) -> list[Call]:
        check_amount(amount, f"{self.key} withdraw")
        return [call(self.vault, WITHDRAW, amount, account, account)]

    def withdraw_all_calls(self, position: PositionReading, account: str) -> list[Call]:
        # Redeeming every share leaves no dust, unlike withdraw(assets) which rounds shares up.
        if not position.shares:
            raise InvalidAmount(f"{self.key}: no shares to redeem")
        return [call(self.vault, REDEEM, position.shares, account, account)]

    def valued(self) -> list[ValuedAsset]:
        """The asset, and the vault's shares at what they redeem for (convertToAssets)."""
        shares = converted_asset(self.vault, self.asset.symbol, self.asset.decimals, self.vault, CONVERT_TO_ASSETS)
        return [self.held(), shares]

    def permissions(self) -> PermissionSet:
        # deposit's receiver (word 1); withdraw's and redeem's receiver and owner (words 1, 2).
        return PermissionSet.union(
            [
                approval(self.asset.address, self.vault),
                to_self(self.vault, DEPOSIT, 1, assets=self.valued()),
                to_self(self.vault, WITHDRAW, 1, 2, assets=self.valued()),
                to_self(self.vault, REDEEM, 1, 2, assets=self.valued()),
            ]
        )

    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        match action:
            case Deposit(amount):
                return [
                    read(self.vault, "previewDeposit(uint256)", amount),
                    read(self.vault, "maxDeposit(address)", account),
                    read(self.vault, "convertToAssets(uint256)", PRICE_SCALE),  # the shares' value, for `slippage`
                ]
            case Withdraw(amount):
                return [
                    read(self.vault, "previewWithdraw(uint256)", amount),
                    read(self.vault, "maxWithdraw(address)", account),
                ]
            case WithdrawAll(position):
                return [
                    read(self.vault, "previewRedeem(uint256)", position.shares or 0),
                    read(self.vault, "maxRedeem(address)", account),
                ]
        raise TypeError(f"not an action: {action!r}")

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        (quoted,) = decode_result(["uint256"], results[0], f"{self.key} vault preview")
        (most,) = decode_result(["uint256"], results[1], f"{self.key} vault max")
        match action:
            case Deposit(amount):
                if amount > most:
                    raise ExceededMaxDeposit(
                        f"{self.key}: a deposit of {amount} base units is more than the vault takes now ({most})"
                    )
                if quoted == 0:  # an inflated share price: the deposit would be lost whole
                    raise InvalidAmount(f"{self.key}: a deposit of {amount} base units mints no share of the vault now")
                return [Expected(self.vault, quoted)]
            case Withdraw(amount):
                if amount > most:
                    raise InsufficientLiquidity(
                        f"{self.key}: withdrawing {amount} base units; the vault lets the executor take {most} now"
                    )
                return [Expected(self.asset.address, amount), Expected(self.vault, -quoted)]
            case WithdrawAll(position):
                if (position.shares or 0) > most:
                    raise InsufficientLiquidity(
                        f"{self.key}: redeeming {position.shares} shares; the vault lets the executor redeem {most} now"
                    )
                return [Expected(self.asset.address, quoted)]
        raise TypeError(f"not an action: {action!r}")

    def slippage(self, action: Action, quote: Sequence[ReadResult]) -> Slippage | None:
        """A deposit's shares at the share price against the amount: what a share price
        inflated before the quote costs (rounded down, at most a unit under the vault's own)."""
        match action:
            case Deposit(amount):
                shares = self.decode_quote(action, quote)[0].delta
                (price,) = decode_result(["uint256"], quote[2], f"{self.key} vault.convertToAssets")
                return Slippage(quoted=shares * price // PRICE_SCALE, fair=amount)
        return None

    def protected_calls(self, action: Action, account: str, quote: Sequence[Expected], slippage_bps: int) -> list[Call]:
        """A deposit must mint at least one share, whatever the tolerance; else as the base."""
        if isinstance(action, Deposit):
            (minted,) = quote
            bound = max(min_delta(minted.delta, slippage_bps), 1)
            return guarded(account, self.action_calls(action, account), [Expected(minted.token, bound)], 0)
        return super().protected_calls(action, account, quote, slippage_bps)

    def position_reads(self, account: str) -> list[ReadCall]:
        return [
            read(self.vault, "balanceOf(address)", account),
            read(self.vault, "maxRedeem(address)", account),
            read(self.vault, "maxWithdraw(address)", account),
            read(self.vault, "convertToAssets(uint256)", PRICE_SCALE),
        ]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        what = f"{self.key} vault"
        (shares,) = decode_result(["uint256"], results[0], f"{what}.balanceOf")
        (max_redeem,) = decode_result(["uint256"], results[1], f"{what}.maxRedeem")
        (max_withdraw,) = decode_result(["uint256"], results[2], f"{what}.maxWithdraw")
        (price,) = decode_result(["uint256"], results[3], f"{what}.convertToAssets")
        amount = max_withdraw if max_redeem >= shares else shares * price // PRICE_SCALE
        return PositionReading(amount=amount, shares=shares)

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return self.position_reads(account)

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        position = self.decode_position(results)
        (max_withdraw,) = decode_result(["uint256"], results[2], f"{self.key} vault.maxWithdraw")
        return LiquidityReading(position=position.amount, market_available=max_withdraw, withdrawable=max_withdraw)

    def tvl_reads(self) -> list[ReadCall]:
        return [read(self.vault, "totalAssets()")]

    def decode_tvl(self, results: Sequence[ReadResult]) -> int:
        total: int = decode_result(["uint256"], results[0], f"{self.key} vault.totalAssets")[0]
        return total

    def rate_reads(self) -> list[ReadCall]:
        return [read(self.vault, "convertToAssets(uint256)", PRICE_SCALE)]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        (price,) = decode_result(["uint256"], results[0], f"{self.key} vault.convertToAssets")
        # No quote: ERC-4626 has no rate view. What a vault earns is its strategy's (MetaMorpho:
        # its Morpho markets' supply APYs weighted by allocation; sDAI: the Pot's DSR), which
        # the standard does not name, so the APY is measured from the share price over time.
        note = "measured: ERC-4626 has no rate view (share price growth over time)"
        return RateSnapshot(timestamp=timestamp, growth_index=price, note=note)
