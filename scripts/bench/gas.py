"""gas: the base fee predictor (floor/chain/basefee.py) replayed on 14,651 recorded mainnet blocks
(May 2023, $FLOOR_SHARED_DATA or shared/data next to the repository), 1, 3 and 10 blocks ahead:
its mean absolute error against "fee in h blocks = fee now" (gwei), their ratio, and how often
the 90% interval held the outcome. No chain."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

from floor.chain.basefee import HORIZONS, replay
from scripts.bench.harness import REPO


def bench_gas() -> dict[str, float]:
    """The base fee predictor against "fee in h blocks = fee now" on the recorded May 2023 series."""
    data = Path(os.environ.get("FLOOR_SHARED_DATA") or REPO.parent / "shared" / "data") / "mainnet-basefee.csv"
    if not data.exists():
        sys.exit(f"gas: {data} absent (set FLOOR_SHARED_DATA to the directory holding mainnet-basefee.csv)")
    with data.open() as f:
        series = [int(row["base_fee_wei"]) for row in csv.DictReader(f)]
    results: dict[str, float] = {"gas.blocks": len(series)}
    for h in HORIZONS:
        stats = replay(series, h)
        results |= {
            f"gas.predict.mae_{h}": round(stats.mae / 1e9, 3),
            f"gas.naive.mae_{h}": round(stats.naive_mae / 1e9, 3),
            f"gas.predict.mae_ratio_{h}": round(stats.ratio, 3),
            f"gas.predict.coverage_{h}": round(stats.coverage, 3),
        }
    return results
