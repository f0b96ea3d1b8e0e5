"""The transaction queue's fee policy (EIP-1559, by the chain's fee model): what to offer, and
what a replacement offers.

The policy is pure (`fees_for`, `over_cap`, `bumped`, `cancel_fees` take a `FeeHistory` or
`Fees` and return numbers), so it is tested without a chain; `read_fee_history` is the only
I/O. Amounts are ints in wei, never floats. The max fee covers the base fee the transaction
may meet before it is mined: the upper end of the base-fee predictor's interval
(`floor/chain/basefee.py`, 90% stated coverage, never above EIP-1559's 12.5% per block) over
the blocks it may wait, from its deadline or its priority's horizon. The tip follows the chain's
fee model (`TxConfig.fee_model`: Ethereum's market, none on Arbitrum, OP Stack's minimum unless
blocks are full); an L2's L1 data fee is `floor/chain/l2fees.py`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from web3 import Web3
from web3.types import RPCEndpoint

from floor.chain.basefee import BaseFeeModel
from floor.chain.errors import RpcUnavailable
from floor.chain.l2fees import minimum_gas_price, oracle_address
from floor.config import TxConfig
from floor.models import Priority
from floor.txqueue import Fees

_BPS = 10_000
# A deadline further out prices no further: a transaction not mined within its stuck time
# (a few blocks) is replaced at fresh fees anyway, and the 12.5%-a-block bound compounds fast
# (10 blocks: 3.2x) where history is too short for the predictor to narrow it.
MAX_HORIZON_BLOCKS = 10
# OP Stack: the latest block was at capacity when its gas used came within 10% of its limit.
# (op-geth's test is "within the block's largest transaction's gas", which eth_feeHistory
# does not give.)
OP_AT_CAPACITY_RATIO = 0.9


@dataclass(frozen=True)
class FeeHistory:
    """What eth_feeHistory returns, decoded to ints."""

    oldest_block: int
    base_fees: list[int]  # len = blocks + 1: the last is the NEXT block's base fee
    gas_used_ratios: list[float]
    rewards: list[list[int]]  # per block, one tip per percentile (same order as `percentiles`)
    percentiles: list[int]


def _median(values: list[int]) -> int:
    """Median in ints; between the middle two, rounded up (never under-offer by a rounding)."""
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else -(-(s[mid - 1] + s[mid]) // 2)


def base_fee_ceiling(base_fees: list[int], blocks: int) -> int:
    """The highest base fee a transaction mined within the next `blocks` blocks should meet, at
    the predictor's stated confidence. eth_feeHistory's last base fee is the next block's,
    known exactly; each later block's is predicted from all before it, and the ceiling is the
    highest upper end among them (with too little history, EIP-1559's hard bound: 12.5% a
    block)."""
    known = base_fees[-1]
    if blocks <= 1 or known <= 0:
        return known
    model = BaseFeeModel(horizons=tuple(range(1, blocks)))
    for fee in (f for f in base_fees if f > 0):
        model.update(fee)
    # The highest along the way, and never below the next block's: a fee predicted to fall
    # later must still be payable while the transaction waits.
    return max([known] + [p.high for p in model.predict().values()])


def tip_for(history: FeeHistory, priority: Priority, config: TxConfig) -> int:
    """The tip by the chain's fee model.

    - ethereum: the recent blocks' median tip at the priority's percentile, at least the floor.
    - arbitrum: the floor (0 by default): ArbOS charges the base fee only, a tip buys nothing.
    - op_stack: op-geth's rule (SuggestOptimismPriorityFee): with one known sequencer a tip only
      matters when blocks are full, so the floor (0.001 gwei by default), unless the latest
      block was at capacity: then 10% over its tip at the priority's percentile.
    """
    if config.fee_model == "arbitrum":
        return config.tip_floor_wei
    percentile = config.tip_percentiles[priority.name]
    if percentile not in history.percentiles:
        raise ValueError(f"fee history has no tips at percentile {percentile} (has {history.percentiles})")
    column = history.percentiles.index(percentile)
    if config.fee_model == "op_stack":
        full = bool(history.gas_used_ratios) and history.gas_used_ratios[-1] >= OP_AT_CAPACITY_RATIO
        last = history.rewards[-1][column] if full and history.rewards else 0
        return max(last + last // 10, config.tip_floor_wei)
    # Empty or all-zero blocks (nothing to include, or a node that does not report tips) say
    # nothing about the market and would drag the median to zero.
    tips = [r[column] for r in history.rewards if any(r)]
    return max(_median(tips) if tips else 0, config.tip_floor_wei)


def fees_for(
    history: FeeHistory, priority: Priority, config: TxConfig, blocks: int | None = None, minimum_base_fee: int = 0
) -> Fees:
    """Fees for a transaction of this priority now: the fee model's tip (`tip_for`), and a max fee
    covering the base fee it may meet within `blocks` blocks (default: the priority's horizon),
    never below the chain's minimum base fee (Arbitrum's getMinimumGasPrice), plus the tip. Not
    capped: whether to wait is the caller's call."""
    if not history.base_fees:
        raise ValueError("fee history has no base fees: cannot price the next block")
    tip = tip_for(history, priority, config)
    horizon = blocks if blocks is not None else config.fee_horizon_blocks[priority.name]
    ceiling = max(base_fee_ceiling(history.base_fees, horizon), minimum_base_fee)
    return Fees(max_fee_per_gas=ceiling + tip, max_priority_fee_per_gas=tip)


