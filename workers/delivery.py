"""Webhook fan-out: the dispatcher (live stream -> queues) and the delivery loop.

Dispatch is one fenced step per batch (``WebhookStore.dispatch_batch``): the
live messages after the feed's dispatch position go onto each webhook's own
queue and the position moves, atomically, so a batch is queued exactly once
whichever worker dies or races. The projection never trims the live stream
past the dispatch position (``scripts.PROJECT``), so a dispatcher that falls
behind only makes the stream longer for a while: no delivery is dropped.

Why a queue per webhook and a round-robin loop, not one arq job per delivery
in a shared queue: with one queue, a partner with 100,000 failing deliveries
stands in front of everyone else's, and the workers spend their slots on its
timeouts. Here each worker's ``DeliveryLoop`` takes turns over the webhooks
that have something due: a webhook has at most ``webhook_concurrency``
requests in flight per worker, the worker at most ``SLOTS``, and a webhook
with nothing due is skipped until its next due time (or a dispatch, or one
second), so a new partner's first delivery is claimed within about a second
whatever another partner's backlog.

An attempt that fails is rescheduled after a full-jitter backoff until the
delivery is ``webhook_max_age_seconds`` old, then dead-lettered; one that
cannot be attempted at all (a URL no client can send to, a destination that
resolves to a private address) is dead-lettered at once with the reason; an
unexpected error is logged and the delivery comes back when its lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from typing import Any

import httpx

from feed.delivery_queue import DeliveryQueue
from feed.errors import StoreUnavailable
from feed.model import now_ms, to_rfc3339
from feed.netguard import private_destination
from feed.registry import FeedRegistry
from feed.settings import Settings
from feed.webhook_signing import headers
from feed.webhooks import (
    Delivery,
    Webhook,
    WebhookStore,
    backoff_delay,
    deliveries,
)
from workers import metrics

log = logging.getLogger("newsfeed.webhooks")

SLOTS = 64
"""Webhook requests in flight per worker process, all webhooks together."""
REFRESH_SECONDS = 1.0
"""How often the loop re-reads every webhook (and looks at every queue); a
feed this worker dispatched for is re-read at once (``DeliveryLoop.wake``)."""
LEASE_MARGIN_SECONDS = 10.0


async def dispatch(hooks: WebhookStore, feed: str, batch: int = 100) -> int:
    """Queue deliveries for the feed's new live messages; returns how many."""
    total = 0
    while True:
        pending = await hooks.pending(feed, batch)
        if not pending.messages:
            return total
        queued = deliveries(
            feed,
            pending.epoch,
            pending.hooks,
            pending.messages,
            now_ms(),
            reset_from=pending.dispatched_epoch,
        )
        if not await hooks.dispatch_batch(feed, pending, queued):
            return total  # another worker moved the position; it carries on from there
        total += len(queued)
        metrics.WEBHOOK_ENQUEUED.inc(len(queued))
        if len(pending.messages) < batch:
            return total


def http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        limits=httpx.Limits(max_connections=SLOTS * 2, max_keepalive_connections=SLOTS),
        follow_redirects=False,
        trust_env=False,
    )


@dataclasses.dataclass
class _Hook:
    hook: Webhook
    inflight: int = 0
    next_due: float = 0.0
    """Epoch ms before which there is nothing to claim (a hint)."""


