"""The live hub: one Redis reader per feed, fanned out to local connections.

Design (why it is fast, and why it never loses or repeats a message):

- **One reader per feed per process.** A ``Channel`` tails ``nf:{F}:live``
  with a blocking XREAD (up to ``BATCH`` messages) pipelined with a read of
  the stream's bounds. Redis load is one blocked connection per feed with
  subscribers, whatever the number of readers.
- **Encode once, write the same bytes everywhere.** Each message is turned
  once into its JSON, its WebSocket text frame (servers never mask, so one
  frame fits every socket) and its SSE record (``feed.wire``). A batch is
  joined into one blob per transport kind (WebSocket frames; SSE records in
  one HTTP chunk) and the *same* ``bytes`` object is handed to every
  subscriber's ``transport.write()``: no per-connection encoding, no
  per-connection task, no ``await`` per message. Under a burst, one write
  carries many messages. This is what Starlette's ``await send_text`` per
  connection and per message cannot do (it re-frames and awaits each).
- **Bounded buffers, drop the client not the message.** Before each write
  the hub asks the transport how many bytes it still holds
  (``get_write_buffer_size``); past ``client_buffer_bytes`` the connection
  is closed with 4000 (SSE: aborted) and the client resumes from the last
  cursor it got. A stalled client costs at most its limit plus one batch,
  and never delays anyone: writes never block.
- **Exactly once, in order.** The channel remembers its position ``pos``
  and a ring of the last ``RING`` prepared messages, contiguous after
  ``ring_base``. A subscriber joins at a position P (its snapshot's cursor
  or its ``since``): P in the ring -> it is sent the ring's suffix after P
  and joins the fan-out set in the same synchronous step (nothing can slip
  between); P ahead of the reader -> it waits until the reader passes P and
  then gets the suffix; P older than the ring -> it catches up from Redis
  (XRANGE) in batches, re-reading the bounds after each read so a trim that
  raced the read becomes a ``reset``, never a silent gap. The reader
  itself checks every batch the same way (a gap, another epoch, or a stream
  behind it close its subscribers with 1012; they resume and are reset).
  A reconnect storm is served from the ring, without Redis.
- **Snapshots** are read atomically with their cursor (``read_timeline``),
  encoded once and shared for ``SNAPSHOT_TTL`` by concurrent connections
  (single flight); a subscriber then catches up from the snapshot's cursor.
- **Structured concurrency.** The hub runs in the app's lifespan: its task
  group owns the channel readers and the SSE heartbeat. A connection's
  endpoint task owns the connection. ``drain()`` closes every connection
  (1012 / a final SSE ``reconnect`` event) before the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, Literal, Protocol

from feed.cursor import ZERO, Cursor, StreamId, resume_decision
from feed.errors import FeedError, StoreUnavailable
from feed.store import FeedStore, LiveMessage
from feed.wire import (
    CLOSE_RESTART,
    CLOSE_SLOW_CONSUMER,
    Prepared,
    ResetReason,
    http_chunk,
    overflows,
    prepare,
    reconnect_json,
    reset_json,
    reset_reason,
    snapshot_json,
    sse_comment,
    sse_event,
    suffix_after,
    ws_frame,
)
from web import metrics

log = logging.getLogger("newsfeed.live")

BATCH = 500
"""Messages per XREAD."""
RING = 2048
"""Prepared messages each channel keeps for resumes (>= BATCH)."""
BLOCK_MS = 5000
LINGER = 30.0
"""Seconds a channel with no subscriber keeps reading (its ring stays warm)."""
SNAPSHOT_TTL = 1.0
READY_TIMEOUT = 5.0
DRAIN_WAIT = 2.0

Kind = Literal["ws", "sse"]


class Overloaded(FeedError):
    status = 503
    title = "Service unavailable"


class RawConnection(Protocol):
    """What the hub needs of a server connection (see ``web.serve``)."""

    transport: asyncio.Transport
    on_lost: Callable[[], None] | None


class WebSocketConnection(RawConnection, Protocol):
    def live_close(self, code: int, reason: str = "") -> None: ...


def encode(kind: Kind, batch: Sequence[Prepared]) -> bytes:
    """The bytes one subscriber of ``kind`` is written for ``batch``."""
    if kind == "ws":
        return batch[0].ws if len(batch) == 1 else b"".join(p.ws for p in batch)
    return http_chunk(b"".join(p.sse for p in batch))


class Subscriber:
    """One live connection: a transport the hub writes pre-built bytes to."""

    __slots__ = ("_ws", "channel", "closed", "conn", "done", "hub", "kind", "limit", "transport")

    def __init__(self, hub: Hub, kind: Kind, conn: RawConnection, limit: int) -> None:
        self.hub = hub
        self.kind: Kind = kind
        self.conn = conn
        self.transport = conn.transport
        self.limit = limit
        self.channel: Channel | None = None
        self.closed = False
        self.done = asyncio.Event()
        """Set when the connection is over (the endpoint may return)."""
        self._ws: WebSocketConnection | None = conn if kind == "ws" else None  # type: ignore[assignment]
        conn.on_lost = self.lost

    def push(self, data: bytes) -> bool:
        """Write ``data`` unless the client is too far behind (then drop it)."""
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

    def write(self, data: bytes) -> None:
        """Write ``data`` whatever the backlog (a snapshot, a pong)."""
        try:
            self.transport.write(data)
        except RuntimeError:
            self.lost()

    def lost(self) -> None:
        """The peer went away."""
        self._finish()

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self._finish()
        if self._ws is not None:
            self._ws.live_close(code, reason)
        elif code == CLOSE_RESTART:
            # A last event with a jittered retry; the endpoint then ends the
            # response and EventSource reconnects with Last-Event-ID.
            retry = random.randint(500, 3000)
            last = sse_event("reconnect", None, reconnect_json("restart", retry), retry)
            with contextlib.suppress(RuntimeError):
                self.transport.write(http_chunk(last))
        else:
            self.transport.abort()

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.conn.on_lost = None
        if self.channel is not None:
            self.channel.subs[self.kind].discard(self)
            self.channel = None
        self.hub._release(self)
        self.done.set()


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    cursor: Cursor
    ws: bytes
    sse: bytes
    at: float


class Channel:
    """The fan-out of one feed's live stream in this process."""

    def __init__(self, hub: Hub, feed: str) -> None:
        self.hub = hub
        self.store = hub.store
        self.feed = feed
        self.epoch = ""
        self.pos: StreamId = ZERO
        self.ring: list[Prepared] = []
        self.ring_base: StreamId = ZERO
        self.subs: dict[Kind, set[Subscriber]] = {"ws": set(), "sse": set()}
        self.waiting: list[tuple[StreamId, Subscriber]] = []
        self.ready = asyncio.Event()
        self.closing = False
        self._idle_since: float | None = time.monotonic()
        self._snapshots: dict[int, Snapshot] = {}
        self._snapshot_flights: dict[int, asyncio.Future[Snapshot | None]] = {}

    # -- the reader ---------------------------------------------------------
    async def run(self) -> None:
        backoff = 0.1
        try:
            while True:
                try:
                    if not self.ready.is_set():
                        await self._start()
                    before = self.pos
                    msgs, bounds = await self.store.tail_live(
                        self.feed, before, count=BATCH, block_ms=BLOCK_MS
                    )
                    backoff = 0.1
                except StoreUnavailable as exc:
                    delay = backoff * (0.5 + random.random())
                    log.warning("live reader of %s: %s; retrying in %.2fs", self.feed, exc, delay)
                    await asyncio.sleep(delay)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if (
                    bounds.epoch != self.epoch
                    or bounds.max_deleted > before
                    or bounds.last < before
                ):
                    log.warning("live stream of %s moved under its reader; resetting", self.feed)
                    self.break_all(CLOSE_RESTART, "stream reset: reconnect with since")
                    self.ready.clear()
                    continue
                if msgs:
                    self.deliver(msgs)
                if self._idle_too_long():
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live reader of %s failed", self.feed)
        finally:
            self.closing = True
            self.hub._forget(self)
            self.break_all(CLOSE_RESTART, "server restart: reconnect with since")

    async def _start(self) -> None:
        bounds = await self.store.bounds(self.feed)
        self.epoch = bounds.epoch
        self.pos = self.ring_base = bounds.last
        self.ring = []
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
        return now - self._idle_since > self.hub.linger

    def prepare(self, msgs: Sequence[LiveMessage]) -> list[Prepared]:
        epoch = self.epoch
        return [prepare(epoch, m.position, m.type, m.data) for m in msgs]

    def deliver(self, msgs: Sequence[LiveMessage]) -> None:
        batch = self.prepare(msgs)
        self.pos = batch[-1].position
        ring = self.ring
        ring.extend(batch)
        if len(ring) > 2 * RING:
            drop = len(ring) - RING
            self.ring_base = ring[drop - 1].position  # the ring holds what follows it
            del ring[:drop]
        for kind, subs in self.subs.items():
            if not subs:
                continue
            data = encode(kind, batch)
            for sub in tuple(subs):
                sub.push(data)
            metrics.LIVE_DELIVERIES.labels(kind).inc(len(batch) * len(subs))
        if self.waiting:
            self._release_waiting()

    def _release_waiting(self) -> None:
        still: list[tuple[StreamId, Subscriber]] = []
        for position, sub in self.waiting:
            if sub.closed:
                continue
            if position > self.pos:
                still.append((position, sub))
                continue
            tail = suffix_after(self.ring, position)
            if tail and not sub.push(encode(sub.kind, tail)):
                continue
            self.subs[sub.kind].add(sub)
        self.waiting = still

    def break_all(self, code: int, reason: str) -> None:
        subs = [s for group in self.subs.values() for s in group]
        subs += [s for _, s in self.waiting]
        self.waiting = []
        for sub in subs:
            sub.close(code, reason)

    # -- joining ------------------------------------------------------------
    def attach(self, sub: Subscriber, position: StreamId) -> bool:
        """Join at ``position`` now, or say that Redis must fill the gap first."""
        if sub.closed:
            return True
        if position > self.pos:
            sub.channel = self
            self.waiting.append((position, sub))
            return True
        if position < self.ring_base:
            return False
        tail = suffix_after(self.ring, position)
        if tail and not sub.push(encode(sub.kind, tail)):
            return True
        sub.channel = self
        self.subs[sub.kind].add(sub)
        return True

    def in_ring(self, position: StreamId) -> bool:
        return self.ring_base <= position <= self.pos

    async def snapshot(self, limit: int) -> Snapshot:
        """The latest ``limit`` entries and their cursor, shared briefly."""
        while True:
            snap = self._snapshots.get(limit)
            if (
                snap is not None
                and time.monotonic() - snap.at < SNAPSHOT_TTL
                and snap.cursor.position >= self.ring_base
                and snap.cursor.epoch == self.epoch
            ):
                return snap
            flight = self._snapshot_flights.get(limit)
            if flight is None:
                break
            if await asyncio.shield(flight) is not None:
                continue
        flight = asyncio.get_running_loop().create_future()
        self._snapshot_flights[limit] = flight
        result: Snapshot | None = None
        try:
            page = await self.store.read_timeline(self.feed, limit=limit)
            body = snapshot_json(page.cursor, (e.dumps() for e in page.entries))
            result = Snapshot(
                page.cursor,
                ws_frame(body),
                http_chunk(sse_event("snapshot", str(page.cursor), body)),
                time.monotonic(),
            )
            self._snapshots[limit] = result
            return result
        finally:
            del self._snapshot_flights[limit]
            flight.set_result(result)


