"""API limits across two real web processes sharing one Redis: per token and
per client address, for writes, public reads and live connections; a 429 is
problem+json with Retry-After and changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from feed import keys
from feed.ratelimit import client_key, parse_rates
from feed.stores import Stores
from tests.conftest import Proc, Services, make_feed, start_web
from web.limits import forwarded_client

LIMITS = {
    "NEWSFEED_RATE_LIMITS": "on",
    "NEWSFEED_LIMIT_WRITES_PER_TOKEN": "4/minute",
    "NEWSFEED_LIMIT_WRITES_PER_CLIENT": "1000/minute",
    "NEWSFEED_LIMIT_READS_PER_CLIENT": "6/minute",
    "NEWSFEED_LIMIT_LIVE_PER_CLIENT": "3/minute",
}


@pytest.fixture
def two_webs(services: Services, tmp_path: Path) -> Iterator[list[str]]:
    procs: list[Proc] = []
    bases: list[str] = []
    try:
        for _ in range(2):
            proc, base = start_web(services.redis_url, tmp_path, None, **LIMITS)
            procs.append(proc)
            bases.append(base)
        yield bases
    finally:
        for proc in procs:
            proc.stop()


def assert_429(r: httpx.Response) -> int:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/problem+json"
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 60
    body = r.json()
    assert body["status"] == 429 and body["retry_after"] == retry
    return retry


async def test_writes_per_token_are_limited_across_processes(
    store: Stores, two_webs: list[str]
) -> None:
    token = await make_feed(store, "limits-writes")
    other = await make_feed(store, "limits-other")
    path = "/api/v1/feeds/limits-writes/entries"
    async with httpx.AsyncClient(timeout=10) as c:
        statuses = []
        for i in range(4):
            base = two_webs[i % 2]
            r = await c.post(
                base + path,
                json={"headline": f"n{i}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            statuses.append(r.status_code)
        assert statuses == [201] * 4
        for base in two_webs:
            r = await c.post(
                base + path, json={"headline": "over"}, headers={"Authorization": f"Bearer {token}"}
            )
            assert_429(r)
        # Nothing was written by the refused requests.
        assert await store.redis.xlen(keys.log("limits-writes")) == 4
        # Another token (another partner) is not affected.
        r = await c.post(
            two_webs[1] + "/api/v1/feeds/limits-other/entries",
            json={"headline": "mine"},
            headers={"Authorization": f"Bearer {other}"},
        )
        assert r.status_code == 201, r.text


async def test_public_reads_per_client_are_limited_across_processes(
    store: Stores, two_webs: list[str]
) -> None:
    await make_feed(store, "limits-reads")
    # Each test counts under its own (forwarded) client address.
    me = {"X-Forwarded-For": "203.0.113.7"}
    async with httpx.AsyncClient(timeout=10) as c:
        for i in range(6):
            r = await c.get(two_webs[i % 2] + "/feeds/limits-reads", headers=me)
            assert r.status_code == 200, (i, r.text)
        assert_429(await c.get(two_webs[0] + "/feeds/limits-reads.atom", headers=me))
        assert_429(await c.get(two_webs[1] + "/api/v1/feeds/limits-reads/entries", headers=me))
        # Health and readiness are never limited; another client is not affected.
        assert (await c.get(two_webs[0] + "/readyz", headers=me)).status_code == 200
        r = await c.get(
            two_webs[1] + "/feeds/limits-reads", headers={"X-Forwarded-For": "203.0.113.8"}
        )
        assert r.status_code == 200


async def test_live_connections_per_client_are_limited_across_processes(
    store: Stores, two_webs: list[str]
) -> None:
    await make_feed(store, "limits-live")
    me = {"X-Forwarded-For": "198.51.100.9", "Accept": "text/event-stream"}
    path = "/api/v1/feeds/limits-live/sse"

    async def opens(base: str) -> int:
        async with (
            httpx.AsyncClient(timeout=10) as c,
            c.stream("GET", base + path, headers=me) as r,
        ):
            if r.status_code == 429:
                await r.aread()
                assert_429(r)
            return r.status_code

    statuses = [await opens(two_webs[i % 2]) for i in range(3)]
    assert statuses == [200] * 3
    assert await opens(two_webs[0]) == 429
    assert await opens(two_webs[1]) == 429
    other = {"X-Forwarded-For": "198.51.100.10", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(timeout=10) as c,
        c.stream("GET", two_webs[1] + path, headers=other) as r,
    ):
        assert r.status_code == 200
    await asyncio.sleep(0)


def test_budgets_parse_and_client_keys() -> None:
    assert [str(i) for i in parse_rates("X", "10/second;600/minute")] == [
        "10 per 1 second",
        "600 per 1 minute",
    ]
    assert parse_rates("X", "off") == []
    with pytest.raises(Exception, match="not a rate"):
        parse_rates("NEWSFEED_LIMIT_READS_PER_CLIENT", "lots")
    assert client_key("2001:db8:1:2:3:4:5:6") == client_key("2001:db8:1:2:ffff::1")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"


def test_the_live_client_is_the_proxy_hop_only_from_a_trusted_proxy() -> None:
    assert forwarded_client("127.0.0.1", "203.0.113.5", "127.0.0.1") == "203.0.113.5"
    assert forwarded_client("10.0.0.7", "198.51.100.1, 203.0.113.5", "*") == "203.0.113.5"
    # An untrusted peer's header is ignored (anyone can send one).
    assert forwarded_client("192.0.2.9", "203.0.113.5", "127.0.0.1") == "192.0.2.9"
    assert forwarded_client("127.0.0.1", "", "127.0.0.1") == "127.0.0.1"
    assert forwarded_client("10.0.0.7", "203.0.113.5", "10.0.0.6, 10.0.0.7") == "203.0.113.5"
