"""APR and APY: two different numbers, converted explicitly.

APR is simple interest per year; APY compounds. Aave's currentLiquidityRate is an APR (ray);
an ERC-4626 vault publishes no rate, so its yield is measured from the share price over time.
"""

from __future__ import annotations

import math

from floor.adapters.base import RAY, SECONDS_PER_YEAR, RateSnapshot
from floor.models import Rate


def apy_from_apr(apr: float, compounding_periods: int = SECONDS_PER_YEAR) -> float:
    """APY of an APR compounded `compounding_periods` times a year (per second by default)."""
    return math.expm1(compounding_periods * math.log1p(apr / compounding_periods))


def apr_from_ray(rate_ray: int) -> float:
    return rate_ray / RAY


def quoted_rate(snapshot: RateSnapshot) -> Rate:
    """The protocol's quote: its APY where it compounds the rate itself (`quoted_apy`), else
    the APR compounded per second."""
    if snapshot.quoted_apr is None:
        raise ValueError("this market publishes no rate; measure it with realised_rate()")
    apy = snapshot.quoted_apy if snapshot.quoted_apy is not None else apy_from_apr(snapshot.quoted_apr)
    return Rate(apr=snapshot.quoted_apr, apy=apy, source="quoted")


def growth_rates(before: int, after: int, elapsed_s: int) -> tuple[float, float]:
    """(APR, APY) of a value going from `before` to `after` in `elapsed_s` seconds: the growth
    annualised simply, and compounded once per such period. Raises ValueError without time or
    a starting value, OverflowError on growth too steep to annualise."""
    if elapsed_s <= 0:
        raise ValueError(f"no time to annualise over (elapsed {elapsed_s}s)")
    if before <= 0:
        raise ValueError("no starting value to grow from")
    growth = after / before - 1.0
    years = elapsed_s / SECONDS_PER_YEAR
    return growth / years, math.expm1(math.log1p(growth) / years)


def realised_rate(earlier: RateSnapshot, later: RateSnapshot) -> Rate:
    """The yield the growth index actually showed between two snapshots, annualised."""
    elapsed = later.timestamp - earlier.timestamp
    if elapsed <= 0:
        raise ValueError(f"snapshots must be ordered in time (elapsed {elapsed}s)")
    if earlier.growth_index <= 0:
        raise ValueError("the earlier snapshot has no growth index")
    apr, apy = growth_rates(earlier.growth_index, later.growth_index, elapsed)
    return Rate(apr=apr, apy=apy, source="realised")


# Two oracle reports closer than this say nothing about a year (Lido and Rocket Pool report
# about daily; a test chain may report twice in a minute).
MIN_REPORT_SPAN_S = 3600


def report_rates(before: int, after: int, elapsed_s: int) -> tuple[float | None, float | None, str | None]:
    """A staking token's quote from its last report period: its rate went from `before` to
    `after` over `elapsed_s` seconds. (APR, APY compounded once per such period, None), or
    (None, None, why there is none)."""
    if elapsed_s < MIN_REPORT_SPAN_S:
        return None, None, f"the last two oracle reports are {elapsed_s}s apart, too close to annualise"
    try:
        apr, apy = growth_rates(before, after, elapsed_s)
    except (ValueError, OverflowError) as exc:
        return None, None, f"the last report's growth does not annualise ({exc})"
    return apr, apy, None
