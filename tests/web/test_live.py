"""The live protocol over real sockets, against the real web and worker processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds
from tests.web.live_client import (
    Editor,
    connect,
    events,
    key,
    new_slug,
    next_json,
    next_sse,
    nothing_more,
    sse_events,
)


async def _editor(store: Stores, services: Services) -> Editor:
    slug = new_slug()
    token = await make_feed(store, slug)
    return Editor(services.base_url, slug, token)


async def _closed_code(ws: ClientConnection) -> int | None:
    with pytest.raises(websockets.ConnectionClosed) as info:
        for _ in range(100):
            await asyncio.wait_for(ws.recv(), seconds(10))
    return info.value.rcvd.code if info.value.rcvd else None


async def test_snapshot_then_every_change_live(store: Stores, services: Services) -> None:
    ed = await _editor(store, services)
    try:
        old = await ed.create("older")
        pinned = await ed.create("pinned", pinned=True)
        await ed.wait_public(2)
        async with await connect(services.base_url, ed.feed) as ws:
            snap = await next_json(ws)
            assert snap["type"] == "snapshot"
            assert [e["id"] for e in snap["entries"]] == [pinned["id"], old["id"]]
            assert snap["entries"][0]["headline"] == "pinned"
            cursor = snap["cursor"]

            new = await ed.create("breaking", body="<p>live</p>")
            edited = await ed.edit(new, headline="breaking, updated")
            await ed.retract(old)
            got = await events(ws, 3)
            assert [m["type"] for m in got] == ["publish", "update", "retract"]
            assert got[0]["entry"]["id"] == new["id"] and got[0]["entry"]["version"] == 1
            assert got[1]["entry"]["headline"] == "breaking, updated"
            assert got[1]["entry"]["version"] == edited["version"] == 2
            assert got[2]["entry"] == {
                "id": old["id"],
                "feed": ed.feed,
                "version": 2,
                "status": "retracted",
            }
            cursors = [cursor] + [m["cursor"] for m in got]
            positions = [tuple(map(int, c.split(".")[1].split("-"))) for c in cursors]
            assert positions == sorted(positions) and len(set(positions)) == 4
            assert await nothing_more(ws)
    finally:
        await ed.aclose()


async def test_limit_bounds_the_snapshot(store: Stores, services: Services) -> None:
    ed = await _editor(store, services)
    try:
        for i in range(5):
            await ed.create(f"n{i}")
        await ed.wait_public(5)
        async with await connect(services.base_url, ed.feed, params={"limit": "3"}) as ws:
            snap = await next_json(ws)
            assert [e["headline"] for e in snap["entries"]] == ["n4", "n3", "n2"]
    finally:
        await ed.aclose()


async def test_resume_gets_exactly_what_was_missed(store: Stores, services: Services) -> None:
    ed = await _editor(store, services)
    try:
        async with await connect(services.base_url, ed.feed) as ws:
            assert (await next_json(ws))["entries"] == []
            first = await ed.create("first")
            (event,) = await events(ws, 1)
            assert event["entry"]["id"] == first["id"]
            last = event["cursor"]
        # Missed while away: two creates, an edit, a retraction.
        a = await ed.create("a")
        b = await ed.create("b")
        a2 = await ed.edit(a, headline="a2")
        await ed.retract(b)
        await ed.wait_public(2)  # first, a2
        async with await connect(services.base_url, ed.feed, since=last) as ws:
            got = await events(ws, 4)
            assert [(m["type"], m["entry"]["id"], m["entry"]["version"]) for m in got] == [
                ("publish", a["id"], 1),
                ("publish", b["id"], 1),
                ("update", a["id"], a2["version"]),
                ("retract", b["id"], 2),
            ]
            assert await nothing_more(ws)
            live = await ed.create("after")
            (m,) = await events(ws, 1)
            assert m["entry"]["id"] == live["id"]
            # Resuming from the last event of the resume gets nothing twice.
        async with await connect(services.base_url, ed.feed, since=m["cursor"]) as ws:
            assert await nothing_more(ws)
    finally:
        await ed.aclose()


async def test_foreign_epoch_and_future_cursors_reset(store: Stores, services: Services) -> None:
    ed = await _editor(store, services)
    try:
        entry = await ed.create("only")
        await ed.wait_public(1)
        async with await connect(services.base_url, ed.feed, since="deadbeef.1-0") as ws:
            assert await next_json(ws) == {"type": "reset", "reason": "epoch"}
            snap = await next_json(ws)
            assert snap["type"] == "snapshot"
            assert [e["id"] for e in snap["entries"]] == [entry["id"]]
        epoch = snap["cursor"].split(".")[0]
        future = f"{epoch}.99999999999999-0"
        async with await connect(services.base_url, ed.feed, since=future) as ws:
            assert await next_json(ws) == {"type": "reset", "reason": "stale"}
            assert (await next_json(ws))["type"] == "snapshot"
    finally:
        await ed.aclose()


async def test_bad_requests_are_refused_before_the_upgrade(
    store: Stores, services: Services
) -> None:
    ed = await _editor(store, services)
    try:
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(services.base_url, "no-such-feed")
        assert info.value.response.status_code == 404
        assert b"no feed" in info.value.response.body
        for params in ({"since": "garbage"}, {"limit": "0"}, {"limit": "101"}):
            with pytest.raises(websockets.InvalidStatus) as info:
                await connect(services.base_url, ed.feed, params=params)
            assert info.value.response.status_code == 422
        async with httpx.AsyncClient(base_url=services.base_url) as http:
            resp = await http.get("/api/v1/feeds/no-such-feed/sse")
            assert resp.status_code == 404
            assert resp.headers["content-type"] == "application/problem+json"
            resp = await http.get(f"/api/v1/feeds/{ed.feed}/sse", headers={"Last-Event-ID": "x"})
            assert resp.status_code == 422 and resp.json()["field"] == "since"
    finally:
        await ed.aclose()


async def test_client_messages_are_tiny_and_well_formed(store: Stores, services: Services) -> None:
    ed = await _editor(store, services)
    try:
        async with await connect(services.base_url, ed.feed) as ws:
            await next_json(ws)
            await ws.send('{"type":"ping"}')
            assert await next_json(ws) == {"type": "pong"}
            await ws.send("x" * 5000)
            assert await _closed_code(ws) == 1009
        for bad in ("not json", '{"type":"subscribe"}', b"\x00binary"):
            async with await connect(services.base_url, ed.feed) as ws:
                await next_json(ws)
                await ws.send(bad)
                assert await _closed_code(ws) == 1008
    finally:
        await ed.aclose()


async def test_sse_snapshot_live_and_last_event_id(store: Stores, services: Services) -> None:
    ed = await _editor(store, services)
    try:
        one = await ed.create("one")
        await ed.wait_public(1)
        url = f"/api/v1/feeds/{ed.feed}/sse"
        async with (
            httpx.AsyncClient(base_url=services.base_url, timeout=seconds(10)) as http,
            http.stream("GET", url) as resp,
        ):
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            stream = sse_events(resp)
            snap = await next_sse(stream)
            assert snap.retry == 3000 and snap.event == "snapshot"
            assert snap.id == snap.json()["cursor"]
            assert [e["id"] for e in snap.json()["entries"]] == [one["id"]]
            two = await ed.create("two")
            ev = await next_sse(stream)
            assert ev.event == "publish" and ev.json()["entry"]["id"] == two["id"]
            assert ev.id == ev.json()["cursor"]
            last = ev.id
        three = await ed.create("three")
        three = await ed.edit(three, headline="three!")
        # The header wins over the URL's (older) since, as EventSource sends it.
        async with (
            httpx.AsyncClient(base_url=services.base_url, timeout=seconds(10)) as http,
            http.stream(
                "GET", url, params={"since": snap.id}, headers={"Last-Event-ID": last or ""}
            ) as resp,
        ):
            stream = sse_events(resp)
            got = [await next_sse(stream), await next_sse(stream)]
            assert [(e.event, e.json()["entry"]["version"]) for e in got] == [
                ("publish", 1),
                ("update", 2),
            ]
            assert {e.json()["entry"]["id"] for e in got} == {three["id"]}
    finally:
        await ed.aclose()


async def test_sse_reset_for_a_foreign_cursor(store: Stores, services: Services) -> None:
    ed = await _editor(store, services)
    try:
        async with (
            httpx.AsyncClient(base_url=services.base_url, timeout=seconds(10)) as http,
            http.stream("GET", f"/api/v1/feeds/{ed.feed}/sse?since=cafe.5-0") as resp,
        ):
            stream = sse_events(resp)
            reset = await next_sse(stream)
            assert reset.event == "reset" and reset.json() == {"type": "reset", "reason": "epoch"}
            assert reset.id is None
            assert (await next_sse(stream)).event == "snapshot"
    finally:
        await ed.aclose()


async def test_ws_and_sse_clients_get_the_same_sequence(store: Stores, services: Services) -> None:
    ed = await _editor(store, services)
    try:
        async with (
            await connect(services.base_url, ed.feed) as ws,
            httpx.AsyncClient(base_url=services.base_url, timeout=seconds(10)) as http,
            http.stream("GET", f"/api/v1/feeds/{ed.feed}/sse") as resp,
        ):
            stream = sse_events(resp)
            ws_snap, sse_snap = await next_json(ws), (await next_sse(stream)).json()
            assert ws_snap == sse_snap
            made = [await ed.create(f"e{i}") for i in range(10)]
            ws_got = await events(ws, 10)
            sse_got = [(await next_sse(stream)).json() for _ in range(10)]
            assert [key(m) for m in ws_got] == [key(m) for m in sse_got]
            assert [m["entry"]["id"] for m in ws_got] == [e["id"] for e in made]
    finally:
        await ed.aclose()


def test_the_live_endpoints_are_documented() -> None:
    import yaml

    from tests.conftest import ROOT
    from web import live

    doc = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    protocol = (ROOT / "docs" / "PROTOCOL.md").read_text()
    for route in live.routes():
        assert route.path in doc["paths"], route.path  # type: ignore[attr-defined]
    for code in ("1008", "1009", "1011", "1012", "4000"):
        assert f"| {code} |" in protocol
    for heading in ("**snapshot**", "**publish / update / retract**", "**reset**", "**pong**"):
        assert heading in protocol, heading
    assert "**reconnect** (SSE only)" in protocol


async def test_an_sse_stream_starts_with_ready_before_anything_else(
    store: Stores, services: Services
) -> None:
    """A client that never sees "ready" (a buffering proxy) knows to poll instead."""
    ed = await _editor(store, services)
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", int(services.base_url.rsplit(":", 1)[1])
        )
        writer.write(f"GET /api/v1/feeds/{ed.feed}/sse HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), seconds(10))
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"transfer-encoding: chunked" in head
        size = int(await asyncio.wait_for(reader.readuntil(b"\r\n"), seconds(10)), 16)
        first = await reader.readexactly(size)
        assert first == b'retry: 3000\n\nevent: ready\ndata: {"type":"ready"}\n\n'
        writer.close()
    finally:
        await ed.aclose()
