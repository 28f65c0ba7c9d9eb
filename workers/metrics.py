"""Prometheus metrics of the worker process.

Served over HTTP (``/metrics`` on any path) when
``NEWSFEED_WORKER_METRICS_PORT`` is set; see ``serve_metrics``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

FANOUT_LAG = Histogram(
    "newsfeed_fanout_lag_seconds",
    "Time from the editorial append to the public append",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PROJECTED = Counter(
    "newsfeed_events_projected_total", "Editorial events projected to the public view"
)
REDIS_ERRORS = Counter("newsfeed_worker_redis_errors_total", "Redis failures the worker retried")
WEBHOOK_DELIVERIES = Counter(
    "newsfeed_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (success, failure, dead)",
    ["outcome"],
)
WEBHOOK_ENQUEUED = Counter(
    "newsfeed_webhook_jobs_enqueued_total",
    "Webhook deliveries queued from the live stream (onto each webhook's queue)",
)
WEBHOOK_QUEUED = Gauge(
    "newsfeed_webhook_queued",
    "Webhook deliveries waiting in the feed's webhooks' queues (due, retrying, in flight)",
    ["feed"],
)
WEBHOOK_LATENCY = Histogram(
    "newsfeed_webhook_request_seconds",
    "Duration of webhook POSTs (any outcome)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EMBED_FETCHES = Counter(
    "newsfeed_embed_fetches_total",
    "Embedded-post card fetches by outcome (ready, retry, failed, stale)",
    ["outcome"],
)
DOCUMENTS_RENDERED = Counter(
    "newsfeed_documents_rendered_total", "Feed document renderings (all formats at once)"
)
PENDING_EVENTS = Gauge(
    "newsfeed_pending_events",
    "Editorial events not yet projected to the public view (capped)",
    ["feed"],
)
QUEUED_JOBS = Gauge("newsfeed_queued_jobs", "arq jobs queued (feed rebuilds)")
DEAD_LETTERS = Gauge("newsfeed_webhook_dead_letters", "Dead-lettered webhook deliveries", ["feed"])


def serve_metrics(port: int, host: str) -> None:
    """Start prometheus_client's HTTP server (a daemon thread it owns)."""
    start_http_server(port, addr=host)
