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


Decision = Literal["resume", "reset"]


def resume_decision(cursor: Cursor, bounds: StreamBounds) -> Decision:
    """Can a reader at ``cursor`` get exactly what it missed from the stream?

    Yes when the cursor is of this stream (same epoch), not ahead of it (a
    cursor from the future means the stream was restored from an older copy),
    and nothing after it was trimmed away. Otherwise it must reset.
    """
    if cursor.epoch != bounds.epoch:
        return "reset"
    if cursor.position > bounds.last:
        return "reset"
    if cursor.position < bounds.max_deleted:
        return "reset"
    return "resume"
