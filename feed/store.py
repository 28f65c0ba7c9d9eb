"""The one Redis adapter of the feed core.

``FeedStore`` moves entries, events, cursors and accounts in and out of
Redis; every rule it applies comes from the pure core (``feed.model``,
``feed.validate``, ``feed.cursor``). redis-py errors are translated here into
``StoreUnavailable``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import redis.asyncio as aioredis

from feed import compaction, keys, scripts, validate
from feed.cursor import Cursor, StreamBounds, StreamId, format_stream_id, parse_stream_id
from feed.errors import (
    Conflict,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from feed.model import Entry, Event, LiveOp, new_entry_id, now_ms, project
from feed.redis_io import _s as _s
from feed.redis_io import translated as translated

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
IDEMPOTENCY_TTL = 48 * 3600
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")


@dataclasses.dataclass(frozen=True, slots=True)
class FeedMeta:
    slug: str
    title: str
    timezone: str
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {"slug": self.slug, "title": self.title, "timezone": self.timezone}


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    entries: list[Entry]
    cursor: Cursor
    """The live stream's position at the time of the read."""
    next: str | None
    """Pass as ``before`` for the next (older) page; None on the last page."""


@dataclasses.dataclass(frozen=True, slots=True)
class LiveMessage:
    """One message of the public live stream, as the store reads it."""

    position: StreamId
    type: str
    entry_id: str
    version: int
    data: bytes


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


def check_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise InvalidInput(
            "a feed slug is 1-64 lowercase letters, digits and inner hyphens", field="slug"
        )
    return slug


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown IANA time zone {name!r}", field="timezone") from None
    return name


