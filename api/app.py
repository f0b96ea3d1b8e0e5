"""The admin API's routes: `create_app(settings, client_factory)`.

`client_factory` makes the Temporal client (client.connect in a process; a fake in the unit
tests), called once, at the first request that needs the engine. `clock` (seconds since the
epoch) times the backoff of callers whose commands are refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request, Response
from pydantic import BaseModel, Field
from temporalio.client import Client

from api.auth import Nonces, Session, Sessions, siwe_address
from api.cache import Cache
from api.commands import MAX_BODY_BYTES, UPDATES, proven_signer, refused_entry, signed_part
from api.errors import ApiError, install_error_handlers
from api.metrics import install_metrics
from api.ratelimits import Backoff, Limits
from api.reads import Reads
from api.ui import Context, install_ui
from client import NotRunning, Refused, send
from floor.access.roles import Role
from floor.config import Settings
from floor.store import Store

log = logging.getLogger(__name__)

COOKIE = "floor_session"
ACCEPT_S = 10.0  # a worker accepts a command within this, or the API answers 503 (nothing was applied)

CommandKind = StrEnum("CommandKind", {k: k for k in UPDATES})  # type: ignore[misc]


class Nonce(BaseModel):
    nonce: str
    domain: str  # what the SIWE message must name
    expires_in_s: int


class Login(BaseModel):
    message: str = Field(max_length=4000)  # the EIP-4361 message, as signed
    signature: str = Field(max_length=200)  # 0x-hex, what personal_sign answers


class LoggedIn(BaseModel):
    token: str  # `Authorization: Bearer <token>`, or the floor_session cookie set with it
    address: str
    role: str
    expires_at: int


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 413, 422, 429, 503)
}


def create_app(
    settings: Settings, client_factory: Callable[[], Awaitable[Client]], clock: Callable[[], float] = time.time
) -> FastAPI:
    config = settings.api
    secret = config.session_secret.get_secret_value().encode() if config.session_secret else None
    sessions, nonces, limits, cache = Sessions(secret, config.session_ttl_s), Nonces(), Limits(config), Cache()
    backoff = Backoff(clock)
    connected: list[Client] = []
    connecting = asyncio.Lock()

    async def temporal() -> Client:
        async with connecting:
            if not connected:
                try:
                    connected.append(await client_factory())
                except Exception as exc:  # Temporal not reachable: named; the next request tries again
                    raise ApiError(503, "temporal_unavailable", f"cannot reach Temporal: {exc}") from None
            return connected[0]

    opened: list[Store] = []

    def store() -> Store:
        from floor.chain.marks import store_exists

        if not opened:
            if not store_exists(settings):
                raise ApiError(503, "store_unavailable", "no store yet: a worker creates it")
            opened.append(Store.from_settings(settings))
        return opened[0]

    reads = Reads(settings, cache, temporal, store)
    app = FastAPI(
        title="Floor Engine admin API",
        version="1",
        description="Reads for a Sign-In-with-Ethereum session (VIEWER and up); signed commands to the engine.",
        responses=ERRORS,
    )
    app.state.cache, app.state.reads = cache, reads
    install_error_handlers(app)
    install_metrics(app)

    def address_of(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def session_of(request: Request) -> Session | None:
        """The caller's live session (bearer token or cookie), None without one; each session
        (each IP without one) rate-limited."""
        header = request.headers.get("authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else request.cookies.get(COOKIE, "")
        session = sessions.read(token, time.time()) if token else None
        limits.hit("read", f"session:{session.id}" if session else f"ip:{address_of(request)}")
        return session

    async def reader(request: Request) -> Session:
        """A read's caller: a live session whose address holds VIEWER or more in the engine's
        role book now."""
        session = session_of(request)
        if session is None:
            raise ApiError(401, "unauthenticated", "no session: sign in with GET /auth/nonce then POST /auth/login")
        role = (await reads.roles()).role_of(session.address)
        if role is None or role < Role.VIEWER:
            raise ApiError(403, "forbidden", f"{session.address} holds no role in the engine's role book")
        return session

    readers = [Depends(reader)]

    # ------------------------------------------------------------ sign in

    @app.get("/auth/nonce", response_model=Nonce, tags=["auth"])
    async def nonce(request: Request) -> Nonce:
        """A nonce for a Sign-In with Ethereum message to this API's domain (once, 5 minutes)."""
        limits.hit("login", f"ip:{address_of(request)}")
        from api.auth import NONCE_TTL_S

        return Nonce(nonce=nonces.issue(time.time()), domain=config.siwe_domain, expires_in_s=NONCE_TTL_S)

    @app.post("/auth/login", response_model=LoggedIn, tags=["auth"])
    async def login(body: Login, request: Request, response: Response) -> LoggedIn:
        """A session for the address that signed the SIWE message; its role from the engine."""
        limits.hit("login", f"ip:{address_of(request)}")
        address = siwe_address(body.message, body.signature, config.siwe_domain, nonces, time.time())
        role = (await reads.roles()).role_of(address)
        if role is None:
            raise ApiError(403, "forbidden", f"{address} holds no role in the engine's role book")
        token, session = sessions.open(address, time.time())
        response.set_cookie(COOKIE, token, max_age=config.session_ttl_s, httponly=True, samesite="strict", secure=False)
        return LoggedIn(token=token, address=address, role=role.name, expires_at=session.expires_at)

    # ------------------------------------------------------------ reads

    @app.get("/status", tags=["reads"], dependencies=readers)
    async def status() -> dict[str, Any]:
        """The engine's status query (its state, operation, last result, positions it knows)."""
        return await reads.status()

    @app.get("/positions", tags=["reads"], dependencies=readers)
    async def positions() -> dict[str, Any]:
        """Every market's position, the idle balances and their total: `floor positions --json`."""
        return await reads.positions()

    @app.get("/risk", tags=["reads"], dependencies=readers)
    async def risk() -> dict[str, Any]:
        """The breakers not CLOSED and each position against its market's liquidity."""
        breakers, liquidity = await asyncio.gather(reads.breakers(), reads.liquidity())
        return {"breakers": breakers, "liquidity": liquidity}

    @app.get("/breakers", tags=["reads"], dependencies=readers)
    async def breakers() -> dict[str, Any]:
        """The circuit breakers not CLOSED."""
        return {"breakers": await reads.breakers()}

    @app.get("/transactions", tags=["reads"], dependencies=readers)
    async def transactions() -> dict[str, Any]:
        """Each running transaction queue's status, by chain."""
        return await reads.transactions()

    @app.get("/alerts", tags=["reads"], dependencies=readers)
    async def alerts() -> dict[str, Any]:
        """The store's open alerts."""
        return await reads.alerts()

    @app.get("/audit", tags=["reads"], dependencies=readers)
    async def audit(
        signer: Annotated[str | None, Query(max_length=42)] = None,
        kind: Annotated[str | None, Query(max_length=40)] = None,
        outcome: Literal["accepted", "refused"] | None = None,
        since: Annotated[datetime | None, Query(description="ISO 8601 with its zone")] = None,
        until: Annotated[datetime | None, Query(description="ISO 8601 with its zone")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """The audit log's latest rows that match, oldest first."""
        for name, at in (("since", since), ("until", until)):
            if at is not None and at.tzinfo is None:
                raise ApiError(422, "invalid_request", f"{name}: needs its time zone")
        return await reads.audit(signer, kind, outcome, since, until, limit)

    @app.get("/audit/verify", tags=["reads"], dependencies=readers)
    async def audit_verify() -> dict[str, Any]:
        """The audit log's hash chain recomputed from its first row to its head."""
        return await reads.audit_verify()

    # ------------------------------------------------------------ commands

    @app.post(
        "/commands/{kind}",
        tags=["commands"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
                "description": "a signed command's JSON (floor sign); configure: {command, config}",
            }
        },
    )
    async def command(kind: Annotated[CommandKind, Path()], request: Request) -> dict[str, Any]:
        """A signed command, passed to the engine unchanged: the engine verifies it and decides.
        A refusal is a 403 with the engine's reason, recorded in the audit log, and a strike
        against its caller: one refused too often is backed off (429) before the engine."""
        payload = await json_object(request)
        signed = signed_part(kind.value, payload)
        signer = proven_signer(signed)
        # Never the claimed address: claiming someone's address must not back them off.
        caller = f"signer:{signer}" if signer else f"ip:{address_of(request)}"
        backoff.check(caller)
        limits.hit("command", caller)
        client = await temporal()
        try:
            answer = await send(client, settings.engine_id, kind.value, payload, accept_s=ACCEPT_S)
        except NotRunning as exc:
            raise ApiError(503, "engine_not_running", str(exc)) from None
        except Refused as exc:
            backoff.strike(caller)
            await asyncio.to_thread(record_refusal, kind.value, signed, str(exc))
            raise ApiError(403, "refused", str(exc)) from None
        except TimeoutError:
            raise ApiError(503, "no_worker", f"no worker accepted the command within {ACCEPT_S:g} s") from None
        return {
            "kind": kind.value,
            "answer": answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer,
        }

    def record_refusal(kind: str, signed: Any, reason: str) -> None:
        try:
            store().append_audit([refused_entry(settings.engine_id, kind, signed, reason, int(time.time()))])
        except Exception as exc:  # the refusal is what the caller must see; the log's failure is logged
            log.warning("api: the refusal was not recorded in the audit log: %s: %s", type(exc).__name__, exc)

    install_ui(app, Context(settings, session_of, reads, store, limits, nonces, sessions))
    return app


async def json_object(request: Request) -> dict[str, Any]:
    """The request's body: a JSON object of at most MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body is {int(declared):,} bytes; at most {MAX_BODY_BYTES:,}")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body is {len(raw):,} bytes; at most {MAX_BODY_BYTES:,}")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise ApiError(400, "bad_request", "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "bad_request", "the body is not a JSON object")
    return payload
