"""The live edge against hostile or broken clients: real sockets, loopback, bounded.

Each test runs its own ``newsfeed web`` with small limits and attacks it:
a ping flood from a client that never reads, a flood of half-open
connections, a slow reader. The process must stay within its memory
bound, keep serving everybody else, and close the offender with the
documented code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path

import httpx

from feed.stores import Stores
from tests.conftest import Proc, Services, make_feed, seconds, start_web
from tests.web.live_client import connect, new_slug, next_json

HANDSHAKE = (
    "GET /api/v1/feeds/{feed}/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)


def _rss(proc: Proc) -> int:
    assert proc.popen is not None
    for line in Path(f"/proc/{proc.popen.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _raw_websocket(port: int, feed: str, rcvbuf: int) -> socket.socket:
    """A handshaken WebSocket on a plain socket with a small receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(seconds(10))
    sock.connect(("127.0.0.1", port))
    sock.sendall(HANDSHAKE.format(feed=feed).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    """Server frames (never masked) in ``data``: (opcode, payload), complete ones only."""
    out, i = [], 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        j = i + 2
        if n == 126:
            n, j = int.from_bytes(data[j : j + 2]), j + 2
        elif n == 127:
            n, j = int.from_bytes(data[j : j + 8]), j + 8
        if j + n > len(data):
            break
        out.append((op, data[j : j + n]))
        i = j + n
    return out


def _close_code(frames: list[tuple[int, bytes]]) -> int | None:
    for op, payload in frames:
        if op == 0x8:
            return int.from_bytes(payload[:2])
    return None


async def test_a_ping_flood_is_cut_off_with_memory_bounded(
    store: Stores, services: Services, tmp_path: Path
) -> None:
    web, base = start_web(
        services.redis_url,
        tmp_path,
        NEWSFEED_CLIENT_BUFFER_BYTES="65536",
        NEWSFEED_HEARTBEAT_SECONDS="4",
    )
    slug = new_slug()
    await make_feed(store, slug)
    try:
        sock = _raw_websocket(_port(base), slug, rcvbuf=4096)
        rss0 = _rss(web)
        # Masked client frames that each make the server answer: WebSocket
        # pings with 125 bytes of payload (a 127-byte pong each) and
        # {"type":"ping"} messages (a pong message each).
        ping = b"\x89\xfd\x00\x00\x00\x00" + b"p" * 125
        text = b'{"type":"ping"}'
        message = b"\x81\x8f\x00\x00\x00\x00" + text
        batch = (ping + message) * 256
        sock.setblocking(False)
        sent, cut = 0, False
        deadline = time.monotonic() + seconds(30)
        while time.monotonic() < deadline and sent < 200 * 2**20:
            try:
                sent += sock.send(batch)
            except BlockingIOError:
                await asyncio.sleep(0.02)
            except (ConnectionResetError, BrokenPipeError):
                cut = True
                break
        assert cut, f"a client that floods pings and never reads was never cut off ({sent} bytes)"
        grown = _rss(web) - rss0
        assert grown < 12 * 2**20, f"RSS grew by {grown / 2**20:.1f} MB"
        sock.close()
        # Everybody else is served.
        async with await connect(base, slug) as ws:
            assert (await next_json(ws))["type"] == "snapshot"
    finally:
        web.stop()


async def test_a_flood_of_half_open_connections_locks_nobody_out(
    store: Stores, services: Services, tmp_path: Path
) -> None:
    # 64 live connections; at most 16 connections may be sending their head.
    web, base = start_web(services.redis_url, tmp_path, NEWSFEED_MAX_CONNECTIONS="64")
    slug = new_slug()
    await make_feed(store, slug)
    flood: list[socket.socket] = []
    try:
        async with await connect(base, slug) as established:
            assert (await next_json(established))["type"] == "snapshot"
            for _ in range(300):
                sock = socket.create_connection(("127.0.0.1", _port(base)))
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end
                flood.append(sock)
            async with httpx.AsyncClient(base_url=base, timeout=seconds(10)) as http:
                assert (await http.get("/healthz")).status_code == 200
                assert (await http.get("/readyz")).status_code == 200
            async with await connect(base, slug) as fresh:
                assert (await next_json(fresh))["type"] == "snapshot"
            ed_entry, _ = await store.editorial.create_entry(slug, {"headline": "x"}, actor="t")
            got = await next_json(established)
            assert got["type"] == "publish" and got["entry"]["id"] == ed_entry.id

            def closed(sock: socket.socket) -> bool:
                sock.setblocking(False)
                try:
                    return sock.recv(1) == b""
                except BlockingIOError:
                    return False
                except ConnectionResetError:
                    return True

            await asyncio.sleep(seconds(0.5))
            held = [s for s in flood if not closed(s)]
            assert len(held) <= 16, f"{len(held)} half-open connections still held"
            # ... and those time out (the head must come within 10 s).
            deadline = time.monotonic() + seconds(20)
            while held and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                held = [s for s in held if not closed(s)]
            assert not held, "a half-open connection never timed out"
    finally:
        for sock in flood:
            sock.close()
        web.stop()


async def test_a_slow_reader_gets_4000_within_its_bound(
    store: Stores, services: Services, tmp_path: Path
) -> None:
    limit = 65536
    web, base = start_web(services.redis_url, tmp_path, NEWSFEED_CLIENT_BUFFER_BYTES=str(limit))
    slug = new_slug()
    await make_feed(store, slug)
    loop = asyncio.get_running_loop()
    try:
        sock = _raw_websocket(_port(base), slug, rcvbuf=16384)
        sock.setblocking(False)
        data = bytearray()
        done = asyncio.Event()

        async def read_slowly() -> None:
            """2 KB every 10 ms: far slower than the feed."""
            with contextlib.suppress(ConnectionResetError):
                while not done.is_set():
                    chunk = await asyncio.wait_for(loop.sock_recv(sock, 2048), seconds(20))
                    if not chunk:
                        return
                    data.extend(chunk)
                    if _close_code(_frames(bytes(data))) is not None:
                        return
                    await asyncio.sleep(0.01)

        reader = asyncio.create_task(read_slowly())
        body = "<p>" + "x" * 8000 + "</p>"
        published = 0
        while not reader.done() and published < 1000:
            for _ in range(10):
                await store.editorial.create_entry(
                    slug, {"headline": f"n{published}", "body": body}, actor="t"
                )
                published += 1
            await asyncio.sleep(0.01)
        await asyncio.wait_for(reader, seconds(30))
        done.set()
        frames = _frames(bytes(data))
        assert _close_code(frames) == 4000, f"close code {_close_code(frames)}"
        texts = [payload for op, payload in frames if op == 0x1]
        assert texts[0].startswith(b'{"type":"snapshot"')
        # Under load the server may take the snapshot after the first entries
        # were already public: the live prefix starts after them.
        first = len(json.loads(texts[0])["entries"])
        headlines = [f"n{first + i}".encode() for i in range(len(texts) - 1)]
        assert all(h in t for h, t in zip(headlines, texts[1:], strict=True)), "a gap-free prefix"
        assert len(texts) - 1 < published
        sock.close()
    finally:
        web.stop()
