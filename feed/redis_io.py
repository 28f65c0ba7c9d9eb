"""Where redis-py enters: the client, reply decoding, error translation.

Every Redis adapter of ``feed`` (and the workers) talks to Redis inside
``translated()``, which turns redis-py's connection failures into
``StoreUnavailable``; nothing above this module catches a redis-py error.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis import exceptions as rex

from feed.errors import StoreUnavailable

Commands: TypeAlias = Any
"""The asyncio client as the adapters call its commands. redis-py types every
command ``Awaitable[T] | T`` (one signature shared by its sync and asyncio
clients), which mypy cannot await, so the adapters hold their client as
``Commands`` and take the typed ``aioredis.Redis`` in their constructors: the
one, named place where typing gives way, instead of a cast per call."""


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Map redis-py's connection failures to StoreUnavailable."""
    try:
        yield
    except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
        raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
    except rex.BusyLoadingError as exc:  # pragma: no cover - depends on timing
        raise StoreUnavailable("Redis is loading its data") from exc
    except (rex.ReadOnlyError, rex.MasterDownError, rex.TryAgainError, rex.ClusterDownError) as exc:
        # A failover in progress: the node we reached cannot take writes now.
        raise StoreUnavailable(f"Redis cannot serve this now: {exc}") from exc


def as_str(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


async def try_command(redis: Commands, *args: Any) -> tuple[Any, str | None]:
    """Run one command: (its reply, None), or (None, the server's error text)."""
    try:
        return await redis.execute_command(*args), None
    except rex.ResponseError as exc:
        return None, str(exc)


async def script_then(
    redis: Commands, script: Any, keys: Sequence[Any], args: Sequence[Any], *after: Sequence[Any]
) -> list[Any]:
    """A registered script (EVALSHA) then commands, pipelined on one connection.

    One round trip, and one connection: what ``WAITAOF`` needs to cover the
    script's writes. A server that lost its script cache (a restart, a
    failover) answers NOSCRIPT; the script is loaded and the pipeline sent
    again (nothing of it ran: the other commands are a hint and a wait).
    """
    for _ in range(3):
        async with redis.pipeline(transaction=False) as pipe:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            for command in after:
                pipe.execute_command(*command)
            try:
                replies: list[Any] = await pipe.execute()
                return replies
            except rex.NoScriptError:
                await redis.script_load(script.script)
    raise StoreUnavailable("Redis keeps losing its scripts")


CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": False,
    "health_check_interval": 15,
    "socket_keepalive": True,
    "retry_on_timeout": True,
}
"""How every client of the store is made (one server, or through Sentinel)."""


def connect(url: str, **options: Any) -> aioredis.Redis:
    client: aioredis.Redis = aioredis.Redis.from_url(url, **{**CLIENT_OPTIONS, **options})
    return client
