"""`python -m scripts.soak --cycles 336 --seed 7 --out docs/soak`: run the soak, write its report."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from scripts.soak.driver import run_soak


def main() -> None:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__)
    parser.add_argument("--cycles", type=int, default=336, help="hourly cycles (336: two weeks)")
    parser.add_argument("--seed", type=int, default=7, help="the schedule's seed (same seed, same soak)")
    parser.add_argument("--out", default="docs/soak", help="where report.md, summary.json and soak.svg go")
    args = parser.parse_args()
    if args.cycles < 2:
        sys.exit("--cycles: at least 2 (the first allocates the treasury)")
    summary = asyncio.run(run_soak(args.cycles, args.seed, args.out))
    print(
        f"soak: {summary['cycles']}/{summary['cycles_planned']} cycles, "
        f"{summary['invariant_failures']} invariant failures, faults {summary['faults']}; see {args.out}/report.md"
    )
    sys.stdout.flush()
    # A process that used a Temporal client can crash at interpreter exit (sdk-python#300).
    os._exit(1 if summary["invariant_failures"] or summary["cycles"] < summary["cycles_planned"] else 0)


if __name__ == "__main__":
    main()
