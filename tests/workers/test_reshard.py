"""A reshard under load: a busy feed's slot moves to another master while
editors publish and edit through the API and readers read live.

The slot is moved the way ``valkey-cli --cluster reshard`` does it (CLUSTER
SETSLOT IMPORTING / MIGRATING, MIGRATE key by key, SETSLOT NODE), slowly,
so publishing, projecting and tailing all meet the slot half-moved (ASK,
TRYAGAIN) and then moved (MOVED). Nothing acknowledged is lost or doubled:
every acknowledged create is in the log once, the live stream is the
log's projection, and every reader got exactly the live stream, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from redis.crc import key_slot

from feed import keys
from feed.redis_io import connect
from feed.stores import Stores
from tests.cluster import TestCluster
from tests.conftest import TestRedis, make_feed, seconds, start_web, start_worker
from tests.web.live_client import ws_url
from tests.workers.conftest import caught_up, expected_ops, live_ops, log_events

FEED = "busy"
POSTS_PER_EDITOR = 40


async def move_slot(cluster: TestCluster, slot: int, src: int, dst: int, pause: float) -> int:
    """Migrate ``slot`` from node ``src`` to node ``dst`` one key at a time; the keys moved."""
    with contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(contextlib.closing(cluster.client(i))) for i in range(3)]
        ids = [n.execute_command("CLUSTER", "MYID").decode() for n in nodes]
        nodes[dst].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
        nodes[src].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
        moved = 0
        while True:
            batch = nodes[src].execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1)
            if not batch:
                break
            port = cluster.nodes[dst].port
            nodes[src].execute_command("MIGRATE", "127.0.0.1", port, "", 0, 5000, "KEYS", *batch)
            moved += len(batch)
            await asyncio.sleep(pause)
        for n in (nodes[dst], nodes[src], *(nodes[i] for i in range(3) if i not in (src, dst))):
            n.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
        return moved


class Reader:
    """A live reader that reconnects from its last cursor; it keeps every message."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.messages: list[dict[str, Any]] = []
        self.resets = 0
        self.cursor: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with websockets.connect(
                    ws_url(self.base, FEED, self.cursor), open_timeout=seconds(10)
                ) as ws:
                    while not stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.5)
                        except TimeoutError:
                            continue
                        message = orjson.loads(raw)
                        if message["type"] == "reset":
                            self.resets += 1
                        if message["type"] in ("publish", "update", "retract"):
                            self.messages.append(message)
                        if "cursor" in message:
                            self.cursor = message["cursor"]
            except (OSError, websockets.WebSocketException):
                await asyncio.sleep(0.2)


async def editor(base: str, token: str, name: str, acked: list[str]) -> None:
    """Posts and edits, retrying each request with its Idempotency-Key / If-Match."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=seconds(10)) as http:
        for i in range(POSTS_PER_EDITOR):
            key = f"{name}-{i}-{uuid.uuid4().hex[:6]}"
            entry = await _retry(
                lambda key=key, i=i: http.post(
                    f"/api/v1/feeds/{FEED}/entries",
                    json={"headline": f"{name} {i}"},
                    headers={"Idempotency-Key": key},
                ),
                (201, 200),
            )
            acked.append(entry["id"])
            if i % 3 == 0:
                await _retry(
                    lambda entry=entry: http.patch(
                        f"/api/v1/feeds/{FEED}/entries/{entry['id']}",
                        json={"headline": f"{entry['headline']} (edited)"},
                        headers={"If-Match": f'"{entry["version"]}"'},
                    ),
                    (200, 412),  # 412: our earlier attempt did apply
                )
            await asyncio.sleep(0.02)


async def _retry(send: Any, ok: tuple[int, ...]) -> dict[str, Any]:
    for _ in range(int(seconds(300))):
        try:
            resp = await send()
        except httpx.TransportError:
            await asyncio.sleep(0.1)
            continue
        if resp.status_code in ok:
            body: dict[str, Any] = resp.json()
            return body
        assert resp.status_code == 503, resp.text  # Redis busy moving: retry
        await asyncio.sleep(0.1)
    raise AssertionError("a request kept failing")


@pytest.mark.timeout(300)
async def test_a_busy_feeds_slot_moves_to_another_master_losing_nothing(tmp_path: Path) -> None:
    with TestRedis(True).running() as rig:
        assert rig.cluster is not None and rig.queue_url is not None
        env = {"NEWSFEED_QUEUE_URL": rig.queue_url}
        web, base = start_web(rig.url, tmp_path, None, **env)
        worker = start_worker(rig.url, tmp_path, **env)
        redis = connect(rig.url)
        try:
            store = Stores.build(redis)
            token = await make_feed(store, FEED)
            slot = key_slot(keys.log(FEED).encode())
            src = rig.cluster.owner(slot)
            dst = (src + 1) % 3
            readers = [Reader(base) for _ in range(3)]
            stop = asyncio.Event()
            acked: list[str] = []
            async with asyncio.TaskGroup() as tg:
                reading = [tg.create_task(r.run(stop)) for r in readers]
                await asyncio.sleep(0.5)
                editing = [tg.create_task(editor(base, token, n, acked)) for n in ("a", "b")]
                while len(acked) < 15:  # noqa: ASYNC110 - polling the editors' progress
                    await asyncio.sleep(0.05)
                moved = await move_slot(rig.cluster, slot, src, dst, pause=0.05)
                await asyncio.gather(*editing)
                await caught_up(store, FEED, within=60)
                want = await live_ops(store, FEED)
                deadline = asyncio.get_running_loop().time() + seconds(30)
                while any(len(r.messages) < len(want) for r in readers):
                    assert asyncio.get_running_loop().time() < deadline, [
                        len(r.messages) for r in readers
                    ]
                    await asyncio.sleep(0.1)
                stop.set()
                await asyncio.gather(*reading)
            # The slot did move, with the feed's keys (one history per entry and more).
            # (the history of each of the first 15 entries, the log, the state...)
            assert moved > 15
            with contextlib.closing(rig.cluster.client(src)) as c:
                assert c.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
            with contextlib.closing(rig.cluster.client(dst)) as c:
                assert c.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) > moved
            # Every acknowledged post is in the log once; nothing else was created.
            creates = [e.entry.id for _, e in await log_events(store, FEED) if e.kind == "create"]
            assert sorted(creates) == sorted(acked) and len(set(acked)) == len(acked)
            assert len(acked) == 2 * POSTS_PER_EDITOR
            # The live stream is the log's projection, and every reader got exactly it.
            assert want == await expected_ops(store, FEED)
            for r in readers:
                got = [(m["type"], m["entry"]["id"], m["entry"]["version"]) for m in r.messages]
                assert got == want and r.resets == 0
        finally:
            await redis.aclose()
            web.stop()
            worker.stop()
