"""SIGKILL a worker mid-fan-out; two workers on one feed; both keep the contract:
every editorial event reaches the public live stream exactly once, in log order."""

from __future__ import annotations

import asyncio
import random

from feed import keys
from feed.stores import Stores
from tests.conftest import make_feed
from tests.workers.conftest import Workers, caught_up, eventually, expected_ops, live_ops


async def publish_burst(store: Stores, feed: str, n: int, seed: int) -> None:
    """n editorial events: creates, then edits and retractions of random entries."""
    rng = random.Random(seed)
    ids: list[str] = []
    for i in range(n):
        roll = rng.random()
        if ids and roll < 0.2:
            entry = await store.editorial.get_entry(feed, rng.choice(ids))
            if entry.status == "published":
                await store.editorial.edit_entry(
                    feed,
                    entry.id,
                    {"headline": f"{entry.headline} (edited)", "mark_updated": True},
                    if_match=entry.version,
                    actor="test",
                )
                continue
        if ids and roll < 0.25:
            entry = await store.editorial.get_entry(feed, ids.pop(rng.randrange(len(ids))))
            await store.editorial.retract_entry(
                feed, entry.id, if_match=entry.version, actor="test"
            )
            continue
        entry, _ = await store.editorial.create_entry(
            feed, {"headline": f"Update {i}"}, actor="test"
        )
        ids.append(entry.id)


async def test_sigkill_mid_fanout_loses_nothing_and_duplicates_nothing(
    pstore: Stores, workers: Workers
) -> None:
    await make_feed(pstore, "news")
    first = workers.start()
    publisher = asyncio.create_task(publish_burst(pstore, "news", 2000, seed=1))
    try:
        # Kill the worker while the burst is being fanned out.
        async def some_projected() -> bool:
            return int(await pstore.redis.xlen(keys.live("news"))) >= 300

        await eventually(some_projected, what="the first worker to project")
        first.kill()
        killed_at = await pstore.redis.xlen(keys.live("news"))
        await asyncio.sleep(0.5)  # nobody projects meanwhile
        assert await pstore.redis.xlen(keys.live("news")) == killed_at
        workers.start()
        await publisher
    finally:
        publisher.cancel()
    assert await pstore.redis.xlen(keys.log("news")) == 2000
    await caught_up(pstore, "news")
    live = await live_ops(pstore, "news")
    assert killed_at < len(live), "the kill came after the burst was already fanned out"
    assert live == await expected_ops(pstore, "news")
    assert len(set(live)) == len(live)


async def test_two_workers_on_one_feed_keep_its_order(pstore: Stores, workers: Workers) -> None:
    await make_feed(pstore, "news")
    await make_feed(pstore, "sport")
    workers.start()
    workers.start()
    await asyncio.gather(
        publish_burst(pstore, "news", 600, seed=2), publish_burst(pstore, "sport", 300, seed=3)
    )
    for feed in ("news", "sport"):
        await caught_up(pstore, feed)
        live = await live_ops(pstore, feed)
        assert live == await expected_ops(pstore, feed)
        assert len(set(live)) == len(live)
