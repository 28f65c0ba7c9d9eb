"""Helpers of the store tests: a snapshot of a feed's materialised state."""

from __future__ import annotations

from typing import Any

from feed import keys
from feed.stores import Stores


async def materialised(store: Stores, feed: str) -> dict[str, Any]:
    """Everything derived from the log: editorial state and public view."""
    r = store.redis
    return {
        "entries": await r.hgetall(keys.entries(feed)),
        "versions": await r.hgetall(keys.versions(feed)),
        "scheduled": await r.zrange(keys.scheduled(feed), 0, -1, withscores=True),
        "editorial": await r.zrange(keys.editorial(feed), 0, -1, withscores=True),
        "public": await r.hgetall(keys.public(feed)),
        "timeline": await r.zrange(keys.timeline(feed), 0, -1),
    }


async def wipe_materialised(store: Stores, feed: str) -> None:
    for key in (
        keys.entries(feed),
        keys.versions(feed),
        keys.scheduled(feed),
        keys.editorial(feed),
        keys.public(feed),
        keys.timeline(feed),
    ):
        await store.redis.delete(key)
    # and some garbage a rebuild must clear
    await store.redis.hset(keys.public(feed), "ghost", b"{}")
    await store.redis.zadd(keys.timeline(feed), {"0:0000000000000:ghost": 0})
