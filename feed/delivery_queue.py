"""Each webhook's delivery queue: claim, retry, finish (the Redis adapter).

A webhook's queue is a sorted set of delivery ids scored by when each is due
(epoch ms) beside a hash of the deliveries themselves (``feed.keys``). The
dispatcher adds to it (``WebhookStore.dispatch_batch``); a worker's delivery
loop claims due deliveries of one webhook at a time (``claim`` moves their
score to the end of a lease, so a worker that dies holding them gives them
back when the lease runs out), then ``finish`` removes one (delivered, or
dead-lettered with its reason) or ``reschedule`` sets its next attempt.
A delivery is attempted at least once and, as long as no lease runs out
during an attempt (the lease outlasts the request timeout), not twice at
the same time.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from feed import keys, scripts
from feed.redis_io import Client, Commands, as_str, register, translated
from feed.webhooks import DEAD_MAX, Delivery, Webhook


@dataclasses.dataclass(frozen=True, slots=True)
class Claimed:
    deliveries: list[Delivery]
    next_due: float | None
    """Epoch ms when the queue's next delivery is due (None: empty)."""


class DeliveryQueue:
    def __init__(self, redis: Client) -> None:
        self.redis: Commands = redis
        self._claim = register(redis, scripts.CLAIM)
        self._reschedule = register(redis, scripts.RESCHEDULE)
        self._finish = register(redis, scripts.FINISH)
        self._enqueue = register(redis, scripts.ENQUEUE)

    async def claim(self, hook: Webhook, now: int, lease_until: int, limit: int) -> Claimed:
        async with translated():
            out: list[Any] = await self._claim(
                keys=[
                    keys.webhook_queue(hook.feed, hook.id),
                    keys.webhook_items(hook.feed, hook.id),
                ],
                args=[now, lease_until, limit],
            )
        found = [
            Delivery.loads(hook.feed, hook.id, as_str(out[i]), out[i + 1])
            for i in range(0, len(out) - 1, 2)
        ]
        nxt = as_str(out[-1])
        return Claimed(found, float(nxt) if nxt else None)

    async def reschedule(self, delivery: Delivery, due: int) -> bool:
        """Set the delivery's next attempt (False: it is gone, its webhook deleted)."""
        feed, hook = delivery.feed, delivery.webhook_id
        async with translated():
            return bool(
                await self._reschedule(
                    keys=[keys.webhook_queue(feed, hook), keys.webhook_items(feed, hook)],
                    args=[delivery.delivery_id, due, delivery.dumps()],
                )
            )

    async def finish(self, delivery: Delivery, dead: dict[str, Any] | None = None) -> None:
        """Take the delivery off its queue; with ``dead``, record it as a dead letter."""
        feed, hook = delivery.feed, delivery.webhook_id
        async with translated():
            await self._finish(
                keys=[
                    keys.webhook_queue(feed, hook),
                    keys.webhook_items(feed, hook),
                    keys.webhook_dead(feed),
                ],
                args=[delivery.delivery_id, orjson.dumps(dead) if dead else "", DEAD_MAX],
            )

    async def depth(self, hook: Webhook) -> int:
        """Deliveries queued for the webhook (due, waiting to retry or claimed)."""
        async with translated():
            return int(await self.redis.zcard(keys.webhook_queue(hook.feed, hook.id)))

    async def enqueue(self, delivery: Delivery, due: int) -> None:
        """Queue one delivery (unless that id is queued already): moves the
        jobs a worker of the previous release left in arq's queue."""
        feed, hook = delivery.feed, delivery.webhook_id
        async with translated():
            await self._enqueue(
                keys=[keys.webhook_queue(feed, hook), keys.webhook_items(feed, hook)],
                args=[delivery.delivery_id, due, delivery.dumps()],
            )
