"""The editorial log: every change to an entry is one event, appended atomically.

Each action (create, edit, retract, scheduled publish) is one Lua call
(``scripts.APPEND``) that checks the version (If-Match) or the
Idempotency-Key, appends the event (the entry's whole new state) to the log
and updates the editorial state in the same step. A stale version writes
nothing.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from feed import embed_queue, embeds, keys, registry, review, scripts, validate
from feed.durability import Durability
from feed.errors import Conflict, IdempotencyMismatch, InvalidInput, NotFound, PreconditionFailed
from feed.model import Embed, Entry, Event, new_entry_id, now_ms
from feed.redis_io import Client, Commands, as_str, register, script_then, translated, wake_shards
from feed.registry import FeedRegistry

IDEMPOTENCY_TTL = 48 * 3600
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")


class Editorial:
    """Entries as editors see them, and the only way to change one."""

    def __init__(
        self, redis: Client, registry: FeedRegistry, durability: Durability | None = None
    ) -> None:
        self.redis: Commands = redis
        self.registry = registry
        self.durability = durability or Durability()
        self._append = register(redis, scripts.APPEND)
        self._wake_shards = wake_shards(redis)

    async def create_entry(
        self,
        feed: str,
        data: Any,
        *,
        actor: str,
        idempotency_key: str | None = None,
        may_publish: bool = True,
    ) -> tuple[Entry, bool]:
        """Validate and append a new entry; returns (entry, created).

        With an ``Idempotency-Key``, a retry of the same request returns the
        entry the first request created (``created`` False) and appends
        nothing; the same key with a different request is rejected.
        """
        if not registry.is_slug(feed):
            raise NotFound(f"no feed {feed!r}")
        # That the feed exists is checked by the APPEND script, in the same
        # round trip as the write (a feed deleted since: 404, nothing written).
        review.check_create(data, may_publish=may_publish)
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
            return await self._idempotent_replay(feed, as_str(prior), fingerprint), False
        result = await self._run_append(
            "create", event, expected=0, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        if result[0] == b"idem":
            return await self._idempotent_replay(feed, as_str(result[1]), fingerprint), False
        if result[0] == b"nofeed":
            raise NotFound(f"no feed {feed!r}")
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
        self,
        feed: str,
        entry_id: str,
        data: Any,
        *,
        if_match: int,
        actor: str,
        if_tag: str | None = None,
        may_publish: bool = True,
    ) -> Entry:
        """Edit the entry at version ``if_match`` (and, if given, ``Entry.tag``).

        Also moves a draft through review (``status``, ``note``; feed.review).
        """
        current = await self.get_entry(feed, entry_id)
        if not may_publish:
            is_author = await self.author(feed, entry_id) == actor
            review.check_edit(current, data, may_publish=False, is_author=is_author)
        self._check_version(current, if_match, if_tag)
        event = validate.edit_entry(current, data, actor=actor, now=now_ms())
        await self._append_checked(event, if_match)
        return event.entry

    async def retract_entry(
        self,
        feed: str,
        entry_id: str,
        *,
        if_match: int | None,
        actor: str,
        may_publish: bool = True,
        if_tag: str | None = None,
    ) -> Entry:
        current = await self.get_entry(feed, entry_id)
        review.check_retract(current, may_publish=may_publish)
        expected = current.version if if_match is None else if_match
        if current.status == "retracted" and expected == current.version:
            return current  # a retried DELETE: nothing more to write
        self._check_version(current, expected, if_tag)
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
                current = await self.get_entry(feed, as_str(raw_id))
                event = validate.publish_due(current, now=now)
                if event is None:
                    continue
                await self._append_checked(event, current.version)
            except (PreconditionFailed, NotFound):
                continue  # another worker (or an editor) got there first
            published.append(event.entry)
        return published

    def _check_version(self, current: Entry, expected: int, tag: str | None = None) -> None:
        if current.version != expected:
            raise PreconditionFailed(
                f"entry {current.id} is at version {current.version}, not {expected}",
                current_version=current.version,
                current_tag=current.tag(),
            )
        if tag is not None and tag != current.tag():
            # The same number, other content: the version the caller holds
            # was lost (the store came back from an older copy) and the
            # number was given out again. The APPEND script then checks the
            # number atomically, so nothing can change in between unnoticed
            # but another rollback.
            raise PreconditionFailed(
                f"entry {current.id} version {expected} is not the one you loaded "
                "(the store was restored since); reload it",
                current_version=current.version,
                current_tag=current.tag(),
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
            keys.meta(feed),
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
        # One round trip on one connection: the append, the workers' wake-up
        # hint (a hint: sent whatever the outcome) and, unless durability is
        # "none", WAITAOF (and WAIT), covering both writes before it. A replayed
        # Idempotency-Key waits too: its hint is a write after the original's.
        # A pending embed's fetch is queued in the same round trip (sent
        # whatever the outcome: a stale request finds nothing to fetch).
        wake = keys.wake(keys.wake_shard(feed, self._wake_shards))
        fetch = embed_queue.schedule_commands(feed, entry.id, event.at)
        fetch = fetch if embeds.needs_fetch(event) else []
        after = [
            ("XADD", wake, "MAXLEN", "~", 10_000, "*", "feed", feed),
            *fetch,
            *self.durability.commands(),
        ]
        async with translated():
            replies = await script_then(self.redis, self._append, key_list, args, *after)
        result: list[bytes] = replies[0]
        if result[0] in (b"ok", b"idem"):
            self.durability.check(replies[2 + len(fetch) :])
        return result

    async def fill_embed(self, feed: str, entry_id: str, embed: Embed, *, actor: str) -> bool:
        """Put a fetched card (or its failure) in the entry, silently.

        Compare-and-set: only while the entry still waits for a card of this
        very URL, at the version read (an edit in between is re-read, up to
        a few times). False when there is nothing to fill any more: the URL
        was changed or removed, the entry retracted or gone.
        """
        for _ in range(5):
            try:
                current = await self.get_entry(feed, entry_id)
            except NotFound:
                return False
            e = current.embed
            if e is None or e.url != embed.url or e.status != "pending":
                return False
            if current.status == "retracted":
                return False
            event = embeds.fill_event(current, embed, actor=actor, now=now_ms())
            try:
                await self._append_checked(event, current.version)
            except PreconditionFailed:
                continue
            return True
        return False

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

    async def author(self, feed: str, entry_id: str) -> str:
        """Who wrote the entry: the actor of its first event ('' if unknown)."""
        events = await self.history(feed, entry_id)
        return events[0].actor if events else ""

    async def history(self, feed: str, entry_id: str) -> list[Event]:
        async with translated():
            raws = await self.redis.lrange(keys.history(feed, entry_id), 0, -1)
        if not raws:
            raise NotFound(f"no entry {entry_id!r} in feed {feed!r}")
        return [Event.loads(r) for r in raws]


def request_fingerprint(data: Any) -> str:
    """What identifies a create request for its Idempotency-Key."""
    try:
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        raise InvalidInput("the request body must be a JSON object", field="body") from None
    return hashlib.sha256(raw).hexdigest()
