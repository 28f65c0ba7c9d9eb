"""One live Server-Sent Events stream: an asyncio protocol, no task once served.

The response is HTTP/1.1 chunked ``text/event-stream``; the hub writes
pre-built chunks straight to the transport (``feed.wire.http_chunk``). The
client has nothing more to say: what it sends after the request head is
read and dropped, and reading stops while our output is backed up (the
same pause mark as a WebSocket). An idle stream is this object, the
transport and its ``Subscriber``.
"""

from __future__ import annotations

import asyncio
import email.utils
import random

from feed.wire import (
    CLOSE_RESTART,
    HTTP_LAST_CHUNK,
    http_chunk,
    reconnect_json,
    sse_event,
)
from web.live_conn import LiveConnection

SSE_HEADERS = (
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-store\r\n"
    b"x-accel-buffering: no\r\n"
    b"access-control-allow-origin: *\r\n"
    b"transfer-encoding: chunked\r\n"
    b"connection: close\r\n"
)


def response_head(status: int, reason: str, headers: bytes) -> bytes:
    date = email.utils.formatdate(usegmt=True).encode()
    return b"HTTP/1.1 %d %s\r\ndate: %s\r\n%s\r\n" % (status, reason.encode(), date, headers)


class LiveSSE(LiveConnection):
    """The protocol of a live SSE connection, from its request head on."""

    __slots__ = ("started",)

    def __init__(self, transport: asyncio.Transport, limit: int) -> None:
        super().__init__(transport, limit)
        self.started = False
        """True once the 200 head is written (a refusal is a whole response)."""

    def data_received(self, data: bytes) -> None:
        pass  # nothing is expected after the request

    def eof_received(self) -> bool:
        return False  # the client is gone: close

    def start(self, first: bytes) -> None:
        self.started = True
        self.transport.write(response_head(200, "OK", SSE_HEADERS + self._id()) + http_chunk(first))
        if self.access is not None:
            self.access.status = 200

    def refuse(
        self, status: int, reason: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        """A complete non-200 answer (problem+json), then the end of the connection."""
        lines = b"".join(b"%s: %s\r\n" % (k, v) for k, v in headers) + self._id()
        self.transport.write(response_head(status, reason, lines + b"connection: close\r\n") + body)
        if self.access is not None:
            self.access.status = status
        self.transport.close()

    def _id(self) -> bytes:
        """The ``x-request-id`` header line (none without an access record)."""
        if self.access is None:
            return b""
        return b"x-request-id: %s\r\n" % self.access.request_id.encode()

    def end(self, code: int, reason: str) -> None:
        """1012: a last ``reconnect`` event with a jittered retry, then the end
        of the body (EventSource reconnects with Last-Event-ID); else abort."""
        t = self.transport
        if t.is_closing():
            return
        if code == CLOSE_RESTART and self.started:
            retry = random.randint(500, 3000)
            last = sse_event("reconnect", None, reconnect_json("restart", retry), retry)
            t.write(http_chunk(last) + HTTP_LAST_CHUNK)
            t.close()
        else:
            t.abort()
