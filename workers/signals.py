"""In-process hand-off between the worker's loops."""

from __future__ import annotations

import asyncio
import contextlib


class Dirty:
    """A set of feeds with new public messages, for one consumer loop.

    Bounded by the number of feeds (a feed is in it at most once).
    """

    def __init__(self) -> None:
        self._feeds: set[str] = set()
        self._event = asyncio.Event()

    def add(self, feed: str) -> None:
        self._feeds.add(feed)
        self._event.set()

    def take(self) -> set[str]:
        feeds, self._feeds = self._feeds, set()
        self._event.clear()
        return feeds

    async def wait(self, seconds: float) -> set[str]:
        """The dirty feeds, waiting up to ``seconds`` for one."""
        if not self._feeds:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._event.wait()
        return self.take()
