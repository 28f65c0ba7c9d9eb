"""The ``newsfeed`` command: run the services and administer feeds.

    newsfeed run [--host H] [--port P] [--data-dir D]   web + worker (+ embedded Redis)
    newsfeed web [--host H] [--port P]                 one web process
    newsfeed worker                                    one worker process
    newsfeed feed create SLUG [--title T] [--timezone Z]
    newsfeed feed list
    newsfeed user add NAME [--role admin|editor] [--feed F ...]
    newsfeed token create --feed F [--name N]          prints the token alone
    newsfeed rebuild --feed F

Admin commands act on ``REDIS_URL`` or, when it is unset, on the embedded
store in ``--data-dir`` (the running server's, or one started for the
command).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import getpass
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from feed import logs
from feed.accounts import Accounts
from feed.embedded import EmbeddedRedis, answers_ping
from feed.errors import FeedError
from feed.settings import Settings
from feed.store import FeedStore, connect

log = logging.getLogger("newsfeed")
DEFAULT_FEED = "news"


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            data_dir=getattr(args, "data_dir", None),
        )
        logs.setup(settings.log_level)
        handler: Callable[[argparse.Namespace, Settings], int] = args.handler
        code = handler(args, settings)
    except FeedError as exc:
        print(f"newsfeed: error: {exc.detail}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsfeed", description="A real-time live news feed.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, help="embedded store directory (default ./var)")

    def bind(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="bind address (default 127.0.0.1)")
        p.add_argument("--port", type=int, help="HTTP port (default 8000)")

    p = sub.add_parser(
        "run", help="run web + worker, with an embedded Redis unless REDIS_URL is set"
    )
    bind(p)
    data_dir(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("web", help="run one web process (needs REDIS_URL)")
    bind(p)
    p.set_defaults(handler=cmd_web)

    p = sub.add_parser("worker", help="run one worker process (needs REDIS_URL)")
    p.set_defaults(handler=cmd_worker)

    feed = sub.add_parser("feed", help="manage feeds").add_subparsers(
        required=True, metavar="ACTION"
    )
    p = feed.add_parser("create", help="create a feed")
    p.add_argument("slug")
    p.add_argument("--title")
    p.add_argument("--timezone", default="UTC", help="IANA time zone for pages (default UTC)")
    data_dir(p)
    p.set_defaults(handler=cmd_feed_create)
    p = feed.add_parser("list", help="list feeds")
    data_dir(p)
    p.set_defaults(handler=cmd_feed_list)

    user = sub.add_parser("user", help="manage users").add_subparsers(
        required=True, metavar="ACTION"
    )
    p = user.add_parser(
        "add", help="add a user (password from NEWSFEED_PASSWORD, a prompt, or generated)"
    )
    p.add_argument("name")
    p.add_argument("--role", choices=("admin", "editor"), default="editor")
    p.add_argument("--feed", action="append", default=[], help="grant a feed (repeatable)")
    data_dir(p)
    p.set_defaults(handler=cmd_user_add)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(
        required=True, metavar="ACTION"
    )
    p = token.add_parser("create", help="create an API token for a feed; prints the token alone")
    p.add_argument("--feed", required=True)
    p.add_argument("--name", default="cli")
    data_dir(p)
    p.set_defaults(handler=cmd_token_create)

    p = sub.add_parser("rebuild", help="rebuild a feed's materialised state from its log")
    p.add_argument("--feed", required=True)
    data_dir(p)
    p.set_defaults(handler=cmd_rebuild)
    return parser


# -- the store for admin commands -------------------------------------------
def _port_file(data_dir: Path) -> Path:
    return data_dir / "redis.port"


def _running_embedded(data_dir: Path) -> str | None:
    """The URL of the embedded server a `newsfeed run` keeps in data_dir, if up."""
    try:
        port = int(_port_file(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return f"redis://127.0.0.1:{port}/0" if answers_ping("127.0.0.1", port) else None


@contextlib.contextmanager
def redis_url_for(settings: Settings) -> Iterator[str]:
    if settings.redis_url is not None:
        yield settings.redis_url
        return
    url = _running_embedded(settings.data_dir)
    if url is not None:
        yield url
        return
    with _data_dir_lock(settings.data_dir), EmbeddedRedis(settings.data_dir).running() as server:
        yield server.url


@contextlib.contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[None]:
    """One embedded server per data directory, ever."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "newsfeed.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FeedError(f"another newsfeed process is using {data_dir}") from None
        yield


@contextlib.asynccontextmanager
async def _services(url: str, settings: Settings) -> AsyncIterator[tuple[FeedStore, Accounts]]:
    redis = connect(url)
    try:
        store = FeedStore(
            redis,
            retention_seconds=settings.retention_seconds,
            retention_events=settings.retention_events,
            live_retention_events=settings.live_retention_events,
        )
        yield store, Accounts(redis)
    finally:
        await redis.aclose()


