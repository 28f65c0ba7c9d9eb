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
- **Structured concurrency, and no task per idle socket.** The hub runs in
  the app's lifespan: its task group owns the channel readers, the
  heartbeat and each connection's serving task (``spawn``), which ends once
  the connection has its snapshot or catch-up and has joined the fan-out.
  From then on a connection is its protocol object (``web.live_ws``,
  ``web.live_sse``), its transport and a ``Subscriber``: no task.
  ``drain()`` closes every connection (1012 / a final SSE ``reconnect``
  event) when the lifespan ends, after uvicorn stopped accepting.

Measured figures and what bounds them: docs/PROTOCOL.md, "Server design".
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from feed.cursor import Cursor, StreamId, position_lost, resume_decision
from feed.errors import Overloaded, StoreUnavailable
from feed.readers import ReaderCounts
from feed.stores import Stores
from feed.wire import (
    CLOSE_RESTART,
    CLOSE_SLOW_CONSUMER,
    ResetReason,
    http_chunk,
    reset_json,
    reset_reason,
    sse_comment,
    sse_event,
    ws_frame,
)
from web import metrics
from web.channel import (
    BATCH,
    Channel,
    Kind,
    RawConnection,
    Subscriber,
    chunks,
    encode,
)
from web.live_ws import PING_FRAME, LiveWebSocket

READERS_EVERY = 5.0
"""Seconds between two reports of this process's reader counts (``feed.readers``)."""
LINGER = 30.0
"""Seconds a channel with no subscriber keeps reading (its ring stays warm)."""
READY_TIMEOUT = 5.0
DRAIN_WAIT = 2.0


