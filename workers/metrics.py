"""Prometheus metrics of the worker process."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

FANOUT_LAG = Histogram(
    "newsfeed_fanout_lag_seconds",
    "Time from the editorial append to the public append",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PROJECTED = Counter(
    "newsfeed_events_projected_total", "Editorial events projected to the public view"
)
REDIS_ERRORS = Counter("newsfeed_worker_redis_errors_total", "Redis failures the worker retried")
