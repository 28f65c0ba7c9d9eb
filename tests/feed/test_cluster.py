"""newsfeed on a real 3-master Redis Cluster, whatever NEWSFEED_TEST_CLUSTER says.

The configuration (a ``redis+cluster://`` seed list plus a queue URL), a
feed's keys in one slot, the wake-up hints spread over the masters, feed
creation that is safe to crash in and to race, and readiness that means
"the cluster can serve".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from feed import keys, readiness
from feed.cluster import ClusterURL, parse_info, serving_problem
from feed.errors import ConfigError, Conflict, NotFound
from feed.redis_io import Client, connect, wake_shards
from feed.settings import Settings
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port
from tests.cluster import TestCluster

SECRET = "x" * 32


@pytest.fixture(scope="module")
def cluster() -> Iterator[TestCluster]:
    with TestCluster().running() as c:
        yield c


@pytest.fixture
async def cstore(cluster: TestCluster) -> AsyncIterator[Stores]:
    cluster.flushall()
    redis = connect(cluster.url)
    try:
        yield Stores.build(redis)
    finally:
        await redis.aclose()


def test_a_cluster_url_is_a_seed_list() -> None:
    url = ClusterURL.parse("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002/")
    assert url.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002))
    assert (url.username, url.password, url.tls) == ("u", "p@ss", False)
    assert ClusterURL.parse("rediss+cluster://h").nodes == (("h", 6379),)
    assert ClusterURL.parse("rediss+cluster://h").tls
    for bad in ("redis+cluster://", "redis+cluster://h:port", "redis+cluster://h:70000"):
        with pytest.raises(ConfigError):
            ClusterURL.parse(bad)


def test_a_cluster_needs_a_queue_redis_of_its_own() -> None:
    env = {"REDIS_URL": "redis+cluster://a:7000,b:7001", "NEWSFEED_SECRET_KEY": SECRET}
    with pytest.raises(ConfigError, match="NEWSFEED_QUEUE_URL"):
        Settings.from_env(env)
    with pytest.raises(ConfigError, match="NEWSFEED_QUEUE_URL"):
        Settings.from_env({**env, "NEWSFEED_QUEUE_URL": "redis+cluster://a:7000"})
    settings = Settings.from_env({**env, "NEWSFEED_QUEUE_URL": "redis://q:6379/0"})
    assert settings.clustered and settings.queue_redis_url() == "redis://q:6379/0"
    single = Settings.from_env({"REDIS_URL": "redis://r:6379/0", "NEWSFEED_SECRET_KEY": SECRET})
    assert not single.clustered and single.queue_redis_url() == "redis://r:6379/0"


def test_cluster_info_is_read_strictly() -> None:
    ok = {"cluster_state": "ok", "cluster_slots_assigned": "16384", "cluster_slots_fail": "0"}
    assert serving_problem(ok) is None
    assert "fail" in (serving_problem({**ok, "cluster_state": "fail"}) or "")
    assert "not assigned" in (serving_problem({**ok, "cluster_slots_assigned": "16000"}) or "")
    assert "failing" in (serving_problem({**ok, "cluster_slots_pfail": "5"}) or "")
    assert parse_info(b"cluster_state:ok\r\ncluster_slots_assigned:16384\r\n") == {
        "cluster_state": "ok",
        "cluster_slots_assigned": "16384",
    }


async def test_every_key_of_a_feed_is_in_its_slot_and_the_hints_spread(
    cstore: Stores,
) -> None:
    assert isinstance(cstore.redis, aioredis.RedisCluster)
    await cstore.registry.create_feed("war", "War")
    await cstore.editorial.create_entry("war", {"headline": "h"}, actor="t", idempotency_key="k1")
    await cstore.projection.project_pending("war")
    await cstore.retention.rebuild("war")
    slot = key_slot(keys.log("war").encode())
    feed_keys = [
        k
        for node in cstore.redis.get_primaries()
        for k in await cstore.redis.keys("nf:{war}:*", target_nodes=node)
    ]
    assert len(feed_keys) >= 8
    assert {key_slot(k) for k in feed_keys} == {slot}
    # The wake-up hint went to the feed's own shard.
    shards = wake_shards(cstore.redis)
    assert shards == keys.WAKE_SHARDS
    hint = keys.wake(keys.wake_shard("war", shards))
    assert await cstore.redis.xlen(hint) == 1
    # The shards are spread over every master, not one hot slot.
    owners = {cstore.redis.get_node_from_key(k).name for k in keys.wake_keys(shards)}
    assert len(owners) == 3


async def test_feed_creation_survives_a_crash_between_its_two_steps(cstore: Stores) -> None:
    # The registry step happened, the process died before the feed's own keys.
    await cstore.redis.sadd(keys.FEEDS, "half")
    await cstore.registry.create_feed("whole", "Whole")
    assert [m.slug for m in await cstore.registry.describe_feeds()] == ["whole"]
    with pytest.raises(NotFound):
        await cstore.registry.get_feed("half")
    # Creating it again completes it; a third time is a conflict.
    meta = await cstore.registry.create_feed("half", "Half", "Europe/Kyiv")
    assert (await cstore.registry.get_feed("half")) == meta
    assert await cstore.redis.get(keys.epoch("half"))
    with pytest.raises(Conflict):
        await cstore.registry.create_feed("half", "Again")
    assert [m.slug for m in await cstore.registry.describe_feeds()] == ["half", "whole"]


async def test_of_concurrent_creations_of_one_feed_exactly_one_wins(cstore: Stores) -> None:
    for round_ in range(5):
        slug = f"race-{round_}"
        # A half-created feed makes the race harder: every creator may complete it.
        if round_ % 2:
            await cstore.redis.sadd(keys.FEEDS, slug)
        results = await asyncio.gather(
            *(cstore.registry.create_feed(slug, f"T{i}") for i in range(6)),
            return_exceptions=True,
        )
        won = [r for r in results if not isinstance(r, BaseException)]
        assert len(won) == 1, results
        assert all(isinstance(r, Conflict) for r in results if r not in won)
        assert (await cstore.registry.get_feed(slug)).title == won[0].title


async def test_ready_means_every_slot_served_and_the_queue_reachable(
    cluster: TestCluster, cstore: Stores
) -> None:
    queue = EmbeddedRedis(None, port=free_port())
    with queue.running():
        qclient = connect(queue.url)
        try:
            assert await readiness.problem(cstore.redis, qclient) is None
            # One slot unassigned on its master: the cluster cannot serve it.
            slot = key_slot(b"nf:{readiness}:log")
            owner = cluster.owner(slot)
            with contextlib.closing(cluster.client(owner)) as c:
                c.execute_command("CLUSTER", "DELSLOTS", slot)
            try:
                why = await readiness.problem(cstore.redis, qclient)
                assert why is not None and "slot" in why
            finally:
                with contextlib.closing(cluster.client(owner)) as c:
                    c.execute_command("CLUSTER", "ADDSLOTS", slot)
            assert await _eventually_ready(cstore, qclient)
        finally:
            await qclient.aclose()
    # The queue's server is gone.
    qclient = connect(queue.url, socket_connect_timeout=1)
    try:
        why = await readiness.problem(cstore.redis, qclient)
        assert why is not None and "queue" in why
    finally:
        await qclient.aclose()


async def _eventually_ready(store: Stores, queue: Client) -> bool:
    for _ in range(100):
        if await readiness.problem(store.redis, queue) is None:
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.parametrize("where", ["rig", "cluster"])
async def test_a_hint_that_cannot_be_written_does_not_fail_an_applied_write(
    where: str, store: Stores, cstore: Stores
) -> None:
    s = store if where == "rig" else cstore
    await s.registry.create_feed("hinted", "Hinted")
    # The feed's wake-up stream is something else: XADD fails (WRONGTYPE).
    hint = keys.wake(keys.wake_shard("hinted", wake_shards(s.redis)))
    await s.redis.set(hint, "not a stream")
    entry, created = await s.editorial.create_entry("hinted", {"headline": "h"}, actor="t")
    assert created
    assert await s.editorial.get_entry("hinted", entry.id) == entry
    assert await s.redis.xlen(keys.log("hinted")) == 1
    assert await s.redis.get(hint) == b"not a stream"