class DeliveryLoop:
    """One worker's delivery loop: fair turns over every webhook's queue."""

    def __init__(
        self,
        settings: Settings,
        registry: FeedRegistry,
        hooks: WebhookStore,
        queue: DeliveryQueue,
        client: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.hooks = hooks
        self.queue = queue
        self.client = client
        self._hooks: dict[str, _Hook] = {}
        self._order: list[str] = []
        self._turn = 0
        self._inflight = 0
        self._next_refresh = 0.0
        self._stale: set[str] = set()
        """Feeds whose webhook list is read again before the next round."""
        self._wake = asyncio.Event()

    def wake(self, feed: str) -> None:
        """New deliveries were queued for ``feed``: look at its webhooks now.

        Its webhook list is read again first (one HVALS), so a webhook
        registered a moment ago gets its first delivery now, not at the
        next full refresh.
        """
        for state in self._hooks.values():
            if state.hook.feed == feed:
                state.next_due = 0.0
        self._stale.add(feed)
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            while True:
                try:
                    await self._refresh()
                    await self._refresh_stale()
                    await self._claim_round(tg)
                except StoreUnavailable as exc:
                    log.warning("webhook deliveries: redis unavailable: %s", exc)
                    metrics.REDIS_ERRORS.inc()
                    await asyncio.sleep(random.uniform(0.5, 1.5))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await self._wake.wait()
                self._wake.clear()

    async def _refresh(self) -> None:
        if time.monotonic() < self._next_refresh:
            return
        self._next_refresh = time.monotonic() + REFRESH_SECONDS
        current: dict[str, Webhook] = {}
        for feed in await self.registry.list_feeds():
            for hook in await self.hooks.all(feed):
                current[hook.id] = hook
        for hook_id in list(self._hooks):
            if hook_id not in current and not self._hooks[hook_id].inflight:
                del self._hooks[hook_id]
        for hook_id, hook in current.items():
            state = self._hooks.setdefault(hook_id, _Hook(hook))
            state.hook, state.next_due = hook, 0.0  # a second look at every queue
        self._order = sorted(current)

    async def _refresh_stale(self) -> None:
        """Add the webhooks of the woken feeds that this loop does not know yet."""
        feeds, self._stale = self._stale, set()
        added = False
        for feed in sorted(feeds):
            for hook in await self.hooks.all(feed):
                if hook.id not in self._hooks:
                    self._hooks[hook.id] = _Hook(hook)
                    added = True
        if added:
            self._order = sorted(self._hooks)

    async def _claim_round(self, tg: asyncio.TaskGroup) -> None:
        """One turn for each webhook, starting one further along each round."""
        if not self._order:
            return
        n = len(self._order)
        self._turn = (self._turn + 1) % n
        for k in range(n):
            if self._inflight >= SLOTS:
                return
            state = self._hooks.get(self._order[(self._turn + k) % n])
            if state is None:
                continue
            free = min(self.settings.webhook_concurrency - state.inflight, SLOTS - self._inflight)
            now = now_ms()
            if free <= 0 or now < state.next_due:
                continue
            lease = now + int((self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS) * 1000)
            claimed = await self.queue.claim(state.hook, now, lease, free)
            state.next_due = claimed.next_due if claimed.next_due is not None else float("inf")
            for delivery in claimed.deliveries:
                state.inflight += 1
                self._inflight += 1
                tg.create_task(self._attempt(state, delivery), name=delivery.delivery_id)

    async def _attempt(self, state: _Hook, delivery: Delivery) -> None:
        try:
            await self.attempt(state.hook, delivery)
        except StoreUnavailable as exc:
            log.warning("webhook %s: redis unavailable, later: %s", delivery.delivery_id, exc)
        except Exception:
            log.exception("webhook %s: attempt failed unexpectedly", delivery.delivery_id)
        finally:
            state.inflight -= 1
            self._inflight -= 1
            state.next_due = 0.0
            self._wake.set()

    async def attempt(self, hook: Webhook, delivery: Delivery) -> str:
        """One attempt at one delivery; returns the outcome."""
        s = self.settings
        age_ms = now_ms() - delivery.created_at
        if age_ms >= s.webhook_max_age_seconds * 1000:
            # Its time ran out while it waited (a late claim): the record keeps
            # the attempts actually made and the last one's error.
            made = delivery.attempt - 1
            expired = f"expired: {age_ms / 1000:.0f}s in this webhook's queue after {made} attempts"
            return await self._dead(
                hook, delivery, delivery.last_error or expired, attempts=made, note=expired
            )
        blocked = None if s.webhook_allow_private else await private_destination(hook.url)
        if blocked is not None:  # permanent: no point in retrying for an hour
            return await self._dead(hook, delivery, blocked)
        body = delivery.body.encode()
        try:
            request = self.client.build_request(
                "POST",
                hook.url,
                content=body,
                headers=headers(delivery.delivery_id, delivery.event, body, hook.secret, _now()),
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            return await self._dead(hook, delivery, f"cannot send to this URL: {exc}"[:300])
        error = await self._send(request)
        if error is None:
            await self.queue.finish(delivery)
            metrics.WEBHOOK_DELIVERIES.labels("success").inc()
            return "delivered"
        metrics.WEBHOOK_DELIVERIES.labels("failure").inc()
        if error.startswith("cannot send"):
            return await self._dead(hook, delivery, error)
        delay = backoff_delay(
            delivery.attempt, base=s.webhook_base_delay_seconds, cap=s.webhook_max_delay_seconds
        )
        due = now_ms() + int(delay * 1000)
        if due - delivery.created_at >= s.webhook_max_age_seconds * 1000:
            return await self._dead(hook, delivery, error)  # the next try would be too late
        await self.queue.reschedule(delivery.next_attempt(error), due)
        log.info(
            "webhook %s: attempt %d failed (%s), retry in %.1fs",
            hook.url,
            delivery.attempt,
            error,
            delay,
        )
        return "retrying"

    async def _send(self, request: httpx.Request) -> str | None:
        """One POST; None on a 2xx, else what went wrong."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                response = await self.client.send(request)
        except (TimeoutError, httpx.TimeoutException):
            return "timeout"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        except (UnicodeError, ValueError) as exc:  # e.g. a host the resolver refuses
            return f"cannot send to this URL: {type(exc).__name__}: {exc}"[:300]
        finally:
            metrics.WEBHOOK_LATENCY.observe(time.perf_counter() - started)
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def _dead(
        self,
        hook: Webhook,
        delivery: Delivery,
        error: str,
        *,
        attempts: int | None = None,
        note: str = "",
    ) -> str:
        record = dead_record(delivery, hook.url, error, now_ms(), attempts)
        await self.queue.finish(delivery, record)
        metrics.WEBHOOK_DELIVERIES.labels("dead").inc()
        log.warning(
            "webhook %s: %s dead-lettered: %s", hook.url, delivery.delivery_id, note or error
        )
        return "dead"


def _now() -> int:
    return int(time.time())


def dead_record(
    d: Delivery, url: str, error: str, now: int, attempts: int | None = None
) -> dict[str, Any]:
    return {
        "delivery_id": d.delivery_id,
        "webhook_id": d.webhook_id,
        "url": url,
        "event": d.event,
        "body": d.body,
        "attempts": d.attempt if attempts is None else attempts,
        "first_attempt_at": to_rfc3339(d.created_at),
        "last_attempt_at": to_rfc3339(now),
        "last_error": error,
    }
