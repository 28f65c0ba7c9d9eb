"""The projection loop: editorial log -> public view and live stream.

Why a blocking stream tail and not one arq job per event: arq's queue is
polled (``poll_delay``) and dedupes by job id, so a job per event would add
up to the poll delay to every update and could drop a wake-up that arrives
while the feed's job is running. Instead each worker tails the ``WAKE``
stream with a blocking XREAD (an event wakes it within a millisecond),
sweeps every feed once a second (a wake-up lost to a crash between the
append and the hint costs at most a second), and projects with
``Stores.project_pending``, which is fenced by the projected position:
at-least-once reading plus an atomic compare-and-set apply gives each event
exactly once on the public stream, in log order, with any number of workers,
and a SIGKILL between two steps loses nothing.

The other duties run beside the projection loop in one task group
(``Duties``), each with its own reconnect backoff, so none of them can delay
the live stream: the webhook dispatcher (live stream -> each webhook's own
queue, fenced by its own position) and the delivery loop that takes turns
over those queues (see ``workers.delivery``), the feed document renderer
(see ``workers.renderer``), the pending-count gauges and the heartbeat
(``Heartbeat``: the file ``newsfeed healthcheck worker`` reads), and the
embedded posts' card fetches (``workers.embeds``), woken by the projection.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from feed import keys
from feed.backlog import Backlog
from feed.backoff import Backoff
from feed.cursor import format_stream_id
from feed.delivery_queue import DeliveryQueue
from feed.docstore import DocumentCache
from feed.errors import StoreUnavailable
from feed.media import FilesystemMediaStore
from feed.redis_io import Client, as_str, translated, wake_shards
from feed.settings import Settings
from feed.stores import Stores
from feed.webhooks import WebhookStore
from workers import metrics
from workers.delivery import DeliveryLoop, dispatch
from workers.embeds import EmbedLoop
from workers.renderer import DocumentRenderer
from workers.signals import Dirty

log = logging.getLogger("newsfeed.worker")

SWEEP_SECONDS = 1.0
SCHEDULE_SECONDS = 0.2
TRIM_SECONDS = 60.0
BATCH = 500
GAUGE_SECONDS = 2.0
HEARTBEAT_SECONDS = 2.0
LISTEN_BLOCK_MS = 1000


class Fanout:
    def __init__(self, store: Stores, listeners: tuple[Dirty, ...] = ()) -> None:
        self.store = store
        self.listeners = listeners
        self._wake_keys = keys.wake_keys(wake_shards(store.redis))
        self._wake_pos: dict[str, str] = {}
        """Per wake-up stream, the last hint read (its newest entry at start)."""
        self._hints = Dirty()
        """Hints the listeners read (a cluster's sharded wake-up streams)."""
        self._next_sweep = 0.0
        self._next_schedule = 0.0
        self._next_trim = time.monotonic() + 5.0
        self._positions: dict[str, str] = {}
        """Per feed, the last position this worker projected to (a hint)."""

    async def run(self) -> None:
        """Run until cancelled; reconnect with jittered backoff on failures.

        On a cluster the wake-up streams sit in different slots and one
        XREAD may not span slots: one listener per stream (one blocking
        connection each) feeds ``_hints``, which the projection loop waits
        on instead of reading a stream itself.
        """
        if len(self._wake_keys) == 1:
            await resilient("projection", self._once, on_error=self._after_error)
            return
        async with asyncio.TaskGroup() as tg:
            for key in self._wake_keys:
                tg.create_task(resilient(f"wake {key}", functools.partial(self._listen, key)))
            tg.create_task(resilient("projection", self.step, on_error=self._after_error))

    async def _once(self) -> None:
        for key in self._wake_keys:
            if key not in self._wake_pos:
                async with translated():
                    last = await self.store.redis.xrevrange(key, count=1)
                self._wake_pos[key] = as_str(last[0][0]) if last else "0-0"
        await self.step()

    def _after_error(self) -> None:
        self._next_sweep = 0.0  # look at every feed as soon as Redis is back

    async def step(self) -> None:
        feeds = await self._wait_for_work()
        # The live path first; the scheduler and trimming after.
        for feed in sorted(feeds):
            await self.drain(feed)
        now = time.monotonic()
        if now >= self._next_schedule:
            self._next_schedule = now + SCHEDULE_SECONDS
            for feed in await self.store.registry.list_feeds():
                published = await self.store.editorial.publish_due(feed)
                for entry in published:
                    log.info("published scheduled entry %s/%s", feed, entry.id)
                if published:
                    await self.drain(feed)
        if now >= self._next_trim:
            self._next_trim = now + TRIM_SECONDS
            for feed in await self.store.registry.list_feeds():
                trimmed = await self.store.retention.trim(feed)
                if trimmed:
                    log.info("trimmed %d events from %s", trimmed, feed)

    async def _wait_for_work(self) -> set[str]:
        feeds: set[str] = set()
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            feeds.update(await self.store.registry.list_feeds())
        # Block until a hint arrives or the next timed duty, unless there
        # is work already (then just collect the hints that are waiting).
        block: int | None = None
        if not feeds:
            block = max(1, int((min(self._next_sweep, self._next_schedule) - now) * 1000))
        if len(self._wake_keys) == 1:
            await self._read_hints(self._wake_keys[0], block, feeds)
        else:
            feeds.update(await self._hints.wait(0 if block is None else block / 1000))
        return feeds

    async def _read_hints(self, key: str, block: int | None, feeds: set[str]) -> None:
        async with translated():
            res: Any = await self.store.redis.xread(
                {key: self._wake_pos[key]}, count=1000, block=block
            )
        for _, rows in res or []:
            for sid, fields in rows:
                self._wake_pos[key] = as_str(sid)
                feeds.add(as_str(fields[b"feed"]))

    async def _listen(self, key: str) -> None:
        """One wake-up stream of a cluster: its hints into ``_hints``, forever."""
        if key not in self._wake_pos:
            async with translated():
                last = await self.store.redis.xrevrange(key, count=1)
            self._wake_pos[key] = as_str(last[0][0]) if last else "0-0"
        feeds: set[str] = set()
        await self._read_hints(key, LISTEN_BLOCK_MS, feeds)
        for feed in feeds:
            self._hints.add(feed)

    async def drain(self, feed: str) -> None:
        """Project everything pending for one feed."""
        while True:
            consumed = await self.store.projection.project_pending(
                feed, BATCH, hint=self._positions.get(feed)
            )
            if not consumed:
                return
            self._positions[feed] = format_stream_id(consumed[-1])
            done = time.time() * 1000
            for ms, _ in consumed:
                metrics.FANOUT_LAG.observe(max(0.0, done - ms) / 1000)
            metrics.PROJECTED.inc(len(consumed))
            for listener in self.listeners:
                listener.add(feed)
            if len(consumed) < BATCH:
                # Caught up: an event appended since then comes with its own
                # wake-up (appended after it), so no need to look again now.
                return


async def resilient(
    name: str, step: Callable[[], Awaitable[None]], on_error: Callable[[], None] | None = None
) -> None:
    """Run ``step`` forever; back off (jittered) on Redis failures and bugs."""
    backoff = Backoff()
    while True:
        try:
            await step()
            backoff.reset()
            continue
        except StoreUnavailable as exc:
            log.warning("%s: redis unavailable: %s", name, exc)
            metrics.REDIS_ERRORS.inc()
        except Exception:
            log.exception("%s failed; retrying", name)
        if on_error is not None:
            on_error()
        await backoff.sleep()


class Dispatcher:
    """Live stream -> the webhooks' queues, for every feed."""

    def __init__(self, store: Stores, dirty: Dirty, deliveries: DeliveryLoop) -> None:
        self.store = store
        self.hooks = store.webhooks
        self.dirty = dirty
        self.deliveries = deliveries
        self._next_sweep = 0.0

    async def step(self) -> None:
        feeds = await self.dirty.wait(max(0.01, self._next_sweep - time.monotonic()))
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            feeds.update(await self.store.registry.list_feeds())
        for feed in sorted(feeds):
            if await dispatch(self.hooks, feed):
                self.deliveries.wake(feed)


class Gauges:
    def __init__(self, store: Stores, backlog: Backlog) -> None:
        self.store = store
        self.backlog = backlog

    async def step(self) -> None:
        for feed in await self.store.registry.list_feeds():
            metrics.PENDING_EVENTS.labels(feed).set(await self.backlog.unprojected(feed))
            metrics.DEAD_LETTERS.labels(feed).set(await self.backlog.dead_letters(feed))
            metrics.WEBHOOK_QUEUED.labels(feed).set(await self.backlog.webhook_queued(feed))
        metrics.QUEUED_JOBS.set(await self.backlog.queued_jobs())
        await asyncio.sleep(GAUGE_SECONDS)


class Heartbeat:
    """Proves the worker's loop is alive: every ``HEARTBEAT_SECONDS`` it pings
    Redis and touches the heartbeat file (``newsfeed healthcheck worker``)."""

    def __init__(self, store: Stores, path: Path) -> None:
        self.store = store
        self.path = path

    async def step(self) -> None:
        async with translated():
            await self.store.redis.ping()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        await asyncio.sleep(HEARTBEAT_SECONDS)


class Duties:
    """Everything a worker does besides running arq jobs, in one task group."""

    def __init__(
        self,
        store: Stores,
        settings: Settings,
        client: httpx.AsyncClient,
        queue: Client | None = None,
        embed_client: httpx.AsyncClient | None = None,
    ) -> None:
        to_documents, to_dispatcher, to_embeds = Dirty(), Dirty(), Dirty()
        self.fanout = Fanout(store, (to_documents, to_dispatcher, to_embeds))
        self.documents = DocumentRenderer(
            store, DocumentCache(store.redis), settings.base_url(), to_documents
        )
        self.deliveries = DeliveryLoop(
            settings,
            store.registry,
            WebhookStore(store.redis, allow_private=settings.webhook_allow_private),
            DeliveryQueue(store.redis),
            client,
        )
        self.dispatcher = Dispatcher(store, to_dispatcher, self.deliveries)
        self.gauges = Gauges(store, Backlog(store.redis, queue))
        self.heartbeat = Heartbeat(store, settings.worker_heartbeat_file)
        self.embeds = (
            None
            if embed_client is None
            else EmbedLoop(
                store, settings, embed_client, FilesystemMediaStore(settings.media_root), to_embeds
            )
        )

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.fanout.run(), name="projection")
            tg.create_task(resilient("documents", self.documents.step), name="documents")
            tg.create_task(resilient("webhooks", self.dispatcher.step), name="dispatch")
            tg.create_task(self.deliveries.run(), name="deliveries")
            tg.create_task(resilient("gauges", self.gauges.step), name="gauges")
            tg.create_task(resilient("heartbeat", self.heartbeat.step), name="heartbeat")
            if self.embeds is not None:
                tg.create_task(self.embeds.run(), name="embeds")
