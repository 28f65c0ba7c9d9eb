"""Reader page throughput and latency: one real web process, loopback only.

Starts a private valkey-server (or uses REDIS_URL), one ``newsfeed web`` and
one ``newsfeed worker``, publishes ENTRIES updates, then fetches each page
REQUESTS times with CONCURRENCY clients and prints latency percentiles and
requests per second. Stops by itself; prints numbers, asserts nothing.

    .venv/bin/python bench/reader_pages.py [--entries 200] [--requests 400] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from feed.accounts import Accounts
from feed.redis_io import connect
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with EmbeddedRedis(None).running() as server:
        yield server.url


@contextlib.contextmanager
def process(args: list[str], url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(
        os.environ,
        REDIS_URL=url,
        NEWSFEED_SECRET_KEY="bench-secret-0123456789abcdef",
        NEWSFEED_LOG_LEVEL="warning",
        NEWSFEED_RATE_LIMITS="off",  # load from one address
    )
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsfeed", *args],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_up(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(400):
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(base + "/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise SystemExit("the web process did not come up")


async def seed(url: str, base: str, entries: int) -> str:
    redis = connect(url)
    try:
        store = Stores.build(redis)
        await store.registry.create_feed("bench", "Bench", "Europe/Kyiv")
        token, _ = await Accounts(redis).create_token("bench", "bench")
    finally:
        await redis.aclose()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        last = None
        for i in range(entries):
            r = await client.post(
                "/api/v1/feeds/bench/entries",
                json={
                    "headline": f"Update {i}: talks continue",
                    "body": "<p>" + "Reporting. " * 30 + "</p>",
                    "pinned": i == 0,
                },
            )
            last = r.json()["id"]
        for _ in range(400):
            if (await client.get(f"/api/v1/feeds/bench/entries/{last}")).status_code == 200:
                return str(last)
            await asyncio.sleep(0.05)
    raise SystemExit("the worker did not project the entries")


async def measure(base: str, path: str, requests: int, concurrency: int) -> None:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=requests)
    for i in range(requests):
        queue.put_nowait(i)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            r = await client.get(path)
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise SystemExit(f"{path}: HTTP {r.status_code}")

    async with httpx.AsyncClient(
        base_url=base, limits=httpx.Limits(max_connections=concurrency)
    ) as c:
        await c.get(path)  # warm up
        t0 = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for _ in range(concurrency):
                tg.create_task(client_loop(c))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{path:32} {requests / elapsed:8.0f} req/s   p50 {q[49] * 1000:6.1f} ms"
        f"   p95 {q[94] * 1000:6.1f} ms   max {latencies[-1] * 1000:6.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        redis_url() as url,
        tempfile.TemporaryDirectory() as tmp,
        process(["web", "--port", str(port)], url, Path(tmp) / "web.log"),
        process(["worker"], url, Path(tmp) / "worker.log"),
    ):
        await wait_up(base)
        entry = await seed(url, base, args.entries)
        print(f"{args.entries} entries, {args.requests} requests, {args.concurrency} clients")
        for path in (
            "/feeds/bench",
            "/embed/bench",
            f"/feeds/bench/entries/{entry}",
            "/api/v1/feeds/bench/entries",
            "/embed.js",
        ):
            await measure(base, path, args.requests, args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
