"""GET /feeds/{feed}.atom|.rss|.json: from the workers' cache, with HTTP caching."""

from __future__ import annotations

import asyncio
import time

import feedparser
import httpx
import orjson

from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds

API = "/api/v1/feeds/news"


async def _wait_for(client: httpx.AsyncClient, path: str, text: str, present: bool = True) -> str:
    deadline = time.monotonic() + seconds(15)
    while True:
        r = await client.get(path)
        assert r.status_code == 200
        if (text in r.text) == present:
            return r.text
        assert time.monotonic() < deadline, f"{path}: {text!r} present={not present}"
        await asyncio.sleep(0.1)


async def test_documents_follow_publish_edit_retract(store: Stores, services: Services) -> None:
    token = await make_feed(store, "news")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=services.base_url, timeout=10) as c:
        r = await c.post(
            f"{API}/entries",
            json={"headline": "Talks in Istanbul", "body": "<p>x</p>"},
            headers=auth,
        )
        assert r.status_code == 201
        e1 = r.json()
        r = await c.post(f"{API}/entries", json={"headline": "Second & <b>bold</b>"}, headers=auth)
        e2 = r.json()

        atom = await _wait_for(c, "/feeds/news.atom", "Second &amp;")
        parsed = feedparser.parse(atom)
        assert not parsed.bozo and len(parsed.entries) == 2
        assert parsed.entries[0].title == "Second & <b>bold</b>"

        r = await c.patch(
            f"{API}/entries/{e1['id']}",
            json={"headline": "Talks resume", "mark_updated": True},
            headers={**auth, "If-Match": '"1"'},
        )
        assert r.status_code == 200
        rss = await _wait_for(c, "/feeds/news.rss", "Talks resume")
        parsed = feedparser.parse(rss)
        assert not parsed.bozo and parsed.feed.title == "News"
        assert {e.title for e in parsed.entries} == {"Talks resume", "Second & <b>bold</b>"}
        doc = orjson.loads(await _wait_for(c, "/feeds/news.json", "Talks resume"))
        edited = next(i for i in doc["items"] if i["title"] == "Talks resume")
        assert edited["date_modified"] > edited["date_published"]

        r = await c.delete(f"{API}/entries/{e2['id']}", headers=auth)
        assert r.status_code == 200
        for path in ("/feeds/news.atom", "/feeds/news.rss", "/feeds/news.json"):
            await _wait_for(c, path, "Second", present=False)

        # A new feed title reaches the documents too (no entry changed).
        await store.registry.update_feed("news", title="Ukraine live", timezone=None)
        for path in ("/feeds/news.atom", "/feeds/news.rss", "/feeds/news.json"):
            await _wait_for(c, path, "Ukraine live")


async def test_http_caching_headers_and_304(store: Stores, services: Services) -> None:
    await make_feed(store, "news")
    async with httpx.AsyncClient(base_url=services.base_url, timeout=10) as c:
        for path, ctype in (
            ("/feeds/news.atom", "application/atom+xml"),
            ("/feeds/news.rss", "application/rss+xml"),
            ("/feeds/news.json", "application/feed+json"),
        ):
            r = await c.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith(ctype)
            assert r.headers["access-control-allow-origin"] == "*"
            assert "max-age" in r.headers["cache-control"]
            etag, modified = r.headers["etag"], r.headers["last-modified"]
            again = await c.get(path, headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == etag
            since = await c.get(path, headers={"If-Modified-Since": modified})
            assert since.status_code == 304
            other = await c.get(path, headers={"If-None-Match": '"nope"'})
            assert other.status_code == 200 and other.content == r.content
        r = await c.get("/feeds/missing.atom")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
