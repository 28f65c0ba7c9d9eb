"""The store's Redis client, built from the settings: the one factory.

``REDIS_URL`` gives one server (``redis_io.connect``). ``NEWSFEED_SENTINELS``
(with ``NEWSFEED_SENTINEL_PRIMARY``) gives the primary that Redis Sentinel
names: redis-py's Sentinel pool asks the sentinels for the primary's address
on every new connection, drops connections to a primary that became a
replica (its ReadOnlyError becomes a connection error), so after a failover
the next command reaches the new primary by itself. During the window the
commands fail with connection errors, which ``redis_io.translated`` turns
into ``StoreUnavailable`` (503 with Retry-After). With sentinels, REDIS_URL
is optional and only gives the data nodes' user, password and database.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

from feed.redis_io import Client, connect
from feed.settings import Settings

CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": False,
    "health_check_interval": 15,
    "socket_keepalive": True,
    "retry_on_timeout": True,
}
"""What ``redis_io.connect`` gives a single server's client, for the primary too."""

SENTINEL_TIMEOUT = 1.0
"""Seconds for each question to a sentinel (one that is down is skipped)."""


def open_redis(settings: Settings, **options: Any) -> Client:
    if settings.sentinels:
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(settings.sentinels),
            sentinel_kwargs={
                "socket_timeout": SENTINEL_TIMEOUT,
                "socket_connect_timeout": SENTINEL_TIMEOUT,
            },
        )
        client: aioredis.Redis = sentinel.master_for(
            settings.sentinel_primary,
            redis_class=aioredis.Redis,
            **{**CLIENT_OPTIONS, **_auth(settings.redis_url), **options},
        )
        return client
    if settings.redis_url is None:
        raise ValueError("no REDIS_URL and no NEWSFEED_SENTINELS: start the embedded server")
    return connect(settings.redis_url, **options)


def _auth(url: str | None) -> dict[str, Any]:
    if not url:
        return {}
    parts = urlsplit(url)
    out: dict[str, Any] = {}
    if parts.username:
        out["username"] = unquote(parts.username)
    if parts.password:
        out["password"] = unquote(parts.password)
    db = parts.path.strip("/")
    if db.isdigit():
        out["db"] = int(db)
    return out
