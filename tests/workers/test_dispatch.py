"""The dispatcher's fence: a crash between enqueuing and moving the position,
or two dispatchers at once, enqueue each delivery exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from arq.connections import RedisSettings, create_pool

from feed import keys
from feed.model import now_ms
from feed.stores import Stores
from feed.webhooks import WebhookStore, deliveries
from tests.conftest import make_feed
from workers.delivery import _enqueue_all, dispatch


async def test_a_crash_between_enqueue_and_advance_enqueues_nothing_twice(
    pstore: Stores, pqueue_url: str, pqueue: Any
) -> None:
    await make_feed(pstore, "news")
    hooks = WebhookStore(pstore.redis, allow_private=True)
    a = await hooks.add("news", "http://127.0.0.1:9/a")
    b = await hooks.add("news", "http://127.0.0.1:9/b")
    for i in range(150):
        await pstore.editorial.create_entry("news", {"headline": f"n{i}"}, actor="t")
    while await pstore.projection.project_pending("news"):
        pass
    pools = [
        await create_pool(
            RedisSettings.from_dsn(pqueue_url),
            job_serializer=orjson.dumps,
            job_deserializer=orjson.loads,
            default_queue_name=keys.ARQ_QUEUE,
        )
        for _ in range(2)
    ]
    try:
        # A worker enqueues the first batch and dies before moving the position.
        first = await hooks.pending("news", batch=100)
        await _enqueue_all(
            pools[0], deliveries("news", first.epoch, first.hooks, first.messages, now_ms())
        )
        assert await pstore.redis.get(keys.webhook_pos("news")) is None
        # Two workers take over at once.
        counts = await asyncio.gather(*(dispatch(hooks, p, "news", batch=100) for p in pools))
        assert sum(counts) <= 300
        queued = {m.decode() for m in await pqueue.zrange(keys.ARQ_QUEUE, 0, -1)}
        live = [sid.decode() for sid, _ in await pstore.redis.xrange(keys.live("news"), "-", "+")]
        assert len(live) == 150
        assert queued == {f"nf:wh:{h.id}.{sid}:1" for h in (a, b) for sid in live}
        assert (await pstore.redis.get(keys.webhook_pos("news"))).decode() == live[-1]
        # Nothing new: dispatching again enqueues nothing.
        assert await dispatch(hooks, pools[0], "news") == 0
        assert await pqueue.zcard(keys.ARQ_QUEUE) == 300
    finally:
        for p in pools:
            await p.aclose()
