"""Where redis-py enters: the client, reply decoding, error translation.

Every Redis adapter of ``feed`` (and the workers) talks to Redis inside
``translated()``, which turns redis-py's connection failures into
``StoreUnavailable``; nothing above this module catches a redis-py error.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
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


def connect(url: str, **options: Any) -> aioredis.Redis:
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        decode_responses=False,
        health_check_interval=15,
        socket_keepalive=True,
        retry_on_timeout=True,
        **options,
    )
    return client
