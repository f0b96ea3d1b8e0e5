"""A block every few seconds on an anvil chain that otherwise mines only when a transaction
arrives: as on a live chain, confirmations and finality then come without traffic.

    python -m floor.devnet.ticker --anvil http://127.0.0.1:8546 --every 2

The local relay ticks its own chain (`floor.devnet.relay --tick`) under the lock it holds
while it mines bundles with automine off, so a tick never lands inside a bundle.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext

import requests

from floor.logging import get_logger

log = get_logger(component="ticker")


def tick(
    anvil_url: str, every_s: float, stop: threading.Event, lock: AbstractContextManager[object] | None = None
) -> None:
    """`evm_mine` every `every_s` until `stop`; a failed tick is logged and the next one tried."""
    guard = lock if lock is not None else nullcontext()
    while not stop.wait(every_s):
        try:
            with guard:
                requests.post(
                    anvil_url, json={"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []}, timeout=10
                )
        except requests.RequestException as exc:
            log.warning("tick failed", error=type(exc).__name__)


def start_ticking(
    anvil_url: str, every_s: float, lock: AbstractContextManager[object] | None = None
) -> threading.Event:
    """A daemon thread ticking the chain; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=tick, args=(anvil_url, every_s, stop, lock), name="block-ticker", daemon=True).start()
    return stop


def main() -> None:
    import argparse
    import signal

    from floor.logging import configure_logging

    parser = argparse.ArgumentParser(prog="floor-block-ticker", description=__doc__.splitlines()[0])
    parser.add_argument("--anvil", required=True, help="the anvil chain's JSON-RPC URL")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between blocks")
    args = parser.parse_args()
    configure_logging("INFO")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tick(args.anvil, args.every, stop)


if __name__ == "__main__":
    main()
