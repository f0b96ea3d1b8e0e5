"""rETH's instant exit through a Curve ETH/rETH pool, for when a burn is refused: `burn` pays
only while rETH's collateral (`getTotalCollateral`) covers it, and beyond that the pool
still buys rETH for ETH now, at its price.

The pool is an old-style Curve StableSwap pool, coin 0 native ETH and coin 1 rETH priced at
rETH's own `getExchangeRate()` (curvefi/curve-contract pools/reth/StableSwapRETH.vy); the
exit is `floor.protocols.lido.instant_exit`'s, with rETH's fair value in ETH read in the same
Multicall3 batch as the quote: `getEthValue(amount)`, what a burn would pay, rounded down.
That pool's `get_dy` leaves out the `- 1` its `exchange` takes, so a swap pays a wei or two
less than its quote; the exit's min_out (the quote less the slippage allowed) covers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from floor.calls import ReadCall, ReadResult, decode_result, read
from floor.permissions import ValuedAsset, converted_asset
from floor.protocols.lido.instant_exit import CurveEthExit

__all__ = ["RethCurveExit"]


@dataclass(frozen=True)
class RethCurveExit(CurveEthExit):
    symbol: str = "rETH"

    def token_valued(self) -> ValuedAsset:
        """rETH at its ETH value (getEthValue of the balance)."""
        return converted_asset(self.token, "WETH", 18, self.token, "getEthValue(uint256)")

    def fair_reads(self, amount: int) -> list[ReadCall]:
        return [read(self.token, "getEthValue(uint256)", amount)]

    def decode_fair(self, amount: int, results: Sequence[ReadResult]) -> int:
        value: int = decode_result(["uint256"], results[0], f"{self.key} rETH.getEthValue")[0]
        return value
