"""Prometheus metrics of the web process."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

PUBLISHED = Counter(
    "newsfeed_editorial_events_total", "Editorial events accepted by the API", ["kind"]
)
LIVE_CONNECTIONS = Gauge(
    "newsfeed_live_connections", "Open live connections (WebSocket and SSE)", ["transport"]
)

LIVE_READERS = Gauge(
    "newsfeed_live_readers",
    "Readers following a feed now, over every web process (per feed this process serves)",
    ["feed"],
)
LIVE_DELIVERIES = Counter(
    "newsfeed_live_deliveries_total",
    "Live messages written to connections (messages x subscribers)",
    ["transport"],
)
LIVE_SLOW_CONSUMERS = Counter(
    "newsfeed_live_slow_consumer_drops_total",
    "Live connections closed because their buffer overflowed",
    ["transport"],
)
LIVE_FANOUT_LAG = Histogram(
    "newsfeed_live_fanout_lag_seconds",
    "From a batch's first message entering the live stream to its last write to a subscriber",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LIVE_RESETS = Counter(
    "newsfeed_live_resets_total", "Resumes answered with a reset and a snapshot", ["reason"]
)
LIVE_ROLLBACKS = Counter(
    "newsfeed_live_rollbacks_total",
    "Live streams found to have lost messages this process had read (epoch rotated)",
)


async def endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
