"""Webhook fan-out: the dispatcher (live stream -> jobs) and the delivery job.

Dispatch is a fenced step per feed: read the live messages after the
feed's dispatch position (``webhook_pos``), enqueue one arq job per
(webhook, message) with a deterministic job id, then move the position with
a compare-and-set. A worker killed between the two steps leaves the position
where it was, so the next sweep (by any worker) enqueues the batch again and
arq drops the jobs that already exist (same id): nothing is lost and nothing
is enqueued twice. Two dispatchers racing do the same.

Each delivery is its own job, so one partner's failures never hold another's
(or readers', whose path is the projection loop and never touches these
jobs). A job makes one HTTP attempt with a per-request timeout; at most
``webhook_concurrency`` requests per webhook are in flight per worker (a
job over that limit defers itself without counting an attempt). A failed
attempt enqueues the next one (its own job id, attempt + 1) after a full
jitter backoff, until the delivery is older than the max age; then it goes
to the dead-letter list.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections import Counter
from typing import Any

import httpx
from arq import Retry
from arq.connections import ArqRedis

from feed.errors import StoreUnavailable
from feed.model import now_ms, to_rfc3339
from feed.redis_io import translated
from feed.settings import Settings
from feed.webhooks import (
    Delivery,
    Pending,
    WebhookStore,
    backoff_delay,
    deliveries,
    headers,
    private_destination,
)
from workers import metrics

log = logging.getLogger("newsfeed.webhooks")

DELIVER = "deliver_webhook"
ENQUEUE_CONCURRENCY = 16
RESULT_KEEP_SECONDS = 60
"""How long a finished job's id still blocks a re-enqueue. It only has to
cover the window between enqueuing a batch and moving the dispatch position
(milliseconds; about a second when a worker dies in it and another one's
sweep takes over), and each kept result holds the delivery's body."""


async def dispatch(hooks: WebhookStore, pool: ArqRedis, feed: str, batch: int = 200) -> int:
    """Enqueue deliveries for the feed's new live messages; returns how many."""
    total = 0
    while True:
        pending: Pending = await hooks.pending(feed, batch)
        jobs = deliveries(feed, pending.epoch, pending.hooks, pending.messages, now_ms())
        await _enqueue_all(pool, jobs)
        if pending.last == pending.pos:
            return total
        if not await hooks.advance(feed, pending.pos, pending.last):
            return total  # another worker moved it; it carries on from there
        total += len(jobs)
        metrics.WEBHOOK_ENQUEUED.inc(len(jobs))
        if len(pending.messages) < batch:
            return total


async def _enqueue_all(pool: ArqRedis, jobs: list[Delivery]) -> None:
    for i in range(0, len(jobs), ENQUEUE_CONCURRENCY):
        chunk = jobs[i : i + ENQUEUE_CONCURRENCY]
        await asyncio.gather(*(enqueue(pool, d) for d in chunk))


async def enqueue(pool: ArqRedis, delivery: Delivery, defer: float | None = None) -> None:
    async with translated():
        await pool.enqueue_job(
            DELIVER, *delivery.to_args(), _job_id=delivery.job_id, _defer_by=defer
        )


@dataclasses.dataclass
class DeliveryContext:
    """What the delivery job needs, built once per worker process."""

    settings: Settings
    hooks: WebhookStore
    pool: ArqRedis
    client: httpx.AsyncClient
    inflight: Counter[str] = dataclasses.field(default_factory=Counter)


def http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        follow_redirects=False,
        trust_env=False,
    )


async def deliver_webhook(
    ctx: dict[str, Any],
    feed: str,
    webhook_id: str,
    delivery_id: str,
    event: str,
    body: str,
    created_at: int,
    attempt: int,
) -> str:
    """arq job: one attempt at one delivery. Returns the outcome."""
    dc: DeliveryContext = ctx["deliveries"]
    delivery = Delivery(feed, webhook_id, delivery_id, event, body, created_at, attempt)
    try:
        hook = await dc.hooks.get(feed, webhook_id)
        if hook is None:
            return "webhook deleted"
        if dc.inflight[webhook_id] >= dc.settings.webhook_concurrency:
            raise Retry(defer=random.uniform(0.2, 1.0))
        blocked = None if dc.settings.webhook_allow_private else await private_destination(hook.url)
        if blocked is not None:  # permanent: no point in retrying for an hour
            return await _dead(dc, delivery, hook.url, blocked)
        dc.inflight[webhook_id] += 1
        try:
            error = await _post(dc.client, hook.url, hook.secret, delivery)
        finally:
            dc.inflight[webhook_id] -= 1
            if not dc.inflight[webhook_id]:
                del dc.inflight[webhook_id]
        if error is None:
            metrics.WEBHOOK_DELIVERIES.labels("success").inc()
            return "delivered"
        metrics.WEBHOOK_DELIVERIES.labels("failure").inc()
        now = now_ms()
        if now - created_at >= dc.settings.webhook_max_age_seconds * 1000:
            return await _dead(dc, delivery, hook.url, error)
        delay = backoff_delay(
            attempt,
            base=dc.settings.webhook_base_delay_seconds,
            cap=dc.settings.webhook_max_delay_seconds,
        )
        await enqueue(dc.pool, delivery.next_attempt(), defer=delay)
        log.info(
            "webhook %s: attempt %d failed (%s), retry in %.1fs", hook.url, attempt, error, delay
        )
        return "retrying"
    except StoreUnavailable as exc:
        log.warning("redis unavailable during webhook delivery, deferring: %s", exc)
        raise Retry(defer=random.uniform(1.0, 3.0)) from exc


async def _dead(dc: DeliveryContext, delivery: Delivery, url: str, error: str) -> str:
    await dc.hooks.add_dead(delivery.feed, _dead_record(delivery, url, error, now_ms()))
    metrics.WEBHOOK_DELIVERIES.labels("dead").inc()
    log.warning("webhook %s: delivery %s dead-lettered: %s", url, delivery.delivery_id, error)
    return "dead"


async def _post(client: httpx.AsyncClient, url: str, secret: str, d: Delivery) -> str | None:
    """One POST; None on a 2xx, else what went wrong."""
    started = time.perf_counter()
    try:
        response = await client.post(
            url, content=d.body.encode(), headers=headers(d, secret, int(time.time()))
        )
    except httpx.TimeoutException:
        return "timeout"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    finally:
        metrics.WEBHOOK_LATENCY.observe(time.perf_counter() - started)
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def _dead_record(d: Delivery, url: str, error: str, now: int) -> dict[str, Any]:
    return {
        "delivery_id": d.delivery_id,
        "webhook_id": d.webhook_id,
        "url": url,
        "event": d.event,
        "body": d.body,
        "attempts": d.attempt,
        "first_attempt_at": to_rfc3339(d.created_at),
        "last_attempt_at": to_rfc3339(now),
        "last_error": error,
    }
