"""Convex: a Curve pool's LP tokens deposited through Convex's Booster, which stakes them in
Curve's gauge with its own boost and pays the gauge's CRV, less its fees, plus CVX.

A deposit is Curve's (the coin single-sided into the pool, `add_liquidity` with the pool's
min-out from `calc_token_amount`), then, in the same batch, the `min_mint_amount` LP tokens
deposited with `Booster.deposit(pid, amount, true)` between approve(Booster) and
approve(Booster, 0): the Booster stakes them in the gauge and stakes a deposit token for the
executor in the pid's BaseRewardPool. The Booster's `poolInfo(pid)` is read with the quote and
must name the market's LP token and reward pool and not be shut down. An exit takes the LP
tokens back with `BaseRewardPool.withdrawAndUnwrap(amount, false)` and burns them in the
pool with its min-out, as Curve's does (everything else is `floor.protocols.curve`'s).

Rewards: the Booster's `earmarkRewards(pid)` (anyone's call) claims the gauge's CRV and
queues it, less lockIncentive, stakerIncentive and earmarkIncentive, in the reward pool,
which streams it over 7 days; `earned(account)` is the CRV claimable now and
`getReward(account, true)` pays it to the account, the executor, and has CVX minted to it:
per CRV, (totalCliffs - supply / reductionPerCliff) / totalCliffs, nothing past the last
cliff, capped at maxSupply (ConvexToken's `mint`, `cvx_minted` here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from floor.adapters.base import Action, Deposit, RewardClaimable, check_amount
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.models import Call
from floor.permissions import APPROVE, Membership, PermissionSet, approval, equal_to, in_list, list_id, to_self
from floor.protocols.convex.errors import PoolMismatch, PoolShutdown
from floor.protocols.curve.adapter import REMOVE_ONE, CurveAdapter

BOOSTER_DEPOSIT = "deposit(uint256,uint256,bool)"
WITHDRAW_AND_UNWRAP = "withdrawAndUnwrap(uint256,bool)"
GET_REWARD = "getReward(address,bool)"
POOL_INFO = ["address", "address", "address", "address", "address", "bool"]


def cvx_minted(crv: int, supply: int, reduction_per_cliff: int, total_cliffs: int, max_supply: int) -> int:
    """The CVX ConvexToken's `mint` gives for `crv` CRV claimed at CVX supply `supply` (after the premine)."""
    cliff = supply // reduction_per_cliff
    if cliff >= total_cliffs:
        return 0
    amount = crv * (total_cliffs - cliff) // total_cliffs
    return min(amount, max_supply - supply)


@dataclass(frozen=True)
class ConvexRewards:
    crv: int  # earned(account): CRV the reward pool pays now
    cvx: int  # what the CVX mint gives for it at the current supply


