"""Lido: ETH staked for stETH, which rebases, and a withdrawal queue to leave.

The treasury holds ETH as WETH (the market's `asset`). A deposit unwraps it and stakes it in
one atomic batch: WETH `withdraw(amount)`, then stETH `submit(0)` carrying `amount` of ETH (the
only value-carrying call the executor allows Lido; the referral is zero). Lido's staking pause
and stake limit are read first and refuse the deposit by name before anything is sent.

Position: stETH `balanceOf(executor)`, with `sharesOf` as the shares, in the chain's one
Multicall3 batch. Yield is a rebase: the balance grows when an oracle report raises the share
rate, so the growth index is `getPooledEthByShares(1e27)`. The quoted rate is Lido's own APR
of its last oracle report (`rebase.py`: the share rate before and after it, from its
TokenRebased event, over the time it covers), compounded once per report for the APY: the
report reads the events first (`rate_logs`, `floor.chain.ratelogs`). Without them (another
reader, or a single report so far) the APY is measured from the index over time.

Exit is queued: there is nothing to take out at once (liquidity 0, with the reason). A
withdrawal is a request to the WithdrawalQueueERC721: approve(queue, amount),
`requestWithdrawals(amounts, executor)` with the amount split into requests of 100 wei to
1,000 stETH each (the queue's bounds; a smaller amount is refused before sending), then
approve(queue, 0). The oracle finalises requests in order, days later (`exit_wait_s`); each
finalised request is claimed with `claimWithdrawals(ids, hints)`, which pays ETH to the
executor (its default function takes plain ETH), and `claim_withdrawal_calls` wraps it back
to WETH in the same batch. Pending requests are read in three rounds (`requests.py`): the executor's
ids, their status and hints, then the ETH each can claim.

Instant exit (optional, `instant_exit_pool` configured): stETH sold for ETH now through a
Curve ETH/stETH pool, quoted first (`instant_exit_quote_reads`/`decode_instant_exit_quote`)
and built with its min-out (`instant_exit_calls`); see `instant_exit.py`. The planned exit
stays the queue (`exit`, liquidity 0): an instant exit is a priced choice the caller makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from floor.adapters.base import (
    RAY,
    Action,
    Adapter,
    Asset,
    Deposit,
    EventLog,
    LiquidityReading,
    LogQuery,
    PositionReading,
    RateSnapshot,
    RawWrites,
    Withdraw,
    WithdrawAll,
    check_amount,
)
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.guards import Expected
from floor.models import AdapterKey, Call
from floor.permissions import (
    APPROVE,
    ZERO_ADDRESS,
    PermissionSet,
    approval,
    holder_asset,
    list_id,
    to_self,
    token_asset,
)
from floor.protocols.lido.errors import (
    RequestAmountTooSmall,
    StakeLimitExceeded,
    StakingPaused,
    WithdrawalsPaused,
)
from floor.protocols.lido.instant_exit import InstantExits
from floor.protocols.lido.rebase import REPORTS, TOKEN_REBASED, Rebase, rebase_quote

SUBMIT = "submit(address)"
REQUEST = "requestWithdrawals(uint256[],address)"
CLAIM = "claimWithdrawals(uint256[],uint256[])"
WETH_WITHDRAW = "withdraw(uint256)"
WETH_DEPOSIT = "deposit()"
NO_REFERRAL = "0x0000000000000000000000000000000000000000"

MIN_REQUEST = 100  # WithdrawalQueue's MIN_STETH_WITHDRAWAL_AMOUNT (wei of stETH)
MAX_REQUEST = 1_000 * 10**18  # MAX_STETH_WITHDRAWAL_AMOUNT
# Calldata bound of one executor call (floor.batching.MAX_CALL_DATA): requestWithdrawals carries 100 bytes plus 32
# per amount, claimWithdrawals 132 plus 64 per request.
REQUESTS_PER_CALL = 12
CLAIMS_PER_CALL = 5
DAY = 24 * 3600
# Lido's withdrawals are finalised by the daily oracle report once the buffer and validator
# exits cover them: typically one to five days. Plans count on the longer end.
EXIT_WAIT_S = 5 * DAY


def request_amounts(amount: int) -> list[int]:
    """`amount` of stETH as the queue's requests: 1,000 stETH each and the rest, the last one
    never under the minimum (a remainder under 100 wei takes what it lacks from the request
    before it). An amount under the minimum cannot be requested at all."""
    if amount < MIN_REQUEST:
        raise RequestAmountTooSmall(
            f"a withdrawal request of {amount} wei of stETH is below the queue's minimum of {MIN_REQUEST} wei"
        )
    full, rest = divmod(amount, MAX_REQUEST)
    amounts = [MAX_REQUEST] * full + ([rest] if rest else [])
    if amounts[-1] < MIN_REQUEST:
        lack = MIN_REQUEST - amounts[-1]
        amounts[-2] -= lack
        amounts[-1] += lack
    return amounts


@dataclass(frozen=True)
class LidoAdapter(InstantExits, RawWrites, Adapter):
    key: AdapterKey
    asset: Asset  # the chain's WETH
    steth: str
    withdrawal_queue: str
    instant_exit_pool: str | None = None  # a Curve ETH/stETH pool (instant_exit.py)
    withdrawal_valuer: str | None = None  # LidoWithdrawalValuer: what the executor's requests are worth
    rebases: tuple[Rebase, ...] | None = None  # the last oracle reports (`with_rate_logs`), oldest first
    exit = "queued"
    exit_wait_s = EXIT_WAIT_S
    yield_source = "rebase"  # the stETH balance grows with the share rate

    # -- writes -----------------------------------------------------------------------
    def deposit_calls(self, amount: int, account: str) -> list[Call]:
        check_amount(amount, f"{self.key} deposit")
        return [
            call(self.asset.address, WETH_WITHDRAW, amount),
            call(self.steth, SUBMIT, NO_REFERRAL, value=amount),
        ]

    def withdraw_calls(self, amount: int, account: str) -> list[Call]:
        """A queued exit of `amount` of stETH: the requests, between an exact approval and its reset."""
        check_amount(amount, f"{self.key} withdrawal request")
        amounts = request_amounts(amount)
        requests = [
            call(self.withdrawal_queue, REQUEST, amounts[i : i + REQUESTS_PER_CALL], account)
            for i in range(0, len(amounts), REQUESTS_PER_CALL)
        ]
        return [
            call(self.steth, APPROVE, self.withdrawal_queue, amount),
            *requests,
            call(self.steth, APPROVE, self.withdrawal_queue, 0),
        ]

    def withdraw_all_calls(self, position: PositionReading, account: str) -> list[Call]:
        return self.withdraw_calls(position.amount, account)

    def claim_withdrawal_calls(
        self, ids: Sequence[int], hints: Sequence[int], claimable: int, account: str
    ) -> list[Call]:
        """Claim finalised requests (`ids` ascending, with their checkpoint hints) and wrap the
        `claimable` ETH they pay (the sum of `getClaimableEther`) back to WETH."""
        if not ids or len(ids) != len(hints):
            raise ValueError(f"{self.key}: {len(ids)} requests to claim with {len(hints)} hints")
        check_amount(claimable, f"{self.key} claim")
        claims = [
            call(self.withdrawal_queue, CLAIM, list(ids[i : i + CLAIMS_PER_CALL]), list(hints[i : i + CLAIMS_PER_CALL]))
            for i in range(0, len(ids), CLAIMS_PER_CALL)
        ]
        return [*claims, call(self.asset.address, WETH_DEPOSIT, value=claimable)]

    def permissions(self) -> PermissionSet:
        # submit carries ETH (its referral decides nothing about funds); the requests' owner
        # (word 1) must be the executor; a claim pays its caller, the executor; WETH's
        # withdraw pays its caller and deposit wraps what the call carries.
        # ETH, WETH and stETH (one to one with ETH) are valued, and the requests in the queue
        # (their locked amountOfStETH, read by the LidoWithdrawalValuer).
        instant = [self.instant_exit.permissions()] if self.instant_exit else []
        eth, weth, steth = (token_asset(t, "WETH", 18) for t in (ZERO_ADDRESS, self.asset.address, self.steth))
        requests = holder_asset(
            list_id("asset.lido-withdrawals", self.withdrawal_queue),
            "WETH",
            18,
            self.withdrawal_valuer or ZERO_ADDRESS,
            "pendingOf(address,address)",
            self.withdrawal_queue,
        )
        return PermissionSet.union(
            [
                to_self(self.asset.address, WETH_WITHDRAW, assets=[weth, eth]),
                to_self(self.asset.address, WETH_DEPOSIT, carries_value=True, assets=[weth, eth]),
                to_self(self.steth, SUBMIT, carries_value=True, assets=[eth, steth]),
                approval(self.steth, self.withdrawal_queue),
                to_self(self.withdrawal_queue, REQUEST, 1, assets=[steth, requests]),
                to_self(self.withdrawal_queue, CLAIM, assets=[requests, eth]),
                *instant,
            ]
        )

    # -- instant exit (a Curve ETH/stETH pool): `InstantExits` ---------------------------
    no_pool = "stETH leaves through the queue"

    def staked_token(self) -> str:
        return self.steth

    # -- quotes ------------------------------------------------------------------------
    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        match action:
            case Deposit():
                return [
                    read(self.steth, "isStakingPaused()"),
                    read(self.steth, "getCurrentStakeLimit()"),
                    read(self.steth, "getPooledEthByShares(uint256)", RAY),
                ]
            case Withdraw() | WithdrawAll():
                return [read(self.withdrawal_queue, "isPaused()")]
        raise TypeError(f"not an action: {action!r}")

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        match action:
            case Deposit(amount):
                (paused,) = decode_result(["bool"], results[0], f"{self.key} stETH.isStakingPaused")
                (limit,) = decode_result(["uint256"], results[1], f"{self.key} stETH.getCurrentStakeLimit")
                (rate,) = decode_result(["uint256"], results[2], f"{self.key} stETH.getPooledEthByShares")
                if paused:
                    raise StakingPaused(f"{self.key}: Lido's staking is paused; it takes no deposit")
                if amount > limit:
                    raise StakeLimitExceeded(
                        f"{self.key}: a deposit of {amount} wei is above Lido's current stake limit of {limit} wei"
                    )
                return [Expected(self.steth, amount - submit_rounding(rate))]
            case Withdraw() | WithdrawAll():
                (paused,) = decode_result(["bool"], results[0], f"{self.key} withdrawalQueue.isPaused")
                if paused:
                    raise WithdrawalsPaused(f"{self.key}: Lido's withdrawal queue is paused; it takes no request")
                # The queue records each request at exactly its amount: nothing to guard.
                return []
        raise TypeError(f"not an action: {action!r}")

    # -- reads ------------------------------------------------------------------------
    def position_reads(self, account: str) -> list[ReadCall]:
        return [read(self.steth, "balanceOf(address)", account), read(self.steth, "sharesOf(address)", account)]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        (balance,) = decode_result(["uint256"], results[0], f"{self.key} stETH.balanceOf")
        (shares,) = decode_result(["uint256"], results[1], f"{self.key} stETH.sharesOf")
        return PositionReading(amount=balance, shares=shares)

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return self.position_reads(account)

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        position = self.decode_position(results).amount
        return LiquidityReading(
            position=position,
            market_available=0,
            withdrawable=0,
            reason=f"Lido exits only through its withdrawal queue (about {self.exit_wait_s // DAY} days)",
        )

    def tvl_reads(self) -> list[ReadCall]:
        return [read(self.steth, "getTotalPooledEther()")]

    def decode_tvl(self, results: Sequence[ReadResult]) -> int:
        total: int = decode_result(["uint256"], results[0], f"{self.key} stETH.getTotalPooledEther")[0]
        return total

    def rate_reads(self) -> list[ReadCall]:
        return [read(self.steth, "getPooledEthByShares(uint256)", RAY)]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        (rate,) = decode_result(["uint256"], results[0], f"{self.key} stETH.getPooledEthByShares")
        if self.rebases is None:
            return RateSnapshot(timestamp=timestamp, growth_index=rate, note="Lido's oracle reports were not read")
        apr, apy, note = rebase_quote(self.rebases)
        return RateSnapshot(timestamp=timestamp, growth_index=rate, quoted_apr=apr, quoted_apy=apy, note=note)

    def rate_logs(self) -> LogQuery:
        return LogQuery(topic0=TOKEN_REBASED, count=REPORTS, address=self.steth)

    def with_rate_logs(self, logs: Sequence[EventLog]) -> LidoAdapter:
        return replace(self, rebases=tuple(Rebase.from_log(e) for e in logs))


def submit_rounding(rate: int) -> int:
    """The most a submit of `a` wei can raise the stETH balance short of `a`: shares minted
    round down (less than one share) and balances round down, so the rise is at least
    a - ceil(pooled ETH per share). `rate` is getPooledEthByShares(1e27), itself rounded down."""
    return -(-(rate + 1) // RAY)
