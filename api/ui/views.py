"""What each dashboard page shows, gathered from the API's reads (the engine's queries, the
chains, the store; each through the read cache) into plain dicts for the templates. A source
that cannot answer is shown as its one-line reason where its section would be; the rest of the
page still renders."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import inspect, select

from api.errors import ApiError
from api.reads import Reads
from floor.config import Settings
from floor.store import MarketMark, RateObservation, Store

T = TypeVar("T")


class Unavailable:
    """A section whose source did not answer: the reason, shown in its place."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __bool__(self) -> bool:
        return False


async def section(load: Callable[[], Awaitable[T]]) -> T | Unavailable:
    try:
        return await load()
    except ApiError as exc:
        return Unavailable(exc.message)


def workflow_url(settings: Settings, workflow_id: str) -> str:
    """The workflow's page in Temporal's Web UI."""
    base = settings.temporal.ui_url.rstrip("/")
    return f"{base}/namespaces/{settings.temporal.namespace}/workflows/{workflow_id}"


def usd(value: Any) -> str:
    if value is None or value == "":
        return "not priced"
    return f"${Decimal(str(value)):,.2f}"


def whole(amount: Any, decimals: int) -> str:
    """Base units as whole tokens, to at most 6 decimals (the page states the base units too)."""
    value = Decimal(int(amount)) / Decimal(10) ** decimals
    return f"{value:,.{min(decimals, 6)}f}"


def percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.2f} %"


