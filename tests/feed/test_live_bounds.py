"""The live stream's bounds see MAXLEN trimming (real Redis)."""

from __future__ import annotations

from feed import keys
from feed.cursor import ZERO, Cursor, parse_stream_id, resume_decision
from feed.stores import Stores


def _sid(raw: bytes) -> tuple[int, int]:
    return parse_stream_id(raw.decode())


async def test_bounds_of_an_untrimmed_stream_let_every_cursor_resume(store: Stores) -> None:
    await store.registry.create_feed("news", "News")
    empty = await store.live.bounds("news")
    assert empty.last == ZERO and empty.max_deleted == ZERO
    for i in range(5):
        await store.editorial.create_entry("news", {"headline": f"n{i}"}, actor="t")
    await store.projection.project_pending("news")
    bounds = await store.live.bounds("news")
    assert bounds.max_deleted == ZERO
    # A snapshot taken while the stream was empty resumes: nothing was lost.
    assert resume_decision(Cursor(bounds.epoch, ZERO), bounds) == "resume"


async def test_maxlen_trimming_moves_the_bound_to_the_first_remaining_entry(
    store: Stores,
) -> None:
    store.projection.live_retention_events = 10
    await store.registry.create_feed("news", "News")
    first = None
    for i in range(250):
        await store.editorial.create_entry("news", {"headline": f"n{i}"}, actor="t")
        if i % 25 == 24:
            await store.projection.project_pending("news")
        if first is None:
            await store.projection.project_pending("news")
            (row,) = await store.redis.xrange(keys.live("news"), count=1)
            first = _sid(row[0])
    await store.projection.project_pending("news")
    rows = await store.redis.xrange(keys.live("news"))
    assert len(rows) < 250, "MAXLEN ~ trimmed whole nodes"
    oldest_kept = _sid(rows[0][0])
    bounds = await store.live.bounds("news")
    assert bounds.max_deleted < oldest_kept
    assert first is not None and first <= bounds.max_deleted
    epoch = bounds.epoch
    # A reader whose cursor was trimmed away is reset, never resumed with a gap.
    assert resume_decision(Cursor(epoch, first), bounds) == "reset"
    assert resume_decision(Cursor(epoch, ZERO), bounds) == "reset"
    # One at (or after) the oldest entry kept resumes.
    assert resume_decision(Cursor(epoch, oldest_kept), bounds) == "resume"
    assert resume_decision(Cursor(epoch, bounds.max_deleted), bounds) == "resume"
