"""Prometheus metrics of the web process."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from starlette.requests import Request
from starlette.responses import Response

PUBLISHED = Counter(
    "newsfeed_editorial_events_total", "Editorial events accepted by the API", ["kind"]
)
LIVE_CONNECTIONS = Gauge(
    "newsfeed_live_connections", "Open live connections (WebSocket and SSE)", ["transport"]
)


async def endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