@dataclass(frozen=True, kw_only=True)
class ConvexAdapter(CurveAdapter):
    booster: str
    pid: int
    reward_pool: str
    cvx: str
    # As Curve's: the pool's APY is measured from its virtual price. The reward pool's
    # rewardRate (CRV a second, streamed) and CVX's cliffs are rewards in other tokens: their
    # APR needs CRV's and CVX's prices, which the engine does not read.
    rate_note = "measured: a Curve pool keeps no rate on chain (virtual price growth); CRV and CVX not included"

    @property
    def staking(self) -> str | None:
        return self.reward_pool  # one deposit token staked per LP token

    # -- writes -----------------------------------------------------------------------
    def stake_calls(self, lp: int) -> list[Call]:
        """Deposit `lp` LP tokens in the Booster and stake them (stake = true): approve, deposit, approve 0."""
        check_amount(lp, f"{self.key} Convex deposit")
        return [
            call(self.lp_token, APPROVE, self.booster, lp),
            call(self.booster, BOOSTER_DEPOSIT, self.pid, lp, True),
            call(self.lp_token, APPROVE, self.booster, 0),
        ]

    def unstake_calls(self, lp: int) -> list[Call]:
        """The LP tokens back from the reward pool through the Booster, rewards left to claim."""
        check_amount(lp, f"{self.key} Convex withdrawal")
        return [call(self.reward_pool, WITHDRAW_AND_UNWRAP, lp, False)]

    def claim_calls(self, account: str) -> list[Call]:
        """`getReward(account, true)`: the CRV earned, and the CVX minted for it, to the executor."""
        return [call(self.reward_pool, GET_REWARD, account, True)]

    def permissions(self) -> PermissionSet:
        # The pool pays its caller; the Booster stakes for its caller; withdrawAndUnwrap pays
        # the caller; getReward pays its account argument, which must be the executor.
        # The Booster's pid (word 0) must be this market's; the LP tokens and the stake (at
        # the pool's virtual price) are valued.
        coin_lp = [self.held(), self.lp_valued(self.lp_token)]
        staked = [self.lp_valued(self.lp_token), self.lp_valued(self.reward_pool)]
        pids = list_id("convex.pids", self.booster)
        return PermissionSet.union(
            [
                approval(self.asset.address, self.pool),
                to_self(self.pool, self.add_liquidity_sig, assets=coin_lp, conditions=self._other_amounts_zero()),
                to_self(self.pool, REMOVE_ONE, assets=coin_lp, conditions=[equal_to(1, self.coin_index)]),
                approval(self.lp_token, self.booster),
                to_self(
                    self.booster,
                    BOOSTER_DEPOSIT,
                    assets=staked,
                    conditions=[in_list(0, pids)],
                    members=[Membership(pids, self.pid)],
                ),
                to_self(self.reward_pool, WITHDRAW_AND_UNWRAP, assets=staked),
                to_self(self.reward_pool, GET_REWARD, 0),
            ]
        )

    # -- quotes ------------------------------------------------------------------------
    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        reads = super().quote_reads(action, account)
        if isinstance(action, Deposit):
            reads += [read(self.booster, "poolInfo(uint256)", self.pid), read(self.booster, "isShutdown()")]
        return reads

    def _split_quote(self, action: Action, results: Sequence[ReadResult]) -> tuple[Sequence[ReadResult], ReadResult]:
        if isinstance(action, Deposit):
            self._check_pool(results[-2], results[-1])
            results = results[:-2]
        return super()._split_quote(action, results)

    def _check_pool(self, info: ReadResult, shutdown: ReadResult) -> None:
        lptoken, _token, _gauge, rewards, _stash, closed = decode_result(
            POOL_INFO, info, f"{self.key} booster.poolInfo({self.pid})"
        )
        (booster_shutdown,) = decode_result(["bool"], shutdown, f"{self.key} booster.isShutdown")
        if lptoken.lower() != self.lp_token.lower() or rewards.lower() != self.reward_pool.lower():
            raise PoolMismatch(
                f"{self.key}: the Booster's pid {self.pid} is LP token {lptoken} with rewards {rewards}, "
                f"not the configured {self.lp_token} and {self.reward_pool}"
            )
        if closed or booster_shutdown:
            raise PoolShutdown(f"{self.key}: Convex's pid {self.pid} takes no deposit (shut down)")

    # -- rewards ---------------------------------------------------------------------------
    def reward_reads(self, account: str) -> list[ReadCall]:
        return [
            read(self.reward_pool, "earned(address)", account),
            read(self.cvx, "totalSupply()"),
            read(self.cvx, "reductionPerCliff()"),
            read(self.cvx, "totalCliffs()"),
            read(self.cvx, "maxSupply()"),
        ]

    def convex_rewards(self, results: Sequence[ReadResult]) -> ConvexRewards:
        (earned,) = decode_result(["uint256"], results[0], f"{self.key} rewardPool.earned")
        supply, per_cliff, cliffs, most = (
            decode_result(["uint256"], r, f"{self.key} CVX schedule")[0] for r in results[1:5]
        )
        return ConvexRewards(crv=earned, cvx=cvx_minted(earned, supply, per_cliff, cliffs, most))

    def decode_rewards(self, results: Sequence[ReadResult]) -> list[RewardClaimable]:
        """CRV earned and the CVX its claim mints (the CRV line only when the market names the CRV token)."""
        got = self.convex_rewards(results)
        crv = [RewardClaimable(token=self.crv, amount=got.crv, symbol="CRV")] if self.crv else []
        return [*crv, RewardClaimable(token=self.cvx, amount=got.cvx, symbol="CVX")]
