"""Scheduled entries after a worker outage; Redis connections dropped or the
server restarted (AOF on): the worker carries on where it was."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from feed import keys
from feed.model import now_ms, to_rfc3339
from feed.redis_io import connect, is_cluster
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port
from tests.conftest import make_feed, seconds
from tests.workers.conftest import Workers, caught_up, eventually, expected_ops, live_ops


async def test_a_scheduled_entry_is_published_after_every_worker_was_down(
    pstore: Stores, workers: Workers
) -> None:
    await make_feed(pstore, "news")
    first = workers.start()
    publish_at = now_ms() + int(seconds(2) * 1000)
    entry, _ = await pstore.editorial.create_entry(
        "news", {"headline": "Embargoed", "publish_at": to_rfc3339(publish_at)}, actor="t"
    )
    assert entry.status == "scheduled"
    first.stop()  # every worker down before the time comes
    await asyncio.sleep(max(0, publish_at + 500 - now_ms()) / 1000)
    page = await pstore.public.read_timeline("news", limit=10)
    assert page.entries == [], "nobody could have published it"
    workers.start()

    async def published() -> bool:
        return bool((await pstore.public.read_timeline("news", limit=10)).entries)

    await eventually(published, what="the scheduled entry to be published")
    (public,) = (await pstore.public.read_timeline("news", limit=10)).entries
    assert public.id == entry.id and public.status == "published"
    assert public.published_at == publish_at  # its scheduled time, not the restart's
    assert await live_ops(pstore, "news") == [("publish", entry.id, 2)]


async def test_a_scheduled_entry_is_published_on_time_by_a_running_worker(
    pstore: Stores, workers: Workers
) -> None:
    await make_feed(pstore, "news")
    workers.start()
    publish_at = now_ms() + int(seconds(1.5) * 1000)
    await pstore.editorial.create_entry(
        "news", {"headline": "Soon", "publish_at": to_rfc3339(publish_at)}, actor="t"
    )

    async def published() -> bool:
        return bool((await pstore.public.read_timeline("news", limit=10)).entries)

    await eventually(published, what="the scheduled entry")
    rows = await pstore.redis.xrange(keys.live("news"), "-", "+")
    appended_ms = int(rows[0][0].split(b"-")[0])
    # Not before its time (how late is for bench/, not for a test).
    assert appended_ms >= publish_at


async def _publish(store: Stores, n: int, tag: str) -> None:
    for i in range(n):
        await store.editorial.create_entry("news", {"headline": f"{tag} {i}"}, actor="t")


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed")


async def test_killed_connections_and_metrics(pstore: Stores, workers: Workers) -> None:
    await make_feed(pstore, "news")
    port = free_port()
    workers.start(NEWSFEED_WORKER_METRICS_PORT=str(port))
    await _publish(pstore, 20, "before")
    await caught_up(pstore, "news")
    # Drop every connection but ours (the worker's blocking XREAD included).
    kill = ("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    if is_cluster(pstore.redis):  # on every master
        nodes = pstore.redis.get_primaries()
        killed = sum([await pstore.redis.execute_command(*kill, target_nodes=n) for n in nodes])
    else:
        killed = await pstore.redis.execute_command(*kill)
    assert killed >= 2
    await _publish(pstore, 20, "after")
    await caught_up(pstore, "news")
    assert await live_ops(pstore, "news") == await expected_ops(pstore, "news")
    async with httpx.AsyncClient(timeout=5) as client:

        async def exposed() -> bool:
            try:
                r = await client.get(f"http://127.0.0.1:{port}/metrics")
            except httpx.TransportError:
                return False
            return 'newsfeed_pending_events{feed="news"} 0.0' in r.text

        await eventually(exposed, what="the worker's metrics (no pending events)")
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    assert _metric(text, "newsfeed_events_projected_total") == 40
    assert _metric(text, "newsfeed_fanout_lag_seconds_count") == 40
    assert _metric(text, 'newsfeed_webhook_dead_letters{feed="news"}') == 0
    assert _metric(text, "newsfeed_queued_jobs") == 0


async def test_the_worker_survives_a_redis_restart(workers: Workers, tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "aof", port=free_port())
    server.start()
    try:
        workers.url = server.url
        redis = connect(server.url)
        store = Stores.build(redis)
        try:
            await make_feed(store, "news")
            workers.start()
            await _publish(store, 30, "before")
            await caught_up(store, "news")
            server.stop()  # SIGTERM: the AOF is flushed
            await asyncio.sleep(seconds(1.5))
            server.start()
            await _publish(store, 30, "after")
            await caught_up(store, "news")
            assert await live_ops(store, "news") == await expected_ops(store, "news")
            assert len(await live_ops(store, "news")) == 60
            assert "redis unavailable" in workers.logs()  # it did see the outage
        finally:
            await redis.aclose()
    finally:
        for proc in workers.procs:
            proc.stop()
        workers.procs.clear()
        server.stop()
