"""The public view: what readers may see (pinned first, then newest first)."""

from __future__ import annotations

import dataclasses

from feed import keys, scripts
from feed.cursor import Cursor, parse_stream_id
from feed.errors import NotFound
from feed.model import Entry
from feed.redis_io import Client, Commands, as_str, register, translated


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    entries: list[Entry]
    cursor: Cursor
    """The live stream's position at the time of the read."""
    next: str | None
    """Pass as ``before`` for the next (older) page; None on the last page."""


class PublicView:
    """Reads of the public timeline, each with the live cursor of its moment."""

    def __init__(self, redis: Client) -> None:
        self.redis: Commands = redis
        self._read_timeline = register(redis, scripts.READ_TIMELINE)

    async def read_timeline(
        self, feed: str, *, limit: int, before: str | None = None, key_events: bool = False
    ) -> Page:
        """Public entries, pinned first then newest first, with the live cursor.

        ``key_events``: only the entries marked key events (the same order).
        """
        start = "+" if not before else "(" + before
        line = keys.key_timeline(feed) if key_events else keys.timeline(feed)
        async with translated():
            out = await self._read_timeline(
                keys=[line, keys.public(feed), keys.live(feed), keys.epoch(feed)],
                args=[start, limit + 1],
            )
        cursor = Cursor(as_str(out[0]), parse_stream_id(as_str(out[1])))
        pairs = out[4:]
        # One member more than asked tells whether there is a next page.
        more = len(pairs) > 2 * limit
        pairs = pairs[: 2 * limit]
        entries = [Entry.loads(pairs[i + 1]) for i in range(0, len(pairs), 2)]
        nxt = as_str(pairs[-2]) if more and pairs else None
        return Page(entries, cursor, nxt)

    async def public_entry(self, feed: str, entry_id: str) -> Entry:
        async with translated():
            raw = await self.redis.hget(keys.public(feed), entry_id)
        if raw is None:
            raise NotFound(f"no public entry {entry_id!r} in feed {feed!r}")
        return Entry.loads(raw)
