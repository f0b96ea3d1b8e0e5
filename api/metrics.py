"""The admin API's own metrics on `GET /metrics`: requests by route and status, and the
requests it refused (every 4xx) by their stable error code: `rate_limited`, `unauthenticated`,
`forbidden`, `refused` (the engine's refusal of a signed command), ... Kept per process (an
API process counts what it answered); the registry is the app's own, so two apps in one
process count apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from floor.metrics import API_REFUSALS, API_REQUESTS


def install_metrics(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests, refusals = API_REQUESTS.counter(registry), API_REFUSALS.counter(registry)

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        # The route's template ("/commands/{kind}"), never the raw path: the label stays bounded.
        path = str(getattr(route, "path", "unmatched"))
        requests.labels(route=path, status=str(response.status_code)).inc()
        if 400 <= response.status_code < 500:
            refusals.labels(reason=getattr(request.state, "error_code", None) or str(response.status_code)).inc()
        return response

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
