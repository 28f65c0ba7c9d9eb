"""The public live stream (``nf:{F}:live``): what the web processes tail."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from feed import keys, scripts
from feed.cursor import StreamBounds, StreamId, format_stream_id, parse_stream_id
from feed.redis_io import Client, Commands, as_str, register, translated


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

    def __init__(self, redis: Client) -> None:
        self.redis: Commands = redis
        self._bounds = register(redis, scripts.BOUNDS)
        self._cas = register(redis, scripts.COMPARE_AND_SET)

    async def bounds(self, feed: str, at: StreamId | None = None) -> StreamBounds:
        """The stream's bounds, and whether ``at`` is still one of its messages."""
        async with translated():
            out = await self._bounds(
                keys=[keys.live(feed), keys.epoch(feed)],
                args=["" if at is None else format_stream_id(at)],
            )
        return stream_bounds(out)

    async def rotate_epoch(self, feed: str, old: str) -> str:
        """Give the feed's live stream a new epoch, unless another process did.

        Every cursor of the old epoch then resets (``reset`` reason
        ``epoch``) and every web process's reader restarts: what a reader
        applied in the old epoch can never be confused with what the stream
        holds now. Returns the epoch in force afterwards.
        """
        new = secrets.token_hex(4)
        async with translated():
            if await self._cas(keys=[keys.epoch(feed)], args=[old, new]):
                return new
            return as_str(await self.redis.get(keys.epoch(feed)))

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
        should have returned (a gap), another epoch means another stream,
        and ``after`` no longer present (``cursor.position_lost``) means the
        stream rolled back under the reader; the caller must not deliver
        across any of them.
        """
        async with translated(), self.redis.pipeline(transaction=False) as pipe:
            pipe.xread({keys.live(feed): format_stream_id(after)}, count=count, block=block_ms)
            # EVAL, not a registered script: a pipeline would check SCRIPT
            # EXISTS on every execute, a second round trip.
            pipe.eval(scripts.BOUNDS, 2, keys.live(feed), keys.epoch(feed), format_stream_id(after))
            res, out = await pipe.execute()
        rows = res[0][1] if res else []
        return [live_message(sid, fields) for sid, fields in rows], stream_bounds(out)


def stream_bounds(out: Sequence[Any]) -> StreamBounds:
    """The reply of ``scripts.BOUNDS`` (epoch, last, max deleted, present)."""
    ep, last, deleted, present = out[:4]
    return StreamBounds(
        as_str(ep),
        parse_stream_id(as_str(last)),
        parse_stream_id(as_str(deleted)),
        present=bool(present),
    )


def live_message(sid: bytes, fields: Mapping[bytes, bytes]) -> LiveMessage:
    return LiveMessage(
        parse_stream_id(as_str(sid)),
        as_str(fields[b"t"]),
        as_str(fields[b"i"]),
        int(fields[b"v"]),
        fields[b"d"],
    )
