"""Benchmark: the publishing API's throughput and latency, end to end.

For each ``NEWSFEED_DURABILITY`` mode in ``--modes`` (default: fsync,
replica, none) it starts its own private valkey-server (the embedded one:
AOF with ``appendfsync always``, or ``everysec`` for ``none``; plus a replica
for ``replica``), a real ``newsfeed web`` process and a real ``newsfeed
worker``, all on loopback, then POSTs ``--count`` entries through
``/api/v1/feeds/{feed}/entries`` with at most ``--concurrency`` requests in
flight (httpx), and prints:

- throughput (accepted requests per second), with the web process pinned
  to one CPU and everything else (valkey, worker, this load generator) on
  the others (``--no-pin`` to let the scheduler place them),
- p50 / p90 / p99 / max latency of one POST (201 with the entry),
- where the CPU of one POST goes: CPU time per accepted POST of the web
  process, valkey (and its replica), the worker and this load generator,
  from /proc (user + system), over the publishing phase,
- how long the worker took to make every entry public after the last POST,
- how fast one reader pages back through the whole timeline (100 a page).

It is bounded in count and time (``--deadline`` seconds per mode) and stops
every process it started, by pid, whatever happens. ``--profile N`` then
profiles N sequential POSTs through the app in process (httpx's ASGI
transport, no sockets) and prints where their CPU went, by package and by
function.

    .venv/bin/python bench/bench_publish.py --count 5000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import httptools
import httpx
import orjson
import uvloop
from common import cpu_seconds

from feed import keys
from feed.accounts import Accounts
from feed.durability import MODES
from feed.redis_io import connect
from feed.settings import Settings
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port
from web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
FEED = "bench"
CPUS = os.sched_getaffinity(0)
"""The CPUs this benchmark may use (``pin`` narrows its own set per mode)."""


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "newsfeed", *args],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_ready(base: str, deadline: float) -> None:
    async with httpx.AsyncClient(timeout=1) as c:
        while time.monotonic() < deadline:
            try:
                if (await c.get(base + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("the web process did not come up")


def pin(pids: dict[str, int]) -> str:
    """The web process alone on CPU 0; everything else (this process too) on the rest.

    "Posts per second on one core" then means what it says: the web
    process cannot borrow a second core, and nothing else steals its own.
    """
    cpus = sorted(CPUS)
    if len(cpus) < 2:
        return ""
    web_cpu, rest = {cpus[0]}, set(cpus[1:])
    # Every thread of the web process (uvicorn runs the app on its main one).
    for task in Path(f"/proc/{pids['web']}/task").iterdir():
        os.sched_setaffinity(int(task.name), web_cpu)
    for name, pid in pids.items():
        if name != "web":
            for task in Path(f"/proc/{pid}/task").iterdir():
                os.sched_setaffinity(int(task.name), rest)
    os.sched_setaffinity(0, rest)
    return f", web pinned to CPU {cpus[0]}, the rest on {sorted(rest)}"


def pct(sorted_ms: list[float], p: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms)) - 1))
    return sorted_ms[index]


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the load generator.

    httpx costs ~700 µs of CPU per request here, more than the server's
    whole POST: a generator sharing two cores with the server would measure
    itself. This one writes pre-encoded requests and lets httptools (the
    parser uvicorn uses) find where each response ends: ~30 µs a request.
    """

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.body = bytearray()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:  # httptools callback
        self.body = bytearray()

    def on_body(self, body: bytes) -> None:  # httptools callback
        self.body += body

    def on_message_complete(self) -> None:  # httptools callback
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))
        if not self.lost.done():
            self.lost.set_result(None)

    async def request(self, raw: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await asyncio.wait_for(self.waiter, 10)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def post_bytes(host: str, path: str, token: str, body: dict[str, Any], key: str) -> bytes:
    payload = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: {key}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


async def publish(
    base: str, token: str, count: int, concurrency: int, deadline: float, pids: dict[str, int]
) -> None:
    url = f"/api/v1/feeds/{FEED}/entries"
    latencies: list[float] = []
    failures: dict[str, int] = {}
    next_index = 0
    ready = asyncio.Barrier(concurrency + 1)

    host, port = base.removeprefix("http://").rsplit(":", 1)

    async def worker() -> None:
        nonlocal next_index
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(Connection, host, int(port))
        try:
            # Warm up the connection (and the server's script cache) first.
            warm = post_bytes(host, url, token, {"headline": "warm-up"}, f"w-{id(conn)}")
            answered = await conn.request(warm)
            if answered != 201:
                raise SystemExit(f"the warm-up POST answered {answered}: {conn.body.decode()}")
            await ready.wait()
            while next_index < count and time.monotonic() < deadline:
                i = next_index
                next_index += 1
                body = {
                    "headline": f"{i}: Talks resume in Istanbul",
                    "body": "<p>Delegations met for <b>three hours</b>.</p>",
                    "pinned": i % 500 == 0,
                }
                raw = post_bytes(host, url, token, body, f"b-{i}")
                t0 = time.perf_counter()
                try:
                    status = str(await conn.request(raw))
                except (ConnectionError, TimeoutError) as exc:
                    status = type(exc).__name__
                    failures[status] = failures.get(status, 0) + 1
                    return
                ms = (time.perf_counter() - t0) * 1000
                if status == "201":
                    latencies.append(ms)
                else:
                    failures[status] = failures.get(status, 0) + 1
        finally:
            conn.close()

    async with asyncio.TaskGroup() as tg:
        for _ in range(concurrency):
            tg.create_task(worker())
        await ready.wait()
        started = time.perf_counter()
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        client_before = own_cpu()
    elapsed = time.perf_counter() - started
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    cpu["load generator"] = own_cpu() - client_before

    ok = sorted(latencies)
    print(
        f"published   {len(ok)} entries in {elapsed:.2f} s "
        f"({concurrency} in flight), failures: {failures or 'none'}"
    )
    if ok:
        print(f"throughput  {len(ok) / elapsed:.0f} req/s")
        print(
            "latency ms  "
            f"p50 {statistics.median(ok):.1f}  p90 {pct(ok, 90):.1f}  "
            f"p99 {pct(ok, 99):.1f}  max {ok[-1]:.1f}"
        )
        per_post = "  ".join(
            f"{name} {seconds / len(ok) * 1e6:.0f}" for name, seconds in cpu.items()
        )
        print(f"CPU µs/POST {per_post}  (total {sum(cpu.values()) / len(ok) * 1e6:.0f})")


async def page_back(base: str, expected: int, deadline: float) -> None:
    """Read the whole timeline back, 100 entries a page, as a reader would."""
    seen, pages, latencies = 0, 0, []
    url = f"/api/v1/feeds/{FEED}/entries?limit=100"
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        started = time.perf_counter()
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            r = await c.get(url)
            latencies.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            page = r.json()
            seen += len(page["entries"])
            pages += 1
            if page["next"] is None:
                break
            url = f"/api/v1/feeds/{FEED}/entries?limit=100&before={page['next']}"
        elapsed = time.perf_counter() - started
    ok = sorted(latencies)
    print(
        f"paging      {seen}/{expected} entries in {pages} pages of 100, {elapsed:.2f} s "
        f"({pages / elapsed:.0f} pages/s; p50 {statistics.median(ok):.1f} ms, "
        f"p99 {pct(ok, 99):.1f} ms)"
    )


async def run_mode(mode: str, args: argparse.Namespace, tmp: Path) -> None:
    deadline = time.monotonic() + args.deadline
    count = max(1, min(args.count, 100_000))
    fsync = "everysec" if mode == "none" else "always"
    server = EmbeddedRedis(None, appendfsync=fsync)
    replica = EmbeddedRedis(
        None, appendfsync=fsync, extra=["--replicaof", "127.0.0.1", str(server.port)]
    )
    with server.running(), contextlib.ExitStack() as stack:
        if mode == "replica":
            stack.enter_context(replica.running())
        redis: Any = connect(server.url)
        try:
            if mode == "replica":
                for _ in range(400):  # the replica's first sync is done (bounded: 20 s)
                    info = await redis.info("replication")
                    if (info.get("slave0") or {}).get("state") == "online":
                        break
                    await asyncio.sleep(0.05)
            store = Stores.build(redis)
            await store.registry.create_feed(FEED, "Bench")
            token, _ = await Accounts(redis).create_token(FEED, "bench")
            env = dict(
                os.environ,
                REDIS_URL=server.url,
                NEWSFEED_SECRET_KEY="bench-secret-key-0123456789",
                NEWSFEED_LOG_LEVEL="warning",
                NEWSFEED_RATE_LIMITS="off",  # load from one address
                NEWSFEED_DURABILITY=mode,
            )
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            web_args = ["web", "--host", "127.0.0.1", "--port", str(port)]
            web = start(web_args, env, tmp / "web.log")
            worker = start(["worker"], env, tmp / "worker.log")
            assert server.process is not None
            pids = {"web": web.pid, "valkey": server.process.pid, "worker": worker.pid}
            if mode == "replica" and replica.process is not None:
                pids["replica"] = replica.process.pid
            pinned = pin(pids) if args.pin else ""
            try:
                await wait_ready(base, deadline)
                print(f"-- NEWSFEED_DURABILITY={mode} (appendfsync {fsync}){pinned}")
                sampler = start_sampler(web.pid, args.sample, tmp / f"web-{mode}.raw")
                await publish(base, token, count, args.concurrency, deadline, pids)
                if sampler is not None:
                    report_samples(sampler, tmp / f"web-{mode}.raw")
                t0 = time.perf_counter()
                logged = int(await redis.xlen(keys.log(FEED)))
                while time.monotonic() < deadline:
                    pos = await redis.get(keys.public_pos(FEED))
                    last = await redis.xrevrange(keys.log(FEED), count=1)
                    if pos is not None and last and pos == last[0][0]:
                        break
                    await asyncio.sleep(0.01)
                public = int(await redis.hlen(keys.public(FEED)))
                print(
                    f"projection  {public}/{logged} entries public, "
                    f"{(time.perf_counter() - t0) * 1000:.0f} ms after the last POST returned"
                )
                await page_back(base, public, deadline)
            finally:
                stop(web)
                stop(worker)
                os.sched_setaffinity(0, CPUS)  # the next mode's processes start unpinned
        finally:
            await redis.aclose()


def start_sampler(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the running web process (``--sample``), if installed.

    Unlike ``--profile`` this is the real process under the real load:
    uvicorn, the sockets and every concurrent request, with no profiler in
    the process (py-spy reads its memory from outside, 250 times a second).
    """
    if seconds <= 0:
        return None
    exe = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if exe is None:
        print("sample      py-spy is not installed (pip install py-spy): no samples")
        return None
    args = [exe, "record", "-p", str(pid), "-d", str(seconds), "-r", "250", "-f", "raw"]
    args += ["-o", str(out), "--nonblocking"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def report_samples(sampler: subprocess.Popen[bytes], raw: Path) -> None:
    """Own time of the web process by package, from py-spy's raw stacks.

    C functions (nh3, orjson, hiredis, socket calls) count in the Python
    frame that called them; uvloop's own work shows under ``Runner.run``.
    """
    try:
        sampler.wait(60)
    except subprocess.TimeoutExpired:
        sampler.kill()
        sampler.wait()
    if not raw.exists():
        print("sample      py-spy wrote nothing (is ptrace allowed here?)")
        return
    own: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frame = stack.rsplit(";", 1)[-1]
        path = frame.rsplit("(", 1)[-1].rsplit(":", 1)[0]
        own[sample_bucket(path)] = own.get(sample_bucket(path), 0) + int(n)
    total = sum(own.values()) or 1
    print(f"sample      web process, {total} samples; own time by package:")
    for name, samples in sorted(own.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {samples / total * 100:5.1f}%  {name}")


def sample_bucket(path: str) -> str:
    if path.endswith("asyncio/runners.py"):
        return "uvloop (the event loop's own I/O, C)"
    parts = path.split("/")
    for package in ("redis", "uvicorn", "starlette", "asyncio", "prometheus_client", "httptools"):
        if package in parts:
            return package
    for ours in ("feed", "web", "newsfeed"):
        if ours in parts:
            return f"{ours}/ (ours)"
    return "other"


def bucket(path: str) -> str:
    """Which package a profiled function belongs to."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if path.startswith(str(ROOT) + "/"):
        return path[len(str(ROOT)) + 1 :].split("/", 1)[0] + "/ (ours)"
    if path.startswith("~") or path.startswith("<"):
        return "builtins (C calls)"
    return "stdlib: " + Path(path).stem


async def profile_posts(redis_url: str, token: str, mode: str, count: int) -> None:
    """Where the CPU of one POST goes inside the app (cProfile, in process).

    The app is driven through httpx's ASGI transport, one request at a
    time: no sockets, no uvicorn, so what remains is the request's own path
    (routing, auth, validation, the store, JSON) plus the in-process client.
    """
    settings = Settings(
        redis_url=redis_url,
        secret_key="bench-secret-key-0123456789",
        durability=mode,
        rate_limits=False,
    )
    app = create_app(settings)
    url = f"/api/v1/feeds/{FEED}/entries"
    auth = {"Authorization": f"Bearer {token}"}
    profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            for i in range(50):  # warm up
                (await c.post(url, json={"headline": f"w{i}"}, headers=auth)).raise_for_status()
            started = time.process_time()
            profiler.enable()
            for i in range(count):
                body = {"headline": f"p{i}: Talks resume", "body": "<p>Delegations met.</p>"}
                r = await c.post(url, json=body, headers={**auth, "Idempotency-Key": f"p-{i}"})
                r.raise_for_status()
            profiler.disable()
            cpu = time.process_time() - started
    profile = pstats.Stats(profiler).get_stats_profile()
    own: dict[str, float] = {}
    for fp in profile.func_profiles.values():
        own[bucket(fp.file_name)] = own.get(bucket(fp.file_name), 0.0) + fp.tottime
    total = sum(own.values())
    print(
        f"profile     {count} sequential POSTs in process ({mode}): {cpu / count * 1e6:.0f} µs CPU"
        " per POST with the profiler on; own time by package:"
    )
    for name, seconds in sorted(own.items(), key=lambda kv: -kv[1])[:14]:
        print(f"  {seconds / total * 100:5.1f}%  {seconds / count * 1e6:6.0f} µs  {name}")
    top = sorted(profile.func_profiles.items(), key=lambda kv: -kv[1].tottime)[:12]
    print("  top functions by own time:")
    for name, fp in top:
        where = fp.file_name.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        print(f"  {fp.tottime / count * 1e6:6.0f} µs  {where}:{fp.line_number} {name}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="entries to publish")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--deadline", type=float, default=120, help="seconds, per mode")
    parser.add_argument("--modes", default="fsync,replica,none", help="durability modes to run")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the web process to one CPU (and the rest to the others)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=5,
        help="seconds of py-spy samples of the web process while it publishes (0: none)",
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="also profile this many POSTs in process (fsync)"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nf-bench-"))
    for mode in filter(None, args.modes.split(",")):
        if mode not in MODES:
            raise SystemExit(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        await run_mode(mode, args, tmp)
    if args.profile:
        server = EmbeddedRedis(None)
        with server.running():
            redis: Any = connect(server.url)
            try:
                await Stores.build(redis).registry.create_feed(FEED, "Bench")
                token, _ = await Accounts(redis).create_token(FEED, "bench")
            finally:
                await redis.aclose()
            await profile_posts(server.url, token, "fsync", min(args.profile, 20_000))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine     {os.cpu_count()} cores, load average {load}; "
        "web, worker, valkey and this client share them"
    )


if __name__ == "__main__":
    uvloop.run(main())
