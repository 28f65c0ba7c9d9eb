"""Trimming the log keeps every entry's state; rebuild reproduces the materialised state."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys

from feed import keys
from feed.model import Entry, now_ms, to_rfc3339
from feed.stores import Stores
from tests.conftest import ROOT, SECRET, seconds
from tests.feed.helpers import materialised, wipe_materialised

FEED = "news"
LATER = 10 * 60_000  # past the rig store's 60 s retention age


async def busy_feed(store: Stores, events: int, seed: int = 7) -> dict[str, Entry]:
    """A feed with a mix of posts, edits, pins, schedules and retractions."""
    rnd = random.Random(seed)
    await store.registry.create_feed(FEED, "News")
    current: dict[str, Entry] = {}
    n = 0
    while n < events:
        live = [e for e in current.values() if e.status != "retracted"]
        roll = rnd.random()
        if not live or roll < 0.3:
            data: dict[str, object] = {"headline": f"post {n}", "pinned": rnd.random() < 0.1}
            if rnd.random() < 0.1:
                data["publish_at"] = to_rfc3339(now_ms() + 3_600_000)
            entry, _ = await store.editorial.create_entry(FEED, data, actor="t")
        else:
            target = rnd.choice(live)
            if roll < 0.9:
                change = {"headline": f"edit {n}", "mark_updated": rnd.random() < 0.5}
                if rnd.random() < 0.2:
                    change["pinned"] = not target.pinned
                entry = await store.editorial.edit_entry(
                    FEED, target.id, change, if_match=target.version, actor="t"
                )
            else:
                entry = await store.editorial.retract_entry(
                    FEED, target.id, if_match=None, actor="t"
                )
        current[entry.id] = entry
        n += 1
    return current


async def test_rebuild_from_the_log_equals_the_live_state(store: Stores) -> None:
    current = await busy_feed(store, 150)
    await store.projection.project_pending(FEED)
    before = await materialised(store, FEED)
    assert before["public"] and before["scheduled"]
    await wipe_materialised(store, FEED)
    report = await store.retention.rebuild(FEED)
    assert await materialised(store, FEED) == before
    assert report == {"entries": len(current), "public": len(before["public"])}
    assert await store.retention.replay(FEED) == current


async def test_rebuild_keeps_unprojected_events_pending(store: Stores) -> None:
    await busy_feed(store, 60)
    await store.projection.project_pending(FEED)
    extra, _ = await store.editorial.create_entry(FEED, {"headline": "not yet public"}, actor="t")
    before = await materialised(store, FEED)
    await store.retention.rebuild(FEED)
    assert (
        await materialised(store, FEED) == before
    )  # the public view is not ahead of the live stream
    assert extra.id not in {k.decode() for k in before["public"]}
    await store.projection.project_pending(FEED)
    assert await store.public.public_entry(FEED, extra.id) == extra


async def test_trimming_keeps_the_current_state_of_every_entry(store: Stores) -> None:
    current = await busy_feed(store, 400)
    await store.projection.project_pending(FEED)
    before = await materialised(store, FEED)
    assert store.retention.retention_events == 100
    # Young events are never trimmed, whatever the length.
    assert await store.retention.trim(FEED) == 0
    trimmed = await store.retention.trim(FEED, now=now_ms() + LATER)
    assert trimmed == 300
    assert await store.redis.xlen(keys.log(FEED)) == 100
    assert await store.retention.trim(FEED, now=now_ms() + LATER) == 0
    assert await materialised(store, FEED) == before
    assert await store.retention.replay(FEED) == current
    # ... and a rebuild from checkpoint + log still reproduces everything.
    await wipe_materialised(store, FEED)
    await store.retention.rebuild(FEED)
    assert await materialised(store, FEED) == before
    # History keeps every event, trimmed or not.
    for entry in current.values():
        assert [e.entry.version for e in await store.editorial.history(FEED, entry.id)] == list(
            range(1, entry.version + 1)
        )


async def test_trimming_never_drops_unprojected_events(store: Stores) -> None:
    current = await busy_feed(store, 250)
    assert await store.retention.trim(FEED, now=now_ms() + LATER) == 0  # nothing projected yet
    await store.projection.project_pending(FEED, batch=120)
    assert await store.retention.trim(FEED, now=now_ms() + LATER) == 120
    await store.projection.project_pending(FEED)
    assert await store.retention.trim(FEED, now=now_ms() + LATER) == 30
    assert await store.retention.replay(FEED) == current


async def test_concurrent_trims_lose_nothing(store: Stores) -> None:
    current = await busy_feed(store, 400)
    await store.projection.project_pending(FEED)
    later = now_ms() + LATER
    counts = await asyncio.gather(*(store.retention.trim(FEED, now=later) for _ in range(4)))
    assert sum(counts) + await store.retention.trim(FEED, now=later) == 300
    assert await store.retention.replay(FEED) == current


async def test_rebuild_during_writes_converges(store: Stores) -> None:
    await busy_feed(store, 100)
    await store.projection.project_pending(FEED)

    async def writer() -> None:
        for i in range(40):
            await store.editorial.create_entry(FEED, {"headline": f"during {i}"}, actor="w")
            await store.projection.project_pending(FEED)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(writer())
        tg.create_task(store.retention.rebuild(FEED))
        tg.create_task(store.retention.rebuild(FEED))
    before = await materialised(store, FEED)
    assert len(before["entries"]) == len(await store.retention.replay(FEED))
    await wipe_materialised(store, FEED)
    await store.retention.rebuild(FEED)
    assert await materialised(store, FEED) == before


async def test_newsfeed_rebuild_command(store: Stores, redis_url: str) -> None:
    current = await busy_feed(store, 80)
    await store.projection.project_pending(FEED)
    before = await materialised(store, FEED)
    await wipe_materialised(store, FEED)
    env = dict(os.environ, REDIS_URL=redis_url, NEWSFEED_SECRET_KEY=SECRET)
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "newsfeed", "rebuild", "--feed", FEED],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=seconds(60),
    )
    assert result.returncode == 0, result.stderr
    public = len(before["public"])
    assert result.stdout.strip() == f"rebuilt {FEED}: {len(current)} entries, {public} public"
    assert await materialised(store, FEED) == before
    missing = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "newsfeed", "rebuild", "--feed", "nosuchfeed"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=seconds(60),
    )
    assert missing.returncode != 0 and "nosuchfeed" in missing.stderr
