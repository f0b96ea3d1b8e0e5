"""EIP-1559 base fee: the exact update rule, and a predictor of the base fee 1 to N blocks ahead.

Pure: no web3, no I/O. Fees are ints in wei; only the predictor's internal fit works in logs
(floats), and what it returns is ints again.

**The rule** (`next_base_fee`, EIP-1559 and geth's `CalcBaseFee`): the next block's base fee
moves toward the gas target (gas limit / elasticity) by at most 1/8 of the parent's fee, in
integer arithmetic, at least +1 wei when the parent is above target. So after h blocks the fee
lies in `hard_bounds(fee, h)`, which is within fee*(7/8)^h .. fee*(9/8)^h (for fees of at least
8 wei, below which the +1 wei minimum allows more, and even gas limits: see `hard_bounds`).

**The predictor** (`BaseFeeModel`, `predict`): the log base fee over the next h blocks,

    log(b[t+h] / b[t]) ~= a_h * r[t] + c_h * (log b[t] - ema[t])

with r[t] = log(b[t] / b[t-1]) the last change and ema an exponential moving average of the log
fee (span `EMA_SPAN` blocks). Both terms are mean reversion, which is what a base fee does:
a jump overshoots (blocks right after a full one are less full: the last change is partly
undone, a_h < 0), and a fee above its recent level prices demand out until it comes back
(c_h < 0). a_h and c_h are fitted by least squares (a little ridge) on the last `WINDOW`
settled pairs only, i.e. pairs whose outcome block is at or before the block predicted from,
so there is no look-ahead, and the fit follows the regime (calm, spike, decay). Point =
b[t] * exp(fit). The interval is the point scaled by the 5th and 95th percentiles of the
model's own last `WINDOW` log errors at that horizon (90% stated confidence), then clipped to
the hard bounds, as is the point. Until `MIN_FIT` pairs have settled the point is the current
fee, and until `MIN_FIT` errors have, the interval is the hard bounds.

Measured on 14,651 consecutive mainnet blocks (May 2023, 44 to 184 gwei), see
docs/architecture.md: the fit beats "next = current" by a few percent of mean absolute error
at every horizon, not by 10%: from base fees alone most of the next blocks' change is not
predictable (it is the demand of blocks not yet built).

When the caller knows the latest block's gas-used ratio (a list of base fees that ends at the
latest mined block, and its `gasUsedRatio`), the next block's fee follows from the rule, and
the predictor starts from it (`predict`). `eth_feeHistory`'s `baseFeePerGas` already ends
with that next block's fee, so its ratios add nothing there.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

HORIZONS = (1, 3, 10)
CONFIDENCE = 0.90  # the interval's stated coverage
EMA_SPAN = 20  # blocks: the recent level the fee reverts to
WINDOW = 1000  # blocks: the trailing fit and error window
MIN_FIT = 100  # settled pairs before the fit is used
RIDGE = 1e-6  # keeps the 2x2 fit solvable on a flat series

ELASTICITY = 2
DENOMINATOR = 8


def next_base_fee(
    parent_base_fee: int,
    parent_gas_used: int,
    parent_gas_limit: int,
    elasticity: int = ELASTICITY,
    denominator: int = DENOMINATOR,
) -> int:
    """The base fee of the block after `parent`, exactly as EIP-1559 (geth `CalcBaseFee`) has it."""
    target = parent_gas_limit // elasticity
    if parent_gas_used == target:
        return parent_base_fee
    if parent_gas_used > target:
        delta = parent_base_fee * (parent_gas_used - target) // target // denominator
        return parent_base_fee + max(delta, 1)
    delta = parent_base_fee * (target - parent_gas_used) // target // denominator
    return max(parent_base_fee - delta, 0)


def next_base_fee_from_ratio(parent_base_fee: int, gas_used_ratio: float) -> int:
    """`next_base_fee` from eth_feeHistory's `gasUsedRatio` (gas used / gas limit), on a
    10**9-gas stand-in limit: exact up to the ratio's float rounding."""
    limit = 10**9
    return next_base_fee(parent_base_fee, round(gas_used_ratio * limit), limit)


