"""Retention and recovery of a feed's editorial log: trim, replay, rebuild.

The log (``nf:{F}:log``) is the system of record. Trimming folds the oldest
events into a checkpoint hash (each entry's state as of the trim point) in
the same atomic step that removes them, so *checkpoint + log* always replays
to the current state of every entry. ``rebuild`` rewrites the materialised
state (editorial entries, versions, schedule, the public view) from that
replay. The rules are the pure core's (``feed.model.fold``); this module only
moves data.
"""

from __future__ import annotations

from typing import Any

from feed import keys, scripts
from feed.cursor import StreamId, parse_stream_id
from feed.errors import Conflict
from feed.model import Entry, Event, fold, now_ms
from feed.redis_io import Client, Commands, as_str, register, translated
from feed.registry import FeedRegistry

TRIM_BATCH = 5_000
REBUILD_ATTEMPTS = 100


class Retention:
    """Trims a feed's log into its checkpoint; replays and rebuilds from them."""

    def __init__(
        self,
        redis: Client,
        registry: FeedRegistry,
        *,
        retention_seconds: int = 7 * 24 * 3600,
        retention_events: int = 10_000,
    ) -> None:
        self.redis: Commands = redis
        self.registry = registry
        self.retention_seconds = retention_seconds
        self.retention_events = retention_events
        self._trim = register(redis, scripts.TRIM)
        self._rebuild = register(redis, scripts.REBUILD)

    async def trim(self, feed: str, now: int | None = None) -> int:
        """Trim the editorial log, folding what goes into the checkpoint.

        An event goes only when it is older than the retention age *and*
        beyond the newest ``retention_events``, and only once the public view
        has consumed it. The trimmed prefix is folded into the checkpoint
        hash (the state of each entry as of the trim point) in the same
        atomic, fenced step that trims it, so checkpoint + log always replay
        to the current state, even with several workers trimming at once.
        Returns the number of events trimmed.
        """
        now = now_ms() if now is None else now
        age_cut: StreamId = (now - self.retention_seconds * 1000, 0)
        total = 0
        while True:
            async with translated():
                # The fence first: a length read after it can only be newer, so a
                # trim applied by another worker in between fails our CAS rather
                # than have us trim the head with an excess computed before it.
                cp_pos = as_str(await self.redis.get(keys.checkpoint_pos(feed)))
                length = await self.redis.xlen(keys.log(feed))
                if length <= self.retention_events:
                    return total
                excess = min(length - self.retention_events, TRIM_BATCH)
                rows = await self.redis.xrange(keys.log(feed), "-", "+", count=excess)
                pos = as_str(await self.redis.get(keys.public_pos(feed)))
                pub_cut = parse_stream_id(pos) if pos else (0, 0)
                keep = _trimmable_prefix(rows, age_cut, pub_cut)
                if not keep:
                    return total
                events = [Event.loads(f[b"ev"]) for _, f in keep]
                ids = sorted({e.entry.id for e in events})
                raws = await self.redis.hmget(keys.checkpoint(feed), ids)
                state = {i: Entry.loads(r) for i, r in zip(ids, raws, strict=True) if r is not None}
                before = dict(state)
                fold(state, events)
                changed = [
                    x for i, e in state.items() if before.get(i) is not e for x in (i, e.dumps())
                ]
                last = as_str(keep[-1][0])
                applied = await self._trim(
                    keys=[keys.checkpoint(feed), keys.checkpoint_pos(feed), keys.log(feed)],
                    args=[cp_pos, last, _next_id(last), *changed],
                )
            if not applied:
                return total  # another worker is trimming this feed
            total += len(keep)
            if len(keep) < len(rows):
                return total

    async def replay(self, feed: str, upto: str | None = None) -> dict[str, Entry]:
        """The editorial state folded from the checkpoint and the log (to ``upto``)."""
        folded = await _Fold.start(self.redis, feed, upto or "")
        return folded.public if upto else folded.state

    async def rebuild(self, feed: str) -> dict[str, int]:
        """Rebuild the materialised state of a feed from its log.

        The editorial state (entries, versions, schedule, editors' list) is
        rebuilt from the checkpoint plus the log; the public view (entries and
        timeline) from the same fold up to the projected position, so the live
        stream and readers' cursors stay valid. The rewrite is one script fenced
        by the log's newest id and the projected position: when an append or a
        projection slipped in meanwhile, the fold catches up with just those
        events and tries again, so it is safe (and converges) on a live feed.
        """
        await self.registry.get_feed(feed)
        pos = as_str(await self.redis.get(keys.public_pos(feed)))
        folded = await _Fold.start(self.redis, feed, pos)
        for _ in range(REBUILD_ATTEMPTS):
            async with translated():
                applied = await self._rebuild(
                    keys=[
                        keys.log(feed),
                        keys.public_pos(feed),
                        keys.entries(feed),
                        keys.versions(feed),
                        keys.scheduled(feed),
                        keys.editorial(feed),
                        keys.public(feed),
                        keys.timeline(feed),
                        keys.key_timeline(feed),
                    ],
                    args=folded.apply_args(),
                )
            if applied:
                public = sum(1 for e in folded.public.values() if e.visible)
                return {"entries": len(folded.state), "public": public}
            async with translated():
                pos = as_str(await self.redis.get(keys.public_pos(feed)))
            if not await folded.catch_up(pos):
                folded = await _Fold.start(self.redis, feed, pos)
        raise Conflict("the feed kept changing during the rebuild; try again")


