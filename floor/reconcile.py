"""Reconciliation, pure: what the chain holds against what the engine expects it to hold.

The engine's cached view of a market is its last snapshot (written by every read of an
operation) plus the planned effects of the transactions confirmed since. Interest and rebases
move a position between reads, so the cache is first carried forward by the market's growth
index (an aToken's liquidity index, a vault's share price): expected = cached x index now /
index then. What is left is classified:

- `match`: the chain holds exactly the cache;
- `accrual`: it differs from the cache, but from the cache carried forward by no more than
  the relative tolerance (default 5 bps) or the token's dust epsilon;
- `dust`: it differs from the cache by no more than the token's dust epsilon;
- `discrepancy`: anything else, with its size in base units and in bps of the expectation.

Besides markets, everything else that moves is reconciled too:

- the executor's idle balance of each token ("<chain>:idle:<TOKEN>"): its last snapshot (every
  operation's read stores it) plus the journal's idle effects since (a deposit consumes idle
  funds, a withdrawal adds to them, a delivery takes them out). Less than that is a
  `discrepancy`; more is an `inflow` (the treasury topping the executor up, rewards, a planned
  decrease that did not happen, which the journal's check below names): money that arrived
  is never a loss.
- the journal itself: every transaction journalled since it was last found final must still be
  on the chain with the same status (mined again in another block is fine). One the chain no
  longer holds is a discrepancy of its own ("<chain>:tx:<hash>"), expected what it moved (a
  delivery: its amount), actual nothing, the whole of it missing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from floor.models import FrozenModel

BPS = 10_000
MAX_BPS = 10**12

Kind = Literal["match", "accrual", "dust", "inflow", "discrepancy"]


class Finding(FrozenModel):
    chain_id: int
    market: str  # str(AdapterKey)
    asset: str
    decimals: int
    cached: int  # the last snapshot plus confirmed effects since
    expected: int  # the cache carried forward by the growth index
    actual: int  # read from the chain now
    kind: Kind
    block_number: int
    growth_index: int | None = None

    @property
    def difference(self) -> int:
        return self.actual - self.expected

    @property
    def relative_bps(self) -> int:
        """The difference in bps of what was expected (capped: a market expected near zero
        that holds something is "huge", not a number too large to store)."""
        return min(abs(self.difference) * BPS // max(self.expected, 1), MAX_BPS)


def carried_forward(cached: int, index_then: int | None, index_now: int | None) -> int:
    """The cache grown by the market's index since it was read (as is, without both indexes)."""
    if not index_then or not index_now:
        return cached
    return cached * index_now // index_then


def classify(cached: int, expected: int, actual: int, tolerance_bps: int, dust: int) -> Kind:
    if actual == cached:
        return "match"
    off = abs(actual - expected)
    if off <= dust or off * BPS <= tolerance_bps * max(expected, 1):
        # Explained: by the index (accrual) or by rounding too small to be money (dust).
        return "dust" if abs(actual - cached) <= dust else "accrual"
    return "discrepancy"


def classify_idle(expected: int, actual: int, dust: int) -> Kind:
    """An idle balance earns nothing, so no tolerance beyond rounding: equal, within `dust`,
    more than expected (`inflow`), or less (`discrepancy`)."""
    if actual == expected:
        return "match"
    if abs(actual - expected) <= dust:
        return "dust"
    return "inflow" if actual > expected else "discrepancy"


def idle_key(chain_id: int, asset: str) -> str:
    """The journal's and the snapshots' name for the executor's idle balance of a token."""
    return f"{chain_id}:idle:{asset}"


def delivery_key(chain_id: int, asset: str, destination: str) -> str:
    """The journal's name for what a transaction delivers to a destination."""
    return f"{chain_id}:delivery:{asset}:{destination}"


def tx_key(chain_id: int, tx_hash: str) -> str:
    """A discrepancy's name for a journalled transaction the chain no longer holds."""
    return f"{chain_id}:tx:{tx_hash.lower()}"


def parse_tx_key(market: str) -> tuple[int, str] | None:
    """(chain id, hash) of a `tx_key`, None for any other name."""
    chain, kind, rest = ([*market.split(":", 2), "", ""])[:3]
    return (int(chain), rest) if kind == "tx" and chain.isdigit() and rest else None


def deliveries(effects: dict[str, int]) -> list[tuple[str, str, int]]:
    """(token, destination, amount) of each delivery among a transaction's effects."""
    out = []
    for key, amount in effects.items():
        parts = key.split(":", 3)
        if len(parts) == 4 and parts[1] == "delivery":
            out.append((parts[2], parts[3], amount))
    return out


def move_effect(chain_id: int, asset: str, market: str, change: int) -> dict[str, int]:
    """A move's planned change of a market and, the other way, of the executor's idle balance."""
    return {market: change, idle_key(chain_id, asset): -change}


def delivery_effect(chain_id: int, asset: str, destination: str, amount: int) -> dict[str, int]:
    """A transfer out of idle funds to a destination."""
    return {idle_key(chain_id, asset): -amount, delivery_key(chain_id, asset, destination): amount}


def default_dust(decimals: int) -> int:
    """A millionth of a whole token, at least one base unit: rounding, never money."""
    dust: int = 10 ** max(decimals - 6, 0)
    return dust


# ---------------------------------------------------------------------------- the workflow's messages


class ReconcileChainInput(FrozenModel):
    run_id: str
    chain_id: int


class StoredDiscrepancy(FrozenModel):
    id: int
    market: str
    asset: str
    decimals: int
    expected: str  # base units, exact
    actual: str
    relative_bps: int
    detail: str = ""  # a missing transaction: which, of which operation, what it moved


class ChainReconciliation(FrozenModel):
    chain_id: int
    block_number: int
    markets: int
    kinds: dict[str, int]  # kind -> how many markets
    discrepancies: list[StoredDiscrepancy]
    gas_balance_wei: str
    low_gas: bool
    uncached: list[str] = []  # markets with no snapshot yet: nothing to compare with
    transactions_checked: int = 0  # journalled transactions looked for on the chain
    # Not the chain the engine knew (reset, rewritten past finality): nothing was read, the
    # breaker trips. One line: "chain 42161 state does not match what the engine knew at block N: ..."
    mismatch: str = ""


class ReconcileInput(FrozenModel):
    chains: list[int] = Field(min_length=1)
    engine_id: str = ""  # the engine whose circuit breaker a large discrepancy trips
    trip_above_bps: int = Field(default=100, ge=0)


class ReconcileResult(FrozenModel):
    status: Literal["clean", "discrepancy", "mismatch"]
    summary: str
    chains: list[ChainReconciliation]
    tripped: bool
    breakers: list[str] = []  # the `reconcile:` breakers this run asked the engine to open (if not open)
