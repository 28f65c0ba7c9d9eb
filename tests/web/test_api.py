"""The publishing and public read API over real HTTP (real web + worker processes)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from feed import keys
from feed.model import now_ms, to_rfc3339
from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds
from web.api import MAX_BODY

FEED = "news"
ENTRIES = f"/api/v1/feeds/{FEED}/entries"
PROBLEM = "application/problem+json"


@pytest.fixture
async def token(store: Stores) -> str:
    return await make_feed(store, FEED)


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=services.base_url, timeout=seconds(20)) as c:
        yield c


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def problem(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body.get("field") == field, body
    return body


async def log_len(store: Stores) -> int:
    return int(await store.redis.xlen(keys.log(FEED)))


async def eventually(check: Any, within: float = 15) -> Any:
    """Poll ``check()`` (async) until it returns a truthy value."""
    deadline = time.monotonic() + seconds(within)
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("the worker did not get there in time")
        await asyncio.sleep(0.05)


async def public(client: httpx.AsyncClient, entry_id: str, version: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await client.get(f"{ENTRIES}/{entry_id}")
        if r.status_code == 200 and r.json()["version"] >= version:
            out: dict[str, Any] = r.json()
            return out
        return None

    result: dict[str, Any] = await eventually(check)
    return result


# -- publishing ------------------------------------------------------------------
async def test_post_returns_201_with_location_and_etag(
    client: httpx.AsyncClient, token: str, store: Stores
) -> None:
    r = await client.post(
        ENTRIES,
        json={"headline": "5:44 PM — Trump calls Putin", "body": "<p>After talks.</p>"},
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    assert r.headers["location"] == f"{ENTRIES}/{entry['id']}"
    assert re.fullmatch(r'"1\.[0-9a-f]{16}"', r.headers["etag"]), r.headers["etag"]
    assert r.headers["content-type"] == "application/json"
    assert set(entry) == {
        "id",
        "feed",
        "version",
        "headline",
        "body",
        "url",
        "published_at",
        "updated_at",
        "status",
        "pinned",
        "key_event",
        "key_label",
        "corrected_at",
        "correction_note",
        "authors",
        "photo",
        "embed",
    }
    assert (entry["feed"], entry["version"], entry["status"]) == (FEED, 1, "published")
    assert entry["headline"] == "5:44 PM — Trump calls Putin" and entry["updated_at"] is None
    assert entry["published_at"].endswith("Z")
    seen = await public(client, entry["id"], 1)
    assert seen == entry
    assert (await store.editorial.get_entry(FEED, entry["id"])).to_json() == entry


async def test_idempotent_retries_over_http(
    client: httpx.AsyncClient, token: str, store: Stores
) -> None:
    body = {"headline": "Only once"}
    headers = auth(token, **{"Idempotency-Key": "cms-42"})
    first = await client.post(ENTRIES, json=body, headers=headers)
    retries = await asyncio.gather(
        *(client.post(ENTRIES, json=body, headers=headers) for _ in range(5))
    )
    assert first.status_code == 201
    for r in retries:
        assert r.status_code == 201 and r.json() == first.json()
        assert r.headers["idempotent-replayed"] == "true"
        assert r.headers["location"] == first.headers["location"]
    assert await log_len(store) == 1
    other = await client.post(ENTRIES, json={"headline": "Different"}, headers=headers)
    problem(other, 422, "Idempotency-Key")
    assert await log_len(store) == 1


async def test_edit_needs_a_current_if_match(
    client: httpx.AsyncClient, token: str, store: Stores
) -> None:
    entry = (await client.post(ENTRIES, json={"headline": "typo hre"}, headers=auth(token))).json()
    url = f"{ENTRIES}/{entry['id']}"
    problem(await client.patch(url, json={"headline": "x"}, headers=auth(token)), 428, "If-Match")
    for bad in ("1", "*", '"one"', '"1", "2"', "W/", '"1.xyz"', '"1.0123456789abcdef0"'):
        r = await client.patch(
            url, json={"headline": "x"}, headers=auth(token, **{"If-Match": bad})
        )
        problem(r, 422, "If-Match")
    r = await client.patch(
        url, json={"headline": "typo here"}, headers=auth(token, **{"If-Match": '"1"'})
    )
    assert r.status_code == 200, r.text
    etag2 = r.headers["etag"]
    assert re.fullmatch(r'"2\.[0-9a-f]{16}"', etag2), etag2
    fixed = r.json()
    assert fixed["version"] == 2 and fixed["updated_at"] is None
    length = await log_len(store)
    stale = await client.patch(
        url, json={"headline": "overwrite"}, headers=auth(token, **{"If-Match": '"1"'})
    )
    body = problem(stale, 412, "If-Match")
    assert body["current_version"] == 2 and stale.headers["etag"] == etag2
    # The right number with another content's digest (a version lost and
    # handed out again): 412, nothing written.
    other = etag2[:-2] + ("0" if etag2[-2] != "0" else "1") + '"'
    wrong = await client.patch(
        url, json={"headline": "overwrite"}, headers=auth(token, **{"If-Match": other})
    )
    assert "restored" in problem(wrong, 412, "If-Match")["detail"]
    assert wrong.headers["etag"] == etag2
    assert await log_len(store) == length
    assert (await store.editorial.get_entry(FEED, entry["id"])).to_json() == fixed
    r = await client.patch(
        url,
        json={"body": "<p>Update: the call lasted an hour.</p>", "mark_updated": True},
        headers=auth(token, **{"If-Match": etag2}),
    )
    assert r.status_code == 200 and r.json()["updated_at"] is not None
    assert (await public(client, entry["id"], 3))["updated_at"] == r.json()["updated_at"]
    missing = await client.patch(
        f"{ENTRIES}/nosuchentry", json={"headline": "x"}, headers=auth(token, **{"If-Match": '"1"'})
    )
    problem(missing, 404)


async def test_retraction_over_http_404_and_410(
    client: httpx.AsyncClient, token: str, store: Stores
) -> None:
    entry = (await client.post(ENTRIES, json={"headline": "wrong"}, headers=auth(token))).json()
    url = f"{ENTRIES}/{entry['id']}"
    await public(client, entry["id"], 1)
    history = await client.get(f"{url}/history")
    assert history.status_code == 200 and [v["version"] for v in history.json()["versions"]] == [1]
    problem(await client.delete(url, headers=auth(token, **{"If-Match": '"7"'})), 412, "If-Match")
    r = await client.delete(url, headers=auth(token, **{"If-Match": '"1"'}))
    assert r.status_code == 200 and r.json()["status"] == "retracted"
    assert r.headers["etag"].startswith('"2.')
    again = await client.delete(url, headers=auth(token))
    assert again.status_code == 200 and again.json() == r.json()
    assert await log_len(store) == 2

    async def gone() -> bool:
        return (await client.get(url)).status_code == 410

    await eventually(gone)
    problem(await client.get(url), 410)
    problem(await client.get(f"{url}/history"), 410)
    problem(await client.get(f"{ENTRIES}/nosuchentry"), 404)
    problem(await client.get("/api/v1/feeds/nosuchfeed/entries"), 404)
    # A scheduled entry, even once retracted, was never public: 404, not 410.
    later = to_rfc3339(now_ms() + 3_600_000)
    s = (
        await client.post(
            ENTRIES, json={"headline": "embargo", "publish_at": later}, headers=auth(token)
        )
    ).json()
    assert s["status"] == "scheduled"
    problem(await client.get(f"{ENTRIES}/{s['id']}"), 404)
    await client.delete(f"{ENTRIES}/{s['id']}", headers=auth(token))
    problem(await client.get(f"{ENTRIES}/{s['id']}"), 404)


# -- rejections: problem+json naming the field, nothing written -------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "headline"),
        ({"headline": ""}, "headline"),
        ({"headline": "x" * 301}, "headline"),
        ({"headline": 5}, "headline"),
        ({"headline": "h", "url": "javascript:alert(1)"}, "url"),
        ({"headline": "h", "url": "ftp://e.org/"}, "url"),
        ({"headline": "h", "body": 3}, "body"),
        ({"headline": "h", "pinned": "yes"}, "pinned"),
        ({"headline": "h", "published_at": "yesterday"}, "published_at"),
        ({"headline": "h", "published_at": "2001-01-01T00:00:00Z"}, "published_at"),
        ({"headline": "h", "publish_at": "2999-01-01T00:00:00Z"}, "publish_at"),
        ({"headline": "h", "status": "retracted"}, "status"),
        ({"headline": "h", "id": "mine"}, "id"),
        ({"headline": "h", "extra": True}, "extra"),
        (["headline"], "body"),
        ("headline", "body"),
    ],
)
async def test_invalid_entries_are_422_and_write_nothing(
    client: httpx.AsyncClient, token: str, store: Stores, body: Any, field: str
) -> None:
    problem(await client.post(ENTRIES, json=body, headers=auth(token)), 422, field)
    assert await log_len(store) == 0


async def test_bad_requests_write_nothing(
    client: httpx.AsyncClient, token: str, store: Stores
) -> None:
    data = orjson.dumps({"headline": "h"})
    r = await client.post(
        ENTRIES, content=data, headers=auth(token, **{"Content-Type": "text/plain"})
    )
    problem(r, 415, "Content-Type")
    r = await client.post(ENTRIES, content=data, headers=auth(token))  # no content type
    problem(r, 415, "Content-Type")
    r = await client.post(
        ENTRIES, content=b"{not json", headers=auth(token, **{"Content-Type": "application/json"})
    )
    problem(r, 422, "body")
    huge = orjson.dumps({"headline": "h", "body": "x" * MAX_BODY})
    problem(
        await client.post(
            ENTRIES, content=huge, headers=auth(token, **{"Content-Type": "application/json"})
        ),
        413,
        "body",
    )

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for i in range(0, len(huge), 8192):
            yield huge[i : i + 8192]

    r = await client.post(
        ENTRIES, content=chunks(), headers=auth(token, **{"Content-Type": "application/json"})
    )
    problem(r, 413, "body")
    r = await client.post(
        ENTRIES, json={"headline": "h"}, headers=auth(token, **{"Idempotency-Key": "has space"})
    )
    problem(r, 422, "Idempotency-Key")
    assert await log_len(store) == 0


async def test_tokens_401_and_403(client: httpx.AsyncClient, token: str, store: Stores) -> None:
    other = await make_feed(store, "sport")
    body = {"headline": "h"}
    for headers in ({}, {"Authorization": "Bearer nft_nope"}, {"Authorization": f"Basic {token}"}):
        r = await client.post(ENTRIES, json=body, headers=headers)
        problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")
    problem(await client.post(ENTRIES, json=body, headers=auth(other)), 403)
    entry = (await client.post(ENTRIES, json=body, headers=auth(token))).json()
    url = f"{ENTRIES}/{entry['id']}"
    foreign = auth(other, **{"If-Match": '"1"'})
    problem(await client.patch(url, json={"headline": "x"}, headers=foreign), 403)
    problem(await client.delete(url, headers=foreign), 403)
    problem(await client.delete(url), 401)
    assert await log_len(store) == 1


async def test_public_reads_are_cors_open_and_cacheable(
    client: httpx.AsyncClient, token: str
) -> None:
    entry = (await client.post(ENTRIES, json={"headline": "h"}, headers=auth(token))).json()
    await public(client, entry["id"], 1)
    r = await client.get(ENTRIES)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "max-age" in r.headers["cache-control"]
    page = r.json()
    assert page["feed"] == FEED and page["next"] is None and page["cursor"].count(".") == 1
    assert [e["id"] for e in page["entries"]] == [entry["id"]]
    cached = await client.get(ENTRIES, headers={"If-None-Match": r.headers["etag"]})
    assert cached.status_code == 304
    for query, field in (("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit")):
        problem(await client.get(f"{ENTRIES}?{query}"), 422, field)
    problem(await client.get(f"{ENTRIES}?before=garbage"), 422, "before")


async def test_ten_thousand_entries_page_back_in_order(
    client: httpx.AsyncClient, token: str, store: Stores
) -> None:
    total = 10_000
    sem = asyncio.Semaphore(32)

    async def create(i: int) -> str:
        async with sem:
            entry, _ = await store.editorial.create_entry(
                FEED, {"headline": f"update {i}", "pinned": i % 1000 == 0}, actor="bulk"
            )
            return entry.id

    ids = await asyncio.gather(*(create(i) for i in range(total)))
    assert len(set(ids)) == total and await log_len(store) == total

    async def projected() -> bool:
        return int(await store.redis.zcard(keys.timeline(FEED))) == total

    await eventually(projected, within=60)
    expected = sorted(
        [await store.editorial.get_entry(FEED, i) for i in ids],
        key=lambda e: (e.pinned, e.published_at, e.id),
        reverse=True,
    )
    seen: list[str] = []
    url = f"{ENTRIES}?limit=100"
    while True:
        r = await client.get(url)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [e["id"] for e in page["entries"]]
        if page["next"] is None:
            break
        url = f"{ENTRIES}?limit=100&before={page['next']}"
    assert len(seen) == total
    assert seen == [e.id for e in expected]
    assert all(e.pinned for e in expected[:10]) and not expected[10].pinned
