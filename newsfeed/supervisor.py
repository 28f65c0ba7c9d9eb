"""``newsfeed run``: the process tree on one machine.

It checks that the HTTP port is free, finds or starts the Redis to use
(``REDIS_URL``, or the embedded server of the data directory, one per
directory, guarded by a lock file), then supervises one ``newsfeed web`` and
one ``newsfeed worker``: each in its own session, told to die with its parent
(PR_SET_PDEATHSIG), stopped with SIGTERM (web first) when we are, and the
embedded server last so its AOF is flushed after every writer has stopped.
Only once the web process answers on its port does it create the first feed
and admin of a first run and print the URLs and the one-time password: a
web process that cannot start (a busy port) leaves nothing half-done and no
password shown for an account that a later run would not show again.
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
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
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


def has_store(data_dir: Path) -> bool:
    """Whether an embedded store was ever started in ``data_dir``."""
    return (data_dir / "appendonly").is_dir() or (data_dir / "dump.rdb").is_file()


def check_port(host: str, port: int) -> None:
    """Fail with one line when the HTTP port is taken (before anything starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise FeedError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                "(another process has the port? choose one with --port)"
            ) from None


def web_unhealthy(port: int, host: str = "127.0.0.1") -> str | None:
    """Why the web process on ``port`` is not ready, or None."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=3) as response:
            return None if response.status == 200 else f"/readyz answered {response.status}"
    except (OSError, urllib.error.URLError) as exc:
        return f"/readyz on port {port}: {exc}"


def worker_unhealthy(heartbeat_file: Path, max_age: float) -> str | None:
    """Why the worker writing ``heartbeat_file`` is not alive, or None."""
    try:
        age = time.time() - heartbeat_file.stat().st_mtime
    except OSError:
        return f"no worker heartbeat at {heartbeat_file}"
    if age > max_age:
        return f"the worker's last heartbeat is {age:.0f}s old (more than {max_age:.0f}s)"
    return None


def run(settings: Settings, web_processes: str = "1") -> int:
    check_port(settings.host, settings.port)
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


def bootstrap(settings: Settings, feed: str = DEFAULT_FEED) -> list[str]:
    """On an empty store, create a first feed and an admin with a fresh
    password; the lines to print (the password among them, shown once)."""

    async def go() -> list[str]:
        lines = []
        async with services(settings) as (store, accounts):
            if not await store.registry.list_feeds():
                await store.registry.create_feed(feed, feed.replace("-", " ").title(), "UTC")
                lines.append(f"created the feed '{feed}'")
            if not await accounts.list_users():
                password = secrets.token_urlsafe(12)
                await accounts.add_user("admin", password, "admin")
                lines.append(f"sign in at /admin as 'admin' with password: {password}")
                lines.append("(shown once; add users with `newsfeed user add`)")
        return lines

    return asyncio.run(go())


def _supervise(settings: Settings, web_processes: str = "1") -> int:
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
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    if _wait_listening(settings, children, lambda: stopping):
        for line in bootstrap(settings):
            print(f"newsfeed: {line}", flush=True)
        _print_urls(settings)
    else:
        # Told to stop while starting (a SIGTERM that came before our own
        # readiness check saw the web process answer) is a clean stop.
        stopping, code = True, 0 if stopping else 1
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


def _wait_listening(
    settings: Settings, children: dict[str, subprocess.Popen[bytes]], stopping: Callable[[], bool]
) -> bool:
    """Wait until the web process answers /readyz; False if a child exited
    first (it said why on stderr) or we were told to stop."""
    deadline = time.monotonic() + 60
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    while time.monotonic() < deadline and not stopping():
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"newsfeed: {name} exited with {proc.returncode}; stopping", file=sys.stderr)
                return False
        if web_unhealthy(settings.port, host) is None:
            return True
        time.sleep(0.1)
    if not stopping():
        print("newsfeed: the web process did not answer within 60 s; stopping", file=sys.stderr)
    return False


def _print_urls(settings: Settings) -> None:
    base_url = settings.base_url()
    print(
        f"newsfeed: reader page  {base_url}/feeds/{DEFAULT_FEED}\n"
        f"newsfeed: admin page   {base_url}/admin\n"
        f"newsfeed: API          {base_url}/api/v1/feeds/{DEFAULT_FEED}/entries\n"
        f"newsfeed: API docs     {base_url}/api/docs\n"
        f"newsfeed: Ctrl-C stops everything",
        flush=True,
    )
