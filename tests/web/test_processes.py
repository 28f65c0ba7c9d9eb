"""``newsfeed web --processes N``: one port, N processes, each with its own hub.

Readers on every process get the same sequence; a child that dies is
replaced while the others keep serving; SIGTERM to the parent drains every
process together (each live connection gets 1012 and a reconnect hint) and
the parent exits when they all have.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
import websockets

from feed.errors import ConfigError
from feed.stores import Stores
from newsfeed.embedded import free_port
from newsfeed.webpool import process_count
from tests.conftest import Proc, Services, make_feed, proc_env, seconds, wait_http
from tests.web.live_client import Editor, events, key, new_slug, next_json
from tests.web.live_client import connect as ws_connect


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def sockets(pid: int) -> int:
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            n += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return n


def test_process_counts() -> None:
    assert process_count("3") == 3
    assert process_count("auto") == len(os.sched_getaffinity(0))
    for bad in ("0", "-1", "many", "1000"):
        with pytest.raises(ConfigError):
            process_count(bad)


async def test_processes_share_a_port_replace_the_dead_and_drain_together(
    store: Stores, services: Services, tmp_path: Path
) -> None:
    port = free_port()
    parent = Proc(
        ["web", "--host", "127.0.0.1", "--port", str(port), "--processes", "2"],
        proc_env(services.redis_url),
        tmp_path / "web-pool.log",
    ).start()
    base = f"http://127.0.0.1:{port}"
    assert parent.popen is not None
    slug = new_slug()
    token = await make_feed(store, slug)
    ed = Editor(services.base_url, slug, token)
    try:
        wait_http(base + "/readyz")
        deadline = time.monotonic() + seconds(20)
        while len(kids := children(parent.popen.pid)) < 2:
            assert time.monotonic() < deadline, "the two web processes did not start"
            await asyncio.sleep(0.1)
        assert len(kids) == 2
        before = {k: sockets(k) for k in kids}
        # The kernel hands the connections to every process accepting on the
        # socket (a child still starting accepts none yet: open until both
        # have some, within bounds).
        readers = []
        deadline = time.monotonic() + seconds(30)
        while True:
            for _ in range(10):
                ws = await ws_connect(base, slug)
                assert (await next_json(ws))["type"] == "snapshot"
                readers.append(ws)
            gained = {k: sockets(k) - before[k] for k in kids}
            if len(readers) >= 40 and all(g > 0 for g in gained.values()):
                break
            assert len(readers) < 400 and time.monotonic() < deadline, gained
            await asyncio.sleep(0.2)
        assert sum(gained.values()) >= len(readers)
        made = [await ed.create(f"e{i}") for i in range(5)]
        got = [await events(ws, 5) for ws in readers]
        assert all([key(m) for m in g] == [key(m) for m in got[0]] for g in got)
        assert [m["entry"]["id"] for m in got[0]] == [e["id"] for e in made]

        # A child dies: its readers are cut, the others carry on, a new child comes.
        victim = min(kids)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + seconds(20)
        while len(now := children(parent.popen.pid)) < 2 or victim in now:
            assert time.monotonic() < deadline, "the dead web process was not replaced"
            await asyncio.sleep(0.1)
        survivors = []
        for ws in readers:
            try:
                await asyncio.wait_for(ws.recv(), seconds(0.3))
            except websockets.ConnectionClosed:
                continue
            except TimeoutError:
                survivors.append(ws)
        assert 0 < len(survivors) < len(readers)
        wait_http(base + "/readyz")
        await ed.create("after the crash")
        for ws in survivors:
            assert (await next_json(ws))["entry"]["headline"] == "after the crash"

        # SIGTERM to the parent: every process drains.
        late = [await ws_connect(base, slug) for _ in range(10)]
        for ws in late:
            await next_json(ws)
        kids = children(parent.popen.pid)
        parent.signal(signal.SIGTERM)
        for ws in [*survivors, *late]:
            with pytest.raises(websockets.ConnectionClosed) as info:
                await next_json(ws, wait=20)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1012
        code = await asyncio.to_thread(parent.popen.wait, seconds(30))
        assert code == 0
        assert not any(alive(k) for k in kids)
        for ws in readers:
            await ws.close()
    finally:
        parent.stop()
        await ed.aclose()
