"""Who is on a feed's admin pages right now, and which entry they have open.

Each open admin page (a *tab*) beats every few seconds; a beat is one
``ZADD`` of ``user<TAB>entry<TAB>tab`` scored with its time into the feed's
``nf:{F}:presence`` sorted set, and whoever beat within ``TTL_MS`` is
present. A closed page says goodbye (``leave``); one that cannot (a crash,
a lost connection) drops out when its beats stop. Nothing else is kept:
presence is a courtesy shown to editors, not a lock; the If-Match check of
every save stays the safety net.
"""

from __future__ import annotations

import dataclasses
import re

from feed import keys
from feed.model import now_ms
from feed.redis_io import Client, Commands, as_str, translated

TTL_MS = 10_000
"""A tab that has not beaten for this long has left."""
TAB_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ENTRY_RE = re.compile(r"^[0-9a-z]{1,40}$")


@dataclasses.dataclass(frozen=True, slots=True)
class Seen:
    user: str
    entry: str | None
    """The entry whose edit page is open; None on the editor screen."""
    tab: str
    at: int


def member(user: str, entry: str | None, tab: str) -> str:
    return f"{user}\t{entry or ''}\t{tab}"


def parse(raw: str, at: float) -> Seen | None:
    parts = raw.split("\t")
    if len(parts) != 3:
        return None
    user, entry, tab = parts
    return Seen(user, entry or None, tab, int(at))


def others(seen: list[Seen], user: str) -> list[Seen]:
    """Everyone but ``user``, one line per (user, entry), the latest beat kept."""
    latest: dict[tuple[str, str | None], Seen] = {}
    for s in seen:
        if s.user == user:
            continue
        key = (s.user, s.entry)
        if key not in latest or latest[key].at < s.at:
            latest[key] = s
    return sorted(latest.values(), key=lambda s: (s.user, s.entry or ""))


class Presence:
    def __init__(self, redis: Client) -> None:
        self.redis: Commands = redis

    async def beat(
        self, feed: str, user: str, entry: str | None, tab: str, now: int | None = None
    ) -> list[Seen]:
        """Record this tab as present and return everyone present (this tab too)."""
        now = now_ms() if now is None else now
        key = keys.presence(feed)
        async with translated():
            pipe = self.redis.pipeline(transaction=False)
            pipe.zadd(key, {member(user, entry, tab): now})
            pipe.zremrangebyscore(key, "-inf", now - TTL_MS)
            pipe.zrangebyscore(key, now - TTL_MS, "+inf", withscores=True)
            pipe.pexpire(key, TTL_MS * 6)
            _, _, raw, _ = await pipe.execute()
        out = [parse(as_str(m), score) for m, score in raw]
        return [s for s in out if s is not None]

    async def leave(self, feed: str, user: str, entry: str | None, tab: str) -> None:
        async with translated():
            await self.redis.zrem(keys.presence(feed), member(user, entry, tab))
