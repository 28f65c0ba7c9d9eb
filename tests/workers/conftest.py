"""Rig for the worker tests: a private valkey per module, real worker processes.

The session ``services`` worker runs against the session server; these
tests run their own workers against a server of their own, so a SIGKILLed
worker's work can only have been taken over by the worker the test started.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from feed import keys
from feed.model import Event, project
from feed.redis_io import connect
from feed.stores import Stores
from tests.conftest import CLUSTER, Proc, TestRedis, seconds, start_worker
from tests.workers.embed_rig import desk, provider, rig  # noqa: F401 - the embed tests' fixtures

FAST_WEBHOOKS = {
    "NEWSFEED_WEBHOOK_MAX_AGE_SECONDS": "3",
    "NEWSFEED_WEBHOOK_BASE_DELAY_SECONDS": "0.1",
    "NEWSFEED_WEBHOOK_MAX_DELAY_SECONDS": "0.5",
    "NEWSFEED_WEBHOOK_TIMEOUT_SECONDS": "2",
    "NEWSFEED_WEBHOOK_ALLOW_PRIVATE": "1",  # the test receiver is on 127.0.0.1
}


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRedis]:
    """This module's own Redis (a cluster and a queue server under NEWSFEED_TEST_CLUSTER=1)."""
    with TestRedis(CLUSTER, tmp_path_factory.mktemp("valkey")).running() as server:
        yield server


@pytest.fixture
def purl(private_server: TestRedis) -> str:
    private_server.flushall()
    return private_server.url


@pytest.fixture
def pqueue_url(private_server: TestRedis, purl: str) -> str:
    """The Redis of arq's queue for the private rig."""
    return private_server.queue_url or purl


@pytest.fixture
async def pqueue(pqueue_url: str) -> AsyncIterator[Any]:
    client = redis.asyncio.Redis.from_url(pqueue_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def pstore(purl: str) -> AsyncIterator[Stores]:
    redis = connect(purl)
    try:
        yield Stores.build(redis)
    finally:
        await redis.aclose()


class Workers:
    """Worker processes a test starts; all stopped at the end, by pid."""

    def __init__(self, url: str, tmp: Path, queue_url: str) -> None:
        self.url = url
        self.queue_url = queue_url
        self.tmp = tmp
        self.procs: list[Proc] = []

    def start(self, **env: str) -> Proc:
        env = {"NEWSFEED_QUEUE_URL": self.queue_url, **env}
        proc = start_worker(self.url, self.tmp, f"worker-{len(self.procs)}", **env)
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.log.read_text() for p in self.procs if p.log.exists())


@pytest.fixture
def workers(purl: str, pqueue_url: str, tmp_path: Path) -> Iterator[Workers]:
    ws = Workers(purl, tmp_path, pqueue_url)
    try:
        yield ws
    finally:
        for proc in ws.procs:
            proc.stop()


async def log_events(store: Stores, feed: str) -> list[tuple[str, Event]]:
    rows = await store.redis.xrange(keys.log(feed), "-", "+")
    return [(sid.decode(), Event.loads(f[b"ev"])) for sid, f in rows]


async def live_ops(store: Stores, feed: str) -> list[tuple[str, str, int]]:
    """The public live stream as (type, entry id, version), in stream order."""
    rows = await store.redis.xrange(keys.live(feed), "-", "+")
    return [(f[b"t"].decode(), f[b"i"].decode(), int(f[b"v"])) for _, f in rows]


async def expected_ops(store: Stores, feed: str) -> list[tuple[str, str, int]]:
    """What the live stream must be: the whole log projected from scratch."""
    events = [e for _, e in await log_events(store, feed)]
    return [(op.type, op.entry_id, op.version) for op in project({}, events)]


async def caught_up(store: Stores, feed: str, within: float = 30) -> None:
    """Wait until the public view has projected the whole editorial log."""
    deadline = time.monotonic() + seconds(within)
    while True:
        last = await store.redis.xrevrange(keys.log(feed), count=1)
        pos = await store.redis.get(keys.public_pos(feed))
        if last and pos == last[0][0]:
            return
        assert time.monotonic() < deadline, f"not caught up: log {last!r}, public at {pos!r}"
        await asyncio.sleep(0.05)


async def eventually(check: object, within: float = 20, what: str = "") -> None:
    """Poll an async predicate until it is true."""
    deadline = time.monotonic() + seconds(within)
    while True:
        if await check():  # type: ignore[operator]
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.05)
