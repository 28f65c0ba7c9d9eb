"""The ``newsfeed`` command: run the services and administer feeds.

    newsfeed run [--host H] [--port P] [--data-dir D] [--processes N|auto]
                                                       web + worker (+ embedded Redis)
    newsfeed web [--host H] [--port P] [--processes N|auto]
                                                       web processes on one port
    newsfeed worker                                    one worker process
    newsfeed feed create SLUG [--title T] [--timezone Z] [--language L]
    newsfeed feed set SLUG [--title T] [--timezone Z] [--language L]
    newsfeed feed pair SLUG OTHER                      two feeds translate each other
    newsfeed feed unpair SLUG
    newsfeed feed list
    newsfeed user add NAME [--role admin|editor|contributor] [--feed F ...]
                      [--display-name N] [--bio B]
    newsfeed token create --feed F [--name N] [--drafts-only] [--author USER]
                                                       prints the token alone
    newsfeed rebuild --feed F
    newsfeed backup --out DIR                          a consistent copy of the embedded store
    newsfeed restore --from DIR                        put it back (newsfeed stopped)
    newsfeed init [--feed SLUG]                         first feed + admin on an empty store
    newsfeed healthcheck web|worker                     exit 0 when healthy (health checks)

Admin commands act on ``REDIS_URL`` or, when it is unset, on the embedded
store in ``--data-dir`` (the running server's, or one started for the
command).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import secrets
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from feed.accounts import Accounts
from feed.errors import FeedError, NotFound
from feed.pairing import Pairing
from feed.redis_io import translated
from feed.settings import Settings
from feed.stores import Stores
from newsfeed import backup, logs, supervisor, webpool
from newsfeed.supervisor import check_redis, services, store_settings
from web.app import create_app
from web.serve import serve
from workers.main import run_worker

log = logging.getLogger("newsfeed")


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

    def processes(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--processes",
            default="1",
            metavar="N|auto",
            help="web processes on the one port, each with its own live hub "
            "(auto: one per core; default 1)",
        )

    def bind(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="bind address (default 127.0.0.1)")
        p.add_argument("--port", type=int, help="HTTP port (default 8000)")

    p = sub.add_parser(
        "run", help="run web + worker, with an embedded Redis unless REDIS_URL is set"
    )
    bind(p)
    data_dir(p)
    processes(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("web", help="run the web processes (needs REDIS_URL)")
    bind(p)
    processes(p)
    # Internal: a child of `newsfeed web --processes N` serves the parent's socket.
    p.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
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
    p.add_argument("--language", default="en", help="BCP 47 language of the pages (default en)")
    data_dir(p)
    p.set_defaults(handler=cmd_feed_create)
    p = feed.add_parser("set", help="change a feed's title, time zone or language")
    p.add_argument("slug")
    p.add_argument("--title")
    p.add_argument("--timezone", help="IANA time zone for pages")
    p.add_argument("--language", help="BCP 47 language of the pages (en, uk, ...)")
    data_dir(p)
    p.set_defaults(handler=cmd_feed_set)
    p = feed.add_parser("pair", help="declare two feeds translations of each other")
    p.add_argument("slug")
    p.add_argument("other")
    data_dir(p)
    p.set_defaults(handler=cmd_feed_pair)
    p = feed.add_parser("unpair", help="end a feed's pairing")
    p.add_argument("slug")
    data_dir(p)
    p.set_defaults(handler=cmd_feed_unpair)
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
    p.add_argument("--role", choices=("admin", "editor", "contributor"), default="editor")
    p.add_argument("--feed", action="append", default=[], help="grant a feed (repeatable)")
    p.add_argument("--display-name", default="", help="the name in bylines")
    p.add_argument("--bio", default="", help="a short public bio")
    data_dir(p)
    p.set_defaults(handler=cmd_user_add)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(
        required=True, metavar="ACTION"
    )
    p = token.add_parser("create", help="create an API token for a feed; prints the token alone")
    p.add_argument("--feed", required=True)
    p.add_argument("--name", default="cli")
    p.add_argument(
        "--drafts-only",
        action="store_true",
        help="the token saves drafts and submits them for review, never publishes",
    )
    p.add_argument("--author", help="the user the token posts as (its byline)")
    data_dir(p)
    p.set_defaults(handler=cmd_token_create)

    p = sub.add_parser("rebuild", help="rebuild a feed's materialised state from its log")
    p.add_argument("--feed", required=True)
    data_dir(p)
    p.set_defaults(handler=cmd_rebuild)
    backup.add_commands(sub, data_dir)

    p = sub.add_parser(
        "init",
        help="on an empty store, create a first feed and an admin (the password is printed once)",
    )
    p.add_argument("--feed", default=supervisor.DEFAULT_FEED, help="the first feed's slug")
    data_dir(p)
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("healthcheck", help="exit 0 when the local web or worker is healthy")
    p.add_argument("what", choices=("web", "worker"))
    p.add_argument("--port", type=int, help="the web process's port (default 8000)")
    p.add_argument(
        "--max-age",
        type=float,
        default=30.0,
        help="worker: seconds since its last heartbeat (default 30)",
    )
    p.set_defaults(handler=cmd_healthcheck)
    return parser


def _admin(
    settings: Settings,
    action: Callable[[Stores, Accounts], Coroutine[Any, Any, int]],
    *,
    creates: bool = False,
) -> int:
    """Run an admin action on REDIS_URL, or on the embedded store of
    ``--data-dir``. A command that only reads or changes what exists never
    starts a new, empty store where there is none (the usual cause: a
    ``--data-dir`` given to ``newsfeed run`` and not to this command)."""
    embedded = settings.embedded
    if embedded and not supervisor.has_store(settings.data_dir):
        if not creates:
            raise FeedError(
                f"no newsfeed store in {settings.data_dir}/ (nothing was created). "
                "Give this command the same --data-dir as `newsfeed run --data-dir D`, "
                "or set REDIS_URL"
            )
        print(f"newsfeed: creating a new store in {settings.data_dir}/", file=sys.stderr)
    with store_settings(settings) as connected:

        async def go() -> int:
            async with services(connected) as (store, accounts):
                await store.redis.ping()
                return await action(store, accounts)

        try:
            return asyncio.run(_translating(go()))
        except NotFound as exc:
            if not embedded:
                raise
            raise NotFound(
                f"{exc.detail} in the store in {settings.data_dir}/ "
                "(is `newsfeed run` using another one? pass it the same --data-dir)",
                field=exc.field,
            ) from None


async def _translating(coro: Coroutine[Any, Any, int]) -> int:
    async with translated():
        return await coro


def cmd_feed_create(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: Stores, accounts: Accounts) -> int:
        meta = await store.registry.create_feed(
            args.slug, args.title or args.slug, args.timezone, args.language
        )
        print(meta.slug)
        return 0

    return _admin(settings, act, creates=True)


def cmd_feed_set(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: Stores, accounts: Accounts) -> int:
        meta = await store.registry.update_feed(
            args.slug, title=args.title, timezone=args.timezone, language=args.language
        )
        print(f"{meta.slug}\t{meta.timezone}\t{meta.language}\t{meta.title}")
        return 0

    return _admin(settings, act)


def cmd_feed_pair(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: Stores, accounts: Accounts) -> int:
        a, b = await Pairing(store.redis, store.registry, store.editorial).pair(
            args.slug, args.other
        )
        print(f"{a.slug}\t{a.language}\t<->\t{b.slug}\t{b.language}")
        return 0

    return _admin(settings, act)


def cmd_feed_unpair(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: Stores, accounts: Accounts) -> int:
        await Pairing(store.redis, store.registry, store.editorial).unpair(args.slug)
        return 0

    return _admin(settings, act)


def cmd_feed_list(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: Stores, accounts: Accounts) -> int:
        for meta in await store.registry.describe_feeds():
            print(f"{meta.slug}\t{meta.timezone}\t{meta.language}\t{meta.title}")
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

    async def act(store: Stores, accounts: Accounts) -> int:
        for feed in args.feed:
            await store.registry.get_feed(feed)
        await accounts.add_user(args.name, password, args.role, frozenset(args.feed))
        if args.display_name or args.bio:
            await accounts.set_profile(args.name, args.display_name, args.bio)
        if generated:
            print(f"user {args.name} added; password: {password}")
        else:
            print(f"user {args.name} added")
        return 0

    return _admin(settings, act, creates=True)


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: Stores, accounts: Accounts) -> int:
        await store.registry.get_feed(args.feed)
        scope = "draft" if args.drafts_only else "publish"
        secret, _ = await accounts.create_token(args.feed, args.name, scope, args.author)
        print(secret)
        return 0

    return _admin(settings, act)


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    async def act(store: Stores, accounts: Accounts) -> int:
        report = await store.retention.rebuild(args.feed)
        print(f"rebuilt {args.feed}: {report['entries']} entries, {report['public']} public")
        return 0

    return _admin(settings, act)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    with store_settings(settings) as connected:
        for line in supervisor.bootstrap(connected, args.feed):
            print(f"newsfeed: {line}", flush=True)
    return 0


def cmd_healthcheck(args: argparse.Namespace, settings: Settings) -> int:
    if args.what == "worker":
        problem = supervisor.worker_unhealthy(settings.worker_heartbeat_file, args.max_age)
    else:
        problem = supervisor.web_unhealthy(args.port or settings.port)
    if problem is not None:
        print(f"newsfeed: unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


# -- services -------------------------------------------------------------------
def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    if settings.embedded:
        raise FeedError("newsfeed web needs REDIS_URL or NEWSFEED_SENTINELS (or use newsfeed run)")
    count = webpool.process_count(args.processes)
    check_redis(settings)
    if args.listen_fd is not None:
        serve(create_app(settings), settings, sockets=[webpool.adopt(args.listen_fd)])
    elif count > 1:
        return webpool.WebPool(settings, count).run()
    else:
        serve(create_app(settings), settings)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    if settings.embedded:
        raise FeedError(
            "newsfeed worker needs REDIS_URL or NEWSFEED_SENTINELS (or use newsfeed run)"
        )
    check_redis(settings)
    run_worker(settings)
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    webpool.process_count(args.processes)  # a bad value fails before anything starts
    return supervisor.run(settings, args.processes)
