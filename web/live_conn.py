"""What a live WebSocket and a live SSE stream share: the write bound's
flow control and what happens once the socket is gone.

Past the transport's pause mark (half the client buffer bound, set by
``LiveServer.take``) asyncio calls ``pause_writing``: we note since when the
client is backed up (the heartbeat closes one backed up for a whole beat)
and stop reading it until it drains. When the socket is gone, three
callbacks run once each, in order: ``on_lost`` (the hub's subscriber lets
go of it), ``on_gone`` (its connection slot is freed) and the access line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from web.access import LiveAccess


class LiveConnection(asyncio.Protocol):
    __slots__ = ("access", "backed_up_since", "limit", "on_gone", "on_lost", "transport")

    def __init__(self, transport: asyncio.Transport, limit: int) -> None:
        self.transport = transport
        self.limit = limit
        """The client buffer bound, in bytes (``feed.wire.overflows``)."""
        self.on_lost: Callable[[], None] | None = None
        self.on_gone: Callable[[], None] | None = None
        """Called once when the socket is gone (frees its connection slot)."""
        self.backed_up_since: float | None = None
        self.access: LiveAccess | None = None
        """Its access log line, written when it is gone."""

    def connection_lost(self, exc: Exception | None) -> None:
        callback, self.on_lost = self.on_lost, None
        if callback is not None:
            callback()
        gone, self.on_gone = self.on_gone, None
        if gone is not None:
            gone()
        access, self.access = self.access, None
        if access is not None:
            access.done()

    def pause_writing(self) -> None:
        self.backed_up_since = time.monotonic()
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.backed_up_since = None
        if not self.transport.is_closing():
            self.transport.resume_reading()
