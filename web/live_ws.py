"""One live WebSocket: an asyncio protocol around ``websockets``' sans-I/O core.

``websockets.server.ServerProtocol`` parses the handshake request and the
client's frames (size limit -> 1009, pings answered, the close handshake)
and builds the handshake response and the close frame; this class only
pumps bytes between it and the transport, as ``websockets``' own asyncio
connection does. The hub writes its pre-built frames straight to the
transport (a server never masks, so one frame fits every socket).

Everything written counts against the connection's buffer bound: the hub's
messages, the snapshot, the pongs the sans-I/O core queues for client
pings, our ``pong`` messages and the heartbeat pings
(``feed.wire.overflows``: a backlog that a write would take past the bound
closes the connection with 4000). Past the pause mark the transport calls
``pause_writing`` and we stop reading the client until it drains: a client
that floods pings without reading fills its own socket, not our memory.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
from collections.abc import Callable

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from feed.wire import (
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_SLOW_CONSUMER,
    MAX_CLIENT_MESSAGE,
    PONG_JSON,
    overflows,
    parse_client_message,
    ws_frame,
)
from web import metrics
from web.live_conn import LiveConnection

CLOSE_TIMEOUT = 5.0
"""Seconds a closing WebSocket waits for the peer before the socket is aborted."""
PONG_FRAME = ws_frame(PONG_JSON)
PING_FRAME = ws_frame(b"", opcode=0x9)


class LiveWebSocket(LiveConnection):
    """The protocol of a live WebSocket connection, from its request head on."""

    __slots__ = ("awaiting_pong", "close_timer", "on_request", "ws")

    def __init__(
        self,
        transport: asyncio.Transport,
        limit: int,
        on_request: Callable[[LiveWebSocket, Request], None],
    ) -> None:
        super().__init__(transport, limit)
        self.ws = ServerProtocol(max_size=MAX_CLIENT_MESSAGE)
        self.on_request: Callable[[LiveWebSocket, Request], None] | None = on_request
        self.close_timer: asyncio.TimerHandle | None = None
        self.awaiting_pong = False

    # -- asyncio.Protocol -----------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        self.flush()
        for event in self.ws.events_received():
            if isinstance(event, Request):
                callback, self.on_request = self.on_request, None
                if callback is not None:
                    callback(self, event)
            elif isinstance(event, Frame):
                self._frame(event)

    def eof_received(self) -> bool:
        self.ws.receive_eof()
        self.flush()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        self.on_request = None
        super().connection_lost(exc)

    # -- frames in, bytes out ---------------------------------------------------------
    def _frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PONG:
            self.awaiting_pong = False
        elif frame.opcode is Opcode.TEXT:
            text: bytes | str = b""
            if frame.fin:
                try:
                    text = bytes(frame.data).decode()
                except UnicodeDecodeError:
                    text = b""
            if parse_client_message(text) == "ping":
                self.write(PONG_FRAME)
            else:
                self.close(CLOSE_POLICY, "malformed client message")
        elif frame.opcode in (Opcode.BINARY, Opcode.CONT):
            self.close(CLOSE_POLICY, "malformed client message")
        # PING (answered by the sans-I/O core) and CLOSE (handled by it).

    def flush(self) -> None:
        """Write what the sans-I/O core queued (pongs, the handshake, a close)."""
        for data in self.ws.data_to_send():
            if data:
                self.write(data, force=self.ws.state is not State.OPEN)
            else:  # the core's end of stream: a server closes the TCP connection
                self.transport.close()
        if self.ws.close_expected() and self.close_timer is None:
            self.close_timer = asyncio.get_running_loop().call_later(
                CLOSE_TIMEOUT, self.transport.abort
            )

    def write(self, data: bytes, *, force: bool = False) -> bool:
        """Write ``data`` within the buffer bound (``force``: a handshake, a close)."""
        t = self.transport
        if t.is_closing():
            return False
        if not force and overflows(t.get_write_buffer_size(), len(data), self.limit):
            metrics.LIVE_SLOW_CONSUMERS.labels("ws").inc()
            self.close(CLOSE_SLOW_CONSUMER, "slow consumer: resume with since")
            return False
        t.write(data)
        return True

    # -- what the hub calls -------------------------------------------------------------
    def close(self, code: int, reason: str) -> None:
        """Close through whoever owns the connection (the subscriber, if any)."""
        callback, self.on_lost = self.on_lost, None
        if callback is not None:
            callback()  # the subscriber leaves the fan-out now
        self.end(code, reason)

    def end(self, code: int, reason: str) -> None:
        """Send a close frame (after what is buffered); abort if the peer never answers."""
        if self.ws.state is not State.OPEN or self.transport.is_closing():
            if self.ws.state is State.CONNECTING:
                self.transport.abort()
            return
        self.ws.send_close(code, reason)
        self.flush()

    def beat(self) -> int | None:
        """The heartbeat's verdict on the last ping: None (alive) or a close code.

        A pong that has not come back within a heartbeat is a slow consumer
        (4000) when bytes are still waiting for it, here or in the kernel's
        send queue (its pong is stuck behind them); otherwise the peer is
        gone (1011). When alive, the caller sends ``PING_FRAME``.
        """
        if self.awaiting_pong:
            if self.backed_up_since is not None or unsent_bytes(self.transport) > 0:
                return CLOSE_SLOW_CONSUMER
            return CLOSE_INTERNAL
        self.awaiting_pong = True
        return None


SIOCOUTQNSD = 0x894B
"""Linux ioctl: bytes in a socket's send queue not yet sent (the peer's
window is full). A dead peer's bytes are sent and unacknowledged instead."""


def unsent_bytes(transport: asyncio.Transport) -> int:
    """Bytes waiting for the peer to make room: ours plus the kernel's unsent ones."""
    queued = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is not None:
        buf = array.array("i", [0])
        with contextlib.suppress(OSError):
            fcntl.ioctl(sock.fileno(), SIOCOUTQNSD, buf)
            queued += buf[0]
    return queued
