"""Drafts and review in the store: the states, who may move them, and that
readers never see a draft (the public view, the timeline, the live stream)."""

from __future__ import annotations

from typing import Any

import pytest

from feed import keys
from feed.errors import Forbidden, InvalidInput
from feed.model import Entry
from feed.stores import Stores
from tests.feed.helpers import materialised

FEED = "desk"
OLENA = "user:olena"  # a contributor
CHIEF = "user:chief"  # an editor


@pytest.fixture
async def feed(store: Stores) -> str:
    await store.registry.create_feed(FEED, "Desk")
    return FEED


async def draft(store: Stores, status: str = "draft", **data: Any) -> Entry:
    entry, created = await store.editorial.create_entry(
        FEED, {"headline": "From the field", "status": status, **data}, actor=OLENA,
        may_publish=False,
    )  # fmt: skip
    assert created
    return entry


async def public_state(store: Stores) -> tuple[Any, ...]:
    await store.projection.project_pending(FEED)
    live = await store.live.read_live(FEED, (0, 0))
    page = await store.public.read_timeline(FEED, limit=50)
    return tuple((m.type, m.entry_id) for m in live), tuple(e.id for e in page.entries)


async def test_the_review_cycle_and_readers_see_only_the_published_version(
    store: Stores, feed: str
) -> None:
    d = await draft(store)
    assert d.status == "draft"
    assert await public_state(store) == ((), ())
    d = await store.editorial.edit_entry(
        feed, d.id, {"body": "<p>Shelling reported.</p>", "status": "submitted"},
        if_match=d.version, actor=OLENA, may_publish=False,
    )  # fmt: skip
    assert (d.status, d.version) == ("submitted", 2)
    d = await store.editorial.edit_entry(
        feed, d.id, {"status": "returned", "note": "Which district? Name the source."},
        if_match=d.version, actor=CHIEF,
    )  # fmt: skip
    assert d.status == "returned"
    d = await store.editorial.edit_entry(
        feed, d.id, {"body": "<p>Shelling in Podil, the mayor said.</p>", "status": "submitted"},
        if_match=d.version, actor=OLENA, may_publish=False,
    )  # fmt: skip
    assert await public_state(store) == ((), ())
    published = await store.editorial.edit_entry(
        feed, d.id, {"status": "published"}, if_match=d.version, actor=CHIEF
    )
    assert published.status == "published" and published.updated_at is None
    assert published.published_at >= d.published_at
    live, timeline = await public_state(store)
    assert live == (("publish", d.id),) and timeline == (d.id,)
    assert await store.public.public_entry(feed, d.id) == published
    history = await store.editorial.history(feed, d.id)
    assert [(e.kind, e.actor, e.entry.status) for e in history] == [
        ("create", OLENA, "draft"),
        ("submit", OLENA, "submitted"),
        ("return", CHIEF, "returned"),
        ("submit", OLENA, "submitted"),
        ("publish", CHIEF, "published"),
    ]
    assert history[2].note == "Which district? Name the source."
    assert await store.editorial.author(feed, d.id) == OLENA


async def test_a_contributor_is_refused_and_nothing_is_written(store: Stores, feed: str) -> None:
    published, _ = await store.editorial.create_entry(feed, {"headline": "Live"}, actor=CHIEF)
    mine = await draft(store, "submitted")
    theirs = await draft(store)
    other = "user:taras"
    ed = store.editorial
    before = await materialised(store, feed)
    log = await store.redis.xlen(keys.log(feed))
    attempts = [
        ed.create_entry(feed, {"headline": "x"}, actor=OLENA, may_publish=False),
        ed.create_entry(feed, {"headline": "x", "status": "published"}, actor=OLENA,
                        may_publish=False),
        ed.create_entry(feed, {"headline": "x", "status": "draft", "pinned": True}, actor=OLENA,
                        may_publish=False),
        ed.create_entry(feed, {"headline": "x", "status": "draft",
                               "publish_at": "2030-01-01T00:00:00Z"}, actor=OLENA,
                        may_publish=False),
        ed.edit_entry(feed, published.id, {"headline": "y"}, if_match=1, actor=OLENA,
                      may_publish=False),
        ed.edit_entry(feed, mine.id, {"status": "published"}, if_match=1, actor=OLENA,
                      may_publish=False),
        ed.edit_entry(feed, mine.id, {"status": "returned", "note": "n"}, if_match=1,
                      actor=OLENA, may_publish=False),
        ed.edit_entry(feed, mine.id, {"pinned": True}, if_match=1, actor=OLENA,
                      may_publish=False),
        ed.edit_entry(feed, theirs.id, {"headline": "mine now"}, if_match=1, actor=other,
                      may_publish=False),
        ed.retract_entry(feed, published.id, if_match=1, actor=OLENA, may_publish=False),
        ed.retract_entry(feed, mine.id, if_match=1, actor=OLENA, may_publish=False),
    ]  # fmt: skip
    for attempt in attempts:
        with pytest.raises(Forbidden):
            await attempt
    assert await store.redis.xlen(keys.log(feed)) == log
    assert await materialised(store, feed) == before


async def test_invalid_transitions_are_422(store: Stores, feed: str) -> None:
    d = await draft(store)
    ed = store.editorial
    bad = [
        ({"status": "returned", "note": "x"}, "status"),  # only a submitted one goes back
        ({"status": "sideways"}, "status"),
        ({"note": "a note without sending back"}, "note"),
        ({"published_at": "2026-01-01T00:00:00Z"}, "published_at"),
    ]
    for data, field in bad:
        with pytest.raises(InvalidInput) as exc:
            await ed.edit_entry(feed, d.id, data, if_match=1, actor=CHIEF)
        assert exc.value.field == field, data
    s = await ed.edit_entry(feed, d.id, {"status": "submitted"}, if_match=1, actor=CHIEF)
    with pytest.raises(InvalidInput) as exc:
        await ed.edit_entry(feed, d.id, {"status": "returned"}, if_match=s.version, actor=CHIEF)
    assert exc.value.field == "note"
    p = await ed.edit_entry(feed, d.id, {"status": "published"}, if_match=s.version, actor=CHIEF)
    with pytest.raises(InvalidInput):
        await ed.edit_entry(feed, d.id, {"status": "draft"}, if_match=p.version, actor=CHIEF)
    with pytest.raises(InvalidInput) as exc:
        await ed.create_entry(feed, {"headline": "x", "status": "returned"}, actor=CHIEF)
    assert exc.value.field == "status"


async def test_an_editors_own_draft_and_a_retracted_draft_never_reach_readers(
    store: Stores, feed: str
) -> None:
    own, _ = await store.editorial.create_entry(
        feed, {"headline": "Embargoed until noon", "status": "draft", "pinned": True}, actor=CHIEF
    )
    await store.editorial.retract_entry(feed, own.id, if_match=1, actor=CHIEF)
    assert await public_state(store) == ((), ())
    # a rebuild from the log keeps them out too
    await store.retention.rebuild(feed)
    assert await public_state(store) == ((), ())
