"""Regenerating the cached feed documents (Atom, RSS, JSON Feed).

Why a loop in the worker and not an arq job: a job per change would wait for
arq's poll and its id-based dedupe would drop a change that lands while the
feed's job runs (the document would then miss it until the next change).
Instead the projection loop marks the feed dirty in-process, this loop waits
``DEBOUNCE`` seconds to batch a burst into one rendering, then renders from
the public timeline. It runs beside the projection loop, never in it, so
rendering never delays the live stream. A sweep every ``SWEEP`` seconds
re-renders any feed whose cache is behind its live stream (changes projected
by another worker, or a rendering lost to a crash) or has another title. Racing renderings are
harmless: the cache keeps the one of the latest live position.
"""

from __future__ import annotations

import asyncio
import logging
import time

from feed.cursor import format_stream_id
from feed.docstore import DocumentCache, regenerate, rendition
from feed.stores import Stores
from workers import metrics
from workers.signals import Dirty

log = logging.getLogger("newsfeed.documents")

DEBOUNCE = 1.0
SWEEP = 3.0


class DocumentRenderer:
    def __init__(self, store: Stores, cache: DocumentCache, base_url: str, dirty: Dirty) -> None:
        self.store = store
        self.cache = cache
        self.base_url = base_url
        self.dirty = dirty
        self._next_sweep = 0.0

    async def step(self) -> None:
        feeds = await self.dirty.wait(max(0.01, self._next_sweep - time.monotonic()))
        if feeds:
            await asyncio.sleep(DEBOUNCE)
            feeds |= self.dirty.take()
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP
            for feed in await self.store.registry.list_feeds():
                if feed not in feeds and await self._stale(feed):
                    feeds.add(feed)
        for feed in sorted(feeds):
            await regenerate(
                self.store.registry, self.store.public, self.cache, feed, self.base_url
            )
            metrics.DOCUMENTS_RENDERED.inc()

    async def _stale(self, feed: str) -> bool:
        """Behind the live stream, or rendered with another feed title or language."""
        pos, title = await self.cache.rendered(feed)
        bounds = await self.store.live.bounds(feed)
        if pos != format_stream_id(bounds.last):
            return True
        return title != rendition(await self.store.registry.get_feed(feed))