class FeedStore:
    """Feeds, entries, the editorial log and the public view, in Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        retention_seconds: int = 7 * 24 * 3600,
        retention_events: int = 10_000,
        live_retention_events: int = 10_000,
    ) -> None:
        # redis-py's annotations mix its sync and async return types; the
        # adapter treats replies as the RESP2 bytes they are.
        self.redis: Any = redis
        self.retention_seconds = retention_seconds
        self.retention_events = retention_events
        self.live_retention_events = live_retention_events
        self._append = redis.register_script(scripts.APPEND)
        self._project = redis.register_script(scripts.PROJECT)
        self._read_timeline = redis.register_script(scripts.READ_TIMELINE)
        self._bounds = redis.register_script(scripts.BOUNDS)
        self._trim = redis.register_script(scripts.TRIM)
        self._rebuild = redis.register_script(scripts.REBUILD)

    # -- feeds ------------------------------------------------------------
    async def create_feed(self, slug: str, title: str, timezone: str = "UTC") -> FeedMeta:
        check_slug(slug)
        check_timezone(timezone)
        title = " ".join(str(title).split())[:200] or slug
        created = now_ms()
        async with translated():
            added = await self.redis.sadd(keys.FEEDS, slug)
            if not added:
                raise Conflict(f"feed {slug!r} already exists")
            await self.redis.hset(
                keys.meta(slug),
                mapping={"title": title, "timezone": timezone, "created_at": created},
            )
            await self.redis.set(keys.epoch(slug), secrets.token_hex(4), nx=True)
        return FeedMeta(slug, title, timezone, created)

    async def update_feed(self, slug: str, *, title: str | None, timezone: str | None) -> FeedMeta:
        await self.get_feed(slug)
        fields: dict[str, str] = {}
        if title is not None:
            fields["title"] = " ".join(title.split())[:200] or slug
        if timezone is not None:
            fields["timezone"] = check_timezone(timezone)
        if fields:
            async with translated():
                await self.redis.hset(keys.meta(slug), mapping=fields)
        return await self.get_feed(slug)

    async def get_feed(self, slug: str) -> FeedMeta:
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            raise NotFound(f"no feed {slug!r}")
        async with translated():
            raw = await self.redis.hgetall(keys.meta(slug))
        if not raw:
            raise NotFound(f"no feed {slug!r}")
        return FeedMeta(
            slug,
            _s(raw.get(b"title")),
            _s(raw.get(b"timezone")) or "UTC",
            int(raw.get(b"created_at") or 0),
        )

    async def list_feeds(self) -> list[str]:
        async with translated():
            return sorted(_s(s) for s in await self.redis.smembers(keys.FEEDS))

    # -- editorial ----------------------------------------------------------
    async def create_entry(
        self,
        feed: str,
        data: Any,
        *,
        actor: str,
        idempotency_key: str | None = None,
    ) -> tuple[Entry, bool]:
        """Validate and append a new entry; returns (entry, created).

        With an ``Idempotency-Key``, a retry of the same request returns the
        entry the first request created (``created`` False) and appends
        nothing; the same key with a different request is rejected.
        """
        await self.get_feed(feed)
        fingerprint = ""
        if idempotency_key is not None:
            if not IDEMPOTENCY_KEY_RE.match(idempotency_key):
                raise InvalidInput(
                    "Idempotency-Key must be 1-200 visible ASCII characters",
                    field="Idempotency-Key",
                )
            fingerprint = request_fingerprint(data)
        now = now_ms()
        try:
            event = validate.new_entry(
                data, feed=feed, entry_id=new_entry_id(now), actor=actor, now=now
            )
        except InvalidInput:
            # A retry of a request that was accepted is answered even if it
            # would not validate any more (a backdated time past the limit
            # by now): the first request's outcome stands.
            if idempotency_key is None:
                raise
            async with translated():
                prior = await self.redis.get(keys.idempotency(feed, idempotency_key))
            if prior is None:
                raise
            return await self._idempotent_replay(feed, _s(prior), fingerprint), False
        result = await self._run_append(
            "create", event, expected=0, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        if result[0] == b"idem":
            return await self._idempotent_replay(feed, _s(result[1]), fingerprint), False
        if result[0] == b"exists":  # pragma: no cover - a 70-bit id collision
            raise Conflict("entry id collision, retry")
        return event.entry, True

    async def _idempotent_replay(self, feed: str, prior: str, fingerprint: str) -> Entry:
        prior_fp, _, prior_id = prior.partition("|")
        if prior_fp != fingerprint:
            raise IdempotencyMismatch(
                "this Idempotency-Key was used for a different request",
                field="Idempotency-Key",
            )
        return await self.get_entry(feed, prior_id)

    async def edit_entry(
        self, feed: str, entry_id: str, data: Any, *, if_match: int, actor: str
    ) -> Entry:
        current = await self.get_entry(feed, entry_id)
        self._check_version(current, if_match)
        event = validate.edit_entry(current, data, actor=actor, now=now_ms())
        await self._append_checked(event, if_match)
        return event.entry

    async def retract_entry(
        self, feed: str, entry_id: str, *, if_match: int | None, actor: str
    ) -> Entry:
        current = await self.get_entry(feed, entry_id)
        expected = current.version if if_match is None else if_match
        if current.status == "retracted" and expected == current.version:
            return current  # a retried DELETE: nothing more to write
        self._check_version(current, expected)
        event = validate.retract_entry(current, actor=actor, now=now_ms())
        await self._append_checked(event, expected)
        return event.entry

    async def publish_due(self, feed: str, now: int | None = None) -> list[Entry]:
        """Publish every scheduled entry of the feed whose time has come."""
        now = now_ms() if now is None else now
        async with translated():
            due = await self.redis.zrangebyscore(
                keys.scheduled(feed), "-inf", now, start=0, num=100
            )
        published = []
        for raw_id in due:
            try:
                current = await self.get_entry(feed, _s(raw_id))
                event = validate.publish_due(current, now=now)
                if event is None:
                    continue
                await self._append_checked(event, current.version)
            except (PreconditionFailed, NotFound):
                continue  # another worker (or an editor) got there first
            published.append(event.entry)
        return published

    def _check_version(self, current: Entry, expected: int) -> None:
        if current.version != expected:
            raise PreconditionFailed(
                f"entry {current.id} is at version {current.version}, not {expected}",
                current_version=current.version,
            )

    async def _append_checked(self, event: Event, expected: int) -> None:
        result = await self._run_append("edit", event, expected=expected)
        if result[0] == b"stale":
            current = int(result[1])
            raise PreconditionFailed(
                f"entry {event.entry.id} is at version {current}, not {expected}",
                current_version=current,
            )
        if result[0] == b"missing":
            raise NotFound(f"no entry {event.entry.id!r}")

    async def _run_append(
        self,
        mode: str,
        event: Event,
        *,
        expected: int,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> list[bytes]:
        entry = event.entry
        feed = entry.feed
        key_list = [
            keys.log(feed),
            keys.entries(feed),
            keys.versions(feed),
            keys.history(feed, entry.id),
            keys.idempotency(feed, idempotency_key) if idempotency_key else keys.log(feed),
            keys.scheduled(feed),
            keys.editorial(feed),
        ]
        args: list[bytes | str | int] = [
            mode,
            entry.id,
            expected,
            entry.version,
            entry.dumps(),
            event.dumps(),
            fingerprint,
            IDEMPOTENCY_TTL,
            entry.published_at if entry.status == "scheduled" else "",
            entry.published_at,
        ]
        async with translated():
            result: list[bytes] = await self._append(keys=key_list, args=args)
            if result[0] == b"ok":
                await self.redis.xadd(keys.WAKE, {"feed": feed}, maxlen=10_000, approximate=True)
        return result

    async def get_entry(self, feed: str, entry_id: str) -> Entry:
        """The current editorial state of an entry, whatever its status."""
        async with translated():
            raw = await self.redis.hget(keys.entries(feed), entry_id)
        if raw is None:
            raise NotFound(f"no entry {entry_id!r} in feed {feed!r}")
        return Entry.loads(raw)

    async def editorial_entries(self, feed: str, limit: int = 50) -> list[Entry]:
        """The newest entries of every status, for editors."""
        async with translated():
            ids = await self.redis.zrevrange(keys.editorial(feed), 0, limit - 1)
            raws = await self.redis.hmget(keys.entries(feed), ids) if ids else []
        return [Entry.loads(r) for r in raws if r is not None]

    async def history(self, feed: str, entry_id: str) -> list[Event]:
        async with translated():
            raws = await self.redis.lrange(keys.history(feed, entry_id), 0, -1)
        if not raws:
            raise NotFound(f"no entry {entry_id!r} in feed {feed!r}")
        return [Event.loads(r) for r in raws]

    # -- public view ----------------------------------------------------------
    async def project_pending(
        self, feed: str, batch: int = 500, *, hint: str | None = None
    ) -> list[StreamId]:
        """Project editorial events not yet public onto the public view.

        The step is fenced by the projected position: it applies only if no
        one else moved it since we read it, so any number of workers can
        race here and each event reaches the live stream exactly once, in
        log order. Returns the log ids it consumed (none when caught up, or
        when another worker got there first).

        ``hint`` is the position the caller last saw (its previous batch's
        last id): reading the position and the log after the hint in one
        round trip saves one on the live path; a wrong hint only costs the
        round trip back.
        """
        async with translated():
            if hint:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.get(keys.public_pos(feed))
                    pipe.xrange(keys.log(feed), f"({hint}", "+", count=batch)
                    raw_pos, rows = await pipe.execute()
                pos = _s(raw_pos)
                if pos != hint:
                    start = f"({pos}" if pos else "-"
                    rows = await self.redis.xrange(keys.log(feed), start, "+", count=batch)
            else:
                pos = _s(await self.redis.get(keys.public_pos(feed)))
                start = f"({pos}" if pos else "-"
                rows = await self.redis.xrange(keys.log(feed), start, "+", count=batch)
            if not rows:
                return []
            events = [Event.loads(fields[b"ev"]) for _, fields in rows]
            ids = sorted({e.entry.id for e in events})
            raws = await self.redis.hmget(keys.public(feed), ids)
            current = {
                i: (Entry.loads(r) if r is not None else None)
                for i, r in zip(ids, raws, strict=True)
            }
            ops = project(current, events)
            applied = await self._project(
                keys=[
                    keys.public_pos(feed),
                    keys.public(feed),
                    keys.timeline(feed),
                    keys.live(feed),
                    keys.log(feed),
                ],
                args=[pos, _s(rows[-1][0]), self.live_retention_events, *_flatten(ops)],
            )
        return [parse_stream_id(_s(sid)) for sid, _ in rows] if applied else []

    async def bounds(self, feed: str) -> StreamBounds:
        async with translated():
            ep, last, deleted = await self._bounds(keys=[keys.live(feed), keys.epoch(feed)])
        return StreamBounds(_s(ep), parse_stream_id(_s(last)), parse_stream_id(_s(deleted)))

    async def read_timeline(self, feed: str, *, limit: int, before: str | None = None) -> Page:
        """Public entries, pinned first then newest first, with the live cursor."""
        start = "+" if not before else "(" + before
        async with translated():
            out = await self._read_timeline(
                keys=[keys.timeline(feed), keys.public(feed), keys.live(feed), keys.epoch(feed)],
                args=[start, limit + 1],
            )
        cursor = Cursor(_s(out[0]), parse_stream_id(_s(out[1])))
        pairs = out[3:]
        # One member more than asked tells whether there is a next page.
        more = len(pairs) > 2 * limit
        pairs = pairs[: 2 * limit]
        entries = [Entry.loads(pairs[i + 1]) for i in range(0, len(pairs), 2)]
        nxt = _s(pairs[-2]) if more and pairs else None
        return Page(entries, cursor, nxt)

    async def public_entry(self, feed: str, entry_id: str) -> Entry:
        async with translated():
            raw = await self.redis.hget(keys.public(feed), entry_id)
        if raw is None:
            raise NotFound(f"no public entry {entry_id!r} in feed {feed!r}")
        return Entry.loads(raw)

    async def read_live(
        self, feed: str, after: StreamId, *, count: int = 500, block_ms: int | None = None
    ) -> list[LiveMessage]:
        """Messages of the live stream after a position (blocking if asked)."""
        async with translated():
            if block_ms is None:
                rows = await self.redis.xrange(
                    keys.live(feed), f"({format_stream_id(after)}", "+", count=count
                )
            else:
                res = await self.redis.xread(
                    {keys.live(feed): format_stream_id(after)}, count=count, block=block_ms
                )
                rows = res[0][1] if res else []
        return [_live_message(sid, fields) for sid, fields in rows]

    async def tail_live(
        self, feed: str, after: StreamId, *, count: int = 500, block_ms: int = 5000
    ) -> tuple[list[LiveMessage], StreamBounds]:
        """A blocking read of the live stream, and its bounds just after it.

        One round trip: Redis runs a client's pipelined commands in order,
        so the bounds are read after the XREAD returned. A ``max_deleted``
        beyond ``after`` then means a trim removed messages this read
        should have returned (a gap), and another epoch means another
        stream; the caller must not deliver across either.
        """
        async with translated(), self.redis.pipeline(transaction=False) as pipe:
            pipe.xread({keys.live(feed): format_stream_id(after)}, count=count, block=block_ms)
            # EVAL, not a registered script: a pipeline would check SCRIPT
            # EXISTS on every execute, a second round trip.
            pipe.eval(scripts.BOUNDS, 2, keys.live(feed), keys.epoch(feed))
            res, (ep, last, deleted) = await pipe.execute()
        rows = res[0][1] if res else []
        bounds = StreamBounds(_s(ep), parse_stream_id(_s(last)), parse_stream_id(_s(deleted)))
        return [_live_message(sid, fields) for sid, fields in rows], bounds

    # -- retention and rebuild ------------------------------------------------
    async def trim(self, feed: str, now: int | None = None) -> int:
        """Trim the editorial log, folding what goes into the checkpoint.

        See ``feed.compaction.trim``. Returns the number of events trimmed.
        """
        return await compaction.trim(self, feed, now)

    async def replay(self, feed: str, upto: str | None = None) -> dict[str, Entry]:
        """The editorial state folded from the checkpoint and the log (to ``upto``)."""
        current, at_upto = await compaction.replay(self, feed, upto or "")
        return at_upto if upto else current

    async def rebuild(self, feed: str) -> dict[str, int]:
        """Rebuild the materialised state of a feed from its log.

        See ``feed.compaction.rebuild``. Returns the number of entries and
        of public entries.
        """
        await self.get_feed(feed)
        return await compaction.rebuild(self, feed)


def request_fingerprint(data: Any) -> str:
    """What identifies a create request for its Idempotency-Key."""
    try:
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        raise InvalidInput("the request body must be a JSON object", field="body") from None
    return hashlib.sha256(raw).hexdigest()


def _flatten(ops: Sequence[LiveOp]) -> list[Any]:
    out: list[Any] = []
    for op in ops:
        out += [op.type, op.entry_id, op.version, op.data, op.member, op.old_member]
    return out


def _live_message(sid: bytes, fields: Mapping[bytes, bytes]) -> LiveMessage:
    return LiveMessage(
        parse_stream_id(_s(sid)),
        _s(fields[b"t"]),
        _s(fields[b"i"]),
        int(fields[b"v"]),
        fields[b"d"],
    )
