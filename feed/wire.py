"""The live protocol's wire format and rules: pure functions, no I/O.

Everything a live connection is sent is built here as bytes, once per
message, so the web layer can write the same bytes to every subscriber:

- ``event_json`` / ``snapshot_json`` / ``reset_json``: the JSON messages of
  the protocol (docs/PROTOCOL.md);
- ``ws_frame``: an unmasked RFC 6455 text frame around a payload (a server
  never masks, so one frame serves every connection);
- ``sse_event`` / ``http_chunk``: a Server-Sent Events record and its HTTP/1.1
  chunked-transfer framing;
- ``reset_reason``: why a reader's ``since`` cannot be served;
- ``overflows``: the slow-consumer policy;
- ``parse_client_message``: the tiny set of messages a client may send.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable, Sequence
from typing import Literal

import orjson

from feed.cursor import Cursor, StreamBounds, StreamId

MAX_CLIENT_MESSAGE = 4096
"""Bytes; a bigger client frame closes the WebSocket with 1009."""

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
"""A malformed client message."""
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_RESTART = 1012
"""Server restart or drain: reconnect with jittered backoff, resume with since."""
CLOSE_SLOW_CONSUMER = 4000
"""The client fell too far behind: reconnect at once, resume with since."""

ResetReason = Literal["stale", "epoch"]


@dataclasses.dataclass(frozen=True, slots=True)
class Prepared:
    """One live-stream message, encoded once for every transport."""

    position: StreamId
    cursor: str
    json: bytes
    """The protocol message (``{"type":..,"cursor":..,"entry":..}``)."""
    ws: bytes
    """``json`` as one WebSocket text frame."""
    sse: bytes
    """``json`` as one SSE record (unchunked)."""


def cursor_text(epoch: str, position: StreamId) -> str:
    return f"{epoch}.{position[0]}-{position[1]}"


def event_json(kind: str, cursor: str, entry: bytes) -> bytes:
    """The message announcing one change; ``entry`` is the stored entry JSON."""
    return b'{"type":"%s","cursor":"%s","entry":%s}' % (kind.encode(), cursor.encode(), entry)


def prepare(
    epoch: str, position: StreamId, kind: str, entry: bytes, *, sse: bool = True
) -> Prepared:
    cursor = cursor_text(epoch, position)
    body = event_json(kind, cursor, entry)
    return Prepared(
        position, cursor, body, ws_frame(body), sse_event(kind, cursor, body) if sse else b""
    )


def snapshot_json(cursor: Cursor, entries: Iterable[bytes]) -> bytes:
    """The snapshot message; ``entries`` are entry JSON documents, in order."""
    return b'{"type":"snapshot","cursor":"%s","entries":[%s]}' % (
        str(cursor).encode(),
        b",".join(entries),
    )


def reset_json(reason: ResetReason) -> bytes:
    return orjson.dumps({"type": "reset", "reason": reason})


PONG_JSON = b'{"type":"pong"}'
READY_JSON = b'{"type":"ready"}'
"""The first SSE event: the stream flows (a buffering proxy would hold it)."""


def reconnect_json(reason: str, retry_ms: int) -> bytes:
    """The last SSE message of a draining server."""
    return orjson.dumps({"type": "reconnect", "reason": reason, "retry": retry_ms})


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final, unmasked WebSocket frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x80 | opcode, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def sse_event(kind: str, event_id: str | None, data: bytes, retry_ms: int | None = None) -> bytes:
    """One SSE record. ``data`` must hold no newline (compact JSON never does)."""
    out = b"event: %s\n" % kind.encode()
    if event_id is not None:
        out += b"id: %s\n" % event_id.encode()
    if retry_ms is not None:
        out += b"retry: %d\n" % retry_ms
    return out + b"data: " + data + b"\n\n"


def sse_comment(text: str) -> bytes:
    return b": %s\n\n" % text.encode()


def http_chunk(data: bytes) -> bytes:
    """``data`` framed as one HTTP/1.1 chunk (RFC 9112 section 7.1)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


HTTP_LAST_CHUNK = b"0\r\n\r\n"


def reset_reason(cursor: Cursor, bounds: StreamBounds) -> ResetReason:
    """Why ``cursor`` must reset (call when ``resume_decision`` says reset).

    A cursor of another epoch (another Redis, a restore) is ``epoch``; one
    the stream trimmed past, or one ahead of the stream, is ``stale``.
    """
    return "epoch" if cursor.epoch != bounds.epoch else "stale"


def overflows(buffered: int, incoming: int, limit: int) -> bool:
    """The slow-consumer policy: drop the client, never the message.

    A connection with a backlog that the next write would take past its
    ``limit`` is closed (WebSocket 4000, SSE: the response ends) instead of
    buffering more; the client resumes from the last cursor it received. A
    connection that has sent everything is never cut, whatever the size of
    the write, so a stalled client costs at most ``limit`` plus one write.
    """
    return buffered > 0 and buffered + incoming > limit


ClientMessage = Literal["ping"]


def parse_client_message(data: str | bytes | None) -> ClientMessage | None:
    """The one message a client may send: ``{"type":"ping"}``. None if malformed."""
    if data is None or isinstance(data, bytes) or len(data) > MAX_CLIENT_MESSAGE:
        return None
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(message, dict) and message.get("type") == "ping":
        return "ping"
    return None


def suffix_after(ring: Sequence[Prepared], position: StreamId) -> Sequence[Prepared]:
    """The messages of a position-ordered ``ring`` strictly after ``position``."""
    lo, hi = 0, len(ring)
    while lo < hi:
        mid = (lo + hi) // 2
        if ring[mid].position <= position:
            lo = mid + 1
        else:
            hi = mid
    return ring[lo:]
