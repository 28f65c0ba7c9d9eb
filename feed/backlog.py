"""How far behind the workers are: the counts behind the pending gauges."""

from __future__ import annotations

from feed import keys, scripts
from feed.redis_io import Client, Commands, as_str, register, translated

CAP = 100_000


class Backlog:
    def __init__(self, redis: Client, queue: Client | None = None) -> None:
        self.redis: Commands = redis
        self.queue: Commands = redis if queue is None else queue
        """The Redis of arq's queue (``Settings.queue_url``)."""
        self._count_after = register(redis, scripts.COUNT_AFTER)

    async def unprojected(self, feed: str, cap: int = CAP) -> int:
        """Editorial events not yet on the public view (at most ``cap``)."""
        async with translated():
            pos = as_str(await self.redis.get(keys.public_pos(feed)))
            start = f"({pos}" if pos else "-"
            return int(await self._count_after(keys=[keys.log(feed)], args=[start, cap]))

    async def queued_jobs(self) -> int:
        """arq jobs waiting (including deferred webhook retries)."""
        async with translated():
            return int(await self.queue.zcard(keys.ARQ_QUEUE))

    async def dead_letters(self, feed: str) -> int:
        async with translated():
            return int(await self.redis.llen(keys.webhook_dead(feed)))
