"""The cards to fetch: one sorted set per feed, filled with the editorial append.

An append whose entry is left with a pending embed (``embeds.needs_fetch``)
adds the entry to ``keys.embed_queue`` in the same round trip as the append
itself (``schedule_commands``, sent by ``Editorial`` after the APPEND script,
like the workers' wake-up hint), so an acknowledged post never lacks its
fetch, even if the web process dies right after answering. The attempt count
restarts with every new URL.

Workers ``claim`` due entries: each claim moves the entry's due time to the
end of a lease (a worker that dies mid-fetch gives it back when the lease
ends) and counts the attempt. ``settle`` then removes it (done) or moves it
to its retry time, but only if the lease is still the one it claimed: an
edit that pasted a new URL meanwhile re-queued the entry, and that newer
request is left alone. A stale request costs nothing: the worker reads the
entry and finds no pending embed (or another URL).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from feed import keys
from feed.redis_io import Client, Commands, as_str, register, translated

LEASE_MS = 60_000
"""How long a claimed fetch may take before another worker takes it over."""

CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HINCRBY', KEYS[2], id, 1)
end
return out
"""

SETTLE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == 'done' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
return 1
"""


def schedule_commands(feed: str, entry_id: str, now: int) -> list[tuple[Any, ...]]:
    """What the append sends after its script: fetch this entry's card now."""
    return [
        ("ZADD", keys.embed_queue(feed), now, entry_id),
        ("HDEL", keys.embed_tries(feed), entry_id),
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    feed: str
    entry_id: str
    attempt: int
    """1-based, counted over this URL's claims."""
    lease: int
    """The due time the claim set: ``settle`` acts only while it is unchanged."""


class EmbedQueue:
    def __init__(self, redis: Client) -> None:
        self.redis: Commands = redis
        self._claim = register(redis, CLAIM)
        self._settle = register(redis, SETTLE)

    async def claim(self, feed: str, now: int, limit: int) -> list[Claim]:
        if limit < 1:
            return []
        lease = now + LEASE_MS
        async with translated():
            flat = await self._claim(
                keys=[keys.embed_queue(feed), keys.embed_tries(feed)], args=[now, lease, limit]
            )
        return [
            Claim(feed, as_str(flat[i]), int(flat[i + 1]), lease) for i in range(0, len(flat), 2)
        ]

    async def done(self, claim: Claim) -> bool:
        return await self._run(claim, "done", 0)

    async def retry(self, claim: Claim, due: int) -> bool:
        return await self._run(claim, "retry", due)

    async def _run(self, claim: Claim, mode: str, due: int) -> bool:
        async with translated():
            return bool(
                await self._settle(
                    keys=[keys.embed_queue(claim.feed), keys.embed_tries(claim.feed)],
                    args=[claim.entry_id, claim.lease, mode, due],
                )
            )

    async def pending(self, feed: str) -> int:
        async with translated():
            return int(await self.redis.zcard(keys.embed_queue(feed)))