def hard_bounds(base_fee: int, horizon: int, denominator: int = DENOMINATOR) -> tuple[int, int]:
    """The lowest and highest base fee reachable `horizon` blocks after `base_fee`: every block
    empty (-fee // 8 each) or every block full (+max(fee // 8, 1) each).

    The high bound assumes even gas limits: with an odd limit the target is floor(limit / 2), a
    full block is one gas over twice it, and the fee may rise by fee * (target + 1) // target // 8,
    about fee / 10**9 more than 1/8 on a 30M-gas chain (thousands of wei at 100 gwei)."""
    low = high = base_fee
    for _ in range(horizon):
        low -= low // denominator
        high += max(high // denominator, 1)
    return low, high


@dataclass(frozen=True)
class Prediction:
    """The base fee `horizon` blocks after the block predicted from: a point and an interval
    [low, high] holding the outcome at `confidence` (stated; measured by `replay`)."""

    horizon: int
    point: int
    low: int
    high: int
    confidence: float = CONFIDENCE


def _clip(value: float, low: int, high: int) -> int:
    return min(max(round(value), low), high)


class _Horizon:
    """The fit and error window of one horizon."""

    def __init__(self, horizon: int, window: int, min_fit: int) -> None:
        self.h, self.window, self.min_fit = horizon, window, min_fit
        self.pairs: deque[tuple[float, float, float]] = deque()  # (x1, x2, y), settled
        self.sums = [0.0] * 5  # x1x1, x1x2, x2x2, x1y, x2y over `pairs`
        self.errors: deque[float] = deque()  # log errors, settled, in arrival order
        self.sorted_errors: list[float] = []
        self.pending: deque[tuple[float, float, float | None]] = deque()  # (x1, x2, predicted log) per origin

    def _add(self, x1: float, x2: float, y: float, sign: int) -> None:
        for i, v in enumerate((x1 * x1, x1 * x2, x2 * x2, x1 * y, x2 * y)):
            self.sums[i] += sign * v

    def settle(self, log_fee: float, log_origin: float) -> None:
        """The outcome of the prediction made `h` blocks ago has arrived."""
        x1, x2, predicted = self.pending.popleft()
        self.pairs.append((x1, x2, log_fee - log_origin))
        self._add(x1, x2, log_fee - log_origin, 1)
        if len(self.pairs) > self.window:
            self._add(*self.pairs.popleft(), -1)
        if predicted is not None:
            error = log_fee - predicted
            self.errors.append(error)
            insort(self.sorted_errors, error)
            if len(self.errors) > self.window:
                old = self.errors.popleft()
                del self.sorted_errors[bisect_left(self.sorted_errors, old)]

    def coefficients(self) -> tuple[float, float] | None:
        if len(self.pairs) < self.min_fit:
            return None
        s11, s12, s22, s1y, s2y = self.sums
        s11, s22 = s11 + RIDGE, s22 + RIDGE
        det = s11 * s22 - s12 * s12
        return (s22 * s1y - s12 * s2y) / det, (s11 * s2y - s12 * s1y) / det

    def quantile(self, q: float) -> float:
        s = self.sorted_errors
        pos = q * (len(s) - 1)
        i = int(pos)
        return s[i] if i + 1 >= len(s) else s[i] + (s[i + 1] - s[i]) * (pos - i)


@dataclass
class BaseFeeModel:
    """The predictor, fed one consecutive block's base fee at a time (`update`), predicting from
    the latest (`predict`). It only ever sees what it was fed: no look-ahead by construction."""

    horizons: tuple[int, ...] = HORIZONS
    confidence: float = CONFIDENCE
    window: int = WINDOW
    min_fit: int = MIN_FIT
    ema_span: int = EMA_SPAN
    fee: int | None = field(default=None, init=False)  # the latest block's
    _log: float = field(default=0.0, init=False, repr=False)
    _change: float = field(default=0.0, init=False, repr=False)
    _ema: float = field(default=0.0, init=False, repr=False)
    _recent_logs: deque[float] = field(default_factory=deque, init=False, repr=False)
    _fits: dict[int, _Horizon] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if any(h < 1 for h in self.horizons):
            raise ValueError(f"horizons must be >= 1 block, got {self.horizons}")
        self._fits = {h: _Horizon(h, self.window, self.min_fit) for h in self.horizons}

    def update(self, base_fee: int) -> None:
        """The next consecutive block's base fee (wei, > 0)."""
        if base_fee <= 0:
            raise ValueError(f"base fee must be positive, got {base_fee}")
        log_fee = math.log(base_fee)
        if self.fee is None:
            self._ema = log_fee
        else:
            self._change = log_fee - self._log
            self._ema += (log_fee - self._ema) * 2 / (self.ema_span + 1)
        self.fee, self._log = base_fee, log_fee
        self._recent_logs.append(log_fee)
        if len(self._recent_logs) > max(self.horizons) + 1:
            self._recent_logs.popleft()
        x1, x2 = self._change, log_fee - self._ema
        for h, fit in self._fits.items():
            if len(fit.pending) == h:  # the prediction made h blocks ago settles on this block
                fit.settle(log_fee, self._recent_logs[-1 - h])
            coef = fit.coefficients()
            fit.pending.append((x1, x2, None if coef is None else log_fee + coef[0] * x1 + coef[1] * x2))

    def predict(self) -> dict[int, Prediction]:
        """Every horizon's prediction from the latest block fed."""
        if self.fee is None:
            raise ValueError("no base fee fed yet")
        out = {}
        for h, fit in self._fits.items():
            low, high = hard_bounds(self.fee, h)
            predicted = fit.pending[-1][2]
            if predicted is None:
                out[h] = Prediction(h, self.fee, low, high, self.confidence)
                continue
            point = math.exp(predicted)
            if len(fit.errors) < self.min_fit:  # no error record yet to size the interval by
                out[h] = Prediction(h, _clip(point, low, high), low, high, self.confidence)
                continue
            tail = (1 - self.confidence) / 2
            at = _clip(point, low, high)
            out[h] = Prediction(
                horizon=h,
                point=at,
                low=min(_clip(point * math.exp(fit.quantile(tail)), low, high), at),
                high=max(_clip(point * math.exp(fit.quantile(1 - tail)), low, high), at),
                confidence=self.confidence,
            )
        return out


def predict(
    base_fees: Sequence[int],
    gas_used_ratios: Sequence[float] | None = None,
    horizons: tuple[int, ...] = HORIZONS,
) -> dict[int, Prediction]:
    """The base fee `h` blocks after the last of `base_fees` (consecutive blocks, oldest first),
    for each horizon. With `gas_used_ratios` for every block including the last, the next fee is
    the rule's and the model predicts h - 1 blocks on from it (h = 1 is then the rule's value).
    Otherwise (e.g. eth_feeHistory's shape, one ratio fewer) the ratios are implied by the fees."""
    if not base_fees:
        raise ValueError("no base fees to predict from")
    known_next = gas_used_ratios is not None and len(gas_used_ratios) == len(base_fees)
    fees = list(base_fees)
    if gas_used_ratios is not None and known_next:
        fees.append(next_base_fee_from_ratio(fees[-1], gas_used_ratios[-1]))
    steps = sorted({h - 1 if known_next else h for h in horizons} - {0})
    model = BaseFeeModel(horizons=tuple(steps) or (1,))
    for fee in fees:
        model.update(fee)
    ahead = model.predict()
    out = {}
    for h in horizons:
        if known_next and h == 1:
            out[h] = Prediction(1, fees[-1], fees[-1], fees[-1])
        else:
            p = ahead[h - 1 if known_next else h]
            low, high = hard_bounds(base_fees[-1], h)  # never wider than from the last given fee
            out[h] = Prediction(h, _clip(p.point, low, high), _clip(p.low, low, high), _clip(p.high, low, high))
    return out


@dataclass(frozen=True)
class ReplayStats:
    """A predictor's errors over a recorded series at one horizon, against "fee in h blocks =
    fee now"; MAEs in wei."""

    horizon: int
    n: int
    mae: float
    naive_mae: float
    coverage: float  # share of outcomes inside [low, high]
    confidence: float  # the stated coverage

    @property
    def ratio(self) -> float:
        return self.mae / self.naive_mae if self.naive_mae else math.inf


def replay(series: Sequence[int], horizon: int, confidence: float = CONFIDENCE) -> ReplayStats:
    """Feed `series` (consecutive base fees) block by block; predict `horizon` ahead from every
    block that has an outcome, and score against the outcome and against the naive forecast."""
    model = BaseFeeModel(horizons=(horizon,), confidence=confidence)
    err = naive = 0
    covered = n = 0
    for t, fee in enumerate(series[:-horizon] if horizon < len(series) else []):
        model.update(fee)
        p = model.predict()[horizon]
        actual = series[t + horizon]
        err += abs(p.point - actual)
        naive += abs(fee - actual)
        covered += p.low <= actual <= p.high
        n += 1
    if not n:
        raise ValueError(f"a series of {len(series)} blocks has no outcome {horizon} blocks ahead")
    return ReplayStats(horizon, n, err / n, naive / n, covered / n, confidence)


@dataclass
class _Running:
    n: int = 0
    abs_error: int = 0
    naive_abs_error: int = 0
    covered: int = 0


@dataclass(frozen=True)
class TrackerStats:
    horizon: int
    n: int
    mae: float  # wei
    naive_mae: float
    coverage: float

    @property
    def ratio(self) -> float:
        return self.mae / self.naive_mae if self.naive_mae else math.inf


class PredictionTracker:
    """Live scoring: fed every block's base fee as it arrives (`record`), it predicts from each
    block and settles each prediction when its target block arrives, keeping the running MAE
    (predictor and naive) and interval coverage per horizon.

    Blocks must be consecutive for the model; a gap starts the model over (predictions whose
    target is missing are dropped), and a block number at or before the last one (a reorg)
    rewinds: predictions made from the replaced blocks are dropped and the model starts over."""

    def __init__(self, horizons: Iterable[int] = HORIZONS, confidence: float = CONFIDENCE) -> None:
        self.horizons = tuple(horizons)
        self.confidence = confidence
        self._model = BaseFeeModel(horizons=self.horizons, confidence=confidence)
        self._last: int | None = None
        # target block -> [(horizon, origin block, origin fee, prediction)]
        self._pending: dict[int, list[tuple[int, int, int, Prediction]]] = {}
        self._running = {h: _Running() for h in self.horizons}

    def record(self, block_number: int, base_fee: int) -> dict[int, Prediction]:
        """This block's base fee: settles what was predicted for it, returns what is predicted from it."""
        if base_fee <= 0:
            raise ValueError(f"base fee must be positive, got {base_fee}")
        if self._last is not None and block_number != self._last + 1:
            self._model = BaseFeeModel(horizons=self.horizons, confidence=self.confidence)
            if block_number <= self._last:  # reorg: forget predictions made from replaced blocks
                for target in list(self._pending):
                    kept = [e for e in self._pending[target] if e[1] < block_number]
                    if kept:
                        self._pending[target] = kept
                    else:
                        del self._pending[target]
        for target in [t for t in self._pending if t < block_number]:
            del self._pending[target]  # their target block never came (a gap)
        for h, _origin, origin_fee, p in self._pending.pop(block_number, []):
            r = self._running[h]
            r.n += 1
            r.abs_error += abs(p.point - base_fee)
            r.naive_abs_error += abs(origin_fee - base_fee)
            r.covered += p.low <= base_fee <= p.high
        self._model.update(base_fee)
        self._last = block_number
        predictions = self._model.predict()
        for h, p in predictions.items():
            self._pending.setdefault(block_number + h, []).append((h, block_number, base_fee, p))
        return predictions

    def stats(self) -> dict[int, TrackerStats]:
        """Per horizon, over every settled prediction so far."""
        return {
            h: TrackerStats(
                h,
                r.n,
                r.abs_error / r.n if r.n else 0.0,
                r.naive_abs_error / r.n if r.n else 0.0,
                r.covered / r.n if r.n else 0.0,
            )
            for h, r in self._running.items()
        }
