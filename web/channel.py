"""One feed's fan-out in one process, and the subscribers it writes to.

See ``web.hub`` for the design. A ``Channel`` owns the feed's single Redis
reader, the ring of recently prepared messages and the set of subscribers
that are caught up; a ``Subscriber`` is one connection's transport plus the
slow-consumer policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from feed.backoff import Backoff
from feed.cursor import ZERO, Cursor, StreamId, position_lost
from feed.errors import StoreUnavailable
from feed.livestream import LiveMessage
from feed.stores import Stores
from feed.wire import (
    CLOSE_RESTART,
    CLOSE_SLOW_CONSUMER,
    Prepared,
    http_chunk,
    overflows,
    prepare,
    snapshot_json,
    sse_event,
    suffix_after,
    ws_frame,
)
from web import metrics

log = logging.getLogger("newsfeed.live")

BATCH = 500
"""Messages per XREAD."""
RING = 2048
"""Prepared messages each channel keeps (between RING and 2 * RING)..."""
RING_BYTES = 8 * 1024 * 1024
"""... and at most about this many bytes of them (big entries, fewer kept)."""
SNAPSHOT_KEYS = 4
"""Distinct ``limit`` values whose snapshot is shared at a time."""
BLOCK_MS = 5000
SNAPSHOT_TTL = 1.0
SNAPSHOT_LAG = 32
"""A shared snapshot is read again once this many messages followed it."""

Kind = Literal["ws", "sse"]


class RawConnection(Protocol):
    """What the hub needs of a live connection (``web.live_ws``, ``web.live_sse``)."""

    transport: asyncio.Transport
    on_lost: Callable[[], None] | None
    """Called once when the peer is gone (the subscriber leaves the fan-out)."""
    on_gone: Callable[[], None] | None
    """Called once when the socket is closed, after ``on_lost``."""
    backed_up_since: float | None
    """When its output went over the pause mark (reading stopped); None if flowing."""

    def end(self, code: int, reason: str) -> None:
        """Close it: a WebSocket close frame, or the end of an SSE stream."""


def encode(kind: Kind, batch: Sequence[Prepared]) -> bytes:
    """The bytes a subscriber of ``kind`` is written for ``batch``."""
    if kind == "ws":
        return batch[0].ws if len(batch) == 1 else b"".join(p.ws for p in batch)
    return http_chunk(b"".join(p.sse for p in batch))


def _size(p: Prepared) -> int:
    return len(p.json) + len(p.ws) + len(p.sse)


def chunks(batch: Sequence[Prepared], max_bytes: int) -> list[Sequence[Prepared]]:
    """``batch`` cut into runs of at most ``max_bytes`` (at least one message each)."""
    out: list[Sequence[Prepared]] = []
    start, size = 0, 0
    for i, p in enumerate(batch):
        if size and size + len(p.ws) > max_bytes:
            out.append(batch[start:i])
            start, size = i, 0
        size += len(p.ws)
    out.append(batch[start:])
    return out


def fan_out(subs: set[Subscriber], data: bytes) -> None:
    """``Subscriber.push`` of the same bytes to many, with its fast path inlined.

    A transport with nothing buffered is written at once (the common case,
    one C call); only a backlog is judged by the slow-consumer policy.
    """
    n = len(data)
    for sub in tuple(subs):
        t = sub.transport
        try:
            backlog = t.get_write_buffer_size()
            if backlog and overflows(backlog, n, sub.limit):
                sub.push(data)  # closes it, counted
                continue
            t.write(data)
        except RuntimeError:  # the transport closed under us
            sub.lost()


class Subscriber:
    """One live connection: a transport the hub writes pre-built bytes to."""

    __slots__ = (
        "_on_close",
        "channel",
        "closed",
        "conn",
        "kind",
        "limit",
        "transport",
    )

    def __init__(
        self,
        kind: Kind,
        conn: RawConnection,
        limit: int,
        on_close: Callable[[Subscriber], None],
    ) -> None:
        self.kind: Kind = kind
        self.conn = conn
        self.transport = conn.transport
        self.limit = limit
        self.channel: Channel | None = None
        self.closed = False
        self._on_close = on_close
        conn.on_lost = self.lost

    def push(self, data: bytes) -> bool:
        """Write ``data``, unless the client is too far behind: then close it."""
        t = self.transport
        try:
            if overflows(t.get_write_buffer_size(), len(data), self.limit):
                metrics.LIVE_SLOW_CONSUMERS.labels(self.kind).inc()
                self.close(CLOSE_SLOW_CONSUMER, "slow consumer: resume with since")
                return False
            t.write(data)
        except RuntimeError:  # the transport closed under us
            self.lost()
            return False
        return True

    async def drained(self, below: int) -> None:
        """Wait (at most ~10 s) until the backlog is under ``below`` bytes."""
        for _ in range(1000):
            if self.closed or self.transport.get_write_buffer_size() < below:
                return
            await asyncio.sleep(0.01)

    def lost(self) -> None:
        """The peer went away."""
        self._finish()

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self._finish()
        self.conn.end(code, reason)

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.conn.on_lost = None
        if self.channel is not None:
            self.channel.subs[self.kind].discard(self)
            self.channel = None
        self._on_close(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    cursor: Cursor
    ws: bytes
    sse: bytes
    at: float


class Channel:
    """The fan-out of one feed's live stream in this process."""

    def __init__(self, store: Stores, feed: str, *, chunk_bytes: int, linger: float) -> None:
        self.store = store
        self.feed = feed
        self.chunk_bytes = chunk_bytes
        self.linger = linger
        self.epoch = ""
        self.pos: StreamId = ZERO
        self.ring: list[Prepared] = []
        self.ring_bytes = 0
        self.ring_base: StreamId = ZERO
        """The ring holds every message after this position, up to ``pos``."""
        self.trimmed: StreamId = ZERO
        """The stream's trim bound at the last read: resumes older than it
        reset even when the ring could serve them, so processes agree."""
        self.subs: dict[Kind, set[Subscriber]] = {"ws": set(), "sse": set()}
        self.waiting: list[tuple[StreamId, Subscriber]] = []
        self.ready = asyncio.Event()
        self.closing = False
        self._idle_since: float | None = time.monotonic()
        self._snapshots: dict[int, Snapshot] = {}
        self._snapshot_flights: dict[int, asyncio.Future[Snapshot | None]] = {}

    # -- the reader -----------------------------------------------------------
    async def run(self, on_exit: Callable[[Channel], None]) -> None:
        backoff = Backoff()
        try:
            while True:
                try:
                    if not self.ready.is_set():
                        await self._start()
                    before = self.pos
                    msgs, bounds = await self.store.live.tail_live(
                        self.feed, before, count=BATCH, block_ms=BLOCK_MS
                    )
                    backoff.reset()
                except StoreUnavailable as exc:
                    delay = backoff.next_delay()
                    log.warning("live reader of %s: %s; retrying in %.2fs", self.feed, exc, delay)
                    await asyncio.sleep(delay)
                    continue
                if bounds.epoch == self.epoch and position_lost(before, bounds):
                    # Redis came back with less than this process read: give
                    # the stream a new epoch so every reader of every process
                    # resets (docs/PROTOCOL.md, "Rollbacks").
                    log.warning("live stream of %s rolled back; new epoch", self.feed)
                    metrics.LIVE_ROLLBACKS.inc()
                    with contextlib.suppress(StoreUnavailable):  # its readers reset anyway
                        await self.store.live.rotate_epoch(self.feed, self.epoch)
                    bounds = dataclasses.replace(bounds, epoch="")
                if (
                    bounds.epoch != self.epoch
                    or bounds.max_deleted > before
                    or bounds.last < before
                ):
                    log.warning("live stream of %s moved under its reader; resetting", self.feed)
                    self.break_all(CLOSE_RESTART, "stream reset: reconnect with since")
                    self.ready.clear()
                    continue
                self.trimmed = bounds.max_deleted
                if msgs:
                    self.deliver(msgs)
                if self._idle_too_long():
                    return
        except Exception:
            log.exception("live reader of %s failed", self.feed)
        finally:
            self.closing = True
            on_exit(self)
            self.break_all(CLOSE_RESTART, "server restart: reconnect with since")

    async def _start(self) -> None:
        bounds = await self.store.live.bounds(self.feed)
        self.epoch = bounds.epoch
        self.pos = self.ring_base = bounds.last
        self.trimmed = bounds.max_deleted
        self.ring = []
        self.ring_bytes = 0
        self._snapshots.clear()
        self.ready.set()

    def _idle_too_long(self) -> bool:
        self.waiting = [w for w in self.waiting if not w[1].closed]
        if self.subs["ws"] or self.subs["sse"] or self.waiting:
            self._idle_since = None
            return False
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        return now - self._idle_since > self.linger

    def prepare(self, msgs: Sequence[LiveMessage]) -> list[Prepared]:
        epoch = self.epoch
        return [prepare(epoch, m.position, m.type, m.data) for m in msgs]

    def deliver(self, msgs: Sequence[LiveMessage]) -> None:
        """Fan a batch out: each chunk encoded once, the same bytes to everyone."""
        batch = self.prepare(msgs)
        self.pos = batch[-1].position
        ring = self.ring
        ring.extend(batch)
        self.ring_bytes += sum(_size(p) for p in batch)
        if len(ring) > 2 * RING or self.ring_bytes > 2 * RING_BYTES:
            self._trim_ring(len(batch))
        delivered = 0
        for kind, subs in self.subs.items():
            if not subs:
                continue
            for part in chunks(batch, self.chunk_bytes):
                fan_out(subs, encode(kind, part))
            delivered += len(subs)
            metrics.LIVE_DELIVERIES.labels(kind).inc(len(batch) * len(subs))
        if self.waiting:
            self._release_waiting()
        if delivered:
            # Stream ids are the append time (Redis's clock, ms) of each message.
            metrics.LIVE_FANOUT_LAG.observe(max(0.0, time.time() - batch[0].position[0] / 1000))

    def _trim_ring(self, at_least: int) -> None:
        """Keep the newest RING messages within RING_BYTES, and the last batch."""
        ring = self.ring
        keep, size = 0, 0
        for p in reversed(ring):
            size += _size(p)
            if keep >= at_least and (keep >= RING or size > RING_BYTES):
                break
            keep += 1
        drop = len(ring) - keep
        if drop > 0:
            self.ring_base = ring[drop - 1].position  # the ring holds what follows it
            del ring[:drop]
            self.ring_bytes = sum(_size(p) for p in ring)

    def _release_waiting(self) -> None:
        still: list[tuple[StreamId, Subscriber]] = []
        for position, sub in self.waiting:
            if sub.closed:
                continue
            if position > self.pos:
                still.append((position, sub))
            else:
                self._join(sub, suffix_after(self.ring, position))
        self.waiting = still

    def _join(self, sub: Subscriber, tail: Sequence[Prepared]) -> None:
        for part in chunks(tail, self.chunk_bytes) if tail else ():
            if not sub.push(encode(sub.kind, part)):
                return
        sub.channel = self
        self.subs[sub.kind].add(sub)

    def break_all(self, code: int, reason: str) -> None:
        subs = [s for group in self.subs.values() for s in group]
        subs += [s for _, s in self.waiting]
        self.waiting = []
        for sub in subs:
            sub.close(code, reason)

    # -- joining ----------------------------------------------------------------
    def try_join(self, sub: Subscriber, position: StreamId) -> Sequence[Prepared] | None:
        """Join at ``position`` now if what follows is small; else what to send first.

        Returns None once joined (or waiting for the reader to reach a
        position ahead of it). Otherwise returns the next messages to send
        (from the ring; empty when the ring no longer covers ``position`` and
        Redis must fill the gap) and the caller sends them and tries again.
        """
        if sub.closed:
            return None
        if position > self.pos:
            sub.channel = self
            self.waiting.append((position, sub))
            return None
        if position < self.ring_base:
            return ()
        tail = suffix_after(self.ring, position)
        if len(tail) * 2 > BATCH:
            return tail[:BATCH]
        self._join(sub, tail)
        return None

    def in_ring(self, position: StreamId) -> bool:
        return self.ring_base <= position <= self.pos and position >= self.trimmed

    async def snapshot(self, limit: int) -> Snapshot:
        """The latest ``limit`` entries and their cursor, shared briefly (single flight)."""
        while True:
            snap = self._snapshots.get(limit)
            if (
                snap is not None
                and time.monotonic() - snap.at < SNAPSHOT_TTL
                and snap.cursor.epoch == self.epoch
                and snap.cursor.position >= max(self.ring_base, self.trimmed)
                and len(suffix_after(self.ring, snap.cursor.position)) <= SNAPSHOT_LAG
            ):
                return snap
            flight = self._snapshot_flights.get(limit)
            if flight is None:
                break
            await asyncio.shield(flight)
        flight = asyncio.get_running_loop().create_future()
        self._snapshot_flights[limit] = flight
        result: Snapshot | None = None
        try:
            page = await self.store.public.read_timeline(self.feed, limit=limit)
            body = snapshot_json(page.cursor, (e.dumps() for e in page.entries))
            result = Snapshot(
                page.cursor,
                ws_frame(body),
                http_chunk(sse_event("snapshot", str(page.cursor), body)),
                time.monotonic(),
            )
            if limit not in self._snapshots and len(self._snapshots) >= SNAPSHOT_KEYS:
                del self._snapshots[next(iter(self._snapshots))]
            self._snapshots[limit] = result
            return result
        finally:
            del self._snapshot_flights[limit]
            flight.set_result(result)