class _Fold:
    """The editorial state folded to ``last`` and the public one to ``pos``."""

    def __init__(self, redis: Commands, feed: str) -> None:
        self.redis, self.feed = redis, feed
        self.state: dict[str, Entry] = {}
        self.public: dict[str, Entry] = {}
        self.checkpoint_pos = ""
        self.last = ""
        """The newest log id folded into ``state`` ('' when the log is empty)."""
        self.pos = ""
        """The public position ``public`` is folded to ('' for nothing)."""

    @classmethod
    async def start(cls, redis: Commands, feed: str, pos: str) -> _Fold:
        self = cls(redis, feed)
        self.pos = pos
        split_id = parse_stream_id(pos) if pos else None
        at_split: dict[str, Entry] | None = {} if split_id is None else None
        async with translated():
            self.checkpoint_pos = as_str(await redis.get(keys.checkpoint_pos(feed)))
            raws = await redis.hgetall(keys.checkpoint(feed))
            state = {as_str(k): Entry.loads(v) for k, v in raws.items()}
            start = f"({self.checkpoint_pos}" if self.checkpoint_pos else "-"
            while True:
                rows = await redis.xrange(keys.log(feed), start, "+", count=1000)
                if not rows:
                    break
                for sid, fields in rows:
                    if at_split is None and parse_stream_id(as_str(sid)) > split_id:  # type: ignore[operator]
                        at_split = dict(state)
                    fold(state, (Event.loads(fields[b"ev"]),))
                self.last = as_str(rows[-1][0])
                start = f"({self.last}"
        self.state = state
        self.public = dict(state) if at_split is None else at_split
        return self

    async def catch_up(self, pos: str) -> bool:
        """Fold what was appended and projected since; False if it was trimmed."""
        r = self.redis
        async with translated():
            if as_str(await r.get(keys.checkpoint_pos(self.feed))) != self.checkpoint_pos:
                return False
            if pos and pos != self.pos:
                start = f"({self.pos}" if self.pos else "-"
                rows = await r.xrange(keys.log(self.feed), start, pos)
                fold(self.public, (Event.loads(f[b"ev"]) for _, f in rows))
                self.pos = pos
            start = f"({self.last}" if self.last else "-"
            while rows := await r.xrange(keys.log(self.feed), start, "+", count=1000):
                fold(self.state, (Event.loads(f[b"ev"]) for _, f in rows))
                self.last = as_str(rows[-1][0])
                start = f"({self.last}"
        return True

    def apply_args(self) -> list[Any]:
        """The arguments of ``scripts.REBUILD`` that write this state."""
        args: list[Any] = [self.last, self.pos, len(self.state)]
        for e in self.state.values():
            args += [e.id, e.dumps(), e.version, e.published_at]
        sched = [e for e in self.state.values() if e.status == "scheduled"]
        args.append(len(sched))
        for e in sched:
            args += [e.id, e.published_at]
        for e in self.public.values():
            if e.visible:
                args += [e.id, e.dumps(), e.timeline_member(), 1 if e.key_event else 0]
        return args


def _trimmable_prefix(rows: list[Any], age_cut: StreamId, pub_cut: StreamId) -> list[Any]:
    """The leading rows older than ``age_cut`` and already projected."""
    keep = []
    for row in rows:
        pos = parse_stream_id(as_str(row[0]))
        if not (pos < age_cut and pos <= pub_cut):
            break
        keep.append(row)
    return keep


def _next_id(sid: str) -> str:
    ms, seq = parse_stream_id(sid)
    return f"{ms}-{seq + 1}"
