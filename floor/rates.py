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
    if snapshot.quoted_apr is None:
        raise ValueError("this market publishes no rate; measure it with realised_rate()")
    return Rate(apr=snapshot.quoted_apr, apy=apy_from_apr(snapshot.quoted_apr), source="quoted")


def realised_rate(earlier: RateSnapshot, later: RateSnapshot) -> Rate:
    """The yield the growth index actually showed between two snapshots, annualised."""
    elapsed = later.timestamp - earlier.timestamp
    if elapsed <= 0:
        raise ValueError(f"snapshots must be ordered in time (elapsed {elapsed}s)")
    if earlier.growth_index <= 0:
        raise ValueError("the earlier snapshot has no growth index")
    growth = later.growth_index / earlier.growth_index - 1.0
    years = elapsed / SECONDS_PER_YEAR
    apr = growth / years
    apy = math.expm1(math.log1p(growth) / years)
    return Rate(apr=apr, apy=apy, source="realised")