def blocks_until(deadline_s: float | None, config: TxConfig) -> int | None:
    """How many blocks a transaction may wait for its deadline (None: no deadline)."""
    if deadline_s is None:
        return None
    return min(max(math.ceil(deadline_s / config.block_time_s), 1), MAX_HORIZON_BLOCKS)


def over_cap(fees: Fees, config: TxConfig) -> bool:
    """Whether these fees are above the chain's cap, i.e. non-critical intents should wait."""
    return fees.max_fee_per_gas > config.max_fee_cap_wei


def _raise(value: int, bps: int) -> int:
    return max(-(-value * (_BPS + bps) // _BPS), value + 1)


def bumped(previous: Fees, config: TxConfig, market: Fees | None = None) -> Fees:
    """Fees for a replacement at the same nonce. geth's txpool accepts it only if both the max fee
    and the tip rise by >= 10%, so both rise by `fee_bump_bps` (rounded up, at least +1 wei); and
    never below today's market (`market`), so the replacement is also competitive now."""
    max_fee = _raise(previous.max_fee_per_gas, config.fee_bump_bps)
    tip = _raise(previous.max_priority_fee_per_gas, config.fee_bump_bps)
    if market is not None:
        max_fee = max(max_fee, market.max_fee_per_gas)
        tip = max(tip, market.max_priority_fee_per_gas)
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)


def cancel_fees(previous: Fees, config: TxConfig, market: Fees | None = None) -> Fees:
    """Fees for a zero-value self-transfer that replaces a stuck transaction: it is a replacement
    too, so the same rule as `bumped` (kept apart so the cancel policy can diverge)."""
    return bumped(previous, config, market)


def _int(value: int | str) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def read_fee_history(w3: Web3, config: TxConfig, block: str | int = "latest") -> FeeHistory:
    """The recent blocks' base fees and tips at every configured percentile, in one request."""
    percentiles = sorted(set(config.tip_percentiles.values()))
    # Raw JSON-RPC: web3's result formatters convert each of the ~1,500 numbers of 256 blocks'
    # history, and the policy converts them again; on the queue's prepare, beside its simulations.
    newest = hex(block) if isinstance(block, int) else block
    params = [hex(config.fee_history_blocks), newest, percentiles]
    response = w3.provider.make_request(RPCEndpoint("eth_feeHistory"), params)
    raw = response.get("result")
    if "error" in response or not isinstance(raw, dict):
        raise RpcUnavailable(f"eth_feeHistory failed: {str(response.get('error'))[:200]}")
    return FeeHistory(
        oldest_block=_int(raw["oldestBlock"]),
        base_fees=[_int(b) for b in raw["baseFeePerGas"]],
        gas_used_ratios=[float(g) for g in raw.get("gasUsedRatio") or []],
        rewards=[[_int(t) for t in r] for r in raw.get("reward") or []],
        percentiles=percentiles,
    )


def read_minimum_base_fee(w3: Web3, config: TxConfig) -> int:
    """The chain's floor under its base fee: Arbitrum's getMinimumGasPrice (one eth_call), else 0."""
    oracle = oracle_address(config)
    return minimum_gas_price(w3, oracle) if config.fee_model == "arbitrum" and oracle else 0


def suggest_fees(w3: Web3, priority: Priority, config: TxConfig, blocks: int | None = None) -> Fees:
    """Fees for a transaction of this priority (mined within `blocks` blocks), from the chain's
    recent blocks, by its fee model."""
    return fees_for(read_fee_history(w3, config), priority, config, blocks, read_minimum_base_fee(w3, config))
