"""``newsfeed run``: the process tree on one machine.

It finds or starts the Redis to use (``REDIS_URL``, or the embedded server of
the data directory, one per directory, guarded by a lock file), creates a
first feed and admin on a first run, then supervises one ``newsfeed web`` and
one ``newsfeed worker``: each in its own session, told to die with its parent
(PR_SET_PDEATHSIG), stopped with SIGTERM (web first) when we are, and the
embedded server last so its AOF is flushed after every writer has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import fcntl
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from feed.accounts import Accounts
from feed.client import open_redis
from feed.durability import check_server, settle
from feed.errors import ConfigError, FeedError
from feed.settings import Settings
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, answers_ping

log = logging.getLogger("newsfeed")
DEFAULT_FEED = "news"


@contextlib.asynccontextmanager
async def services(settings: Settings) -> AsyncIterator[tuple[Stores, Accounts]]:
    """The stores of a one-shot command, on one connection.

    When the block ends without an error, it waits until every write it
    made is durable (NEWSFEED_DURABILITY): a token printed by the CLI is on
    disk. One connection, because WAITAOF covers its own connection's writes.
    """
    redis = open_redis(settings, single_connection_client=True)
    try:
        store = Stores.from_settings(redis, settings)
        yield store, Accounts(redis)
        await settle(redis, settings.durability_policy())
    finally:
        await redis.aclose()


def check_redis(settings: Settings) -> None:
    """Fail with one line when Redis is not reachable, or cannot do the durability."""
    where = settings.redis_url or f"the primary {settings.sentinel_primary!r} of the sentinels"

    async def ping() -> None:
        redis = open_redis(settings, socket_connect_timeout=3)
        try:
            await redis.ping()
            await check_server(redis, settings.durability_policy())
        finally:
            await redis.aclose()

    try:
        asyncio.run(ping())
    except ConfigError:
        raise
    except Exception as exc:
        raise FeedError(f"cannot reach Redis at {where}: {exc}") from None


def _port_file(data_dir: Path) -> Path:
    return data_dir / "redis.port"


def running_embedded(data_dir: Path) -> str | None:
    """The URL of the embedded server a `newsfeed run` keeps in data_dir, if up."""
    try:
        port = int(_port_file(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return f"redis://127.0.0.1:{port}/0" if answers_ping("127.0.0.1", port) else None


@contextlib.contextmanager
def store_settings(settings: Settings) -> Iterator[Settings]:
    """The settings with a Redis to talk to: the embedded one started if need be."""
    if not settings.embedded:
        yield settings
        return
    url = running_embedded(settings.data_dir)
    if url is not None:
        yield dataclasses.replace(settings, redis_url=url)
        return
    server = embedded_server(settings)
    with data_dir_lock(settings.data_dir), server.running():
        yield dataclasses.replace(settings, redis_url=server.url)


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """One embedded server per data directory, ever."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "newsfeed.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FeedError(f"another newsfeed process is using {data_dir}") from None
        yield


def embedded_server(settings: Settings) -> EmbeddedRedis:
    """The embedded server in the data dir, with the AOF policy the durability needs."""
    appendfsync = settings.durability_policy().embedded_appendfsync()
    return EmbeddedRedis(settings.data_dir, appendfsync=appendfsync)


def _die_with_parent() -> None:
    """Child processes get SIGTERM if `newsfeed run` itself dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run(settings: Settings, web_processes: str = "1") -> int:
    if not settings.embedded:
        check_redis(settings)
        return _supervise(settings, web_processes)
    settings = settings.with_embedded_secret()
    with data_dir_lock(settings.data_dir):
        server = embedded_server(settings)
        server.start()
        try:
            _port_file(settings.data_dir).write_text(str(server.port))
            return _supervise(dataclasses.replace(settings, redis_url=server.url), web_processes)
        finally:
            _port_file(settings.data_dir).unlink(missing_ok=True)
            server.stop()
            log.info("embedded redis stopped")


def _bootstrap(settings: Settings) -> list[str]:
    """On a first run, create a default feed and an admin with a fresh password."""

    async def go() -> list[str]:
        lines = []
        async with services(settings) as (store, accounts):
            if not await store.registry.list_feeds():
                await store.registry.create_feed(DEFAULT_FEED, "News", "UTC")
                lines.append(f"created the feed '{DEFAULT_FEED}'")
            if not await accounts.list_users():
                password = secrets.token_urlsafe(12)
                await accounts.add_user("admin", password, "admin")
                lines.append(f"sign in at /admin as 'admin' with password: {password}")
                lines.append("(shown once; add users with `newsfeed user add`)")
        return lines

    return asyncio.run(go())


def _supervise(settings: Settings, web_processes: str = "1") -> int:
    for line in _bootstrap(settings):
        print(f"newsfeed: {line}", flush=True)
    env = dict(os.environ, NEWSFEED_SECRET_KEY=settings.secret_key)
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    base = [sys.executable, "-m", "newsfeed"]
    children = {
        "web": subprocess.Popen(
            [
                *base,
                "web",
                "--host",
                settings.host,
                "--port",
                str(settings.port),
                "--processes",
                web_processes,
            ],
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        ),
        "worker": subprocess.Popen(
            [*base, "worker"], env=env, start_new_session=True, preexec_fn=_die_with_parent
        ),
    }
    base_url = settings.base_url()
    print(
        f"newsfeed: reader page  {base_url}/feeds/{DEFAULT_FEED}\n"
        f"newsfeed: admin page   {base_url}/admin\n"
        f"newsfeed: API          {base_url}/api/v1/feeds/{DEFAULT_FEED}/entries\n"
        f"newsfeed: Ctrl-C stops everything",
        flush=True,
    )
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"newsfeed: {name} exited with {proc.returncode}; stopping", file=sys.stderr)
                stopping, code = True, 1
        time.sleep(0.2)
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in children.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return code
