"""Admin page latency: sign-in, a form post, the editor screen and its refresh.

Starts a private valkey-server (or uses REDIS_URL) and one ``newsfeed web``
on loopback, creates a feed and an editor, then measures, sequentially (one
editor at a time, as a newsroom works): POSTS form posts through
``/admin/feeds/bench/entries`` (each includes the redirect's GET of the
editor screen, as a browser does) next to the same number of API posts, and
REQUESTS fetches of the editor screen and of ``entries.json`` with
CONCURRENCY editors. Sign-in is timed too (argon2 dominates). Stops by itself;
prints numbers, asserts nothing.

    .venv/bin/python bench/admin_page.py [--posts 100] [--requests 300] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx

from feed.accounts import Accounts
from feed.redis_io import connect
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench password 123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with EmbeddedRedis(None).running() as server:
        yield server.url


@contextlib.contextmanager
def web(url: str, port: int, log: Path) -> Iterator[None]:
    env = dict(
        os.environ,
        REDIS_URL=url,
        NEWSFEED_SECRET_KEY="bench-secret-0123456789abcdef",
        NEWSFEED_LOG_LEVEL="warning",
        NEWSFEED_RATE_LIMITS="off",  # load from one address
    )
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsfeed", "web", "--port", str(port)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        yield
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


def report(label: str, latencies: list[float], elapsed: float | None = None) -> None:
    latencies.sort()
    q = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else latencies * 99
    )
    rate = f"{len(latencies) / elapsed:8.0f} req/s" if elapsed else " " * 14
    print(
        f"{label:48} {rate}   p50 {q[49] * 1000:6.1f} ms   p95 {q[94] * 1000:6.1f} ms"
        f"   max {latencies[-1] * 1000:6.1f} ms"
    )


async def timed(n: int, step: Callable[[int], Awaitable[None]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await step(i)
        out.append(time.perf_counter() - t0)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with redis_url() as url, tempfile.TemporaryDirectory() as tmp, web(url, port, Path(tmp) / "w"):
        await wait_up(base)
        redis = connect(url)
        try:
            await Stores.build(redis).registry.create_feed("bench", "Bench", "Europe/Kyiv")
            accounts = Accounts(redis)
            await accounts.add_user("ed", PASSWORD, "editor", frozenset({"bench"}))
            token, _ = await accounts.create_token("bench", "bench")
        finally:
            await redis.aclose()
        async with httpx.AsyncClient(base_url=base, timeout=30) as ed:

            async def sign_in(_: int) -> None:
                ed.cookies.clear()
                page = await ed.get("/admin/login")
                csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
                r = await ed.post(
                    "/admin/login", data={"name": "ed", "password": PASSWORD, "csrf_token": csrf}
                )
                assert r.status_code == 303

            report("sign-in (login page + POST)", await timed(5, sign_in))
            screen = await ed.get("/admin/feeds/bench")
            csrf = CSRF.search(screen.text).group(1)  # type: ignore[union-attr]
            state = {"nonce": NONCE.search(screen.text).group(1)}  # type: ignore[union-attr]

            async def form_post(i: int) -> None:
                r = await ed.post(
                    "/admin/feeds/bench/entries",
                    data={"csrf_token": csrf, "nonce": state["nonce"], "headline": f"Update {i}"},
                    follow_redirects=True,
                )
                assert r.status_code == 200 and "Posted" in r.text
                state["nonce"] = NONCE.search(r.text).group(1)  # type: ignore[union-attr]

            report("admin form post (+ redirect GET)", await timed(args.posts, form_post))

            async def api_post(i: int) -> None:
                r = await ed.post(
                    "/api/v1/feeds/bench/entries",
                    json={"headline": f"API update {i}"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code == 201

            report("API post, for comparison", await timed(args.posts, api_post))

            for path in ("/admin/feeds/bench", "/admin/feeds/bench/entries.json"):
                latencies: list[float] = []

                async def editor(path: str = path, latencies: list[float] = latencies) -> None:
                    for _ in range(args.requests // args.concurrency):
                        t0 = time.perf_counter()
                        r = await ed.get(path)
                        latencies.append(time.perf_counter() - t0)
                        assert r.status_code == 200

                t0 = time.perf_counter()
                async with asyncio.TaskGroup() as tg:
                    for _ in range(args.concurrency):
                        tg.create_task(editor())
                report(f"GET {path} (50 entries)", latencies, time.perf_counter() - t0)


if __name__ == "__main__":
    asyncio.run(main())
