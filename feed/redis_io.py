"""Small helpers shared by the Redis adapters (``feed.store``, ``feed.compaction``,
``feed.accounts``): reply decoding and the translation of redis-py's errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis import exceptions as rex

from feed.errors import StoreUnavailable


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Map redis-py's connection failures to StoreUnavailable."""
    try:
        yield
    except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
        raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
    except rex.BusyLoadingError as exc:  # pragma: no cover - depends on timing
        raise StoreUnavailable("Redis is loading its data") from exc


def _s(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