class Hub:
    """Every live connection of this process, and one channel per feed."""

    def __init__(
        self,
        store: FeedStore,
        *,
        max_connections: int,
        client_buffer_bytes: int,
        heartbeat_seconds: float,
        linger: float = LINGER,
    ) -> None:
        self.store = store
        self.max_connections = max_connections
        self.client_buffer_bytes = client_buffer_bytes
        self.heartbeat_seconds = heartbeat_seconds
        self.linger = linger
        self.channels: dict[str, Channel] = {}
        self.connections: set[Subscriber] = set()
        self._admitted = 0
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.draining = False

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            self._spawn(self._heartbeat())
            try:
                yield self
            finally:
                self.draining = True
                self._tg = None
                for task in list(self._tasks):
                    task.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        if self._tg is None:
            coro.close()
            raise Overloaded("the server is shutting down")
        task = self._tg.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- admission ----------------------------------------------------------
    def admit(self) -> None:
        """Reserve a connection slot or raise Overloaded (HTTP 503)."""
        if self.draining or self._tg is None:
            raise Overloaded("the server is restarting; reconnect shortly")
        if self._admitted >= self.max_connections:
            raise Overloaded(
                f"this server holds its maximum of {self.max_connections} live connections"
            )
        self._admitted += 1

    def unadmit(self) -> None:
        self._admitted -= 1

    def open(self, kind: Kind, conn: RawConnection) -> Subscriber:
        """A subscriber for an admitted connection (released on close/loss)."""
        sub = Subscriber(self, kind, conn, self.client_buffer_bytes)
        self.connections.add(sub)
        metrics.LIVE_CONNECTIONS.labels(kind).inc()
        return sub

    def _release(self, sub: Subscriber) -> None:
        if sub in self.connections:
            self.connections.discard(sub)
            self._admitted -= 1
            metrics.LIVE_CONNECTIONS.labels(sub.kind).dec()

    # -- channels -------------------------------------------------------------
    async def channel(self, feed: str) -> Channel:
        """The running channel of ``feed`` (NotFound if there is no such feed)."""
        while True:
            chan = self.channels.get(feed)
            if chan is None:
                await self.store.get_feed(feed)
                chan = self.channels.get(feed)
                if chan is None:
                    chan = Channel(self, feed)
                    self.channels[feed] = chan
                    try:
                        self._spawn(chan.run())
                    except Overloaded:
                        del self.channels[feed]
                        raise
            try:
                await asyncio.wait_for(chan.ready.wait(), READY_TIMEOUT)
            except TimeoutError:
                raise StoreUnavailable("the live stream cannot be read now") from None
            if not chan.closing:
                return chan

    def _forget(self, chan: Channel) -> None:
        if self.channels.get(chan.feed) is chan:
            del self.channels[chan.feed]

    # -- serving a connection -------------------------------------------------
    async def serve(self, sub: Subscriber, chan: Channel, since: Cursor | None, limit: int) -> None:
        """Send a new connection what it missed (or a reset and a snapshot), then join."""
        if since is not None:
            reason = await self._resume(sub, chan, since)
            if reason is None:
                return
            metrics.LIVE_RESETS.labels(reason).inc()
            sub.push(self._reset_bytes(sub.kind, reason))
        if sub.closed:
            return
        snap = await chan.snapshot(limit)
        if sub.closed:
            return
        if snap.cursor.epoch != chan.epoch:
            sub.close(CLOSE_RESTART, "stream reset: reconnect")
            return
        sub.write(snap.ws if sub.kind == "ws" else snap.sse)
        if not await self._catch_up(sub, chan, snap.cursor.position):
            sub.close(CLOSE_RESTART, "stream trimmed: reconnect with since")

    def _reset_bytes(self, kind: Kind, reason: ResetReason) -> bytes:
        body = reset_json(reason)
        return ws_frame(body) if kind == "ws" else http_chunk(sse_event("reset", None, body))

    async def _resume(self, sub: Subscriber, chan: Channel, since: Cursor) -> ResetReason | None:
        if since.epoch != chan.epoch:
            return "epoch"
        if chan.in_ring(since.position):
            chan.attach(sub, since.position)
            return None
        bounds = await self.store.bounds(chan.feed)
        if resume_decision(since, bounds) == "reset":
            return reset_reason(since, bounds)
        if await self._catch_up(sub, chan, since.position):
            return None
        return "stale"

    async def _catch_up(self, sub: Subscriber, chan: Channel, position: StreamId) -> bool:
        """Send what follows ``position`` from Redis until the ring covers the rest.

        False when the history after ``position`` is gone (the caller resets).
        """
        while not chan.attach(sub, position):
            rows = await self.store.read_live(chan.feed, position, count=BATCH)
            bounds = await self.store.bounds(chan.feed)
            if bounds.epoch != chan.epoch or bounds.max_deleted > position or not rows:
                return False
            if sub.closed:
                return True
            batch = chan.prepare(rows)
            if not sub.push(encode(sub.kind, batch)):
                return True
            position = batch[-1].position
        return True

    # -- heartbeats and drain -------------------------------------------------------
    async def _heartbeat(self) -> None:
        """One timer for every SSE connection (WebSocket pings are per socket)."""
        beat = http_chunk(sse_comment("heartbeat"))
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            for sub in tuple(self.connections):
                if sub.kind == "sse":
                    sub.push(beat)

    async def drain(self) -> None:
        """Close every live connection with 1012 (SSE: a last reconnect event).

        Waits up to ``DRAIN_WAIT`` for the WebSocket peers to answer the
        close frame, so uvicorn's shutdown finds the sockets already closed.
        """
        self.draining = True
        pending: set[RawConnection] = set()
        gone = asyncio.Event()

        def on_gone(conn: RawConnection) -> None:
            pending.discard(conn)
            if not pending:
                gone.set()

        for sub in tuple(self.connections):
            sub.close(CLOSE_RESTART, "server restart: reconnect with since")
            if sub.kind == "ws" and not sub.transport.is_closing():
                conn = sub.conn
                pending.add(conn)
                conn.on_lost = lambda conn=conn: on_gone(conn)
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), DRAIN_WAIT)
