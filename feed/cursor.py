"""Cursors of the public live stream and the rule of what a reader gets.

A cursor is ``<epoch>.<stream id>``: the epoch names one feed's live stream
on one Redis (a restore onto another server, or a reset feed, gets a new
one), the stream id is Redis's ``<ms>-<seq>``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

StreamId = tuple[int, int]
ZERO: StreamId = (0, 0)


def parse_stream_id(text: str) -> StreamId:
    ms, _, seq = text.partition("-")
    if not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"not a stream id: {text!r}")
    return int(ms), int(seq)


def format_stream_id(sid: StreamId) -> str:
    return f"{sid[0]}-{sid[1]}"


@dataclasses.dataclass(frozen=True, slots=True)
class Cursor:
    epoch: str
    position: StreamId

    def __str__(self) -> str:
        return f"{self.epoch}.{format_stream_id(self.position)}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """Parse a cursor; ValueError if it is malformed."""
        if len(text) > 80:
            raise ValueError("cursor too long")
        epoch, dot, sid = text.partition(".")
        if not dot or not epoch.isalnum():
            raise ValueError(f"not a cursor: {text!r}")
        return cls(epoch, parse_stream_id(sid))


@dataclasses.dataclass(frozen=True, slots=True)
class StreamBounds:
    """What a reader's resume is judged against, read in one step."""

    epoch: str
    last: StreamId
    """The newest id in the live stream (ZERO when empty)."""
    max_deleted: StreamId
    """The newest id trimmed away (ZERO when nothing was)."""
    present: bool = True
    """Whether the position the read was asked about still names a message
    of the stream (True when it asked about none)."""


Decision = Literal["resume", "reset"]


def position_lost(position: StreamId, bounds: StreamBounds) -> bool:
    """Did the stream lose ``position`` other than by trimming (a rollback)?

    ``bounds`` must have been read asking about ``position``. A position
    newer than the trim bound names a message that must still be there; if
    it is gone, Redis came back with less than it had (an OS crash with
    ``appendfsync everysec``, a restore from a copy, a failover to a replica
    that lacked the tail). Stream ids are times, so the first write after
    the rollback overtakes every lost id: being "ahead of the stream" cannot
    be relied on to show it, the message's absence can.
    """
    return position > bounds.max_deleted and not bounds.present


def resume_decision(cursor: Cursor, bounds: StreamBounds) -> Decision:
    """Can a reader at ``cursor`` get exactly what it missed from the stream?

    ``bounds`` must have been read asking about the cursor's position. Yes
    when the cursor is of this stream (same epoch), not ahead of it, nothing
    after it was trimmed away, and its message is still in the stream (see
    ``position_lost``). Otherwise it must reset.
    """
    if cursor.epoch != bounds.epoch:
        return "reset"
    if cursor.position > bounds.last:
        return "reset"
    if cursor.position < bounds.max_deleted:
        return "reset"
    if position_lost(cursor.position, bounds):
        return "reset"
    return "resume"
