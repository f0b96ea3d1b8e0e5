"""Instant exits of staked ETH through a Curve pool: sell the liquid-staking token (stETH,
rETH) for ETH now, instead of waiting in Lido's withdrawal queue or for rETH's collateral.

The pool is an old-style Curve StableSwap pool whose coin 0 is native ETH (`coins(0)` is
0xEeee...EEeE) and coin 1 the staking token: mainnet's ETH/stETH pool
(curvefi/curve-contract pools/steth/StableSwapSTETH.vy) or an ETH/rETH pool of the same
shape with rETH's `getExchangeRate()` as coin 1's rate (pools/reth/StableSwapRETH.vy).
Both take `get_dy(int128,int128,uint256)` and `exchange(int128 i, int128 j, dx, min_dy)`,
and `exchange(1, 0, ...)` pays the ETH bought to msg.sender, the executor, whose default
function takes plain ETH: there is no receiver argument to scope.

Quote (one Multicall3 batch): `coins(0)` and `coins(1)` (the pool must be ETH against the
market's token, else `InstantExitPoolMismatch`), `get_dy(1, 0, amount)`, the executor's
token balance (an amount above it is `InsufficientBalance`), and the token's fair value in
ETH by its protocol's own accounting: stETH is 1:1 with ETH by Lido's (a balance is pooled
ETH), rETH is `getEthValue(amount)`. The quote's `discount_bps` is the pool's price against
that fair value (fees and the pool's imbalance); a caller may cap it (`max_discount_bps`:
`SlippageTooHigh` with the figures, before anything is sent). `min_out` is the quote less
the slippage allowed between quote and send: quote * (10000 - slippage_bps) // 10000.

The exit batch, atomic: approve(pool, amount), `exchange(1, 0, amount, min_out)`, WETH
`deposit()` carrying `min_out`, approve(pool, 0), between balance guards (WETH rises by at
least `min_out`; the executor's ETH does not fall, so the wrap is paid by the swap and
nothing else). The batch wraps `min_out`, not the quote, because the executor cannot wrap
"whatever arrived": a swap pays anything from `min_out` up (the quote if the pool did not
move), and a wrap of the whole quote would revert (or spend other ETH) whenever the pool
moved against us by less than the slippage allowed. What the swap paid above `min_out` stays
as ETH in the executor; `paid_by_exchange` reads the swap's `TokenExchange` event from the
receipt and `wrap_rest_calls` wraps exactly that rest in a second transaction. With the pool
unmoved the two together wrap exactly the quote: the stETH pool's `get_dy` and `exchange`
run the same arithmetic (both take the `- 1`), so the ETH paid equals the quote to the wei;
stETH's 1-2 wei transfer rounding (a transfer moves `getSharesByPooledEth(amount)` shares,
rounded down) changes the stETH the pool receives and the executor keeps, never the ETH
paid. The rETH pool's `get_dy` leaves out the `- 1` its `exchange` takes, so that swap pays
up to a wei or two (1e18 / rate, rounded up, plus one) less than its quote.

A min_out the pool cannot meet when the batch runs (the pool moved between quote and send)
reverts the whole batch with Curve's "Exchange resulted in fewer coins than expected"
(named `SlippageExceeded` by the Curve package's known reverts): the approval, the swap and
the wrap all unwind.

What the pool can pay now (`ladder_reads`/`decode_ladder`): `get_dy` of the whole position
and of 1/2, 1/4 and 1/8 of it in one batch, and the largest of those within a discount
limit. A coarse answer from one read round; the position's own liquidity reading is left as
the protocol reports it (queued for Lido, the collateral for Rocket Pool), because the
engine plans exits through `exit`/`withdrawable` and an instant exit is a separate, priced
decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from floor.adapters.base import Asset, check_amount
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.configbase import Address, ConfigModel
from floor.errors import BadInput, InsufficientBalance, InvalidAmount, MarketRefused, SlippageTooHigh
from floor.guards import BPS, ETH, Expected, guarded
from floor.models import AdapterKey, Call
from floor.permissions import (
    APPROVE,
    ZERO_ADDRESS,
    PermissionSet,
    ValuedAsset,
    approval,
    equal_to,
    to_self,
    token_asset,
)

ETH_COIN = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"  # Curve's native-ETH coin address
ETH_INDEX, TOKEN_INDEX = 0, 1
GET_DY = "get_dy(int128,int128,uint256)"
EXCHANGE = "exchange(int128,int128,uint256,uint256)"
WETH_DEPOSIT = "deposit()"
TOKEN_EXCHANGE_TOPIC = "0x" + keccak(text="TokenExchange(address,int128,uint256,int128,uint256)").hex()
LADDER = (8, 4, 2, 1)  # the position divided by these: 1/8, 1/4, 1/2, all


class InstantExitPool(ConfigModel):
    """A market's optional instant-exit pool: its address and what kind of pool it is.

    `curve_stableswap_eth`: an old-style Curve StableSwap pool, coin 0 native ETH and coin 1
    the market's staking token, `get_dy`/`exchange` with int128 indexes (mainnet's ETH/stETH
    pool, 0xDC24316b9AE028F1497c275EB9192a3Ea0f67022)."""

    address: Address
    kind: Literal["curve_stableswap_eth"] = "curve_stableswap_eth"


class InstantExitPoolMismatch(MarketRefused):
    """The configured instant-exit pool does not trade native ETH (coin 0) against the
    market's staking token (coin 1): the config names the wrong pool."""


