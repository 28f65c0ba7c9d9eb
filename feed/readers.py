"""How many readers follow a feed right now, across every web process.

Each web process reports, every few seconds and per feed it serves, one
field of ``nf:{F}:readers``: its own count and until when that count holds
(``"<n>:<valid until, ms>"``). A reader adds nothing to Redis: the cost is
one write per feed, process and period. The total is the sum of the fields
still valid; a process that died stops counting when its last report
expires, and its field is removed by the next report of any process.
"""

from __future__ import annotations

from collections.abc import Mapping

from feed import keys
from feed.redis_io import Commands, translated


def encode_report(count: int, valid_until_ms: int) -> str:
    return f"{count}:{valid_until_ms}"


def live_total(fields: Mapping[bytes, bytes], now_ms: int) -> tuple[int, list[bytes]]:
    """The readers of the still-valid reports, and the fields that expired."""
    total, expired = 0, []
    for name, raw in fields.items():
        count, _, until = raw.partition(b":")
        if not (count.isdigit() and until.isdigit()) or int(until) < now_ms:
            expired.append(name)
        else:
            total += int(count)
    return total, expired


class ReaderCounts:
    """The Redis side of the reader counts (one hash per feed)."""

    def __init__(self, redis: Commands) -> None:
        self.redis = redis

    async def report(self, feed: str, process: str, count: int, now_ms: int, ttl_ms: int) -> int:
        """Store this process's count; return the feed's total over all processes."""
        key = keys.readers(feed)
        async with translated():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(key, process, encode_report(count, now_ms + ttl_ms))
                pipe.pexpire(key, ttl_ms)
                pipe.hgetall(key)
                _, _, fields = await pipe.execute()
            total, expired = live_total(fields, now_ms)
            if expired:
                await self.redis.hdel(key, *expired)
        return total

    async def total(self, feed: str, now_ms: int) -> int:
        async with translated():
            fields = await self.redis.hgetall(keys.readers(feed))
        return live_total(fields, now_ms)[0]
