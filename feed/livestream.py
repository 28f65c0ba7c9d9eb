"""The public live stream (``nf:{F}:live``): what the web processes tail."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import redis.asyncio as aioredis

from feed import keys, scripts
from feed.cursor import StreamBounds, StreamId, format_stream_id, parse_stream_id
from feed.redis_io import Commands, as_str, translated


@dataclasses.dataclass(frozen=True, slots=True)
class LiveMessage:
    """One message of the public live stream, as the store reads it."""

    position: StreamId
    type: str
    entry_id: str
    version: int
    data: bytes


class LiveStream:
    """Reads of a feed's live stream and its bounds (epoch, last id, trim bound)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis: Commands = redis
        self._bounds = redis.register_script(scripts.BOUNDS)

    async def bounds(self, feed: str) -> StreamBounds:
        async with translated():
            ep, last, deleted = await self._bounds(keys=[keys.live(feed), keys.epoch(feed)])
        return StreamBounds(
            as_str(ep), parse_stream_id(as_str(last)), parse_stream_id(as_str(deleted))
        )

    async def read_live(
        self, feed: str, after: StreamId, *, count: int = 500, block_ms: int | None = None
    ) -> list[LiveMessage]:
        """Messages of the live stream after a position (blocking if asked)."""
        async with translated():
            if block_ms is None:
                rows = await self.redis.xrange(
                    keys.live(feed), f"({format_stream_id(after)}", "+", count=count
                )
            else:
                res = await self.redis.xread(
                    {keys.live(feed): format_stream_id(after)}, count=count, block=block_ms
                )
                rows = res[0][1] if res else []
        return [live_message(sid, fields) for sid, fields in rows]

    async def tail_live(
        self, feed: str, after: StreamId, *, count: int = 500, block_ms: int = 5000
    ) -> tuple[list[LiveMessage], StreamBounds]:
        """A blocking read of the live stream, and its bounds just after it.

        One round trip: Redis runs a client's pipelined commands in order,
        so the bounds are read after the XREAD returned. A ``max_deleted``
        beyond ``after`` then means a trim removed messages this read
        should have returned (a gap), and another epoch means another
        stream; the caller must not deliver across either.
        """
        async with translated(), self.redis.pipeline(transaction=False) as pipe:
            pipe.xread({keys.live(feed): format_stream_id(after)}, count=count, block=block_ms)
            # EVAL, not a registered script: a pipeline would check SCRIPT
            # EXISTS on every execute, a second round trip.
            pipe.eval(scripts.BOUNDS, 2, keys.live(feed), keys.epoch(feed))
            res, (ep, last, deleted) = await pipe.execute()
        rows = res[0][1] if res else []
        bounds = StreamBounds(
            as_str(ep), parse_stream_id(as_str(last)), parse_stream_id(as_str(deleted))
        )
        return [live_message(sid, fields) for sid, fields in rows], bounds


def live_message(sid: bytes, fields: Mapping[bytes, bytes]) -> LiveMessage:
    return LiveMessage(
        parse_stream_id(as_str(sid)),
        as_str(fields[b"t"]),
        as_str(fields[b"i"]),
        int(fields[b"v"]),
        fields[b"d"],
    )
