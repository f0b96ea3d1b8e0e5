"""rETH's quoted rate: the exchange rate's growth between Rocket Pool's last two network
balance submissions.

rETH's exchange rate is RocketNetworkBalances' total ETH over the rETH supply
(`RocketTokenRETH.getExchangeRate`: 1e18 x totalEth / rethSupply), and it moves only when the
oracle DAO's balances reach consensus, about daily. Storage keeps only the latest balances;
each update emits (Houston)

    BalancesUpdated(uint256 indexed block, uint256 slotTimestamp, uint256 totalEth,
                    uint256 stakingEth, uint256 rethSupply, uint256 blockTimestamp)

so the quote is the rate of the last update against the one before, over the time between
their beacon slots (`slotTimestamp`; `blockTimestamp` where a slot time is 0): APR simple, APY
compounded once per such period. Node operators' commission is already out of totalEth. The
events are RocketNetworkBalances', the contract RocketStorage names now
(`contract.address` + "rocketNetworkBalances"), read before the batch (`floor.chain.ratelogs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.crypto import keccak

from floor.adapters.base import EventLog
from floor.rates import report_rates

BALANCES_UPDATED = keccak(text="BalancesUpdated(uint256,uint256,uint256,uint256,uint256,uint256)")
REPORTS = 2
WAD = 10**18


@dataclass(frozen=True)
class BalancesUpdate:
    """One consensus of the oracle DAO on the network's balances."""

    block: int  # the execution block the balances are for
    slot_timestamp: int
    total_eth: int
    staking_eth: int
    reth_supply: int
    block_timestamp: int

    @classmethod
    def from_log(cls, log: EventLog) -> BalancesUpdate:
        block, words = log.uint_words(BALANCES_UPDATED, 5)
        return cls(block, *words)

    @property
    def exchange_rate(self) -> int:
        """ETH per 1e18 rETH, as getExchangeRate computes it from these balances."""
        return WAD * self.total_eth // self.reth_supply if self.reth_supply else WAD

    @property
    def time(self) -> int:
        return self.slot_timestamp or self.block_timestamp


def balances_quote(updates: Sequence[BalancesUpdate]) -> tuple[float | None, float | None, str | None]:
    """(APR, APY, None) from the last two updates (oldest first), or (None, None, why not)."""
    if len(updates) < 2:
        return None, None, f"{len(updates)} Rocket Pool balances update(s) found: the rate between two needs two"
    before, last = updates[-2], updates[-1]
    return report_rates(before.exchange_rate, last.exchange_rate, last.time - before.time)
