"""The operator's kit on a real web process: the OpenAPI document and its
page (checked in Chromium: self-contained), request ids and access logs,
the favicon."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
import yaml

from feed.stores import Stores
from tests.conftest import ROOT, Proc, Services, make_feed, start_web


@pytest.fixture
def logged_web(services: Services, tmp_path: Path) -> Iterator[tuple[Proc, str]]:
    proc, base = start_web(services.redis_url, tmp_path, None, NEWSFEED_LOG_LEVEL="info")
    try:
        yield proc, base
    finally:
        proc.stop()


def test_the_openapi_document_is_served_as_written(services: Services) -> None:
    written = (ROOT / "docs" / "openapi.yaml").read_bytes()
    r = httpx.get(services.base_url + "/openapi.yaml")
    assert r.status_code == 200 and r.content == written
    assert r.headers["content-type"].startswith("application/yaml")
    r = httpx.get(services.base_url + "/openapi.json")
    assert r.status_code == 200 and r.json() == yaml.safe_load(written)


def test_the_api_page_lists_every_operation_and_loads_nothing_else(services: Services) -> None:
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_bytes())
    r = httpx.get(services.base_url + "/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                assert f'id="{op["operationId"]}"' in html, (method, path)
    assert "<script" not in html
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "#")), url
    assert "default-src 'none'" in r.headers["content-security-policy"]


async def test_the_api_page_in_chromium(services: Services, browser: Any) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        requests: list[str] = []
        failures: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        page.on("response", lambda res: failures.append(res.url) if res.status >= 400 else None)
        await page.goto(services.base_url + "/api/docs")
        await page.click("#createEntry > summary")
        assert await page.is_visible("#createEntry table")
        heading = await page.text_content("h1")
        assert heading is not None and "newsfeed" in heading.lower()
        assert failures == []
        assert all(u.startswith(services.base_url) for u in requests), requests
    finally:
        await context.close()


def test_every_response_has_a_request_id_and_an_access_log_line(
    logged_web: tuple[Proc, str],
) -> None:
    proc, base = logged_web
    fresh = httpx.get(base + "/api/v1/feeds/nope/entries")
    rid = fresh.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", rid)
    probe = httpx.get(base + "/healthz")
    assert probe.status_code == 200 and probe.headers["x-request-id"] not in ("", rid)
    mine = httpx.get(base + "/feeds/nope", headers={"X-Request-ID": "edge-42.a:b"})
    assert mine.status_code == 404 and mine.headers["x-request-id"] == "edge-42.a:b"
    evil = httpx.get(base + "/healthz", headers={"X-Request-ID": "x" * 200})
    assert evil.headers["x-request-id"] != "x" * 200
    proc.stop()
    lines = [
        orjson.loads(line) for line in proc.log.read_text().splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line["logger"] == "newsfeed.access"]
    by_id = {line["request_id"]: line for line in access}
    assert by_id[rid]["path"] == "/api/v1/feeds/nope/entries" and by_id[rid]["status"] == 404
    assert probe.headers["x-request-id"] not in by_id  # a healthy probe is not logged at info
    assert by_id["edge-42.a:b"]["status"] == 404 and by_id["edge-42.a:b"]["method"] == "GET"
    assert all("request_id" in line for line in access)


async def test_live_connections_get_a_request_id_and_an_access_log_line(
    logged_web: tuple[Proc, str], store: Stores
) -> None:
    # Live connections are served beside the ASGI app (web.live): they get
    # the same X-Request-ID and one access line each, written when they end.
    proc, base = logged_web
    await make_feed(store, "ops-live")
    ws_url = base.replace("http://", "ws://") + "/api/v1/feeds/ops-live/ws"
    async with websockets.connect(ws_url, additional_headers={"X-Request-ID": "ws-7"}) as ws:
        assert ws.response is not None and ws.response.headers["X-Request-ID"] == "ws-7"
        assert orjson.loads(await ws.recv())["type"] == "snapshot"
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        async with c.stream(
            "GET", "/api/v1/feeds/ops-live/sse", headers={"X-Request-ID": "sse-8"}
        ) as r:
            assert r.status_code == 200 and r.headers["x-request-id"] == "sse-8"
            async for line in r.aiter_lines():
                if line.startswith("event: snapshot"):
                    break
        refused = await c.get("/api/v1/feeds/ops-live/sse?since=garbage")
        assert refused.status_code == 422
        fresh = refused.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{16}", fresh)
    with pytest.raises(websockets.InvalidStatus) as bad:
        async with websockets.connect(ws_url + "?since=garbage"):
            pass
    assert bad.value.response.status_code == 422
    ws_refused = bad.value.response.headers["X-Request-ID"]
    proc.stop()  # every connection's line is written by now
    lines = [
        orjson.loads(line) for line in proc.log.read_text().splitlines() if line.startswith("{")
    ]
    live = {
        line["request_id"]: line
        for line in lines
        if line["logger"] == "newsfeed.access" and line["path"].endswith(("/ws", "/sse"))
    }
    assert live["ws-7"]["path"] == "/api/v1/feeds/ops-live/ws" and live["ws-7"]["status"] == 101
    assert live["sse-8"]["path"] == "/api/v1/feeds/ops-live/sse"
    assert live["sse-8"]["status"] == 200
    assert live[fresh]["status"] == 422 and live[ws_refused]["status"] == 422
    assert all(line["client"] == "127.0.0.1" for line in live.values())
    assert live["ws-7"]["duration_ms"] > 0


async def test_the_favicon_is_an_icon_and_no_page_asks_for_a_missing_one(
    services: Services, store: Stores, browser: Any
) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get(services.base_url + "/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    reserved, kind, count = struct.unpack("<HHH", r.content[:6])
    assert (reserved, kind, count) == (0, 1, 1)
    assert r.content[22:30] == b"\x89PNG\r\n\x1a\n"
    await make_feed(store, "favicon-feed")
    context = await browser.new_context()
    try:
        page = await context.new_page()
        missing: list[str] = []
        page.on("response", lambda res: missing.append(res.url) if res.status == 404 else None)
        for path in ("/feeds/favicon-feed", "/admin/login", "/api/docs"):
            await page.goto(services.base_url + path)
            await page.wait_for_load_state("networkidle")
        assert missing == []
    finally:
        await context.close()
