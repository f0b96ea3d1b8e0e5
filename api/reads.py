"""What the read endpoints answer, each loaded through the cache: the engine's queries with a
deadline (a worker answers them), the chains' and the store's reads in a thread. A source that
cannot answer is an ApiError 503 naming it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.cache import Cache
from api.errors import ApiError
from client import ANSWER_S, engine_roles, engine_status, not_running
from floor.access.roles import RoleBook
from floor.config import Settings
from floor.store import Store

T = TypeVar("T")
QUEUES = 'WorkflowType = "TxQueueWorkflow" AND ExecutionStatus = "Running"'
MAX_QUEUES = 100


class Reads:
    def __init__(
        self, settings: Settings, cache: Cache, client: Callable[[], Awaitable[Client]], store: Callable[[], Store]
    ) -> None:
        self.settings, self.cache, self.client, self.store = settings, cache, client, store
        self.engine_s = settings.api.cache_s
        self.slow_s = settings.api.chain_cache_s

    # ------------------------------------------------------------ the engine (Temporal queries)

    async def engine(self, call: Callable[[Client], Awaitable[T]]) -> T:
        client = await self.client()
        try:
            return await call(client)
        except RPCError as exc:
            engine_id = self.settings.engine_id
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ApiError(503, "engine_not_running", not_running(engine_id)) from None
            raise ApiError(503, "engine_unavailable", f"the engine {engine_id} did not answer: {exc.message}") from None

    async def roles(self) -> RoleBook:
        async def load() -> RoleBook:
            book = await self.engine(lambda c: engine_roles(c, self.settings.engine_id, ANSWER_S))
            if book is None:
                raise ApiError(503, "engine_unavailable", "the engine has not loaded its role book yet")
            return book

        book: RoleBook = await self.cache.get("roles", self.engine_s, load)
        return book

    async def status(self) -> dict[str, Any]:
        async def load() -> dict[str, Any]:
            status = await self.engine(lambda c: engine_status(c, self.settings.engine_id, ANSWER_S))
            return status.model_dump(mode="json")

        data: dict[str, Any] = await self.cache.get("status", self.engine_s, load)
        return data

    async def breakers(self) -> list[dict[str, Any]]:
        async def load() -> list[dict[str, Any]]:
            async def query(client: Client) -> list[dict[str, Any]]:
                handle = client.get_workflow_handle(self.settings.engine_id)
                raw = await handle.query("breakers", result_type=list, rpc_timeout=deadline())
                return list(raw)

            return await self.engine(query)

        data: list[dict[str, Any]] = await self.cache.get("breakers", self.engine_s, load)
        return data

    async def transactions(self) -> dict[str, Any]:
        """Each running transaction queue's status (a signer's, on a chain), by chain."""

        async def load() -> dict[str, Any]:
            async def query(client: Client) -> list[dict[str, Any]]:
                queues = []
                async for execution in client.list_workflows(QUEUES, limit=MAX_QUEUES):
                    handle = client.get_workflow_handle(execution.id)
                    queues.append(await handle.query("status", result_type=dict, rpc_timeout=deadline()))
                return queues

            queues = await self.engine(query)
            by_chain: dict[int, list[dict[str, Any]]] = {}
            for queue in queues:
                by_chain.setdefault(int(queue["chain_id"]), []).append(queue)
            return {"chains": [{"chain_id": cid, "queues": by_chain[cid]} for cid in sorted(by_chain)]}

        data: dict[str, Any] = await self.cache.get("transactions", self.engine_s, load)
        return data

    # ------------------------------------------------------------ the chains and the store (threads)

    async def slow(self, key: Any, read: Callable[[], T]) -> T:
        async def load() -> T:
            try:
                return await asyncio.to_thread(read)
            except ApiError:
                raise
            except Exception as exc:  # a chain or the store not answering: named, the API stays up
                what = key[0] if isinstance(key, tuple) else key
                raise ApiError(503, "source_unavailable", f"{what}: {type(exc).__name__}: {exc}") from None

        value: T = await self.cache.get(key, self.slow_s, load)
        return value

    async def positions(self) -> dict[str, Any]:
        return await self.slow("positions", lambda: positions(self.settings))

    async def liquidity(self) -> list[dict[str, Any]]:
        return await self.slow("liquidity", lambda: liquidity(self.settings))

    async def alerts(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            return {"open": [alert.model_dump(mode="json") for alert in self.store().open_alerts()]}

        return await self.slow("alerts", read)

    async def audit(
        self,
        signer: str | None,
        kind: str | None,
        outcome: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            rows = self.store().audit_rows(
                signer=signer, kind=kind, outcome=outcome, since=since, until=until, limit=limit
            )
            return {"rows": [{**r.model_dump(mode="json"), "at": iso(r.at)} for r in rows]}

        return await self.slow(("audit", signer, kind, outcome, since, until, limit), read)

    async def audit_verify(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            store = self.store()
            bad, head = store.verify_audit(), store.audit_head()
            return {
                "intact": bad is None and head is not None,
                "head_seq": None if head is None else head.seq,
                "head_hash": None if head is None else head.hash,
                "bad_row": None if bad is None else bad.row,
                "why": None if bad is None else bad.why,
            }

        return await self.slow("audit_verify", read)


def deadline() -> Any:
    from datetime import timedelta

    return timedelta(seconds=ANSWER_S)


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def positions(settings: Settings) -> dict[str, Any]:
    """As `floor positions --json`: every strategy market's position, the executors' idle
    balances, and their total value (None while one is not valued)."""
    from floor.chain.marks import chain_problems
    from floor.chain.report import read_idle_report, read_report

    problems = chain_problems(settings)  # a reset chain's numbers would be read as if they were ours
    if problems:
        raise ApiError(503, "chain_rewritten", "; ".join(problems))
    rows = read_report(settings, exit_quotes=True)
    idle = read_idle_report(settings)
    values: list[Decimal | None] = [r.value for r in rows] + [r.value for r in idle]
    total = None if any(v is None for v in values) else sum((v for v in values if v is not None), Decimal(0))
    return {
        "positions": [r.model_dump(mode="json") for r in rows],
        "idle": [r.model_dump(mode="json") for r in idle],
        "total_value": None if total is None else format(total, "f"),
    }


def liquidity(settings: Settings) -> list[dict[str, Any]]:
    """As `floor risk liquidity --json`: each position against its market's liquidity."""
    from floor.chain.report import read_report

    rows = read_report(settings, window_s=None, priced=False)  # no price needed: a stale feed is fine
    return [{"chain_id": r.chain_id, **r.liquidity.model_dump(mode="json")} for r in rows]