def _admin(
    settings: Settings, action: Callable[[FeedStore, Accounts], Coroutine[Any, Any, int]]
) -> int:
    with redis_url_for(settings) as url:

        async def go() -> int:
            async with _services(url, settings) as (store, accounts):
                await store.redis.ping()
                return await action(store, accounts)

        return asyncio.run(_translating(go()))


async def _translating(coro: Coroutine[Any, Any, int]) -> int:
    from feed.store import translated

    async with translated():
        return await coro


def cmd_feed_create(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: FeedStore, accounts: Accounts) -> int:
        meta = await store.create_feed(args.slug, args.title or args.slug, args.timezone)
        print(meta.slug)
        return 0

    return _admin(settings, act)


def cmd_feed_list(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: FeedStore, accounts: Accounts) -> int:
        for slug in await store.list_feeds():
            meta = await store.get_feed(slug)
            print(f"{slug}\t{meta.timezone}\t{meta.title}")
        return 0

    return _admin(settings, act)


def _password() -> tuple[str, bool]:
    env = os.environ.get("NEWSFEED_PASSWORD")
    if env:
        return env, False
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Again: "):
            raise FeedError("the passwords differ")
        return first, False
    return secrets.token_urlsafe(12), True


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    password, generated = _password()

    async def act(store: FeedStore, accounts: Accounts) -> int:
        for feed in args.feed:
            await store.get_feed(feed)
        await accounts.add_user(args.name, password, args.role, frozenset(args.feed))
        if generated:
            print(f"user {args.name} added; password: {password}")
        else:
            print(f"user {args.name} added")
        return 0

    return _admin(settings, act)


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: FeedStore, accounts: Accounts) -> int:
        await store.get_feed(args.feed)
        secret, _ = await accounts.create_token(args.feed, args.name)
        print(secret)
        return 0

    return _admin(settings, act)


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: FeedStore, accounts: Accounts) -> int:
        report = await store.rebuild(args.feed)
        print(f"rebuilt {args.feed}: {report['entries']} entries, {report['public']} public")
        return 0

    return _admin(settings, act)


# -- services -------------------------------------------------------------------
def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from web.serve import serve

    if settings.redis_url is None:
        raise FeedError("newsfeed web needs REDIS_URL (or use newsfeed run)")
    _check_redis(settings.redis_url)
    serve(settings)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from workers.main import run_worker

    if settings.redis_url is None:
        raise FeedError("newsfeed worker needs REDIS_URL (or use newsfeed run)")
    _check_redis(settings.redis_url)
    run_worker(settings)
    return 0


def _check_redis(url: str) -> None:
    """Fail with one line naming the URL when Redis is not reachable."""

    async def ping() -> None:
        redis = connect(url, socket_connect_timeout=3)
        try:
            await redis.ping()
        finally:
            await redis.aclose()

    try:
        asyncio.run(ping())
    except Exception as exc:
        raise FeedError(f"cannot reach Redis at {url}: {exc}") from None


def _die_with_parent() -> None:
    """Child processes get SIGTERM if `newsfeed run` itself dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.redis_url is not None:
        _check_redis(settings.redis_url)
        return _supervise(settings, settings.redis_url)
    settings = settings.with_embedded_secret()
    with _data_dir_lock(settings.data_dir):
        server = EmbeddedRedis(settings.data_dir)
        server.start()
        try:
            _port_file(settings.data_dir).write_text(str(server.port))
            return _supervise(settings, server.url)
        finally:
            _port_file(settings.data_dir).unlink(missing_ok=True)
            server.stop()
            log.info("embedded redis stopped")


def _bootstrap(settings: Settings, url: str) -> list[str]:
    """On a first run, create a default feed and an admin with a fresh password."""

    async def go() -> list[str]:
        lines = []
        async with _services(url, settings) as (store, accounts):
            if not await store.list_feeds():
                await store.create_feed(DEFAULT_FEED, "News", "UTC")
                lines.append(f"created the feed '{DEFAULT_FEED}'")
            if not await accounts.list_users():
                password = secrets.token_urlsafe(12)
                await accounts.add_user("admin", password, "admin")
                lines.append(f"sign in at /admin as 'admin' with password: {password}")
                lines.append("(shown once; add users with `newsfeed user add`)")
        return lines

    return asyncio.run(go())


def _supervise(settings: Settings, url: str) -> int:
    for line in _bootstrap(settings, url):
        print(f"newsfeed: {line}", flush=True)
    env = dict(os.environ, REDIS_URL=url, NEWSFEED_SECRET_KEY=settings.secret_key)
    base = [sys.executable, "-m", "feed.cli"]
    children = {
        "web": subprocess.Popen(
            [*base, "web", "--host", settings.host, "--port", str(settings.port)],
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


if __name__ == "__main__":
    main()
