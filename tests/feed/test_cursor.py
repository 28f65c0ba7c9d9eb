"""Cursors of the live stream and the resume rule: no Redis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.cursor import (
    ZERO,
    Cursor,
    StreamBounds,
    parse_stream_id,
    position_lost,
    resume_decision,
)

ids = st.tuples(st.integers(0, 2**48), st.integers(0, 2**20))


@given(st.from_regex(r"[0-9a-f]{8}", fullmatch=True), ids)
def test_cursor_round_trip(epoch: str, position: tuple[int, int]) -> None:
    cursor = Cursor(epoch, position)
    assert Cursor.parse(str(cursor)) == cursor


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "abc.", ".1-0", "ab-c.1-0", "abc.1", "abc.1-", "abc.-1", "abc.1-x", "a" * 81],
)
def test_malformed_cursors_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        Cursor.parse(bad)


def test_stream_ids_compare_numerically() -> None:
    assert parse_stream_id("10-0") > parse_stream_id("9-99")
    assert parse_stream_id("5-10") > parse_stream_id("5-9")


BOUNDS = StreamBounds("ep01", last=(2000, 3), max_deleted=(1000, 0))


@pytest.mark.parametrize(
    ("cursor", "decision"),
    [
        (Cursor("ep01", (2000, 3)), "resume"),  # up to date
        (Cursor("ep01", (1500, 0)), "resume"),  # missed a few, all retained
        (Cursor("ep01", (1000, 0)), "resume"),  # exactly the last trimmed: next is retained
        (Cursor("ep01", (999, 5)), "reset"),  # something after it was trimmed
        (Cursor("ep01", ZERO), "reset"),
        (Cursor("ep01", (2000, 4)), "reset"),  # ahead of the stream: restored from a copy
        (Cursor("ep02", (1500, 0)), "reset"),  # another stream
    ],
)
def test_resume_decision(cursor: Cursor, decision: str) -> None:
    assert resume_decision(cursor, BOUNDS) == decision


def test_a_fresh_stream_resumes_from_zero() -> None:
    assert resume_decision(Cursor("ep01", ZERO), StreamBounds("ep01", ZERO, ZERO)) == "resume"


@given(ids, ids, ids)
def test_resume_means_nothing_after_the_cursor_was_trimmed(
    pos: tuple[int, int], last: tuple[int, int], deleted: tuple[int, int]
) -> None:
    bounds = StreamBounds("e", max(last, deleted), deleted)
    if resume_decision(Cursor("e", pos), bounds) == "resume":
        assert deleted <= pos <= bounds.last


ROLLED_BACK = StreamBounds("ep01", last=(3000, 0), max_deleted=(1000, 0), present=False)


@pytest.mark.parametrize(
    ("cursor", "decision"),
    [
        # Its message is gone though it is newer than the trim bound, and a
        # write after the rollback took the stream past it: reset.
        (Cursor("ep01", (2000, 3)), "reset"),
        # At the trim bound itself nothing is expected to be there.
        (Cursor("ep01", (1000, 0)), "resume"),
        (Cursor("ep01", ZERO), "reset"),
    ],
)
def test_a_cursor_whose_message_vanished_resets(cursor: Cursor, decision: str) -> None:
    assert resume_decision(cursor, ROLLED_BACK) == decision


def test_an_empty_stream_asked_about_zero_resumes() -> None:
    bounds = StreamBounds("ep01", ZERO, ZERO, present=False)
    assert not position_lost(ZERO, bounds)
    assert resume_decision(Cursor("ep01", ZERO), bounds) == "resume"


@given(ids, ids, ids, st.booleans())
def test_resume_means_the_cursor_is_still_in_the_stream(
    pos: tuple[int, int], last: tuple[int, int], deleted: tuple[int, int], present: bool
) -> None:
    bounds = StreamBounds("e", max(last, deleted), deleted, present)
    if resume_decision(Cursor("e", pos), bounds) == "resume":
        assert present or pos <= deleted
