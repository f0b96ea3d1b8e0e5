"""The admin dashboard, served by the admin API under /ui: server-rendered pages (Jinja2),
readable without JavaScript; htmx and a small script add live updates (server-sent events),
Sign-In with Ethereum through the browser's wallet, and commands signed in the wallet
(`eth_signTypedData_v4`, the engine's EIP-712 types) and posted to the API's own command
endpoints, where the engine decides.

A page needs a session (the API's cookie, from /auth/login or the form at /ui/login) whose
address holds a role in the engine's role book; the controls a page shows follow that role
(api/ui/commands.py), and the engine enforces it whatever the page shows."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.auth import Nonces, Session, Sessions, siwe_address
from api.errors import ApiError
from api.ratelimits import Limits
from api.reads import Reads
from api.ui import views
from api.ui.commands import CONTROLS, controls_for, prepare
from api.ui.svg import legend, line_chart
from floor.access.roles import Role
from floor.config import Settings
from floor.store import Store

HERE = Path(__file__).parent
COOKIE = "floor_session"  # the API's session cookie (api.app)
POLL_S = 1.0  # how often the live stream looks at the engine, the alerts and the chains' heads
HEARTBEAT_S = 15.0
PAGES = (
    ("overview", "/ui/", "Overview"),
    ("positions", "/ui/positions", "Positions"),
    ("operations", "/ui/operations", "Operations"),
    ("transactions", "/ui/transactions", "Transactions"),
    ("risk", "/ui/risk", "Risk"),
    ("alerts", "/ui/alerts", "Alerts"),
    ("audit", "/ui/audit", "Audit log"),
    ("history", "/ui/history", "History"),
)


@dataclass(frozen=True)
class Context:
    """What the dashboard shares with the API: its settings, sessions, reads and store."""

    settings: Settings
    session_of: Callable[[Request], Session | None]
    reads: Reads
    store: Callable[[], Store]
    limits: Limits
    nonces: Nonces
    sessions: Sessions


class SignIn(Exception):
    """No session: the page answers with the sign-in page instead."""


@dataclass(frozen=True)
class Who:
    address: str
    role: Role

    @property
    def controls(self) -> list[str]:
        return controls_for(self.role)


def install_ui(app: FastAPI, ctx: Context) -> None:
    settings, reads = ctx.settings, ctx.reads
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals |= {"pages": PAGES, "utc": views.utc, "whole": views.whole, "percent": views.percent}
    templates.env.tests["unavailable"] = lambda value: isinstance(value, views.Unavailable)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    async def who(request: Request) -> Who:
        session = ctx.session_of(request)
        if session is None:
            raise SignIn()
        role = (await reads.roles()).role_of(session.address)
        if role is None:
            raise ApiError(403, "forbidden", f"{session.address} holds no role in the engine's role book")
        return Who(session.address, role)

    def render(request: Request, page: str, viewer: Who | None, code: int = 200, **data: Any) -> HTMLResponse:
        config = {
            "address": viewer.address if viewer else None,
            "role": viewer.role.name if viewer else None,
            "chainId": settings.chains[0].id if settings.chains else 1,
        }
        return templates.TemplateResponse(
            request,
            f"{page}.html",
            {"page": page, "who": viewer, "config": json.dumps(config), "settings": settings, **data},
            status_code=code,
        )

    def page(name: str) -> Callable[..., Any]:
        """A page's route: its viewer found first (no session: the sign-in page; no role: 403)."""

        def wrap(build: Callable[..., Awaitable[dict[str, Any]]]) -> Callable[..., Awaitable[Response]]:
            async def route(request: Request) -> Response:
                try:
                    viewer = await who(request)
                except SignIn:
                    return render(request, "login", None, code=401, message=None, next=str(request.url.path))
                except ApiError as exc:
                    return render(request, "error", None, code=exc.status, message=exc.message)
                try:
                    data = await build(request, viewer)
                except ApiError as exc:
                    return render(request, "error", viewer, code=exc.status, message=exc.message)
                return render(request, name, viewer, drills=await has_drills(), **data)

            route.__name__ = f"ui_{name}"
            return route

        return wrap

    async def has_drills() -> bool:
        """Whether the store has exit drill results to show (a page of its own then)."""
        try:
            exists: bool = await reads.slow("ui.drills_exist", lambda: views.drills_exist(ctx.store()))
        except ApiError:
            return False
        return exists

    # ------------------------------------------------------------ sign in

    @app.get("/ui/login", include_in_schema=False)
    async def login_page(request: Request, address: Annotated[str | None, Query(max_length=42)] = None) -> Response:
        message = siwe_message(request, address) if address else None
        return render(request, "login", None, message=message, next="/ui/")

    @app.get("/ui/siwe", include_in_schema=False)
    async def siwe(request: Request, address: Annotated[str, Query(max_length=42)]) -> JSONResponse:
        """The Sign-In with Ethereum message for `address` to sign (a fresh nonce of this API's)."""
        return JSONResponse({"message": siwe_message(request, address)})

    def siwe_message(request: Request, address: str) -> str:
        ctx.limits.hit("login", f"ip:{request.client.host if request.client else 'unknown'}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import siwe as siwe_lib
        from eth_utils.address import is_address, to_checksum_address

        if not is_address(address):
            raise ApiError(422, "invalid_request", f"address {address!r}: not an Ethereum address")
        issued = datetime.now(UTC)
        domain = settings.api.siwe_domain
        return str(
            siwe_lib.SiweMessage(
                domain=domain,
                address=to_checksum_address(address),
                statement="Sign in to the Floor Engine admin dashboard",
                uri=f"http://{domain}",
                version="1",
                chain_id=settings.chains[0].id if settings.chains else 1,
                nonce=ctx.nonces.issue(time.time()),
                issued_at=issued.isoformat(timespec="seconds").replace("+00:00", "Z"),
                expiration_time=(issued + timedelta(minutes=5)).isoformat(timespec="seconds").replace("+00:00", "Z"),
            ).prepare_message()
        )

    @app.post("/ui/login", include_in_schema=False)
    async def login_form(
        request: Request,
        message: Annotated[str, Form(max_length=4000)],
        signature: Annotated[str, Form(max_length=200)],
    ) -> Response:
        """Sign-in without JavaScript: the message from /ui/login?address=, signed elsewhere."""
        ctx.limits.hit("login", f"ip:{request.client.host if request.client else 'unknown'}")
        try:
            address = siwe_address(message, signature.strip(), settings.api.siwe_domain, ctx.nonces, time.time())
            if (await reads.roles()).role_of(address) is None:
                raise ApiError(403, "forbidden", f"{address} holds no role in the engine's role book")
        except ApiError as exc:
            return render(request, "login", None, code=exc.status, message=None, error=exc.message, next="/ui/")
        token, _ = ctx.sessions.open(address, time.time())
        response = RedirectResponse("/ui/", status_code=303)
        response.set_cookie(COOKIE, token, max_age=settings.api.session_ttl_s, httponly=True, samesite="strict")
        return response

    @app.post("/ui/logout", include_in_schema=False)
    async def logout() -> Response:
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # ------------------------------------------------------------ pages

    @app.get("/ui/", include_in_schema=False)
    @page("overview")
    async def overview(request: Request, viewer: Who) -> dict[str, Any]:
        return await views.overview(reads, settings, ctx.store)

    @app.get("/ui/positions", include_in_schema=False)
    @page("positions")
    async def positions(request: Request, viewer: Who) -> dict[str, Any]:
        return await views.positions(reads, ctx.store)

    @app.get("/ui/operations", include_in_schema=False)
    @page("operations")
    async def operations(request: Request, viewer: Who) -> dict[str, Any]:
        return await views.operations(reads, settings, ctx.store)

    @app.get("/ui/transactions", include_in_schema=False)
    @page("transactions")
    async def transactions(request: Request, viewer: Who) -> dict[str, Any]:
        return await views.transactions(reads)

    @app.get("/ui/risk", include_in_schema=False)
    @page("risk")
    async def risk(request: Request, viewer: Who) -> dict[str, Any]:
        return await views.risk(reads, settings)

    @app.get("/ui/alerts", include_in_schema=False)
    @page("alerts")
    async def alerts(request: Request, viewer: Who) -> dict[str, Any]:
        engine_alerts, manager = await asyncio.gather(views.section(reads.alerts), views.section(alertmanager))
        return {"engine_alerts": engine_alerts, "manager": manager, "acked": request.query_params.get("acked", "")}

    async def alertmanager() -> dict[str, Any] | None:
        url = settings.metrics.alertmanager_url
        if not url:
            return None

        def read() -> dict[str, Any]:
            from floor.alertmanager import AlertmanagerApi, AlertsError, listing

            api = AlertmanagerApi(url)
            try:
                return {"url": url, **listing(api.alerts(), api.silences())}
            except AlertsError as exc:
                raise ApiError(503, "alertmanager_unavailable", str(exc)) from None

        data: dict[str, Any] = await reads.cache.get("ui.alertmanager", reads.engine_s, lambda: asyncio.to_thread(read))
        return data

    @app.post("/ui/alerts/{alert_id}/ack", include_in_schema=False)
    async def ack(
        request: Request,
        alert_id: str,
        comment: Annotated[str, Form(max_length=500)],
        for_: Annotated[str, Form(alias="for", max_length=10)] = "4h",
    ) -> Response:
        """Acknowledge an Alertmanager alert as `floor alerts ack` does, by the session's address
        (OPERATOR or more)."""
        from floor.alertmanager import AlertInputError, AlertmanagerApi, AlertsError, acknowledge, duration

        try:
            viewer = await who(request)
        except SignIn:
            return RedirectResponse("/ui/login", status_code=303)
        if viewer.role < Role.OPERATOR:
            raise ApiError(403, "forbidden", f"{viewer.address} is a {viewer.role.name}; acknowledging needs OPERATOR")
        if not settings.metrics.alertmanager_url:
            raise ApiError(404, "not_found", "no Alertmanager configured (metrics.alertmanager_url)")
        if not comment.strip():
            raise ApiError(422, "invalid_request", "comment: say why (it is shown with the acknowledgement)")
        api = AlertmanagerApi(settings.metrics.alertmanager_url)
        try:
            length = duration(for_)
            acked = await asyncio.to_thread(acknowledge, api, alert_id, lambda: viewer.address, comment, length)
        except (AlertsError, AlertInputError) as exc:
            raise ApiError(422 if isinstance(exc, AlertInputError) else 503, "ack_failed", str(exc)) from None
        reads.cache.entries.pop("ui.alertmanager", None)
        return RedirectResponse(f"/ui/alerts?acked={acked['alert_id']}", status_code=303)

    @app.get("/ui/audit", include_in_schema=False)
    @page("audit")
    async def audit(request: Request, viewer: Who) -> dict[str, Any]:
        q = request.query_params
        filters = {k: (q.get(k) or "").strip() for k in ("signer", "kind", "outcome", "since", "until", "limit")}
        limit = int(filters["limit"]) if filters["limit"] in ("50", "200", "1000") else 50
        problem = ""
        since = until = None
        try:
            since = parse_day(filters["since"], "since")
            until = parse_day(filters["until"], "until")
            if filters["outcome"] not in ("", "accepted", "refused"):
                raise ValueError("outcome: accepted or refused")
        except ValueError as exc:
            problem = str(exc)
        rows, verified = await asyncio.gather(
            views.section(
                lambda: reads.audit(
                    filters["signer"] or None, filters["kind"] or None, filters["outcome"] or None, since, until, limit
                )
            )
            if not problem
            else views.section(no_rows),
            views.section(reads.audit_verify),
        )
        return {"filters": filters, "rows": rows, "verified": verified, "problem": problem}

    async def no_rows() -> dict[str, Any]:
        return {"rows": []}

    @app.get("/ui/history", include_in_schema=False)
    @page("history")
    async def history(request: Request, viewer: Who) -> dict[str, Any]:
        from api.ui.history import history as load_history

        days = request.query_params.get("days", "7")
        days_n = int(days) if days.isdigit() and 1 <= int(days) <= 90 else 7
        series = await views.section(
            lambda: reads.slow(("ui.history", days_n), lambda: load_history(ctx.store(), settings, days_n))
        )
        charts = []
        if not isinstance(series, views.Unavailable):
            for key, title, unit, note in CHARTS:
                charts.append(
                    {
                        "id": f"chart-{key}",
                        "title": title,
                        "unit": unit,
                        "note": note,
                        "svg": line_chart(f"chart-{key}", title, unit, series[key]),
                        "legend": legend(series[key]),
                        "latest": [(s.label, s.points[-1]) for s in series[key] if s.points],
                    }
                )
        return {
            "charts": charts,
            "days": days_n,
            "problem": series.reason if isinstance(series, views.Unavailable) else "",
        }

    @app.get("/ui/drills", include_in_schema=False)
    @page("drills")
    async def drills(request: Request, viewer: Who) -> dict[str, Any]:
        if not await has_drills():
            raise ApiError(
                404, "not_found", "no exit drill results in this store (its tables come with migration 0009)"
            )
        return {"runs": await views.section(lambda: reads.slow("ui.drills", lambda: views.latest_drills(ctx.store())))}

    # ------------------------------------------------------------ commands and live updates

    @app.post("/ui/prepare/{kind}", include_in_schema=False)
    async def prepare_command(request: Request, kind: str) -> JSONResponse:
        """The typed data the wallet signs for `kind` with the fields given, and the command in
        plain words. Anyone signed in may ask: the engine decides on the signed command."""
        try:
            await who(request)
        except SignIn:
            raise ApiError(401, "unauthenticated", "no session: sign in first") from None
        try:
            fields = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ApiError(400, "bad_request", "the body is not JSON") from None
        if not isinstance(fields, dict):
            raise ApiError(400, "bad_request", "the body is not a JSON object")
        return JSONResponse(prepare(settings, kind, fields, int(time.time())))

    @app.get("/ui/events", include_in_schema=False)
    async def events(request: Request) -> Response:
        """Server-sent events: `state` (the engine's state, operation and step), `alerts` (the
        open alerts changed), `block` (a chain has a new block: positions may be read again)."""
        try:
            await who(request)
        except SignIn:
            raise ApiError(401, "unauthenticated", "no session: sign in first") from None
        return StreamingResponse(stream(request), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def stream(request: Request) -> AsyncIterator[str]:
        last: dict[str, Any] = {}
        quiet_since = time.monotonic()
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            for name, load in (("state", live_state), ("alerts", live_alerts), ("block", live_heads)):
                try:
                    value = await load()
                except ApiError as exc:
                    value = {"problem": exc.message}
                if last.get(name) != value:
                    last[name] = value
                    quiet_since = time.monotonic()
                    yield f"event: {name}\ndata: {json.dumps(value)}\n\n"
            if time.monotonic() - quiet_since > HEARTBEAT_S:
                quiet_since = time.monotonic()
                yield ": still here\n\n"
            await asyncio.sleep(POLL_S)

    async def live_state() -> dict[str, Any]:
        status = await reads.status()
        op = status.get("operation") or {}
        return {
            "state": status["state"],
            "operation": op.get("kind"),
            "workflow_id": op.get("workflow_id"),
            "step": op.get("step"),
            "paused_by": status.get("paused_by", ""),
            "pause_reason": status.get("pause_reason", ""),
            "breakers": len(status.get("breakers", [])),
        }

    async def live_alerts() -> dict[str, Any]:
        open_ = (await reads.alerts())["open"]
        return {"open": len(open_), "ids": [a["id"] for a in open_]}

    async def live_heads() -> dict[str, int]:
        def read() -> dict[str, int]:
            from floor.chain.rpc import connect

            return {str(c.id): int(connect(c.rpc_urls, timeout_s=2.0).eth.block_number) for c in settings.chains}

        async def load() -> dict[str, int]:
            try:
                return await asyncio.to_thread(read)
            except Exception as exc:  # a chain not answering: said on the stream, tried again
                raise ApiError(503, "source_unavailable", f"chain heads: {type(exc).__name__}") from None

        heads: dict[str, int] = await reads.cache.get("ui.heads", POLL_S, load)
        return heads


CHARTS: tuple[tuple[Literal["tvl", "apy", "drift", "yield", "gas"], str, str, str], ...] = (
    (
        "tvl",
        "TVL per protocol",
        "USD",
        "Value of the positions per protocol, both chains together (idle: the executors' idle balances).",
    ),
    (
        "apy",
        "APY per protocol",
        "% per year",
        "Value-weighted over the protocol's markets, as each reconciliation read it.",
    ),
    (
        "drift",
        "Drift against targets",
        "bps of the floor",
        "A protocol's share of the floor's value minus its target weight; 0 is on target.",
    ),
    (
        "yield",
        "Yield harvested by source",
        "tokens, cumulative",
        "Whole tokens harvested since the start of the period, per source and token.",
    ),
    (
        "gas",
        "Gas spent",
        "ETH, cumulative",
        "Gas paid by the engine's transactions since the start of the period, per chain (its gas token).",
    ),
)


def parse_day(value: str, name: str) -> datetime | None:
    """A filter's time: ISO 8601; a date or a time without a zone is UTC."""
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: a date (2026-01-31) or a time (2026-01-31T12:00), UTC unless it says") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


__all__ = ["CONTROLS", "Context", "install_ui"]
