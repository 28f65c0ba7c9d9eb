"""The feed-document cache in Redis (``nf:{F}:documents``).

Workers render the documents after each projected batch and store them with
the live-stream position they were rendered at; a write never replaces a
rendering of a later position, so racing workers (or a web process filling
an empty cache) cannot put an older document back.
"""

from __future__ import annotations

import asyncio
from typing import Any

from feed import keys, scripts
from feed.cursor import format_stream_id
from feed.documents import Document, FeedInfo, Format, render_all
from feed.public import PublicView
from feed.redis_io import Client, Commands, as_str, register, translated
from feed.registry import FeedMeta, FeedRegistry


class DocumentCache:
    def __init__(self, redis: Client) -> None:
        self.redis: Commands = redis
        self._put = register(redis, scripts.PUT_DOCUMENTS)

    async def get(self, feed: str, fmt: Format) -> Document | None:
        async with translated():
            body, etag, modified = await self.redis.hmget(
                keys.documents(feed), [fmt, f"{fmt}:etag", "modified"]
            )
        if body is None or etag is None or modified is None:
            return None
        return Document(fmt, body, as_str(etag), int(modified))

    async def rendered(self, feed: str) -> tuple[str, str]:
        """The live-stream position and feed title of the cached rendering."""
        async with translated():
            pos, title = await self.redis.hmget(keys.documents(feed), ["pos", "title"])
        return as_str(pos), as_str(title)

    async def put(self, feed: str, pos: str, title: str, docs: list[Document]) -> bool:
        args: list[Any] = [pos, "title", title]
        for d in docs:
            args += [d.format, d.body, f"{d.format}:etag", d.etag]
        if docs:
            args += ["modified", docs[0].modified]
        async with translated():
            return bool(await self._put(keys=[keys.documents(feed)], args=args))


def rendition(meta: FeedMeta) -> str:
    """What of the feed's settings a rendering depends on (stored as its ``title``)."""
    return f"{meta.language}\n{meta.title}"


async def regenerate(
    registry: FeedRegistry,
    public: PublicView,
    cache: DocumentCache,
    feed: str,
    base_url: str,
    limit: int = 50,
) -> tuple[str, list[Document]]:
    """Render every format from the public timeline and store it.

    Returns the live position rendered at and the documents. ``modified``
    (Last-Modified) is the time of that position: the last public change.
    """
    meta = await registry.get_feed(feed)
    page = await public.read_timeline(feed, limit=limit)
    pos = page.cursor.position
    info = FeedInfo(meta.slug, meta.title, base_url.rstrip("/"), meta.created_at, meta.language)
    modified = pos[0] if pos[0] else meta.created_at
    # Rendering takes milliseconds of CPU: off the event loop, so the
    # process's other duties (the live stream above all) are not held up.
    docs = await asyncio.to_thread(render_all, info, page.entries, modified)
    await cache.put(feed, format_stream_id(pos), rendition(meta), docs)
    return format_stream_id(pos), docs
