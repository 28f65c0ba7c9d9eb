"""The projection: editorial events become the public view and the live stream.

The workers call ``project_pending``; the rules are the pure core's
(``feed.model.project``), applied by ``scripts.PROJECT`` fenced by the
projected position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feed import keys, scripts
from feed.cursor import StreamId, parse_stream_id
from feed.model import Entry, Event, LiveOp, project
from feed.redis_io import Client, Commands, as_str, register, translated


class Projection:
    """Moves a feed's public view forward from its editorial log."""

    def __init__(self, redis: Client, *, live_retention_events: int = 10_000) -> None:
        self.redis: Commands = redis
        self.live_retention_events = live_retention_events
        self._project = register(redis, scripts.PROJECT)

    async def project_pending(
        self, feed: str, batch: int = 500, *, hint: str | None = None
    ) -> list[StreamId]:
        """Project editorial events not yet public onto the public view.

        The step is fenced by the projected position: it applies only if no
        one else moved it since we read it, so any number of workers can
        race here and each event reaches the live stream exactly once, in
        log order. Returns the log ids it consumed (none when caught up, or
        when another worker got there first).

        ``hint`` is the position the caller last saw (its previous batch's
        last id): reading the position and the log after the hint in one
        round trip saves one on the live path; a wrong hint only costs the
        round trip back.
        """
        async with translated():
            if hint:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.get(keys.public_pos(feed))
                    pipe.xrange(keys.log(feed), f"({hint}", "+", count=batch)
                    raw_pos, rows = await pipe.execute()
                pos = as_str(raw_pos)
                if pos != hint:
                    start = f"({pos}" if pos else "-"
                    rows = await self.redis.xrange(keys.log(feed), start, "+", count=batch)
            else:
                pos = as_str(await self.redis.get(keys.public_pos(feed)))
                start = f"({pos}" if pos else "-"
                rows = await self.redis.xrange(keys.log(feed), start, "+", count=batch)
            if not rows:
                return []
            events = [Event.loads(fields[b"ev"]) for _, fields in rows]
            ids = sorted({e.entry.id for e in events})
            raws = await self.redis.hmget(keys.public(feed), ids)
            current = {
                i: (Entry.loads(r) if r is not None else None)
                for i, r in zip(ids, raws, strict=True)
            }
            ops = project(current, events)
            applied = await self._project(
                keys=[
                    keys.public_pos(feed),
                    keys.public(feed),
                    keys.timeline(feed),
                    keys.live(feed),
                    keys.log(feed),
                    keys.key_timeline(feed),
                ],
                args=[pos, as_str(rows[-1][0]), self.live_retention_events, *_flatten(ops)],
            )
        return [parse_stream_id(as_str(sid)) for sid, _ in rows] if applied else []


def _flatten(ops: Sequence[LiveOp]) -> list[Any]:
    out: list[Any] = []
    for op in ops:
        key = 1 if op.key_event else 0
        out += [op.type, op.entry_id, op.version, op.data, op.member, op.old_member, key]
    return out
