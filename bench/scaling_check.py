"""Check the Redis-load formula of docs/SCALING.md at a small size, measured.

The formula: each web process holds one reader per active feed, and each
read is one pipelined XREAD + EVAL (the stream's bounds), returning every
message that arrived since the last one. So the live path costs Redis at
most ``2 x P x U`` commands per second and ``P x U x m`` bytes out (P web
processes with a reader of the feed, U updates per second, m bytes per live
message), whatever the number of readers R; the writes cost a constant
``w`` commands per update (the append, the wake-up hint, the projection,
the worker's reads).

This runs a real valkey, a worker and P web processes (each on its own
port), F feeds with R readers each (spread over the processes), publishes U
updates/s per feed for T seconds, and compares Redis's own counters (INFO
commandstats, total_net_output_bytes) with the formula, for several P and R.

    .venv/bin/python bench/scaling_check.py
    .venv/bin/python bench/scaling_check.py --processes 1,2,4 --readers 10,100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import websockets

from feed.redis_io import connect
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port

BODY = "<p>" + "Live coverage continues with the latest from the count. " * 5 + "</p>"
LIVE_READS = ("xread", "eval")
"""What a web process sends per read of a feed's live stream."""


@contextlib.contextmanager
def started(env: dict[str, str], ports: list[int], tmp: Path) -> Iterator[None]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(tmp / "procs.log", "ab") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "newsfeed", "worker"], env=env, stdout=log, stderr=log
                )
            )
            for port in ports:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "newsfeed", "web", "--port", str(port)],
                        env=env,
                        stdout=log,
                        stderr=log,
                    )
                )
        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("a web process did not come up")
                time.sleep(0.1)
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def reader(url: str, counts: list[int], i: int, stop: asyncio.Event) -> None:
    async with websockets.connect(url, open_timeout=30) as ws:
        while not stop.is_set():
            try:
                await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            counts[i] += 1


async def stats(redis: Any) -> tuple[dict[str, int], int]:
    info = await redis.info("commandstats")
    calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}
    out = int((await redis.info("stats"))["total_net_output_bytes"])
    return calls, out


async def one(
    args: argparse.Namespace, processes: int, readers: int, tmp: Path
) -> dict[str, float]:
    server = EmbeddedRedis(None)
    env = dict(
        os.environ,
        REDIS_URL=server.url,
        NEWSFEED_SECRET_KEY="bench-secret-key-0123456789abcdef",
        NEWSFEED_LOG_LEVEL="warning",
        NEWSFEED_DURABILITY="none",
    )
    ports = [free_port() for _ in range(processes)]
    feeds = [f"f{i}" for i in range(args.feeds)]
    with server.running(), started(env, ports, tmp):
        redis = connect(server.url)
        try:
            store = Stores.build(redis)
            entries: dict[str, list[tuple[str, int]]] = {}
            for feed in feeds:
                await store.registry.create_feed(feed, feed)
                entries[feed] = []
                for i in range(5):
                    entry, _ = await store.editorial.create_entry(
                        feed, {"headline": f"e{i}", "body": BODY}, actor="bench"
                    )
                    entries[feed].append((entry.id, entry.version))
            await asyncio.sleep(1)
            stop = asyncio.Event()
            counts = [0] * (readers * len(feeds))
            async with asyncio.TaskGroup() as tg:
                k = 0
                for feed in feeds:
                    for r in range(readers):
                        port = ports[r % processes]
                        url = f"ws://127.0.0.1:{port}/api/v1/feeds/{feed}/ws"
                        tg.create_task(reader(url, counts, k, stop))
                        k += 1
                await asyncio.sleep(2 + readers * len(feeds) / 500)
                calls0, out0 = await stats(redis)
                total = int(args.rate * args.seconds)
                start = time.monotonic()
                for n in range(total):
                    await asyncio.sleep(max(0.0, start + n / args.rate - time.monotonic()))
                    for feed in feeds:
                        j = n % len(entries[feed])
                        entry_id, version = entries[feed][j]
                        edited = await store.editorial.edit_entry(
                            feed,
                            entry_id,
                            {"headline": f"update {n}", "body": BODY},
                            if_match=version,
                            actor="bench",
                        )
                        entries[feed][j] = (entry_id, edited.version)
                await asyncio.sleep(1.5)
                calls1, out1 = await stats(redis)
                stop.set()
            sample = await store.live.read_live(feeds[0], (0, 0), count=10_000)
            message = sum(len(m.data) for m in sample[-total:]) / max(1, min(total, len(sample)))
        finally:
            await redis.aclose()
    delta = {c: calls1.get(c, 0) - calls0.get(c, 0) for c in calls1}
    updates = total * len(feeds)
    live = sum(delta.get(c, 0) for c in LIVE_READS)
    delivered = sum(counts) - readers * len(feeds)  # less each reader's snapshot
    return {
        "P": processes,
        "R": readers,
        "updates": updates,
        "live_cmds": live,
        "live_per_update_per_process": live / updates / processes,
        "other_per_update": (sum(delta.values()) - live) / updates,
        "out_per_update": (out1 - out0) / updates,
        "message_bytes": message,
        "delivered": delivered,
        "expected_deliveries": updates * readers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="1,2,3")
    parser.add_argument(
        "--readers",
        default="6,60",
        help="readers per feed, comma-separated (each P also runs with 0: the baseline)",
    )
    parser.add_argument("--feeds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10.0, help="updates/s per feed")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    print(
        f"scaling check: {args.feeds} feeds x {args.rate:g} updates/s for {args.seconds:g} s "
        f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})",
        flush=True,
    )
    print(
        "   P     R  web reads  per update per process  formula <= 2  other per update  "
        "bytes out per update  (m: one live message)  deliveries",
        flush=True,
    )

    async def go() -> None:
        with tempfile.TemporaryDirectory(prefix="nf-scaling-") as tmp:
            for p in (int(x) for x in args.processes.split(",")):
                # With no reader, no web process reads a live stream: what is
                # left of XREAD/EVAL is the worker's (its wake-up tail...).
                base = await one(args, p, 0, Path(tmp))
                for r in (int(x) for x in args.readers.split(",")):
                    m = await one(args, p, r, Path(tmp))
                    web = m["live_cmds"] - base["live_cmds"] * m["updates"] / base["updates"]
                    print(
                        f"{m['P']:4.0f} {m['R']:5.0f} {web:10.0f} "
                        f"{web / m['updates'] / p:23.2f} {'':12} "
                        f"{m['other_per_update']:17.1f} {m['out_per_update']:21,.0f} "
                        f"  m = {m['message_bytes']:.0f} B"
                        f"{'':8}{m['delivered']:,.0f}/{m['expected_deliveries']:,.0f}",
                        flush=True,
                    )

    asyncio.run(asyncio.wait_for(go(), 900))


if __name__ == "__main__":
    main()
