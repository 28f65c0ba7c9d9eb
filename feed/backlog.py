"""How far behind the workers are: the counts behind the pending gauges."""

from __future__ import annotations

import redis.asyncio as aioredis

from feed import keys, scripts
from feed.redis_io import Commands, as_str, translated

CAP = 100_000


class Backlog:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis: Commands = redis
        self._count_after = redis.register_script(scripts.COUNT_AFTER)

    async def unprojected(self, feed: str, cap: int = CAP) -> int:
        """Editorial events not yet on the public view (at most ``cap``)."""
        async with translated():
            pos = as_str(await self.redis.get(keys.public_pos(feed)))
            start = f"({pos}" if pos else "-"
            return int(await self._count_after(keys=[keys.log(feed)], args=[start, cap]))

    async def queued_jobs(self) -> int:
        """arq jobs waiting (feed rebuilds)."""
        async with translated():
            return int(await self.redis.zcard(keys.ARQ_QUEUE))

    async def webhook_queued(self, feed: str) -> int:
        """Deliveries in the feed's webhooks' queues."""
        async with translated():
            ids = await self.redis.hkeys(keys.webhooks(feed))
            total = 0
            for raw in ids:
                total += int(await self.redis.zcard(keys.webhook_queue(feed, as_str(raw))))
        return total

    async def dead_letters(self, feed: str) -> int:
        async with translated():
            return int(await self.redis.llen(keys.webhook_dead(feed)))
