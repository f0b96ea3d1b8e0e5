"""`floor-watchdog`: the watchdog process (`floor/watchdog.py`). Reads the config, holds the
guardian key, and watches every configured executor until SIGINT or SIGTERM. Run it apart
from the worker (another host, ideally): it must keep watching when the engine is down."""

from __future__ import annotations

import argparse
import signal
import threading

from floor import metrics
from floor.chain.rpc import connect
from floor.chain.signer import SignerError, signer_from_config
from floor.config import ConfigError, load_settings
from floor.logging import configure_logging, get_logger
from floor.store import Store
from floor.watchdog import Watchdog, WatchdogError


def build(config_path: str | None) -> Watchdog:
    """The watchdog from the config, its keys and roles checked; refuses with a clear reason."""
    settings = load_settings(config_path)
    configure_logging(settings.log_level)
    if settings.watchdog.guardian is None:
        raise WatchdogError(
            "watchdog.guardian: the guardian key is required (set FLOOR_WATCHDOG__GUARDIAN__PRIVATE_KEY, or"
            " watchdog.guardian.keystore_path with FLOOR_WATCHDOG__GUARDIAN__KEYSTORE_PASSWORD)"
        )
    guardian = signer_from_config(settings.watchdog.guardian)
    store = Store.from_settings(settings)
    store.migrate()  # the signed_tx and cursor tables, if the worker has not migrated yet
    web3s = {c.id: connect(c.rpc_urls, c.rpc_timeout_s, c.id) for c in settings.chains if c.executor is not None}
    watchdog = Watchdog(settings, store, guardian, web3s)
    watchdog.check_roles()
    if settings.watchdog.metrics_port is not None:
        metrics.serve(settings.watchdog.metrics_port, settings.watchdog.metrics_address)
    get_logger(process="floor-watchdog").info(
        "watchdog started",
        guardian=guardian.address,
        chains=[w.chain.id for w in watchdog.watches],
        poll_interval_s=settings.watchdog.poll_interval_s,
    )
    return watchdog


def main() -> None:
    parser = argparse.ArgumentParser(prog="floor-watchdog", description=__doc__)
    parser.add_argument("--config", help="TOML config file (default: $FLOOR_CONFIG or ./floor.toml)")
    parser.add_argument("--once", action="store_true", help="one pass over every chain, then exit")
    args = parser.parse_args()
    try:
        watchdog = build(args.config)
    except (ConfigError, SignerError, WatchdogError) as exc:
        raise SystemExit(f"floor-watchdog: {exc}") from None
    if args.once:
        watchdog.poll_once()
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    watchdog.run(stop)
    get_logger(process="floor-watchdog").info("watchdog stopped")


if __name__ == "__main__":
    main()
