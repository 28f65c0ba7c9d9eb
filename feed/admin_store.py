"""The admin page's state in Redis: sessions, sign-in throttling, the audit log.

- Sessions are server-side: the signed cookie carries only a random session
  id; Redis maps it to the user name with a TTL, so signing out (or an admin
  ending a session) kills a stolen cookie too.
- Sign-in attempts are counted per account and per client address in fixed
  windows; while either count is at its limit every attempt is refused, the
  right password included.
- The audit log of a feed is two sources merged: the editorial log (every
  create/edit/retract/publish already carries its actor and time, whether it
  came from the admin page or from the API with a token) and the audit stream,
  which records administration (feeds, users, grants, tokens, webhooks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from typing import Any

import orjson

from feed import keys
from feed.model import Event, now_ms
from feed.redis_io import Client, Commands, as_str, translated

AUDIT_MAXLEN = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    per_account: int = 5
    per_address: int = 20
    window_seconds: int = 15 * 60


@dataclasses.dataclass(frozen=True, slots=True)
class AuditRecord:
    at: int
    actor: str
    action: str
    feed: str | None
    detail: dict[str, Any]
    kind: str = "admin"
    """``admin`` (the audit stream) or ``entry`` (derived from the editorial log)."""


def _account_key(name: str) -> str:
    # Any string can be typed as a user name: keep keys short and uniform.
    return hashlib.sha256(name.strip().lower().encode()).hexdigest()[:24]


class AdminStore:
    def __init__(self, redis: Client, policy: ThrottlePolicy | None = None) -> None:
        self.redis: Commands = redis
        self.policy = policy or ThrottlePolicy()

    # -- sessions -----------------------------------------------------------
    async def open_session(self, user: str, ttl: int) -> str:
        sid = secrets.token_urlsafe(32)
        async with translated():
            await self.redis.set(keys.admin_session(sid), f"{user}|{now_ms()}", ex=ttl)
        return sid

    async def session_user(self, sid: str) -> str | None:
        """The user of a live session; None if unknown, expired or voided."""
        if not isinstance(sid, str) or not 20 <= len(sid) <= 64:
            return None
        async with translated():
            raw = await self.redis.get(keys.admin_session(sid))
            if raw is None:
                return None
            name, _, issued = as_str(raw).rpartition("|")
            floor = await self.redis.get(keys.admin_session_floor(name))
        if not issued.isdigit() or (floor is not None and int(issued) < int(floor)):
            return None
        return name

    async def close_session(self, sid: str) -> None:
        if isinstance(sid, str) and 20 <= len(sid) <= 64:
            async with translated():
                await self.redis.delete(keys.admin_session(sid))

    async def end_sessions(self, user: str, ttl: int) -> None:
        """Void every session of ``user`` open now (a new password, say)."""
        async with translated():
            await self.redis.set(keys.admin_session_floor(user), now_ms(), ex=ttl)

    # -- sign-in throttling -------------------------------------------------
    def _throttle_keys(self, name: str, address: str) -> tuple[str, str]:
        return (
            keys.login_throttle("account", _account_key(name)),
            keys.login_throttle("address", address[:64] or "unknown"),
        )

    async def login_allowed(self, name: str, address: str) -> bool:
        account, addr = self._throttle_keys(name, address)
        # Two GETs, not one MGET: on a cluster the keys sit in different slots.
        async with translated(), self.redis.pipeline(transaction=False) as pipe:
            pipe.get(account)
            pipe.get(addr)
            a, b = await pipe.execute()
        return int(a or 0) < self.policy.per_account and int(b or 0) < self.policy.per_address

    async def login_failed(self, name: str, address: str) -> None:
        account, addr = self._throttle_keys(name, address)
        window = self.policy.window_seconds
        async with translated(), self.redis.pipeline(transaction=False) as pipe:
            for key in (account, addr):
                pipe.incr(key)
                pipe.expire(key, window, nx=True)
            await pipe.execute()

    async def login_succeeded(self, name: str) -> None:
        account, _ = self._throttle_keys(name, "")
        async with translated():
            await self.redis.delete(account)

    # -- audit --------------------------------------------------------------
    async def record(
        self, actor: str, action: str, *, feed: str | None = None, **detail: Any
    ) -> None:
        fields = {
            "at": now_ms(),
            "actor": actor,
            "action": action,
            "feed": feed or "",
            "detail": orjson.dumps(detail),
        }
        key = keys.audit(feed) if feed else keys.AUDIT
        async with translated():
            await self.redis.xadd(key, fields, maxlen=AUDIT_MAXLEN, approximate=True)

    async def admin_records(self, feed: str | None, limit: int = 200) -> list[AuditRecord]:
        key = keys.audit(feed) if feed else keys.AUDIT
        async with translated():
            rows = await self.redis.xrevrange(key, "+", "-", count=limit)
        out = []
        for _, f in rows:
            out.append(
                AuditRecord(
                    int(f[b"at"]),
                    as_str(f[b"actor"]),
                    as_str(f[b"action"]),
                    as_str(f.get(b"feed")) or None,
                    orjson.loads(f.get(b"detail") or b"{}"),
                )
            )
        return out

    async def recent_events(self, feed: str, limit: int = 200) -> list[Event]:
        """The newest editorial events still in the feed's log, newest first."""
        async with translated():
            rows = await self.redis.xrevrange(keys.log(feed), "+", "-", count=limit)
        return [Event.loads(f[b"ev"]) for _, f in rows]

    async def feed_audit(self, feed: str, limit: int = 200) -> list[AuditRecord]:
        """Administration and editorial actions of one feed, newest first."""
        records = await self.admin_records(feed, limit)
        for ev in await self.recent_events(feed, limit):
            records.append(
                AuditRecord(
                    ev.at,
                    ev.actor,
                    f"entry.{ev.kind}",
                    feed,
                    {
                        "entry": ev.entry.id,
                        "version": ev.entry.version,
                        "headline": ev.entry.headline,
                        "changes": list(ev.changes),
                    },
                    kind="entry",
                )
            )
        records.sort(key=lambda r: r.at, reverse=True)
        return records[:limit]
