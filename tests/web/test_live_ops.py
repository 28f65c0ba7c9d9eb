"""The live endpoints under operations: retention, stalls, drains, limits, several processes.

Each test runs its own ``newsfeed web`` (and, where retention matters, its
own Redis and worker) so it can set the process's limits and signal it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from feed.redis_io import connect
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis
from tests.conftest import Proc, Services, make_feed, seconds, start_web, start_worker
from tests.web.live_client import (
    Editor,
    events,
    key,
    metric,
    new_slug,
    next_json,
    next_sse,
    nothing_more,
    sse_events,
    ws_url,
)
from tests.web.live_client import (
    connect as ws_connect,
)


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            proc.stop()


def _position(cursor: str) -> tuple[int, int]:
    ms, seq = cursor.split(".")[1].split("-")
    return int(ms), int(seq)


async def test_a_trimmed_cursor_gets_a_reset(tmp_path: Path) -> None:
    """A private Redis, web and worker that keep only ~10 live messages."""
    server = EmbeddedRedis(None)
    with server.running():
        extra = {"NEWSFEED_LIVE_RETENTION_EVENTS": "10"}
        web, base = start_web(server.url, tmp_path, None, **extra)
        worker = start_worker(server.url, tmp_path, **extra)
        redis = connect(server.url)
        store = Stores.build(redis)
        with running(web, worker):
            slug = new_slug()
            token = await make_feed(store, slug)
            ed = Editor(base, slug, token)
            try:
                async with await ws_connect(base, slug) as ws:
                    await next_json(ws)
                    await ed.create("first")
                    (first,) = await events(ws, 1)
                old_cursor = first["cursor"]
                # Publish until the stream has trimmed past the old cursor
                # (MAXLEN ~ trims whole nodes, so it takes ~100 more).
                for i in range(400):
                    await store.editorial.create_entry(slug, {"headline": f"n{i}"}, actor="t")
                    if i % 20 == 19:
                        await asyncio.sleep(0.1)
                        bounds = await store.live.bounds(slug)
                        if bounds.max_deleted >= _position(old_cursor):
                            break
                else:
                    raise AssertionError("the live stream was never trimmed")
                total = i + 2
                await ed.wait_public(min(total, 100))
                async with await ws_connect(base, slug, since=old_cursor) as ws:
                    assert await next_json(ws) == {"type": "reset", "reason": "stale"}
                    snap = await next_json(ws)
                    assert snap["type"] == "snapshot"
                    assert len(snap["entries"]) == min(total, 50)
                    if total <= 50:
                        names = {e["headline"] for e in snap["entries"]}
                        assert names == {"first"} | {f"n{j}" for j in range(i + 1)}
                async with (
                    httpx.AsyncClient(base_url=base, timeout=seconds(10)) as http,
                    http.stream(
                        "GET", f"/api/v1/feeds/{slug}/sse", headers={"Last-Event-ID": old_cursor}
                    ) as resp,
                ):
                    stream = sse_events(resp)
                    assert (await next_sse(stream)).json() == {"type": "reset", "reason": "stale"}
                    assert (await next_sse(stream)).event == "snapshot"
                assert await metric(base, "newsfeed_live_resets_total") >= 2
            finally:
                await ed.aclose()
                await redis.aclose()


def _stalled_socket(port: int) -> socket.socket:
    """A connected socket with a tiny receive buffer, to stall a client."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_a_stalled_client_is_cut_off_and_others_get_everything(
    store: Stores, services: Services, tmp_path: Path
) -> None:
    web, base = start_web(services.redis_url, tmp_path, NEWSFEED_CLIENT_BUFFER_BYTES="32768")
    port = int(base.rsplit(":", 1)[1])
    slug = new_slug()
    await make_feed(store, slug)
    with running(web):
        healthy = await ws_connect(base, slug, max_queue=None)
        stalled = await websockets.connect(
            ws_url(base, slug), sock=_stalled_socket(port), max_queue=1
        )
        sse_sock = _stalled_socket(port)
        sse_reader, sse_writer = await asyncio.open_connection(sock=sse_sock)
        sse_writer.write(f"GET /api/v1/feeds/{slug}/sse HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await sse_writer.drain()
        await next_json(healthy)
        body = "<p>" + "x" * 8000 + "</p>"
        published = 0
        received: list[dict[str, Any]] = []
        drops = "newsfeed_live_slow_consumer_drops_total"
        while (
            await metric(base, drops, 'transport="ws"') < 1
            or await metric(base, drops, 'transport="sse"') < 1
        ):
            assert published < 600, "the stalled client was never cut off"
            for _ in range(20):
                data = {"headline": f"n{published}", "body": body}
                await store.editorial.create_entry(slug, data, actor="t")
                published += 1
            received += await events(healthy, 20)
        for _ in range(5):
            await store.editorial.create_entry(slug, {"headline": f"n{published}"}, actor="t")
            published += 1
        received += await events(healthy, 5)
        assert [m["entry"]["headline"] for m in received] == [f"n{i}" for i in range(published)]
        assert await nothing_more(healthy)
        await healthy.close()

        # The stalled client reads what was buffered, then the 4000 close.
        got: list[dict[str, Any]] = []
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                got.append(await next_json(stalled))
        assert info.value.rcvd is not None and info.value.rcvd.code == 4000
        assert got[0]["type"] == "snapshot"
        got_events = got[1:]
        assert got_events == received[: len(got_events)], "a gap-free prefix"
        # The stalled SSE response was aborted: what it holds ends early.
        sse_data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(sse_reader.read(65536), seconds(10)):
                sse_data += chunk
        assert sse_data.startswith(b"HTTP/1.1 200") and b"event: snapshot" in sse_data
        assert sse_data.count(b"event: publish") < published
        sse_writer.close()
        assert len(got_events) < published
        since = got_events[-1]["cursor"] if got_events else got[0]["cursor"]
        async with await ws_connect(base, slug, since=since) as ws:
            rest = await events(ws, published - len(got_events))
            assert [key(m) for m in got_events + rest] == [key(m) for m in received]
            assert await nothing_more(ws)


async def test_sigterm_drains_and_a_new_process_resumes_losing_nothing(
    store: Stores, services: Services, tmp_path: Path
) -> None:
    web_a, base_a = start_web(services.redis_url, tmp_path)
    slug = new_slug()
    token = await make_feed(store, slug)
    ed = Editor(services.base_url, slug, token)
    try:
        with running(web_a):
            ws = await ws_connect(base_a, slug)
            http = httpx.AsyncClient(base_url=base_a, timeout=seconds(10))
            async with http, http.stream("GET", f"/api/v1/feeds/{slug}/sse") as resp:
                stream = sse_events(resp)
                await next_json(ws), await next_sse(stream)
                before = [await ed.create(f"before{i}") for i in range(2)]
                got = await events(ws, 2)
                sse_got = [await next_sse(stream), await next_sse(stream)]
                assert [m["entry"]["id"] for m in got] == [e["id"] for e in before]
                web_a.signal(signal.SIGTERM)
                with pytest.raises(websockets.ConnectionClosed) as info:
                    await next_json(ws)
                assert info.value.rcvd is not None and info.value.rcvd.code == 1012
                assert "reconnect" in info.value.rcvd.reason
                last = await next_sse(stream)
                assert last.event == "reconnect" and last.retry is not None
                assert last.json()["type"] == "reconnect"
                with pytest.raises(StopAsyncIteration):
                    await next_sse(stream)
            assert web_a.popen is not None
            # uvicorn re-raises the signal once its graceful shutdown is done.
            code = await asyncio.to_thread(web_a.popen.wait, seconds(20))
            assert code in (0, -signal.SIGTERM)
        # Published while no web process is up (the worker keeps projecting).
        during = [await ed.create(f"during{i}") for i in range(3)]
        web_b, base_b = start_web(services.redis_url, tmp_path)
        with running(web_b):
            async with await ws_connect(base_b, slug, since=got[-1]["cursor"]) as ws2:
                resumed = await events(ws2, 3)
                assert [m["entry"]["id"] for m in resumed] == [e["id"] for e in during]
                assert await nothing_more(ws2)
            async with (
                httpx.AsyncClient(base_url=base_b, timeout=seconds(10)) as http,
                http.stream(
                    "GET",
                    f"/api/v1/feeds/{slug}/sse",
                    headers={"Last-Event-ID": sse_got[-1].id or ""},
                ) as resp,
            ):
                stream = sse_events(resp)
                sse_resumed = [(await next_sse(stream)).json() for _ in range(3)]
                assert [key(m) for m in sse_resumed] == [key(m) for m in resumed]
    finally:
        await ed.aclose()


async def test_two_web_processes_deliver_the_same_sequence(
    store: Stores, services: Services, tmp_path: Path
) -> None:
    web_b, base_b = start_web(services.redis_url, tmp_path)
    slug = new_slug()
    token = await make_feed(store, slug)
    ed = Editor(services.base_url, slug, token)
    try:
        with running(web_b):
            async with (
                await ws_connect(services.base_url, slug) as ws_a,
                await ws_connect(base_b, slug) as ws_b,
            ):
                snap_a, snap_b = await next_json(ws_a), await next_json(ws_b)
                assert snap_a["cursor"] == snap_b["cursor"]
                made = []
                for i in range(8):
                    entry = await ed.create(f"e{i}")
                    made.append(entry)
                    if i % 2:
                        await ed.edit(entry, headline=f"e{i}!")
                    if i % 4 == 3:
                        await ed.retract(made[i - 1])
                n = 8 + 4 + 2
                got_a, got_b = await events(ws_a, n), await events(ws_b, n)
                assert [key(m) for m in got_a] == [key(m) for m in got_b]
                assert got_a == got_b
                assert len({(m["entry"]["id"], m["entry"]["version"]) for m in got_a}) == n
    finally:
        await ed.aclose()


async def test_connection_limit_and_heartbeats(
    store: Stores, services: Services, tmp_path: Path
) -> None:
    web, base = start_web(
        services.redis_url,
        tmp_path,
        NEWSFEED_MAX_CONNECTIONS="2",
        NEWSFEED_HEARTBEAT_SECONDS="0.5",
    )
    slug = new_slug()
    await make_feed(store, slug)
    with running(web):
        one = await ws_connect(base, slug)
        http = httpx.AsyncClient(base_url=base, timeout=seconds(10))
        async with http, http.stream("GET", f"/api/v1/feeds/{slug}/sse") as resp:
            lines = resp.aiter_lines()
            await next_json(one)
            async with asyncio.timeout(seconds(10)):
                async for line in lines:
                    if line == "event: snapshot":
                        break
            # Full: a third connection is refused before the upgrade.
            with pytest.raises(websockets.InvalidStatus) as info:
                await ws_connect(base, slug)
            assert info.value.response.status_code == 503
            refused = await http.get(f"/api/v1/feeds/{slug}/sse")
            assert refused.status_code == 503 and "maximum" in refused.json()["detail"]
            # SSE heartbeats: comment lines while nothing happens.
            heartbeats = 0
            async with asyncio.timeout(seconds(10)):
                async for line in lines:
                    heartbeats += line == ": heartbeat"
                    if heartbeats == 2:
                        break
        await one.close()
        # The slots are free again.
        async with await ws_connect(base, slug) as again:
            assert (await next_json(again))["type"] == "snapshot"
            # The server pings; the websockets client answers, so it stays.
            await asyncio.sleep(seconds(1.5))
            assert again.state is websockets.State.OPEN
        # A peer that never answers pings (nor reads) is dropped.
        reader, writer = await asyncio.open_connection("127.0.0.1", int(base.rsplit(":", 1)[1]))
        writer.write(
            f"GET /api/v1/feeds/{slug}/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        data = await asyncio.wait_for(reader.read(), seconds(10))  # until the server closes
        assert b"\x89" in data  # a ping frame was sent
        close_at = data.rfind(b"\x88")
        assert close_at >= 0 and int.from_bytes(data[close_at + 2 : close_at + 4]) == 1011
        writer.close()
        assert await metric(base, "newsfeed_live_connections") == 0
