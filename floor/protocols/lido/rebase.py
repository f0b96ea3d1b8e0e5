"""stETH's quoted rate: the share rate's growth in Lido's last oracle report, as Lido computes
its APR.

Lido (the stETH contract) keeps only the current totals; each accounting oracle report emits

    TokenRebased(uint256 indexed reportTimestamp, uint256 timeElapsed, uint256 preTotalShares,
                 uint256 preTotalEther, uint256 postTotalShares, uint256 postTotalEther,
                 uint256 sharesMintedAsFees)

and Lido's own APR is that event's (docs.lido.fi, "APR"): preShareRate = preTotalEther x 1e27 /
preTotalShares, postShareRate likewise, APR = (postShareRate - preShareRate) / preShareRate x
seconds a year / timeElapsed. The fee is already out of it (minted as shares in the report)
and so are withdrawals finalised at the report (share-rate neutral). The APY compounds that
growth once per report period (stETH rebases once a report).

`timeElapsed` is the time the report covers (on mainnet the reference slots' distance, a day);
the local stand-in emits 0 there, so where it is 0 the time is taken between this report's
`reportTimestamp` and the previous report's, which is what timeElapsed counts on mainnet too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.crypto import keccak

from floor.adapters.base import RAY, EventLog
from floor.rates import report_rates

TOKEN_REBASED = keccak(text="TokenRebased(uint256,uint256,uint256,uint256,uint256,uint256,uint256)")
REPORTS = 2  # the last report, and the one before it for its time where timeElapsed is 0


@dataclass(frozen=True)
class Rebase:
    """One oracle report's TokenRebased."""

    report_timestamp: int
    time_elapsed: int
    pre_total_shares: int
    pre_total_ether: int
    post_total_shares: int
    post_total_ether: int

    @classmethod
    def from_log(cls, log: EventLog) -> Rebase:
        timestamp, words = log.uint_words(TOKEN_REBASED, 6)
        return cls(timestamp, *words[:5])  # less sharesMintedAsFees

    @property
    def pre_share_rate(self) -> int:
        """ETH per share before the report, scaled by 1e27 (rounded down, as Lido's docs)."""
        return self.pre_total_ether * RAY // self.pre_total_shares if self.pre_total_shares else 0

    @property
    def post_share_rate(self) -> int:
        return self.post_total_ether * RAY // self.post_total_shares if self.post_total_shares else 0


def rebase_quote(rebases: Sequence[Rebase]) -> tuple[float | None, float | None, str | None]:
    """(APR, APY, None) from the last report (oldest first in `rebases`), or (None, None, why not)."""
    if not rebases:
        return None, None, "no Lido oracle report found in the recent blocks"
    last = rebases[-1]
    elapsed = last.time_elapsed
    if elapsed == 0:
        if len(rebases) < 2:
            return None, None, "one Lido oracle report so far: the time it covers needs the one before"
        elapsed = last.report_timestamp - rebases[-2].report_timestamp
    return report_rates(last.pre_share_rate, last.post_share_rate, elapsed)