class Hub:
    """Every live connection of this process, and one channel per feed."""

    def __init__(
        self,
        store: Stores,
        *,
        max_connections: int,
        client_buffer_bytes: int,
        heartbeat_seconds: float,
        linger: float = LINGER,
    ) -> None:
        self.store = store
        self.max_connections = max_connections
        self.client_buffer_bytes = client_buffer_bytes
        self.chunk_bytes = max(4096, min(256 * 1024, client_buffer_bytes // 4))
        """Deliveries are cut into writes of at most this many bytes."""
        self.heartbeat_seconds = heartbeat_seconds
        self.linger = linger
        self.channels: dict[str, Channel] = {}
        self.connections: set[Subscriber] = set()
        self._admitted = 0
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.draining = False
        self.reader_counts = ReaderCounts(store.redis)
        self.process_id = secrets.token_hex(6)
        """This process's field in each feed's reader counts."""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        """Own the channel readers and the heartbeat for the app's lifetime."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            self._spawn(self._heartbeat())
            self._spawn(self._report_readers())
            try:
                yield self
            finally:
                await self.drain()
                self._tg = None
                for task in list(self._tasks):
                    task.cancel()

    def spawn(
        self, coro: Coroutine[Any, Any, None], context: contextvars.Context | None = None
    ) -> None:
        """Run ``coro`` in the hub's task group (it must handle its own errors)."""
        self._spawn(coro, context)

    def _spawn(
        self, coro: Coroutine[Any, Any, None], context: contextvars.Context | None = None
    ) -> None:
        if self._tg is None:
            coro.close()
            raise Overloaded("the server is shutting down")
        task = self._tg.create_task(coro, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- admission ------------------------------------------------------------------
    def admit(self) -> None:
        """Reserve a connection slot or raise Overloaded (HTTP 503).

        A slot is taken at the request head and freed (``unadmit``) when the
        socket is gone, so handshakes and closing sockets count too.
        """
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
        """A subscriber for an admitted connection (released on close or loss)."""
        sub = Subscriber(kind, conn, self.client_buffer_bytes, self._release)
        self.connections.add(sub)
        metrics.LIVE_CONNECTIONS.labels(kind).inc()
        return sub

    def _release(self, sub: Subscriber) -> None:
        if sub in self.connections:
            self.connections.discard(sub)
            metrics.LIVE_CONNECTIONS.labels(sub.kind).dec()

    # -- channels -----------------------------------------------------------------------
    async def channel(self, feed: str) -> Channel:
        """The running channel of ``feed`` (NotFound if there is no such feed)."""
        while True:
            chan = self.channels.get(feed)
            if chan is None:
                await self.store.registry.get_feed(feed)
                chan = self.channels.get(feed)
                if chan is None:
                    chan = Channel(
                        self.store, feed, chunk_bytes=self.chunk_bytes, linger=self.linger
                    )
                    self.channels[feed] = chan
                    try:
                        self._spawn(chan.run(self._forget))
                    except Overloaded:
                        del self.channels[feed]
                        raise
            if not chan.ready.is_set():
                try:
                    await asyncio.wait_for(chan.ready.wait(), READY_TIMEOUT)
                except TimeoutError:
                    raise StoreUnavailable("the live stream cannot be read now") from None
            if not chan.closing:
                return chan

    def _forget(self, chan: Channel) -> None:
        if self.channels.get(chan.feed) is chan:
            del self.channels[chan.feed]

    # -- serving a connection -------------------------------------------------------------
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
        sub.push(snap.ws if sub.kind == "ws" else snap.sse)
        if not await self._catch_up(sub, chan, snap.cursor.position):
            sub.close(CLOSE_RESTART, "stream trimmed: reconnect with since")

    def _reset_bytes(self, kind: Kind, reason: ResetReason) -> bytes:
        body = reset_json(reason)
        return ws_frame(body) if kind == "ws" else http_chunk(sse_event("reset", None, body))

    async def _resume(self, sub: Subscriber, chan: Channel, since: Cursor) -> ResetReason | None:
        if since.epoch != chan.epoch:
            return "epoch"
        if not chan.in_ring(since.position):
            bounds = await self.store.live.bounds(chan.feed, at=since.position)
            if resume_decision(since, bounds) == "reset":
                return reset_reason(since, bounds)
        if await self._catch_up(sub, chan, since.position):
            return None
        return "stale"

    async def _catch_up(self, sub: Subscriber, chan: Channel, position: StreamId) -> bool:
        """Send what follows ``position`` (ring, else Redis), paced, then join.

        Each step waits for the client to drain what it was sent before, so
        a long catch-up is not mistaken for a slow consumer. False when the
        history after ``position`` is gone (the caller resets).
        """
        while (todo := chan.try_join(sub, position)) is not None:
            if not todo:
                rows = await self.store.live.read_live(chan.feed, position, count=BATCH)
                bounds = await self.store.live.bounds(chan.feed, at=position)
                if (
                    bounds.epoch != chan.epoch
                    or bounds.max_deleted > position
                    or position_lost(position, bounds)
                    or not rows
                ):
                    return False
                todo = chan.prepare(rows)
            for part in chunks(todo, self.chunk_bytes):
                await sub.drained(self.chunk_bytes)
                if sub.closed or not sub.push(encode(sub.kind, part)):
                    return True
            position = todo[-1].position
        return True

    # -- reader counts ----------------------------------------------------------------------
    def local_readers(self, feed: str) -> int:
        chan = self.channels.get(feed)
        if chan is None:
            return 0
        return len(chan.subs["ws"]) + len(chan.subs["sse"]) + len(chan.waiting)

    async def _report_readers(self) -> None:
        """Every READERS_EVERY: one write per feed served here, none per reader."""
        reported: set[str] = set()
        ttl_ms = int(3 * READERS_EVERY * 1000)
        while True:
            await asyncio.sleep(READERS_EVERY)
            feeds = set(self.channels) | reported
            for feed in feeds:
                count = self.local_readers(feed)
                try:
                    total = await self.reader_counts.report(
                        feed, self.process_id, count, int(time.time() * 1000), ttl_ms
                    )
                except StoreUnavailable:
                    continue
                if feed in self.channels:
                    reported.add(feed)
                    metrics.LIVE_READERS.labels(feed).set(total)
                else:  # reported 0 once after its channel ended
                    reported.discard(feed)
                    with contextlib.suppress(KeyError):
                        metrics.LIVE_READERS.remove(feed)

    async def readers(self, feed: str) -> int:
        """Readers of ``feed`` now, over every web process (as last reported)."""
        return await self.reader_counts.total(feed, int(time.time() * 1000))

    # -- heartbeats and drain ---------------------------------------------------------------
    async def _heartbeat(self) -> None:
        """One timer for every connection: WebSocket pings, SSE comments, stalls.

        A connection whose output has stayed over the pause mark for a whole
        beat is a slow consumer (4000 / SSE aborted); a WebSocket whose last
        ping was not answered is judged by ``LiveWebSocket.beat``.
        """
        beat = http_chunk(sse_comment("heartbeat"))
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            stalled_before = time.monotonic() - self.heartbeat_seconds
            for sub in tuple(self.connections):
                if sub.closed:
                    continue
                since = sub.conn.backed_up_since
                if since is not None and since <= stalled_before:
                    metrics.LIVE_SLOW_CONSUMERS.labels(sub.kind).inc()
                    sub.close(CLOSE_SLOW_CONSUMER, "slow consumer: resume with since")
                elif not isinstance(sub.conn, LiveWebSocket):
                    sub.push(beat)
                else:
                    verdict = sub.conn.beat()
                    if verdict is None:
                        sub.push(PING_FRAME)
                    else:
                        if verdict == CLOSE_SLOW_CONSUMER:
                            metrics.LIVE_SLOW_CONSUMERS.labels(sub.kind).inc()
                        sub.close(verdict, "keepalive ping timeout")

    async def drain(self) -> None:
        """Close every live connection with 1012 (SSE: a last reconnect event).

        Waits up to ``DRAIN_WAIT`` for the WebSocket peers to answer the
        close frame, then aborts what is left.
        """
        self.draining = True
        pending: set[Subscriber] = set()
        gone = asyncio.Event()

        def on_gone(sub: Subscriber, then: Callable[[], None] | None) -> None:
            pending.discard(sub)
            if then is not None:
                then()
            if not pending:
                gone.set()

        for sub in tuple(self.connections):
            sub.close(CLOSE_RESTART, "server restart: reconnect with since=<last cursor>")
            conn = sub.conn
            if not conn.transport.is_closing() or sub.kind == "ws":
                pending.add(sub)
                conn.on_gone = functools.partial(on_gone, sub, conn.on_gone)
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), DRAIN_WAIT)
        for sub in pending:
            sub.transport.abort()
