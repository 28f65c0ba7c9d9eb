"""Benchmark: live fan-out with 1 and with 2 web processes on one port.

For each process count P it starts a private valkey-server, a ``newsfeed
worker`` and ``newsfeed web --processes P`` (no core pinning: the processes,
valkey, the worker and the load generators share the host's cores, the same
for every P), opens S subscribers (10,000) to one feed through the one
port, then releases a burst of U updates (the worker is paused while they
are written, so they reach the live stream together) and prints:

- deliveries per second: S x U messages over the time from the release to
  the last receipt (two Node load generators, ``bench/live/loadgen.js``,
  half the subscribers each);
- server CPU per delivery: utime+stime of every web process (from /proc)
  over the burst, divided by the deliveries;
- per process: connections (the kernel's share of the accepts), RSS, and
  the CPU each spent;
- the Redis commands the web processes sent during the burst (INFO
  commandstats deltas), per update and per process.

Loopback only, bounded (``--deadline``), every process stopped by pid.
Needs Node 20 and ``npm ci`` in ``bench/live``.

    .venv/bin/python bench/bench_processes.py                   # P = 1 and 2
    .venv/bin/python bench/bench_processes.py --processes 2 --subscribers 4000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from common import LOADGEN, Loadgen, cpu_seconds

from feed.redis_io import connect
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
FEED = "bench"
BODY = "<p>" + "Live coverage continues with the latest from the count. " * 5 + "</p>"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sockets(pid: int) -> int:
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            n += os.readlink(fd).startswith("socket:")
    return n


def web_pids(parent: int, processes: int) -> list[int]:
    """The processes that serve: the parent itself (P = 1) or its children."""
    if processes == 1:
        return [parent]
    found: list[int] = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return sorted(found)


async def commandstats(redis: Any) -> dict[str, int]:
    info = await redis.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}


async def one_run(args: argparse.Namespace, processes: int, tmp: Path) -> None:
    server = EmbeddedRedis(None)
    env = dict(
        os.environ,
        REDIS_URL=server.url,
        NEWSFEED_SECRET_KEY="bench-secret-key-0123456789abcdef",
        NEWSFEED_LOG_LEVEL="warning",
        NEWSFEED_DURABILITY="none",
    )
    port = free_port()
    url = f"ws://127.0.0.1:{port}/api/v1/feeds/{FEED}/ws"
    with server.running(), started(env, processes, port, tmp) as (worker, web):
        redis = connect(server.url)
        try:
            store = Stores.build(redis)
            await store.registry.create_feed(FEED, "Bench")
            entries = []
            for i in range(20):
                entry, _ = await store.editorial.create_entry(
                    FEED, {"headline": f"entry {i}", "body": BODY}, actor="bench"
                )
                entries.append((entry.id, entry.version))
            await asyncio.sleep(1)
            pids = web_pids(web.pid, processes)
            base_sockets = {p: sockets(p) for p in pids}
            async with Loadgen.running(wait=300) as lg1, Loadgen.running(wait=300) as lg2:
                half = args.subscribers // 2
                opened = await asyncio.gather(
                    lg1.ask(cmd="open", url=url, n=half, rate=args.rate, wait=900),
                    lg2.ask(
                        cmd="open", url=url, n=args.subscribers - half, rate=args.rate, wait=900
                    ),
                )
                n = sum(o["ok"] for o in opened)
                failed = sum(o["failed"] for o in opened)
                print(
                    f"P={processes}: opened {n:,} of {args.subscribers:,} "
                    f"({failed} failed) in {max(o['secs'] for o in opened):.1f} s",
                    flush=True,
                )
                await asyncio.sleep(3)
                await asyncio.gather(lg1.ask(cmd="reset"), lg2.ask(cmd="reset"))
                conns = {p: sockets(p) - base_sockets[p] for p in pids}
                rss = {p: rss_mb(p) for p in pids}
                paced = args.pace > 0
                if not paced:
                    worker.send_signal(signal.SIGSTOP)
                else:  # paced updates: counted from the first one
                    stats0 = await commandstats(redis)
                    cpu0 = {p: cpu_seconds(p) for p in pids}
                    t0 = time.time() * 1000
                start = time.monotonic()
                try:
                    for i in range(args.burst):
                        if paced:
                            await asyncio.sleep(max(0.0, start + i / args.pace - time.monotonic()))
                        k = i % len(entries)
                        edited = await store.editorial.edit_entry(
                            FEED,
                            entries[k][0],
                            {"headline": f"bench {i}"},
                            if_match=entries[k][1],
                            actor="bench",
                        )
                        entries[k] = (edited.id, edited.version)
                finally:
                    if not paced:
                        stats0 = await commandstats(redis)
                        cpu0 = {p: cpu_seconds(p) for p in pids}
                        t0 = time.time() * 1000
                        worker.send_signal(signal.SIGCONT)
                stats = await wait_all([lg1, lg2], args.burst, 120)
                cpu1 = {p: cpu_seconds(p) for p in pids}
                stats1 = await commandstats(redis)
        finally:
            await redis.aclose()
    deliveries = sum(s["events_total"] for s in stats)
    last = max(s["last_receipt"] for s in stats)
    secs = max(1e-3, (last - t0) / 1000)
    cpu = sum(cpu1[p] - cpu0[p] for p in pids)
    calls = {k: stats1.get(k, 0) - stats0.get(k, 0) for k in stats1}
    web_calls = sum(calls.get(c, 0) for c in ("xread", "eval", "evalsha"))
    complete = all(s["events_min"] == args.burst for s in stats)
    codes: dict[str, int] = {}
    for s in stats:
        for code, count in s["close_codes"].items():
            codes[code] = codes.get(code, 0) + count
    what = f"{args.burst} updates at {args.pace:g}/s" if args.pace else f"a burst of {args.burst}"
    print(
        f"P={processes}: {n:,} subscribers, {what}: "
        f"{deliveries:,} deliveries in {secs * 1000:.0f} ms = {deliveries / secs:,.0f} "
        f"deliveries/s; web CPU {cpu:.2f} s = {cpu * 1e6 / max(1, deliveries):.2f} us per "
        f"delivery{'' if complete else '   NOT ALL DELIVERED'}"
        f"{f'; closes {codes}' if codes else ''}",
        flush=True,
    )
    for p in pids:
        print(
            f"    process {p}: {conns[p]:,} connections, RSS {rss[p]:.0f} MB, "
            f"CPU {cpu1[p] - cpu0[p]:.2f} s",
            flush=True,
        )
    print(
        f"    Redis commands from the release to the last receipt (worker included): "
        f"{sum(calls.values()):,}, of them XREAD + EVAL {web_calls:,} "
        f"(bench/scaling_check.py attributes them)",
        flush=True,
    )
    print(f"    load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


async def wait_all(lgs: list[Loadgen], each: int, seconds: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        stats = [await lg.ask(cmd="stats") for lg in lgs]
        if all(s["events_min"] >= each for s in stats) or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.2)


@contextlib.contextmanager
def started(
    env: dict[str, str], processes: int, port: int, tmp: Path
) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(tmp / "worker.log", "ab") as wlog, open(tmp / "web.log", "ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "newsfeed", "worker"], env=env, stdout=wlog, stderr=wlog
            )
            procs.append(worker)
            command = ["web", "--port", str(port), "--processes", str(processes)]
            web = subprocess.Popen(
                [sys.executable, "-m", "newsfeed", *command],
                env=env,
                stdout=log,
                stderr=log,
            )
            procs.append(web)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("the web processes did not come up")
        time.sleep(1)  # every child up, not only the first
        yield worker, web
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
                    proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--burst", type=int, default=100, help="updates")
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="updates/s (default 0: a burst, written while the worker is paused)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=300.0,
        help="connections opened per second by each of the two load generators "
        "(faster, on a busy machine, overflows the server's bound on pending handshakes)",
    )
    parser.add_argument("--deadline", type=float, default=900.0)
    args = parser.parse_args()
    if not (LOADGEN.parent / "node_modules" / "ws").exists():
        sys.exit("run `npm ci` in bench/live first")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(
        f"newsfeed web --processes benchmark (cores: {os.cpu_count()}, open files: {hard}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})",
        flush=True,
    )

    async def all_runs() -> None:
        with tempfile.TemporaryDirectory(prefix="nf-bench-proc-") as tmp:
            for p in (int(x) for x in args.processes.split(",")):
                await one_run(args, p, Path(tmp))

    asyncio.run(asyncio.wait_for(all_runs(), args.deadline))


if __name__ == "__main__":
    main()