@dataclass(frozen=True)
class InstantExitQuote:
    """One instant exit, quoted: `amount` of the token sold for `quoted` wei of ETH (the pool's
    `get_dy`) against `fair` wei (the protocol's own value of it); `min_out` is what the batch
    insists on."""

    amount: int
    quoted: int
    fair: int
    min_out: int
    slippage_bps: int

    @property
    def discount_bps(self) -> int:
        """The pool's price against fair value, in bps, rounded up (negative: a premium)."""
        if self.fair <= 0:
            return 0
        return -((self.quoted - self.fair) * BPS // self.fair)

    @property
    def rest(self) -> int:
        """ETH the swap pays above `min_out` if the pool has not moved: left for `wrap_rest_calls`."""
        return self.quoted - self.min_out


def min_out(quoted: int, slippage_bps: int) -> int:
    """quote * (10000 - slippage_bps) // 10000: the least the swap may pay."""
    if not 0 <= slippage_bps < BPS:
        raise InvalidAmount(f"slippage must be within 0..{BPS - 1} bps, got {slippage_bps}")
    return quoted * (BPS - slippage_bps) // BPS


@dataclass(frozen=True)
class CurveEthExit:
    """The instant exit of one market's staking token through its Curve ETH pool.

    Fair value: stETH is 1:1 with ETH (Lido's accounting) with no read; a subclass with a
    rate overrides `fair_reads`/`decode_fair` (rETH's `getEthValue`)."""

    key: AdapterKey
    pool: str
    token: str  # coin 1: stETH, rETH
    weth: str  # the chain's WETH, where the ETH is wrapped back
    symbol: str = "stETH"

    # -- fair value ----------------------------------------------------------------------
    def fair_reads(self, amount: int) -> list[ReadCall]:
        return []

    def decode_fair(self, amount: int, results: Sequence[ReadResult]) -> int:
        return amount  # a stETH balance is pooled ETH, 1:1 by Lido's accounting

    # -- quote ---------------------------------------------------------------------------
    def quote_reads(self, amount: int, account: str) -> list[ReadCall]:
        check_amount(amount, f"{self.key} instant exit")
        return [
            read(self.pool, "coins(uint256)", ETH_INDEX),
            read(self.pool, "coins(uint256)", TOKEN_INDEX),
            read(self.pool, GET_DY, TOKEN_INDEX, ETH_INDEX, amount),
            read(self.token, "balanceOf(address)", account),
            *self.fair_reads(amount),
        ]

    def decode_quote(
        self,
        amount: int,
        results: Sequence[ReadResult],
        slippage_bps: int,
        max_discount_bps: int | None = None,
    ) -> InstantExitQuote:
        what = f"{self.key} instant-exit pool"
        (coin0,) = decode_result(["address"], results[0], f"{what}.coins(0)")
        (coin1,) = decode_result(["address"], results[1], f"{what}.coins(1)")
        self.check_coins(coin0, coin1)
        (quoted,) = decode_result(["uint256"], results[2], f"{what}.get_dy")
        (held,) = decode_result(["uint256"], results[3], f"{self.key} {self.symbol}.balanceOf")
        fair = self.decode_fair(amount, results[4:])
        if amount > held:
            raise InsufficientBalance(f"{self.key}: selling {amount} wei of {self.symbol}, the executor holds {held}")
        if quoted == 0:
            raise InvalidAmount(f"{self.key}: the pool pays no ETH for {amount} wei of {self.symbol}")
        quote = InstantExitQuote(amount, quoted, fair, min_out(quoted, slippage_bps), slippage_bps)
        if max_discount_bps is not None and quote.discount_bps > max_discount_bps:
            raise SlippageTooHigh(
                f"{self.key}: the pool pays {quoted} wei for {amount} wei of {self.symbol} worth {fair} wei: "
                f"{quote.discount_bps} bps under fair value, above the limit of {max_discount_bps} bps"
            )
        return quote

    def check_coins(self, coin0: str, coin1: str) -> None:
        if coin0.lower() != ETH_COIN.lower() or coin1.lower() != self.token.lower():
            raise InstantExitPoolMismatch(
                f"{self.key}: the instant-exit pool {self.pool} trades {coin0} (coin 0) against {coin1} (coin 1), "
                f"not native ETH against {self.symbol} ({self.token})"
            )

    # -- writes --------------------------------------------------------------------------
    def exit_calls(self, quote: InstantExitQuote, account: str) -> list[Call]:
        """The atomic exit: approve, exchange(1, 0, amount, min_out), wrap min_out, approve 0,
        guarded (WETH up by min_out at least, the executor's ETH not down)."""
        check_amount(quote.amount, f"{self.key} instant exit")
        check_amount(quote.min_out, f"{self.key} instant exit min_out")
        calls = [
            call(self.token, APPROVE, self.pool, quote.amount),
            call(self.pool, EXCHANGE, TOKEN_INDEX, ETH_INDEX, quote.amount, quote.min_out),
            call(self.weth, WETH_DEPOSIT, value=quote.min_out),
            call(self.token, APPROVE, self.pool, 0),
        ]
        return guarded(account, calls, [Expected(self.weth, quote.min_out), Expected(ETH, 0)], 0)

    def wrap_rest_calls(self, quote: InstantExitQuote, paid: int) -> list[Call]:
        """Wrap what the swap paid above the min_out the exit batch wrapped (none: no call)."""
        if paid < quote.min_out:
            raise InvalidAmount(f"{self.key}: the swap paid {paid} wei, under its min_out of {quote.min_out}")
        rest = paid - quote.min_out
        return [call(self.weth, WETH_DEPOSIT, value=rest)] if rest else []

    def token_valued(self) -> ValuedAsset:
        """The staking token as the executor values it: stETH one to one with ETH."""
        return token_asset(self.token, "WETH", 18)

    def permissions(self) -> PermissionSet:
        # exchange pays its caller (no receiver argument); only the staking token for ETH
        # (coins 1 to 0); WETH's deposit wraps what it carries. The token and ETH are valued,
        # so a sandwich or a min_dy of 0 costs no more than the executor's loss bound.
        eth, weth = token_asset(ZERO_ADDRESS, "WETH", 18), token_asset(self.weth, "WETH", 18)
        sell = [equal_to(0, TOKEN_INDEX), equal_to(1, ETH_INDEX)]
        return PermissionSet.union(
            [
                approval(self.token, self.pool),
                to_self(self.pool, EXCHANGE, assets=[self.token_valued(), eth], conditions=sell),
                to_self(self.weth, WETH_DEPOSIT, carries_value=True, assets=[weth, eth]),
            ]
        )

    # -- what the pool can pay now --------------------------------------------------------
    def ladder_reads(self, position: int) -> list[ReadCall]:
        sizes = ladder_sizes(position)
        return [read(self.pool, GET_DY, TOKEN_INDEX, ETH_INDEX, s) for s in sizes] + [
            r for s in sizes for r in self.fair_reads(s)
        ]

    def decode_ladder(self, position: int, results: Sequence[ReadResult]) -> list[InstantExitQuote]:
        """Each rung's quote (slippage 0: these are prices, not a batch's bounds), smallest first."""
        sizes = ladder_sizes(position)
        per = len(self.fair_reads(1))
        fair_results = results[len(sizes) :]
        out = []
        for k, s in enumerate(sizes):
            (quoted,) = decode_result(["uint256"], results[k], f"{self.key} instant-exit pool.get_dy")
            fair = self.decode_fair(s, fair_results[k * per : (k + 1) * per])
            out.append(InstantExitQuote(s, quoted, fair, quoted, 0))
        return out


class InstantExits:
    """The instant-exit methods of a staking adapter whose market may name a Curve ETH pool
    (`instant_exit_pool`): the adapter says which exit (`exit_route`), which token it sells
    (`staked_token`) and how capital leaves without a pool (`no_pool`)."""

    exit_route: type[CurveEthExit] = CurveEthExit
    no_pool: str = "it leaves otherwise"
    # Fields of the adapter this is mixed into (declared only: not dataclass fields here).
    key: AdapterKey
    asset: Asset
    instant_exit_pool: str | None

    def staked_token(self) -> str:
        raise NotImplementedError

    @property
    def instant_exit(self) -> CurveEthExit | None:
        pool = self.instant_exit_pool
        if pool is None:
            return None
        return self.exit_route(key=self.key, pool=pool, token=self.staked_token(), weth=self.asset.address)

    def _instant(self) -> CurveEthExit:
        if self.instant_exit is None:
            raise BadInput(f"{self.key}: no instant-exit pool is configured; {self.no_pool}")
        return self.instant_exit

    def instant_exit_quote_reads(self, amount: int, account: str) -> list[ReadCall]:
        return self._instant().quote_reads(amount, account)

    def decode_instant_exit_quote(
        self, amount: int, results: Sequence[ReadResult], slippage_bps: int, max_discount_bps: int | None = None
    ) -> InstantExitQuote:
        return self._instant().decode_quote(amount, results, slippage_bps, max_discount_bps)

    def instant_exit_calls(self, quote: InstantExitQuote, account: str) -> list[Call]:
        return self._instant().exit_calls(quote, account)


def ladder_sizes(position: int) -> list[int]:
    """The position and its halvings down to an eighth (the non-zero ones, ascending)."""
    return sorted({position // d for d in LADDER if position // d > 0})


def instant_withdrawable(ladder: Sequence[InstantExitQuote], max_discount_bps: int) -> InstantExitQuote | None:
    """The largest rung the pool pays within `max_discount_bps` of fair value, or None."""
    within = [q for q in ladder if q.discount_bps <= max_discount_bps]
    return max(within, key=lambda q: q.amount) if within else None


def paid_by_exchange(logs: Sequence[Mapping[str, Any]], pool: str, buyer: str) -> int:
    """The ETH (`tokens_bought`) the pool's TokenExchange events in a receipt's `logs` paid
    `buyer` for coin 1 sold; raises if there is none."""
    paid, found = 0, False
    for log in logs:
        topics = [t.hex() if isinstance(t, bytes) else t for t in log["topics"]]
        topics = ["0x" + t.removeprefix("0x") for t in topics]
        if to_checksum_address(log["address"]) != to_checksum_address(pool) or topics[0] != TOKEN_EXCHANGE_TOPIC:
            continue
        if to_checksum_address("0x" + topics[1][-40:]) != to_checksum_address(buyer):
            continue
        data = log["data"]
        raw = bytes(data) if not isinstance(data, str) else bytes.fromhex(data.removeprefix("0x"))
        sold_id, _sold, bought_id, bought = decode(["int128", "uint256", "int128", "uint256"], raw)
        if (sold_id, bought_id) == (TOKEN_INDEX, ETH_INDEX):
            paid += bought
            found = True
    if not found:
        raise LookupError(f"no TokenExchange of coin 1 for ETH by {buyer} on {pool} in the receipt")
    return paid
