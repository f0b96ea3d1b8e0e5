"""The TVL observations the risk scores read: the store's on-chain totals per market, as the
engine's reconciliations and risk checks recorded them (`floor risk scores`, the dashboard)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from floor.config import Settings
    from floor.risk.scores import TvlPoint

# Observations for one protocol: per market, (timestamp, on-chain total) points.
Observations = Mapping[str, Mapping[str, Sequence["TvlPoint"]]]


def read_observations(settings: Settings, chain_id: int) -> tuple[Observations, str]:
    """The store's TVL totals on `chain_id`, by protocol then market, and a label of the source.
    A store that does not exist yet (a SQLite file never created) is not created here."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url
    from sqlmodel import Session

    from floor.store import RateObservation, Store

    url = make_url(settings.store.url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            return {}, "none (the configured SQLite store does not exist yet): tvl neutral"
    store = Store.from_settings(settings)
    try:
        c = RateObservation.__table__.c
        stmt = (
            select(c.market, c.timestamp, c.total_assets)
            .where(c.chain_id == chain_id, c.total_assets.is_not(None))
            .order_by(c.market, c.timestamp)
        )
        out: dict[str, dict[str, list[TvlPoint]]] = {}
        with Session(store.engine) as session:
            for market, timestamp, total in session.execute(stmt):
                protocol = market.split(":")[1] if market.count(":") >= 2 else market
                out.setdefault(protocol, {}).setdefault(market, []).append((timestamp, int(total)))
    except Exception as exc:  # an unmigrated or unreachable store: say so, score without it
        return {}, f"none (store unreadable: {type(exc).__name__}): tvl neutral"
    finally:
        store.close()
    points = sum(len(s) for markets in out.values() for s in markets.values())
    return out, f"store ({backend}, rate_observation: {points} point(s) on chain {chain_id})"
