"""The projection loop: editorial log -> public view and live stream.

Why a blocking stream tail and not one arq job per event: arq's queue is
polled (``poll_delay``) and dedupes by job id, so a job per event would add
up to the poll delay to every update and could drop a wake-up that arrives
while the feed's job is running. Instead each worker tails the ``WAKE``
stream with a blocking XREAD (an event wakes it within a millisecond),
sweeps every feed once a second (a wake-up lost to a crash between the
append and the hint costs at most a second), and projects with
``FeedStore.project_pending``, which is fenced by the projected position:
at-least-once reading plus an atomic compare-and-set apply gives each event
exactly once on the public stream, in log order, with any number of workers,
and a SIGKILL between two steps loses nothing. Unordered, retryable side
effects (webhooks, feed documents) are arq jobs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from redis.exceptions import RedisError

from feed import keys
from feed.errors import StoreUnavailable
from feed.store import FeedStore, _s
from workers import metrics

log = logging.getLogger("newsfeed.worker")

SWEEP_SECONDS = 1.0
SCHEDULE_SECONDS = 0.2
TRIM_SECONDS = 60.0


class Fanout:
    def __init__(self, store: FeedStore) -> None:
        self.store = store
        self._wake_pos = "$"
        self._next_sweep = 0.0
        self._next_schedule = 0.0
        self._next_trim = time.monotonic() + 5.0

    async def run(self) -> None:
        """Run until cancelled; reconnect with jittered backoff on failures."""
        backoff = 0.1
        while True:
            try:
                if self._wake_pos == "$":
                    last = await self.store.redis.xrevrange(keys.WAKE, count=1)
                    self._wake_pos = _s(last[0][0]) if last else "0-0"
                await self.step()
                backoff = 0.1
            except StoreUnavailable as exc:
                delay = backoff * (0.5 + random.random())
                log.warning("redis unavailable, retrying in %.2fs: %s", delay, exc)
                metrics.REDIS_ERRORS.inc()
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, 5.0)
                self._next_sweep = 0.0

    async def step(self) -> None:
        feeds = await self._wait_for_work()
        now = time.monotonic()
        if now >= self._next_schedule:
            self._next_schedule = now + SCHEDULE_SECONDS
            for feed in await self.store.list_feeds():
                for entry in await self.store.publish_due(feed):
                    log.info("published scheduled entry %s/%s", feed, entry.id)
                    feeds.add(feed)
        for feed in sorted(feeds):
            await self.drain(feed)
        if now >= self._next_trim:
            self._next_trim = now + TRIM_SECONDS
            for feed in await self.store.list_feeds():
                trimmed = await self.store.trim(feed)
                if trimmed:
                    log.info("trimmed %d events from %s", trimmed, feed)

    async def _wait_for_work(self) -> set[str]:
        feeds: set[str] = set()
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            feeds.update(await self.store.list_feeds())
        # Block until a hint arrives or the next timed duty, unless there
        # is work already (then just collect the hints that are waiting).
        block: int | None = None
        if not feeds:
            block = max(1, int((min(self._next_sweep, self._next_schedule) - now) * 1000))
        try:
            res: Any = await self.store.redis.xread(
                {keys.WAKE: self._wake_pos}, count=1000, block=block
            )
        except (ConnectionError, OSError, RedisError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        for _, rows in res or []:
            for sid, fields in rows:
                self._wake_pos = _s(sid)
                feeds.add(_s(fields[b"feed"]))
        return feeds

    async def drain(self, feed: str) -> None:
        """Project everything pending for one feed."""
        while True:
            consumed = await self.store.project_pending(feed)
            if not consumed:
                return
            done = time.time() * 1000
            for ms, _ in consumed:
                metrics.FANOUT_LAG.observe(max(0.0, done - ms) / 1000)
            metrics.PROJECTED.inc(len(consumed))