def utc(at: Any) -> str:
    if not at:
        return "-"
    if isinstance(at, int | float):
        at = datetime.fromtimestamp(at, UTC)
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return str(at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


# ---------------------------------------------------------------------------- the store's reads


def latest_marks(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """TVL and APY per chain and protocol at each chain's latest market marks."""
    rows = store.latest_market_marks([c.id for c in settings.chains])
    groups: dict[tuple[int, str], list[MarketMark]] = defaultdict(list)
    for row in rows:
        groups[(row.chain_id, row.protocol)].append(row)
    out = []
    for (chain_id, protocol), marks in sorted(groups.items()):
        values = [Decimal(r.value_usd) for r in marks if r.value_usd is not None]
        priced = len(values) == len(marks)
        total = sum(values, Decimal(0))
        rated = [(Decimal(r.value_usd or 0), r.apy) for r in marks if r.apy is not None]
        weight = sum((v for v, _ in rated), Decimal(0))
        apy = None
        if rated:
            apy = (
                float(sum(v * Decimal(a) for v, a in rated) / weight)
                if weight
                else sum(a for _, a in rated) / len(rated)
            )
        out.append(
            {
                "chain_id": chain_id,
                "protocol": protocol,
                "markets": len(marks),
                "tvl": usd(total) if priced else f"{usd(total)} + unpriced",
                "apy": percent(apy) if protocol != "idle" else "-",
                "block": max(r.block_number for r in marks),
                "taken_at": utc(max(r.taken_at for r in marks)),
            }
        )
    return out


def quoted_rates(store: Store, markets: list[str]) -> dict[str, float]:
    """Each market's latest quoted APR (the protocol's own rate) in the store's observations."""
    if not markets:
        return {}
    r = RateObservation.__table__.c
    latest = (
        select(r.market, r.quoted_apr, r.block_number)
        .where(r.market.in_(markets), r.quoted_apr.is_not(None))
        .order_by(r.market, r.block_number.desc())
    )
    out: dict[str, float] = {}
    with store.engine.connect() as connection:
        for market, apr, _ in connection.execute(latest):
            out.setdefault(market, float(apr))
    return out


DRILL_TABLE = "exit_drill_run"


def drills_exist(store: Store) -> bool:
    """Whether the store has the exit drills' tables (a store migrated before them has not)."""
    return inspect(store.engine).has_table(DRILL_TABLE)


def latest_drills(store: Store) -> list[dict[str, Any]]:
    """Each chain's latest exit drill with its exits, amounts in whole tokens."""
    out = []
    for drill in store.latest_exit_drills():
        exits = [
            {
                **e.model_dump(mode="json"),
                "amount_whole": whole(e.amount, e.decimals),
                "realised_whole": whole(e.realised, e.decimals),
                "left_whole": whole(e.left, e.decimals),
            }
            for e in drill.exits
        ]
        out.append({**drill.model_dump(mode="json", exclude={"exits"}), "exits": exits})
    return out


# ---------------------------------------------------------------------------- pages


async def overview(reads: Reads, settings: Settings, store: Callable[[], Store]) -> dict[str, Any]:
    status, marks, breakers, alerts = await asyncio.gather(
        section(reads.status),
        section(lambda: reads.slow("ui.marks", lambda: latest_marks(store(), settings))),
        section(reads.breakers),
        section(reads.alerts),
    )
    return {"status": status, "marks": marks, "breakers": breakers, "alerts": alerts}


async def positions(reads: Reads, store: Callable[[], Store]) -> dict[str, Any]:
    data = await section(reads.positions)
    if isinstance(data, Unavailable):
        return {"positions": data}
    rows = data["positions"]
    markets = [f"{r['chain_id']}:{r['protocol']}:{r['market']}" for r in rows]
    quoted = await section(lambda: reads.slow(("ui.quoted", tuple(markets)), lambda: quoted_rates(store(), markets)))
    quotes = quoted if isinstance(quoted, dict) else {}
    shown = []
    for row, market in zip(rows, markets, strict=True):
        liquidity = row["liquidity"]
        shown.append(
            {
                "market": market,
                "asset": row["asset"],
                "amount": whole(row["amount"], row["decimals"]),
                "base": row["amount"],
                "value": usd(row["value"]),
                "quoted": percent(quotes.get(market)),
                "measured": percent(row["apy"]) if row["apy_source"] == "realised" else "-",
                "apy": percent(row["apy"]),
                "apy_source": row["apy_source"] or "-",
                "withdrawable": whole(row["withdrawable"], row["decimals"]),
                "ratio": "-" if liquidity["ratio_bps"] is None else f"{liquidity['ratio_bps'] / 100:.2f} %",
                "exit_slippage": "-" if row.get("exit_slippage_bps") is None else f"{row['exit_slippage_bps']} bps",
                "alert": liquidity["reason"] if liquidity["alert"] else "",
                "block": row["block_number"],
            }
        )
    idle = [
        {
            "market": f"{r['chain_id']}:idle:{r['asset']}",
            "amount": whole(r["amount"], r["decimals"]),
            "value": usd(r["value"]),
        }
        for r in data["idle"]
    ]
    return {"positions": shown, "idle": idle, "total": usd(data["total_value"])}


async def operations(reads: Reads, settings: Settings, store: Callable[[], Store]) -> dict[str, Any]:
    from client import ANSWER_S, engine_history

    async def load() -> dict[str, Any]:
        async def query(client: Any) -> tuple[list[Any], list[Any]]:
            return await engine_history(client, settings.engine_id, ANSWER_S)

        async def cached() -> tuple[list[Any], list[Any]]:
            return await reads.engine(query)

        transitions, results = await reads.cache.get("ui.history", reads.engine_s, cached)
        return {"transitions": transitions, "results": results}

    history, status = await asyncio.gather(section(load), section(reads.status))
    if isinstance(history, Unavailable):
        return {"operations": history, "status": status}
    ids = [r["workflow_id"] for r in history["results"]][-50:]

    def transactions() -> dict[str, list[dict[str, Any]]]:
        out = {}
        for workflow_id in ids:
            out[workflow_id] = [
                {
                    "chain_id": t.chain_id,
                    "hash": t.tx_hash,
                    "status": "ok" if t.status == 1 else "reverted",
                    "gas": t.gas_used,
                    "block": t.block_number,
                }
                for t in store().transactions_of(workflow_id)
            ]
        return out

    journal = await section(lambda: reads.slow(("ui.journal", tuple(ids)), transactions))
    txs = journal if isinstance(journal, dict) else {}
    shown = [
        {
            **r,
            "url": workflow_url(settings, r["workflow_id"]),
            "transactions": txs.get(r["workflow_id"], []),
            "started": utc(r["started_at"]),
            "finished": utc(r["finished_at"]),
        }
        for r in reversed(history["results"][-50:])
    ]
    running = None
    if isinstance(status, dict) and status.get("operation"):
        op = status["operation"]
        running = {**op, "url": workflow_url(settings, op["workflow_id"]), "started": utc(op["started_at"])}
    return {
        "operations": shown,
        "running": running,
        "transitions": list(reversed(history["transitions"][-30:])),
        "status": status,
        "journal_problem": journal.reason if isinstance(journal, Unavailable) else "",
    }


def queue_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for chain in data["chains"]:
        for q in chain["queues"]:
            inflight = q.get("inflight", [])
            out.append(
                {
                    "chain_id": chain["chain_id"],
                    "signer": q["signer"],
                    "next_nonce": q.get("next_nonce"),
                    "pending": q.get("pending", []),
                    "inflight": inflight,
                    "replaced": [t for t in inflight if len(t.get("hashes", [])) > 1],
                    "private": [t for t in inflight if t.get("route") != "public"],
                    "private_stats": q.get("private", {}),
                    "held": q.get("held", ""),
                    "settled": q.get("settled", 0),
                    "last_included": q.get("last_included", ""),
                    "chain_problem": q.get("chain_problem", ""),
                }
            )
    return out


async def transactions(reads: Reads) -> dict[str, Any]:
    data = await section(reads.transactions)
    return {"queues": data if isinstance(data, Unavailable) else queue_rows(data)}


def risk_scores(settings: Settings) -> dict[str, Any]:
    """Every protocol's risk score on each chain, with where its inputs came from."""
    from floor.risk.observations import read_observations
    from floor.risk.protocol_data import load_protocol_data
    from floor.risk.scores import score_all

    data = load_protocol_data()
    today = datetime.now(UTC).date()
    used = {t.protocol for t in settings.strategy.targets} | {m.protocol for c in settings.chains for m in c.markets}
    chains = []
    for chain in settings.chains:
        observations, source = read_observations(settings, chain.id)
        scores = [s for s in score_all(data, observations, today, chain_id=chain.id) if s.protocol in used]
        chains.append({"chain_id": chain.id, "tvl_source": source, "scores": [s.model_dump() for s in scores]})
    return {"data_version": data.version, "data_as_of": str(data.as_of), "as_of": today.isoformat(), "chains": chains}


def clusters(settings: Settings) -> list[dict[str, Any]]:
    from floor.catalogue import cluster_caps

    weights = {(t.chain_id, t.protocol, t.market): t.weight_bps for t in settings.strategy.targets}
    return [
        {
            "name": c.name,
            "members": [str(k) for k in c.keys],
            "weight_bps": sum(weights.get((k.chain_id, k.protocol, k.market), 0) for k in c.keys),
            "max_bps": c.max_bps,
        }
        for c in cluster_caps(settings)
    ]


async def risk(reads: Reads, settings: Settings) -> dict[str, Any]:
    scores, groups, liquidity, breakers = await asyncio.gather(
        section(lambda: reads.slow("ui.scores", lambda: risk_scores(settings))),
        section(lambda: reads.slow("ui.clusters", lambda: clusters(settings))),
        section(reads.liquidity),
        section(reads.breakers),
    )
    return {"scores": scores, "clusters": groups, "liquidity": liquidity, "breakers": breakers}
