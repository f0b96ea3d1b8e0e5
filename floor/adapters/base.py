"""The adapter interface: pure encoders and decoders for one market of one protocol. Each
protocol's adapter lives in its package, `floor/protocols/<adapter>/adapter.py`.

An adapter never sends anything. It quotes what an action should do to the executor's
balances, builds the action's calls bound by that quote (`protected_calls`: deposit with its
approval and the approval's reset, withdraw), declares the executor rules those calls need,
builds the reads a position, a rate and the liquidity need (sent by the Multicall3 reader),
and decodes their results into base units and rates. Markets that also take a plain write of
an exact amount offer it through the `RawWrites` mixin. Every call an adapter builds sends
funds to, or on behalf of, the executor itself (`account`): the executor's rules refuse any
other receiver.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from floor.calls import ReadCall, ReadResult, call
from floor.errors import InvalidAmount
from floor.guards import Expected, guarded
from floor.models import AdapterKey, Call
from floor.permissions import APPROVE, PermissionSet, ValuedAsset, token_asset

SECONDS_PER_YEAR = 365 * 24 * 3600
RAY = 10**27
MAX_UINT256 = 2**256 - 1


@dataclass(frozen=True)
class Asset:
    symbol: str
    address: str
    decimals: int


@dataclass(frozen=True)
class PositionReading:
    amount: int  # underlying base units
    shares: int | None = None


@dataclass(frozen=True)
class LiquidityReading:
    position: int
    market_available: int
    withdrawable: int
    reason: str | None = None  # why less than the position can leave now, where the market says (paused)


@dataclass(frozen=True)
class RateSnapshot:
    """A market's growth index at one time: underlying per unit of claim, scaled by 1e27.

    Two snapshots give the realised rate; `quoted_apr` is the protocol's own current rate
    where it publishes one (Aave's currentLiquidityRate) or where its own state gives one
    (Morpho's IRM and utilisation, Lido's and Rocket Pool's last two oracle reports), else
    None. Rates are fractions a year (0.035 is 3.5%). `quoted_apy` is set where the protocol's
    own formula compounds the rate otherwise than per second (Morpho's supply APY, a staking
    token's growth compounded once per report); without it the APY is `quoted_apr` compounded
    per second (`floor.rates.quoted_rate`). `note` says why there is no quote (or what it
    leaves out), for the report.
    """

    timestamp: int
    growth_index: int
    quoted_apr: float | None = None
    quoted_apy: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class EventLog:
    """One event a contract logged: what `Adapter.rate_logs` asks for, as eth_getLogs gives it."""

    block_number: int
    topics: tuple[bytes, ...]
    data: bytes

    def uint_words(self, topic0: bytes, count: int) -> tuple[int, tuple[int, ...]]:
        """(its first indexed argument, its `count` uint256 data words), checking it is the
        event whose signature hash is `topic0` (ValueError otherwise)."""
        if len(self.topics) < 2 or self.topics[0] != topic0 or len(self.data) != 32 * count:
            raise ValueError(f"not the event 0x{topic0.hex()} with one indexed argument and {count} words")
        words = tuple(int.from_bytes(self.data[i : i + 32], "big") for i in range(0, len(self.data), 32))
        return int.from_bytes(self.topics[1], "big"), words


@dataclass(frozen=True)
class LogQuery:
    """The last `count` events with signature hash `topic0` that a contract logged: the
    contract is `address`, or the address `resolve` returns (an eth_call: Rocket Pool's
    RocketStorage names its current RocketNetworkBalances)."""

    topic0: bytes
    count: int
    address: str | None = None
    resolve: ReadCall | None = None


@dataclass(frozen=True)
class Deposit:
    amount: int


@dataclass(frozen=True)
class Withdraw:
    amount: int
    # The position as read before the quote. A market whose exits burn an exact number of
    # shares and pay what its math gives for them (Balancer) sizes the burn from it; the
    # others ignore it.
    position: PositionReading | None = None


@dataclass(frozen=True)
class WithdrawAll:
    position: PositionReading


Action = Deposit | Withdraw | WithdrawAll


@dataclass(frozen=True)
class Slippage:
    """What an action is quoted to yield against its fair value, both in the asset's base
    units: a withdrawal's asset paid against the fair value of the claim it burns, a deposit's
    claim minted valued at the market's fair rate against the asset put in."""

    quoted: int
    fair: int

    @property
    def bps(self) -> int:
        """The loss against fair value in bps, rounded up (negative: the action gains)."""
        if self.fair <= 0:
            return 0
        return -((self.quoted - self.fair) * 10_000 // self.fair)


@dataclass(frozen=True)
class RewardClaimable:
    """One reward token an account can claim from a market now: the token's address, its
    symbol where the adapter knows it, and the amount in the token's base units."""

    token: str
    amount: int
    symbol: str | None = None


class Adapter(ABC):
    key: AdapterKey
    asset: Asset
    # How capital leaves: at once (a lending withdrawal, a vault redemption) or through a
    # queue that pays out later (a staking withdrawal), with its expected wait.
    exit: Literal["instant", "queued"] = "instant"
    exit_wait_s: int = 0
    # What makes a position grow, for the yield report: "rebase" (the balance itself grows,
    # as an aToken's does) or "exchange_rate" (shares are worth more, as a vault's are).
    yield_source: str = "exchange_rate"

    def held(self, token: str | None = None) -> ValuedAsset:
        """A token the executor holds (the market's asset by default) valued in the market's
        asset units by its balance: an aToken, a Comet, the asset itself."""
        return token_asset(token or self.asset.address, self.asset.symbol, self.asset.decimals)

    # -- writes: each action built from a fresh quote ------------------------------------
    @abstractmethod
    def permissions(self) -> PermissionSet:
        """The executor rules this adapter's calls need, with their argument scopes."""

    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        """Reads a fresh quote of `action` needs (none when the protocol is 1:1)."""
        return []

    @abstractmethod
    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        """The quoted change of each executor balance the action must be guarded on."""

    def slippage(self, action: Action, quote: Sequence[ReadResult]) -> Slippage | None:
        """The action's expected slippage, from the same quote reads as `decode_quote` (a pool
        adds its fair-value reads to them: Curve's virtual price, a Balancer pool's rate). None
        where the market converts at its own rate with no price impact (a lending pool, a
        vault, a staking token at its exchange rate): there only rounding separates the two."""
        return None

    @abstractmethod
    def protected_calls(self, action: Action, account: str, quote: Sequence[Expected], slippage_bps: int) -> list[Call]:
        """The action's calls, made to revert on chain if the outcome falls short of the quote
        by more than `slippage_bps`: by the protocol's own min-out argument (a pool's), or by
        a balance guard around plain writes (`RawWrites`)."""

    # -- reads ------------------------------------------------------------------------
    @abstractmethod
    def position_reads(self, account: str) -> list[ReadCall]: ...

    @abstractmethod
    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading: ...

    @abstractmethod
    def liquidity_reads(self, account: str) -> list[ReadCall]: ...

    @abstractmethod
    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading: ...

    @abstractmethod
    def rate_reads(self) -> list[ReadCall]: ...

    @abstractmethod
    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot: ...

    # -- a quoted rate from the protocol's events (staking tokens' oracle reports) ----------
    def rate_logs(self) -> LogQuery | None:
        """The events the quoted rate is computed from, where the protocol keeps the figures
        only in its events (Lido's TokenRebased, Rocket Pool's BalancesUpdated); None: the
        rate reads say everything. Read by `floor.chain.ratelogs.with_rate_logs` before the
        batch; an adapter not given them quotes nothing and its APY is measured."""
        return None

    def with_rate_logs(self, logs: Sequence[EventLog]) -> Adapter:
        """This adapter carrying the last events `rate_logs` asked for, oldest first."""
        return self

    # -- the market's total, for the circuit breakers' exploit signal --------------------
    def tvl_reads(self) -> list[ReadCall]:
        """Reads of what the whole market holds of the asset (its TVL, in the asset's base
        units); none where the adapter cannot tell, and then no TVL breaker watches it."""
        return []

    def decode_tvl(self, results: Sequence[ReadResult]) -> int | None:
        return None

    # -- claimable rewards (markets that pay reward tokens override these) ----------------
    def reward_reads(self, account: str) -> list[ReadCall]:
        """Reads of what `account` can claim from the market now (none: it pays no rewards).
        They may be non-view calls that checkpoint first (a gauge's claimable_tokens, Comet's
        getRewardOwed): they are only ever sent in an eth_call batch."""
        return []

    def decode_rewards(self, results: Sequence[ReadResult]) -> list[RewardClaimable]:
        """The claimable reward tokens from `reward_reads`' results, one line per token."""
        return []

    def claim_calls(self, account: str) -> list[Call]:
        """Calls that claim every reward `reward_reads` counts, paid to `account` (the executor)."""
        return []

    # -- shared helpers ---------------------------------------------------------------
    def _approved(self, spender: str, amount: int, action: Call) -> list[Call]:
        """approve(amount), the action, approve(0): no allowance outlives the batch."""
        return [
            call(self.asset.address, APPROVE, spender, amount),
            action,
            call(self.asset.address, APPROVE, spender, 0),
        ]


class RawWrites(ABC):
    """The plain writes of an adapter whose market takes an exact amount in or out with no
    bound of its own (a lending pool, a vault, a staking deposit): its protected calls are
    these writes between balance guards. Adapters whose every write needs a bound from a
    quote (a pool's min-out: Curve, Balancer; a burn sized by the exchange rate: Rocket
    Pool) do not offer them: callers check `isinstance(adapter, RawWrites)`."""

    @abstractmethod
    def deposit_calls(self, amount: int, account: str) -> list[Call]:
        """Calls that move `amount` of the asset from `account` (the executor) into the market."""

    @abstractmethod
    def withdraw_calls(self, amount: int, account: str) -> list[Call]:
        """Calls that take `amount` of the asset out of the market back to `account`."""

    @abstractmethod
    def withdraw_all_calls(self, position: PositionReading, account: str) -> list[Call]:
        """Calls that take the whole position out, leaving no dust behind."""

    def action_calls(self, action: Action, account: str) -> list[Call]:
        match action:
            case Deposit(amount):
                return self.deposit_calls(amount, account)
            case Withdraw(amount):
                return self.withdraw_calls(amount, account)
            case WithdrawAll(position):
                return self.withdraw_all_calls(position, account)
        raise TypeError(f"not an action: {action!r}")

    def protected_calls(self, action: Action, account: str, quote: Sequence[Expected], slippage_bps: int) -> list[Call]:
        """The action's writes between balance guards on the quoted changes, less `slippage_bps`."""
        return guarded(account, self.action_calls(action, account), quote, slippage_bps)


def check_amount(amount: int, what: str) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidAmount(f"{what}: amount must be a positive integer in base units, got {amount!r}")
