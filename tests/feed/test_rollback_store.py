"""A stream that lost its tail, seen by the store: no cursor of it resumes.

The live stream is rolled back the way a restore does it: the key is
DUMPed, more is written, and the DUMP is RESTOREd (what a copy of the AOF
holds), then a new write takes the stream past every lost id.
"""

from __future__ import annotations

import asyncio

import pytest

from feed import keys
from feed.cursor import Cursor, position_lost, resume_decision
from feed.errors import PreconditionFailed
from feed.stores import Stores

FEED = "news"


@pytest.fixture
async def feed(store: Stores) -> str:
    await store.registry.create_feed(FEED, "News")
    return FEED


async def test_a_cursor_whose_message_was_lost_resets_though_the_stream_moved_past_it(
    store: Stores, feed: str
) -> None:
    a, _ = await store.editorial.create_entry(feed, {"headline": "A"}, actor="t")
    await store.projection.project_pending(feed)
    copy = await store.redis.dump(keys.live(feed))
    kept = (await store.live.bounds(feed)).last
    await store.editorial.edit_entry(feed, a.id, {"headline": "X"}, if_match=1, actor="t")
    await store.projection.project_pending(feed)
    lost = (await store.live.bounds(feed)).last
    epoch = (await store.live.bounds(feed)).epoch
    assert resume_decision(Cursor(epoch, lost), await store.live.bounds(feed, at=lost)) == "resume"

    await store.redis.restore(keys.live(feed), 0, copy, replace=True)
    # The restored stream is behind the cursor: it resets today already ...
    behind = await store.live.bounds(feed, at=lost)
    assert behind.last == kept and resume_decision(Cursor(epoch, lost), behind) == "reset"
    # ... and it still does once a new write took the stream past it (ids
    # are times: a restore takes longer than the millisecond this one did).
    await asyncio.sleep(0.005)
    await store.redis.xadd(keys.live(feed), {"t": "update", "i": a.id, "v": 2, "d": b"{}"})
    after = await store.live.bounds(feed, at=lost)
    assert after.last > lost and not after.present
    assert position_lost(lost, after)
    assert resume_decision(Cursor(epoch, lost), after) == "reset"
    # The message it kept is still there: that cursor resumes.
    assert resume_decision(Cursor(epoch, kept), await store.live.bounds(feed, at=kept)) == "resume"


async def test_the_epoch_rotates_once_whoever_asks(store: Stores, feed: str) -> None:
    old = (await store.live.bounds(feed)).epoch
    new = await store.live.rotate_epoch(feed, old)
    assert new != old and (await store.live.bounds(feed)).epoch == new
    # A second process that saw the same rollback finds it rotated already.
    assert await store.live.rotate_epoch(feed, old) == new
    assert (await store.live.bounds(feed)).epoch == new


async def test_a_version_number_given_out_again_is_a_conflict_for_its_old_holder(
    store: Stores, feed: str
) -> None:
    a, _ = await store.editorial.create_entry(feed, {"headline": "A"}, actor="t")
    x = await store.editorial.edit_entry(feed, a.id, {"headline": "X"}, if_match=1, actor="t")
    # Another content at the same version, as after a restore and a new edit.
    y = await store.editorial.edit_entry(feed, a.id, {"headline": "Y"}, if_match=2, actor="t")
    await store.redis.hset(
        keys.entries(feed), a.id, y.dumps().replace(b'"version":3', b'"version":2')
    )
    await store.redis.hset(keys.versions(feed), a.id, 2)
    held = await store.editorial.get_entry(feed, a.id)
    assert held.version == x.version == 2 and held.tag() != x.tag()
    with pytest.raises(PreconditionFailed):
        await store.editorial.edit_entry(
            feed, a.id, {"headline": "Z"}, if_match=2, actor="t", if_tag=x.tag()
        )
    with pytest.raises(PreconditionFailed):
        await store.editorial.retract_entry(feed, a.id, if_match=2, actor="t", if_tag=x.tag())
    assert await store.editorial.get_entry(feed, a.id) == held  # nothing written
    z = await store.editorial.edit_entry(
        feed, a.id, {"headline": "Z"}, if_match=2, actor="t", if_tag=held.tag()
    )
    assert (z.version, z.headline) == (3, "Z")
