"""The dispatcher: two at once queue each delivery exactly once, and one that
falls behind loses nothing (the live stream is not trimmed past it)."""

from __future__ import annotations

import asyncio

import orjson

from feed import keys
from feed.stores import Stores
from feed.webhooks import WebhookStore
from tests.conftest import make_feed
from workers.delivery import dispatch


async def project_all(store: Stores, feed: str) -> None:
    while await store.projection.project_pending(feed):
        pass


async def queued(store: Stores, feed: str, hook_id: str) -> set[str]:
    ids = await store.redis.zrange(keys.webhook_queue(feed, hook_id), 0, -1)
    items = await store.redis.hkeys(keys.webhook_items(feed, hook_id))
    assert {i.decode() for i in ids} == {i.decode() for i in items}
    return {i.decode() for i in ids}


async def test_two_dispatchers_queue_each_delivery_once(pstore: Stores) -> None:
    await make_feed(pstore, "news")
    hooks = WebhookStore(pstore.redis, allow_private=True)
    a = await hooks.add("news", "http://127.0.0.1:9/a")
    b = await hooks.add("news", "http://127.0.0.1:9/b")
    for i in range(150):
        await pstore.editorial.create_entry("news", {"headline": f"n{i}"}, actor="t")
    await project_all(pstore, "news")
    # A dispatcher that read a batch and died before queuing it changed nothing:
    # the batch is queued in the same step that moves the position.
    await hooks.pending("news", batch=100)
    counts = await asyncio.gather(*(dispatch(hooks, "news", batch=40) for _ in range(3)))
    assert sum(counts) == 300
    live = [sid.decode() for sid, _ in await pstore.redis.xrange(keys.live("news"), "-", "+")]
    assert len(live) == 150
    for h in (a, b):
        assert await queued(pstore, "news", h.id) == {f"{h.id}.{sid}" for sid in live}
    assert (await pstore.redis.get(keys.webhook_pos("news"))).decode() == live[-1]
    assert int(await pstore.redis.get(keys.webhook_lag("news"))) == 0
    assert await dispatch(hooks, "news") == 0


async def test_a_dispatcher_that_falls_behind_loses_nothing(pstore: Stores) -> None:
    """With a live retention of 50 messages and a dispatcher 400 behind, the
    live stream keeps everything after the dispatch position; once the
    dispatcher catches up, trimming resumes."""
    store = Stores.build(pstore.redis, live_retention_events=50)
    await make_feed(store, "news")
    hooks = WebhookStore(store.redis, allow_private=True)
    hook = await hooks.add("news", "http://127.0.0.1:9/a")
    for i in range(400):
        await store.editorial.create_entry("news", {"headline": f"n{i}"}, actor="t")
        if i % 50 == 49:
            await project_all(store, "news")
    await project_all(store, "news")
    assert await store.redis.xlen(keys.live("news")) >= 400
    assert int(await store.redis.get(keys.webhook_lag("news"))) == 400
    assert await dispatch(hooks, "news", batch=100) == 400
    assert len(await queued(store, "news", hook.id)) == 400
    # Caught up: the next projection trims the stream to its retention again.
    await store.editorial.create_entry("news", {"headline": "more"}, actor="t")
    await project_all(store, "news")
    assert await store.redis.xlen(keys.live("news")) < 200


async def test_without_webhooks_the_live_stream_keeps_its_retention(pstore: Stores) -> None:
    store = Stores.build(pstore.redis, live_retention_events=50)
    await make_feed(store, "news")
    hooks = WebhookStore(store.redis, allow_private=True)
    hook = await hooks.add("news", "http://127.0.0.1:9/a")
    await hooks.delete("news", hook.id)  # the last one: nothing holds the trim
    assert await store.redis.get(keys.webhook_pos("news")) is None
    for i in range(300):
        await store.editorial.create_entry("news", {"headline": f"n{i}"}, actor="t")
    await project_all(store, "news")
    assert await store.redis.xlen(keys.live("news")) < 200
    assert not await store.redis.exists(keys.webhook_queue("news", hook.id))


async def queue_order(store: Stores, feed: str, hook_id: str) -> list[str]:
    return [i.decode() for i in await store.redis.zrange(keys.webhook_queue(feed, hook_id), 0, -1)]


async def test_after_a_rollback_every_webhook_gets_a_reset_first(pstore: Stores) -> None:
    """The issue's restore, seen by partners: what they were sent after the
    copy was made is gone, and (id, version) pairs come again with other
    content. The dispatcher sees the stream's new epoch and queues a
    ``reset`` for every webhook ahead of the first event after it."""
    store = pstore
    await make_feed(store, "news")
    hooks = WebhookStore(store.redis, allow_private=True)
    a = await hooks.add("news", "http://127.0.0.1:9/a")
    b = await hooks.add("news", "http://127.0.0.1:9/b")
    entry, _ = await store.editorial.create_entry("news", {"headline": "A"}, actor="t")
    await project_all(store, "news")
    assert await dispatch(hooks, "news") == 2
    old_epoch = (await store.redis.get(keys.epoch("news"))).decode()
    assert (await store.redis.get(keys.webhook_epoch("news"))).decode() == old_epoch
    before = {h.id: await queue_order(store, "news", h.id) for h in (a, b)}

    # The operator's copy (every key, as a restore would bring them back).
    copy = {k: await store.redis.dump(k) for k in await store.redis.keys("*")}
    await store.editorial.edit_entry("news", entry.id, {"headline": "X"}, if_match=1, actor="t")
    await project_all(store, "news")
    assert await dispatch(hooks, "news") == 2  # partners are sent (A, 2) "X"
    for k in await store.redis.keys("*"):
        await store.redis.delete(k)
    for k, raw in copy.items():
        await store.redis.restore(k, 0, raw, replace=True)
    # A web process notices its read position vanished and rotates the epoch.
    new_epoch = await store.live.rotate_epoch("news", old_epoch)
    assert new_epoch != old_epoch
    await store.editorial.edit_entry("news", entry.id, {"headline": "Y"}, if_match=1, actor="t")
    await project_all(store, "news")
    assert await dispatch(hooks, "news") == 4  # a reset and (A, 2) "Y", to each

    for h in (a, b):
        ids = await queue_order(store, "news", h.id)
        reset_id = f"{h.id}.reset.{new_epoch}"
        # Ahead of the event it precedes: the queue's order is the delivery order.
        assert ids[: len(before[h.id])] == before[h.id] and len(ids) == len(before[h.id]) + 2
        assert ids[-2] == reset_id, ids
        items = await store.redis.hgetall(keys.webhook_items("news", h.id))
        reset = orjson.loads(orjson.loads(items[reset_id.encode()])["b"])
        assert reset == {
            "type": "reset",
            "feed": "news",
            "epoch": new_epoch,
            "previous_epoch": old_epoch,
        }
        event = orjson.loads(orjson.loads(items[ids[-1].encode()])["b"])
        assert event["entry"]["headline"] == "Y" and event["entry"]["version"] == 2
        assert event["cursor"].startswith(new_epoch + ".")
    assert (await store.redis.get(keys.webhook_epoch("news"))).decode() == new_epoch
    # Told once: the next event of the same epoch comes alone.
    await store.editorial.create_entry("news", {"headline": "B"}, actor="t")
    await project_all(store, "news")
    assert await dispatch(hooks, "news") == 2
    # The last webhook deleted: its epoch goes with the position.
    await hooks.delete("news", a.id)
    await hooks.delete("news", b.id)
    assert await store.redis.get(keys.webhook_epoch("news")) is None
