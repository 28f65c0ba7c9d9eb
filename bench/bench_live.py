"""Benchmark: live fan-out over WebSockets, with the web process on one core.

Starts a private valkey-server, a ``newsfeed worker`` and ONE ``newsfeed
web`` pinned to core 0 (``taskset -c 0``); itself, valkey, the worker and
the load generator (one Node process with the ``ws`` package,
``bench/live/loadgen.js``) run on core 1. Then it measures and prints:

(a) N subscribers (5,000) on one feed while it publishes 20 updates/s:
    publish->receipt latency p50/p90/p99/max, and whether the server keeps
    up (every subscriber got every update, none cut off, CPU below a core);
(b) a burst of 200 back-to-back updates to 1,000 subscribers (the worker is
    paused while they are written, so they reach the live stream together):
    deliveries per second and server CPU microseconds per delivery (the web
    process's utime+stime from /proc before and after);
(c) server memory per idle connection (RSS delta / connections, 5,000 idle);
(d) 10,000 clients that disconnect, miss 20 updates and reconnect with
    ``since`` spread over 10 s: how many recovered exactly what they missed
    (same events, same order, no snapshot, no reset);
(e) server memory per idle SSE connection (5,000 idle, held by this process,
    opened after (a) while its WebSockets are still open);
(n) the same load as (a) against a bare Node WebSocket server
    (``bench/live/bare_server.js``, no library, one pre-built frame written
    to every socket) pinned to core 0 in the same run: its CPU per delivery
    and latency, printed next to ours.

Loopback only, bounded in time (``--deadline``), and it stops every process
it started by pid. Needs Node 20 and ``npm install`` in ``bench/live``.

    .venv/bin/python bench/bench_live.py            # all of them
    .venv/bin/python bench/bench_live.py --phases b --burst-subscribers 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
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

from common import LOADGEN, Loadgen, cpu_seconds

from feed.accounts import Accounts
from feed.redis_io import connect
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
BARE = ROOT / "bench" / "live" / "bare_server.js"
FEED = "bench"
BODY = "<p>" + "Live coverage continues with the latest from the count. " * 5 + "</p>"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def fanout_histogram(port: int) -> dict[float, float]:
    """The web process's fan-out lag histogram: cumulative count per bucket bound."""
    import httpx

    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("newsfeed_live_fanout_lag_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return out


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """The bucket bound under which a fraction q of the batches between two reads fell."""
    bounds = sorted(after)
    total = after[bounds[-1]] - before.get(bounds[-1], 0.0)
    if not total:
        return "n/a"
    for bound in bounds:
        if after[bound] - before.get(bound, 0.0) >= q * total:
            return f"<= {bound * 1000:g} ms" if bound != float("inf") else "> 10 s"
    return "n/a"


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Bench:
    def __init__(self, args: argparse.Namespace, store: Stores, web_pid: int, port: int):
        self.args = args
        self.store = store
        self.web_pid = web_pid
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/api/v1/feeds/{FEED}/ws"
        self.entries: list[tuple[str, int]] = []

    async def setup(self) -> None:
        await self.store.registry.create_feed(FEED, "Bench")
        for i in range(20):
            entry, _ = await self.store.editorial.create_entry(
                FEED, {"headline": f"entry {i}", "body": BODY}, actor="bench"
            )
            self.entries.append((entry.id, entry.version))
        await asyncio.sleep(1)

    async def update(self, i: int) -> None:
        """One update: the headline carries the publish time in ms."""
        k = i % len(self.entries)
        entry_id, version = self.entries[k]
        headline = f"bench {time.time() * 1000:.3f}"
        entry = await self.store.editorial.edit_entry(
            FEED, entry_id, {"headline": headline}, if_match=version, actor="bench"
        )
        self.entries[k] = (entry_id, entry.version)

    async def open_interleaved(
        self, lg: Loadgen, probe: Loadgen, subscribers: int, probes: int
    ) -> dict[str, Any]:
        """Open the subscribers in groups with a probe client after each group.

        The hub writes to its subscribers in connection order, so the probes
        sit at every depth of the fan-out, not all at its start or its end.
        Returns the load generator's counts plus the probes' own.
        """
        if probes <= 0:
            opened: dict[str, Any] = await lg.ask(
                cmd="open", url=self.url, n=subscribers, rate=1000, wait=600
            )
            return opened
        group = max(1, (subscribers - probes) // probes)
        totals = {"ok": 0, "failed": 0, "secs": 0.0}
        remaining = subscribers - probes
        for _ in range(probes):
            n = min(group, remaining)
            if n:
                got = await lg.ask(cmd="open", url=self.url, n=n, rate=1000, wait=600)
                remaining -= n
                for k in totals:
                    totals[k] += got[k]
            got = await probe.ask(cmd="open", url=self.url, n=1, rate=1000, wait=60)
            for k in totals:
                totals[k] += got[k]
        if remaining:
            got = await lg.ask(cmd="open", url=self.url, n=remaining, rate=1000, wait=600)
            for k in totals:
                totals[k] += got[k]
        return totals

    async def wait_all(self, lg: Loadgen, each: int, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            stats = await lg.ask(cmd="stats")
            if stats["events_min"] >= each or time.monotonic() > deadline:
                return stats
            await asyncio.sleep(0.2)

    # -- (c) then (a) --------------------------------------------------------
    async def steady(self) -> None:
        a = self.args
        async with Loadgen.running() as lg:
            warm = await lg.ask(cmd="open", url=self.url, n=100, rate=1000)
            await lg.ask(cmd="close")
            assert warm["ok"] == 100, warm
        await asyncio.sleep(1)
        async with Loadgen.running() as lg, Loadgen.running() as probe:
            rss0 = rss_bytes(self.web_pid)
            cpu_open = cpu_seconds(self.web_pid)
            opened = await self.open_interleaved(lg, probe, a.subscribers, a.probes)
            cpu_open = cpu_seconds(self.web_pid) - cpu_open
            await asyncio.sleep(3)
            rss1 = rss_bytes(self.web_pid)
            per = (rss1 - rss0) / max(1, opened["ok"])
            print(
                f"(c) memory per idle connection: {per / 1024:.1f} KB "
                f"(RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MB for {opened['ok']} "
                f"connections; opened in {opened['secs']:.1f} s, {opened['failed']} failed, "
                f"{cpu_open * 1e6 / max(1, opened['ok']):.0f} us server CPU each)"
                f"   [target <= 16 KB]",
                flush=True,
            )
            # Unbatched: updates 250 ms apart, so each write carries one message.
            cpu_single = cpu_seconds(self.web_pid)
            for i in range(8):
                await self.update(i)
                await asyncio.sleep(0.25)
            await self.wait_all(lg, 8, 15)
            cpu_single = cpu_seconds(self.web_pid) - cpu_single
            per_write = cpu_single * 1e6 / (8 * max(1, opened["ok"]))
            print(
                f"    one update fanned out to {opened['ok']}: {cpu_single * 1000 / 8:.0f} ms "
                f"server CPU = {per_write:.1f} us per write of one message (a loopback TCP "
                f"send() alone costs ~7 us here)",
                flush=True,
            )
            await lg.ask(cmd="measure", on=True, every=a.sample_every)
            await lg.ask(cmd="reset")
            await probe.ask(cmd="measure", on=True, every=1)
            await probe.ask(cmd="reset")
            lg_cpu0 = (await lg.ask(cmd="stats"))["cpu_ms"]
            hist0 = await fanout_histogram(self.port)
            total = int(a.rate * a.duration)
            cpu0, t0 = cpu_seconds(self.web_pid), time.monotonic()
            start = time.monotonic()
            for i in range(total):
                await asyncio.sleep(max(0.0, start + i / a.rate - time.monotonic()))
                await self.update(i)
            stats = await self.wait_all(lg, total, 15)
            probed = await self.wait_all(probe, total, 15) if a.probes else None
            cpu1, t1 = cpu_seconds(self.web_pid), time.monotonic()
            hist1 = await fanout_histogram(self.port)
            keeps_up = (
                stats["events_min"] == total
                and not stats["close_codes"]
                and stats["open"] + (probed["open"] if probed else 0) == opened["ok"]
                and (
                    probed is None or (probed["events_min"] == total and not probed["close_codes"])
                )
            )
            print(
                f"(a) {opened['ok']} subscribers x {a.rate:g} updates/s for {a.duration:g} s "
                f"({opened['ok'] * a.rate:,.0f} deliveries/s): "
                f"p50 {stats['p50']:.1f} ms, p90 {stats['p90']:.1f} ms, "
                f"p99 {stats['p99']:.1f} ms, max {stats['max']:.1f} ms; "
                f"received min/max {stats['events_min']}/{stats['events_max']} of {total}; "
                f"server CPU {100 * (cpu1 - cpu0) / (t1 - t0):.0f}% of its core "
                f"({(cpu1 - cpu0) * 1e6 / max(1, total * opened['ok']):.2f} us per delivery); "
                f"keeps up: {'yes' if keeps_up else 'NO'}   [target p50 < 50, p99 < 150 ms]",
                flush=True,
            )
            if probed is not None:
                print(
                    f"    measured at {a.probes} probe clients in a second Node process "
                    f"(interleaved among the subscribers, so the load generator's own backlog "
                    f"is not counted): p50 {probed['p50']:.1f} ms, p90 {probed['p90']:.1f} ms, "
                    f"p99 {probed['p99']:.1f} ms, max {probed['max']:.1f} ms; received "
                    f"min/max {probed['events_min']}/{probed['events_max']} of {total}",
                    flush=True,
                )
            print(
                f"    of which live stream -> receipt (the web process's part): "
                f"p50 {stats['fan_p50']:.1f} ms, p99 {stats['fan_p99']:.1f} ms, "
                f"max {stats['fan_max']:.1f} ms; the rest is publish -> worker -> stream",
                flush=True,
            )
            print(
                f"    server-side fan-out lag (stream append -> last write of the batch issued, "
                f"per batch): p50 {bucket_quantile(hist0, hist1, 0.5)}, "
                f"p99 {bucket_quantile(hist0, hist1, 0.99)}",
                flush=True,
            )
            print(
                f"    load generator CPU {(stats['cpu_ms'] - lg_cpu0) / 10 / (t1 - t0):.0f}% of "
                f"core 1 (latency sampled on every {a.sample_every}th client)",
                flush=True,
            )
            if "e" in a.phases:
                # On top of the WebSockets, still open: fresh allocations, not
                # memory the closed WebSockets left behind.
                await self.idle_sse()

    # -- (e) ---------------------------------------------------------------------
    async def idle_sse(self) -> None:
        """Memory per idle SSE connection: raw sockets held by this process."""
        n = self.args.subscribers
        await asyncio.sleep(1)
        rss0 = rss_bytes(self.web_pid)
        request = f"GET /api/v1/feeds/{FEED}/sse HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
        streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            for i in range(n):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(request)
                streams.append((reader, writer))
                if i % 200 == 199:
                    await asyncio.sleep(0.05)
            ok = 0
            for reader, _ in streams:
                with contextlib.suppress(TimeoutError, OSError):
                    head = await asyncio.wait_for(reader.read(65536), 30)
                    ok += head.startswith(b"HTTP/1.1 200")
            await asyncio.sleep(3)
            rss1 = rss_bytes(self.web_pid)
            print(
                f"(e) memory per idle SSE connection: {(rss1 - rss0) / max(1, ok) / 1024:.1f} KB "
                f"(RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MB for {ok} of {n} streams)"
                f"   [target <= 8 KB]",
                flush=True,
            )
        finally:
            for _, writer in streams:
                writer.close()
            await asyncio.sleep(2)

    # -- (n) ---------------------------------------------------------------------
    async def bare_node(self) -> None:
        """(a)'s load against a bare Node server writing one pre-built frame."""
        a = self.args
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            "taskset",
            "-c",
            "0",
            "node",
            str(BARE),
            str(port),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            await asyncio.wait_for(proc.stdout.readline(), 10)
            url = f"ws://127.0.0.1:{port}/"
            saved, self.url = self.url, url
            try:
                async with Loadgen.running() as lg, Loadgen.running() as probe:
                    opened = await self.open_interleaved(lg, probe, a.subscribers, a.probes)
                    await asyncio.sleep(2)
                    await lg.ask(cmd="measure", on=True, every=a.sample_every)
                    await lg.ask(cmd="reset")
                    await probe.ask(cmd="measure", on=True, every=1)
                    await probe.ask(cmd="reset")
                    total = int(a.rate * a.duration)
                    node_pid = proc.pid  # taskset execs node in place
                    cpu0, t0 = cpu_seconds(node_pid), time.monotonic()
                    start = time.monotonic()
                    for i in range(total):
                        await asyncio.sleep(max(0.0, start + i / a.rate - time.monotonic()))
                        ms = time.time() * 1000
                        entry = {
                            "id": f"e{i % 20}",
                            "feed": FEED,
                            "version": i + 2,
                            "headline": f"bench {ms:.3f}",
                            "body": BODY,
                        }
                        message = {"type": "update", "cursor": f"bare.{int(ms)}-0", "entry": entry}
                        data = json.dumps(message, separators=(",", ":"))
                        proc.stdin.write(json.dumps({"cmd": "send", "data": data}).encode() + b"\n")
                        await proc.stdin.drain()
                        await asyncio.wait_for(proc.stdout.readline(), 10)
                    stats = await self.wait_all(lg, total, 15)
                    probed = await self.wait_all(probe, total, 15) if a.probes else None
                    cpu1, t1 = cpu_seconds(node_pid), time.monotonic()
                    print(
                        f"(n) bare Node server (no library, one pre-built frame): "
                        f"{opened['ok']} subscribers x {a.rate:g} updates/s: "
                        f"server CPU {100 * (cpu1 - cpu0) / (t1 - t0):.0f}% of its core "
                        f"({(cpu1 - cpu0) * 1e6 / max(1, total * opened['ok']):.2f} us per "
                        f"delivery); in the load generator p50 {stats['p50']:.1f} ms, "
                        f"p99 {stats['p99']:.1f} ms; received min {stats['events_min']} of {total}",
                        flush=True,
                    )
                    if probed is not None:
                        print(
                            f"    at the {a.probes} probes: p50 {probed['p50']:.1f} ms, "
                            f"p99 {probed['p99']:.1f} ms, max {probed['max']:.1f} ms "
                            f"(publish here = the write itself: no API, worker or Redis)",
                            flush=True,
                        )
            finally:
                self.url = saved
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    # -- (b) ---------------------------------------------------------------------
    async def burst(self, worker: subprocess.Popen[bytes]) -> None:
        a = self.args
        async with Loadgen.running() as lg:
            opened = await lg.ask(
                cmd="open", url=self.url, n=a.burst_subscribers, rate=1000, wait=600
            )
            await asyncio.sleep(2)
            await lg.ask(cmd="reset")
            worker.send_signal(signal.SIGSTOP)
            try:
                for i in range(a.burst):
                    await self.update(i)
            finally:
                cpu0 = cpu_seconds(self.web_pid)
                t0 = time.time() * 1000
                worker.send_signal(signal.SIGCONT)
            stats = await self.wait_all(lg, a.burst, 60)
            cpu1 = cpu_seconds(self.web_pid)
            n = opened["ok"]
            deliveries = stats["events_total"]
            secs = (stats["last_receipt"] - t0) / 1000
            fan_secs = (stats["last_receipt"] - stats["first_receipt"]) / 1000
            print(
                f"(b) burst of {a.burst} updates to {n} subscribers: {deliveries:,} deliveries "
                f"in {secs * 1000:.0f} ms from release ({fan_secs * 1000:.0f} ms first to last "
                f"receipt) = {deliveries / secs:,.0f} deliveries/s; server CPU "
                f"{(cpu1 - cpu0) * 1e6 / max(1, deliveries):.2f} us per delivery "
                f"({cpu1 - cpu0:.2f} s)   [target >= 100,000/s, <= 10 us]",
                flush=True,
            )
            if stats["events_min"] != a.burst:
                print(f"    NOT all delivered: min {stats['events_min']}", flush=True)

    # -- (d) ---------------------------------------------------------------------
    async def reconnects(self) -> None:
        a = self.args
        async with Loadgen.running() as lg:
            opened = await lg.ask(cmd="open", url=self.url, n=a.reconnect, rate=1000, wait=600)
            await asyncio.sleep(1)
            page = await self.store.public.read_timeline(FEED, limit=1)
            await lg.ask(cmd="close", wait=300)
            await lg.ask(cmd="record", on=True)
            for i in range(a.missed):
                await self.update(i)
            await asyncio.sleep(1)  # projected
            missed = await self.store.live.read_live(FEED, page.cursor.position, count=10_000)
            expect = [[m.type, m.entry_id, m.version] for m in missed]
            cpu0 = cpu_seconds(self.web_pid)
            result = await lg.ask(
                cmd="reconnect",
                url=self.url,
                within=a.within,
                expect=expect,
                timeout=a.within + 60,
                wait=a.within + 120,
            )
            print(
                f"(d) {opened['ok']} clients ({result['never']} of {a.reconnect} never opened) "
                f"missed {len(expect)} updates and reconnected with "
                f"since over {a.within:g} s: {result['ok']} recovered exactly, "
                f"{result['bad']} did not, {result['failed']} failed to connect; all done "
                f"{result['secs']:.1f} s after the first reconnect   [target: all]",
                flush=True,
            )
            cpu = cpu_seconds(self.web_pid) - cpu0
            print(
                f"    server CPU {cpu:.1f} s = {cpu * 1e6 / max(1, opened['ok']):.0f} us per "
                f"reconnect (handshake + catch-up from memory)",
                flush=True,
            )
            if result["sample"]:
                print(f"    first bad client: {result['sample']}", flush=True)


@contextlib.contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
                    proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(port: int, seconds: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the web process did not come up")


@contextlib.contextmanager
def services(url: str, tmp: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """A worker (core 1, inherited) and one web process pinned to core 0."""
    env = dict(
        os.environ,
        REDIS_URL=url,
        NEWSFEED_SECRET_KEY="bench-secret-key-0123456789abcdef",
        NEWSFEED_LOG_LEVEL="warning",
        NEWSFEED_RATE_LIMITS="off",  # load from one address
    )
    port = free_port()
    with (
        processes() as procs,
        open(tmp / "worker.log", "wb") as wlog,
        open(tmp / "web.log", "wb") as log,
    ):
        worker = subprocess.Popen(
            [sys.executable, "-m", "newsfeed", "worker"],
            env=env,
            cwd=ROOT,
            stdout=wlog,
            stderr=subprocess.STDOUT,
        )
        procs.append(worker)
        web = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "newsfeed", "web", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(web)
        wait_ready(port)
        try:
            yield worker, web.pid, port
        finally:
            if web.poll() is not None:
                print((tmp / "web.log").read_text()[-3000:], file=sys.stderr)


async def run(
    args: argparse.Namespace, url: str, worker: subprocess.Popen[bytes], web_pid: int, port: int
) -> None:
    redis = connect(url)
    try:
        bench = Bench(args, Stores.build(redis), web_pid, port)
        await bench.setup()
        await Accounts(redis).create_token(FEED, "bench")
        print(f"load average before: {loadavg()}", flush=True)
        if "c" in args.phases or "a" in args.phases:
            await bench.steady()
            print(f"load average: {loadavg()}", flush=True)
        if "b" in args.phases:
            await bench.burst(worker)
            print(f"load average: {loadavg()}", flush=True)
        if "n" in args.phases:
            await bench.bare_node()
            print(f"load average: {loadavg()}", flush=True)
        if "d" in args.phases:
            await bench.reconnects()
            print(f"load average: {loadavg()}", flush=True)
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default="abcden", help="which of a, b, c, d, e, n to run")
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--sample-every", type=int, default=10)
    parser.add_argument(
        "--probes", type=int, default=50, help="latency probe clients in a second Node process"
    )
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--burst-subscribers", type=int, default=1000)
    parser.add_argument("--reconnect", type=int, default=10_000)
    parser.add_argument("--missed", type=int, default=20)
    parser.add_argument("--within", type=float, default=10.0)
    parser.add_argument("--deadline", type=float, default=900.0)
    parser.add_argument(
        "--nice", type=int, default=0, help="raise this benchmark's priority by N (needs root)"
    )
    args = parser.parse_args()
    if not (LOADGEN.parent / "node_modules" / "ws").exists():
        sys.exit("run `npm install` in bench/live first")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.reconnect + 1000:  # per process: web and Node each hold one end
        sys.exit(f"the open-files limit ({hard}) is too low for {args.reconnect} clients")
    os.sched_setaffinity(0, {1})  # us, valkey, the worker and Node; web gets core 0
    if args.nice:
        # On a machine shared with other work, a higher priority for this
        # benchmark's processes (all inherit it) approximates the dedicated
        # cores the targets assume. Off by default; say so when quoting.
        os.nice(-args.nice)
    print(
        f"newsfeed live benchmark: web on core 0, everything else on core 1 "
        f"(cores: {os.cpu_count()}, open files: {hard}, priority boost: {args.nice})",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="nf-bench-live-") as tmp:
        server = EmbeddedRedis(None)
        with server.running(), services(server.url, Path(tmp)) as (worker, web_pid, port):

            async def bounded() -> None:
                await asyncio.wait_for(run(args, server.url, worker, web_pid, port), args.deadline)

            asyncio.run(bounded())


if __name__ == "__main__":
    main()
