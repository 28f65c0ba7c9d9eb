"""The editorial store against the real Redis of the test rig."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest

from feed import keys
from feed.errors import IdempotencyMismatch, InvalidInput, NotFound, PreconditionFailed
from feed.model import Entry, now_ms, to_rfc3339
from feed.stores import Stores
from feed.validate import BACKDATE_LIMIT_MS
from tests.conftest import seconds

FEED = "news"
MIN = 60_000


@pytest.fixture
async def feed(store: Stores) -> str:
    await store.registry.create_feed(FEED, "News")
    return FEED


async def log_len(store: Stores) -> int:
    return int(await store.redis.xlen(keys.log(FEED)))


async def live(store: Stores) -> list[tuple[str, str, int]]:
    return [(m.type, m.entry_id, m.version) for m in await store.live.read_live(FEED, (0, 0))]


async def post(store: Stores, **data: object) -> Entry:
    entry, created = await store.editorial.create_entry(FEED, {"headline": "h", **data}, actor="t")
    assert created
    return entry


async def test_a_post_into_a_feed_that_does_not_exist_writes_nothing(store: Stores) -> None:
    # The feed check rides in the APPEND script (no read before the write):
    # a feed whose registry entry survived without its meta (a crash
    # between create_feed's two steps, or a restore) is as absent as a
    # malformed slug, with or without an Idempotency-Key.
    await store.redis.sadd(keys.FEEDS, "half")
    for slug, idem in (("half", None), ("half", "k-1"), ("nope", None), ("Bad Slug!", None)):
        with pytest.raises(NotFound):
            await store.editorial.create_entry(
                slug, {"headline": "h"}, actor="t", idempotency_key=idem
            )
    assert await store.redis.keys("*half*") == []
    assert await store.redis.keys("*nope*") == []
    await store.registry.create_feed("half", "Half")
    _, created = await store.editorial.create_entry(
        "half", {"headline": "h"}, actor="t", idempotency_key="k-1"
    )
    assert created and int(await store.redis.xlen(keys.log("half"))) == 1


async def test_post_appends_one_event_and_projects_to_the_public_view(
    store: Stores, feed: str
) -> None:
    before = now_ms()
    entry, created = await store.editorial.create_entry(
        feed, {"headline": "Talks resume", "body": "<p>Istanbul</p>"}, actor="token:cms"
    )
    assert created and entry.version == 1 and entry.status == "published"
    assert before <= entry.published_at <= now_ms()
    assert await log_len(store) == 1
    assert await store.editorial.get_entry(feed, entry.id) == entry
    [event] = await store.editorial.history(feed, entry.id)
    assert (event.kind, event.entry, event.actor) == ("create", entry, "token:cms")
    # Invisible to readers until projected (the worker's job) ...
    with pytest.raises(NotFound):
        await store.public.public_entry(feed, entry.id)
    await store.projection.project_pending(feed)
    assert await store.public.public_entry(feed, entry.id) == entry
    page = await store.public.read_timeline(feed, limit=10)
    assert page.entries == [entry] and page.next is None
    assert await live(store) == [("publish", entry.id, 1)]
    # ... and projecting again changes nothing.
    assert await store.projection.project_pending(feed) == []
    assert await live(store) == [("publish", entry.id, 1)]


async def test_edit_with_and_without_the_updated_mark(store: Stores, feed: str) -> None:
    v1 = await post(store, headline="Trump calls Putn")
    v2 = await store.editorial.edit_entry(
        feed, v1.id, {"headline": "Trump calls Putin"}, if_match=1, actor="a"
    )
    assert v2.version == 2 and v2.updated_at is None and v2.headline == "Trump calls Putin"
    assert v2.published_at == v1.published_at
    v3 = await store.editorial.edit_entry(
        feed,
        v1.id,
        {"body": "<p>They spoke for an hour.</p>", "mark_updated": True},
        if_match=2,
        actor="a",
    )
    assert v3.version == 3 and v3.updated_at is not None and v3.updated_at >= v1.published_at
    await store.projection.project_pending(feed)
    assert await store.public.public_entry(feed, v1.id) == v3
    assert await live(store) == [("publish", v1.id, 1), ("update", v1.id, 2), ("update", v1.id, 3)]
    assert [e.entry.version for e in await store.editorial.history(feed, v1.id)] == [1, 2, 3]
    assert await store.editorial.get_entry(feed, v1.id) == v3


async def test_a_stale_if_match_is_412_and_writes_nothing(store: Stores, feed: str) -> None:
    v1 = await post(store)
    await store.editorial.edit_entry(feed, v1.id, {"headline": "second"}, if_match=1, actor="a")
    length, state = await log_len(store), await store.editorial.get_entry(feed, v1.id)
    for stale in (1, 3, 0):
        with pytest.raises(PreconditionFailed) as info:
            await store.editorial.edit_entry(
                feed, v1.id, {"headline": "lost"}, if_match=stale, actor="b"
            )
        assert info.value.current_version == 2
    with pytest.raises(PreconditionFailed):
        await store.editorial.retract_entry(feed, v1.id, if_match=1, actor="b")
    assert await log_len(store) == length
    assert await store.editorial.get_entry(feed, v1.id) == state
    assert len(await store.editorial.history(feed, v1.id)) == 2


async def test_two_editors_racing_on_one_version_cannot_both_win(store: Stores, feed: str) -> None:
    v1 = await post(store)
    results = await asyncio.gather(
        *(
            store.editorial.edit_entry(
                feed, v1.id, {"headline": f"editor {i}"}, if_match=1, actor=f"e{i}"
            )
            for i in range(12)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Entry)]
    lost = [r for r in results if isinstance(r, PreconditionFailed)]
    assert len(won) == 1 and len(lost) == 11
    assert await log_len(store) == 2
    assert await store.editorial.get_entry(feed, v1.id) == won[0]


async def test_invalid_edits_write_nothing(store: Stores, feed: str) -> None:
    v1 = await post(store)
    for data in ({"headline": ""}, {"nope": 1}, {}, {"headline": "h"}):
        with pytest.raises(InvalidInput):
            await store.editorial.edit_entry(feed, v1.id, data, if_match=1, actor="a")
    with pytest.raises(NotFound):
        await store.editorial.edit_entry(
            feed, "nosuchentry", {"headline": "x"}, if_match=1, actor="a"
        )
    with pytest.raises(InvalidInput):
        await store.editorial.create_entry(feed, {"headline": "x" * 301}, actor="a")
    with pytest.raises(NotFound):
        await store.editorial.create_entry("nosuchfeed", {"headline": "x"}, actor="a")
    assert await log_len(store) == 1
    assert await store.editorial.get_entry(feed, v1.id) == v1


async def test_an_idempotent_retry_returns_the_same_entry_and_appends_nothing(
    store: Stores, feed: str
) -> None:
    data = {"headline": "Once", "pinned": True}
    first, created = await store.editorial.create_entry(
        feed, data, actor="a", idempotency_key="k-1"
    )
    again, created_again = await store.editorial.create_entry(
        feed, {"pinned": True, "headline": "Once"}, actor="a", idempotency_key="k-1"
    )
    assert created and not created_again and again == first
    assert await log_len(store) == 1
    ttl = await store.redis.ttl(keys.idempotency(feed, "k-1"))
    assert ttl > 24 * 3600
    with pytest.raises(IdempotencyMismatch) as info:
        await store.editorial.create_entry(
            feed, {"headline": "Other"}, actor="a", idempotency_key="k-1"
        )
    assert info.value.field == "Idempotency-Key"
    with pytest.raises(InvalidInput):
        await store.editorial.create_entry(feed, data, actor="a", idempotency_key="bad key")
    # A different key is a different request.
    _, created_other = await store.editorial.create_entry(
        feed, data, actor="a", idempotency_key="k-2"
    )
    assert created_other
    assert await log_len(store) == 2


async def test_a_retry_is_answered_even_if_it_would_no_longer_validate(
    store: Stores, feed: str
) -> None:
    margin = int(seconds(1.5) * 1000)
    edge = to_rfc3339(now_ms() - BACKDATE_LIMIT_MS + margin)
    data = {"headline": "backdated to the limit", "published_at": edge}
    first, _ = await store.editorial.create_entry(feed, data, actor="a", idempotency_key="edge")
    await asyncio.sleep(margin / 1000 + 0.2)
    with pytest.raises(InvalidInput):  # the same request without the key is now too old
        await store.editorial.create_entry(feed, data, actor="a")
    again, created = await store.editorial.create_entry(
        feed, data, actor="a", idempotency_key="edge"
    )
    assert again == first and not created
    with pytest.raises(IdempotencyMismatch):
        await store.editorial.create_entry(
            feed, {"headline": ""}, actor="a", idempotency_key="edge"
        )
    assert await log_len(store) == 1


async def test_concurrent_retries_with_one_key_create_one_entry(store: Stores, feed: str) -> None:
    results = await asyncio.gather(
        *(
            store.editorial.create_entry(
                feed, {"headline": "flaky"}, actor="a", idempotency_key="same"
            )
            for _ in range(10)
        )
    )
    assert len({entry.id for entry, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await log_len(store) == 1
    assert len(await store.editorial.editorial_entries(feed)) == 1


async def test_retraction_is_a_tombstone_and_the_history_keeps_it(store: Stores, feed: str) -> None:
    keep = await post(store, headline="stays")
    gone = await post(store, headline="wrong", pinned=True)
    await store.projection.project_pending(feed)
    r = await store.editorial.retract_entry(feed, gone.id, if_match=1, actor="a")
    assert (r.status, r.version, r.pinned) == ("retracted", 2, False)
    await store.projection.project_pending(feed)
    with pytest.raises(NotFound):
        await store.public.public_entry(feed, gone.id)
    assert [e.id for e in (await store.public.read_timeline(feed, limit=10)).entries] == [keep.id]
    messages = await store.live.read_live(feed, (0, 0))
    assert messages[-1].type == "retract" and messages[-1].entry_id == gone.id
    assert orjson.loads(messages[-1].data) == {
        "id": gone.id,
        "feed": feed,
        "version": 2,
        "status": "retracted",
    }
    assert [(e.kind, e.entry.status) for e in await store.editorial.history(feed, gone.id)] == [
        ("create", "published"),
        ("retract", "retracted"),
    ]
    assert (await store.editorial.get_entry(feed, gone.id)).status == "retracted"
    # A retried DELETE writes nothing more; an edit of a tombstone is refused.
    length = await log_len(store)
    assert await store.editorial.retract_entry(feed, gone.id, if_match=None, actor="a") == r
    with pytest.raises(InvalidInput):
        await store.editorial.edit_entry(feed, gone.id, {"headline": "back"}, if_match=2, actor="a")
    assert await log_len(store) == length


async def test_scheduled_entries_are_invisible_until_due(store: Stores, feed: str) -> None:
    at = now_ms() + 10 * MIN
    s = await post(store, headline="embargoed", publish_at=to_rfc3339(at))
    assert s.status == "scheduled" and s.published_at == at
    await store.projection.project_pending(feed)
    assert (await store.public.read_timeline(feed, limit=10)).entries == []
    with pytest.raises(NotFound):
        await store.public.public_entry(feed, s.id)
    assert await live(store) == []
    assert await store.editorial.publish_due(feed, now=at - 1) == []
    [published] = await store.editorial.publish_due(feed, now=at)
    assert (published.status, published.version, published.published_at) == (
        "published",
        2,
        at,
    )
    assert await store.editorial.publish_due(feed, now=at + MIN) == []  # once only
    await store.projection.project_pending(feed)
    assert await store.public.public_entry(feed, s.id) == published
    assert await live(store) == [("publish", s.id, 2)]
    assert [e.kind for e in await store.editorial.history(feed, s.id)] == ["create", "publish"]


async def test_a_rescheduled_or_retracted_entry_leaves_the_schedule(
    store: Stores, feed: str
) -> None:
    at = now_ms() + 10 * MIN
    a = await post(store, headline="a", publish_at=to_rfc3339(at))
    b = await post(store, headline="b", publish_at=to_rfc3339(at))
    await store.editorial.edit_entry(
        feed, a.id, {"publish_at": to_rfc3339(at + 5 * MIN)}, if_match=1, actor="x"
    )
    await store.editorial.retract_entry(feed, b.id, if_match=None, actor="x")
    assert await store.editorial.publish_due(feed, now=at + MIN) == []
    [due] = await store.editorial.publish_due(feed, now=at + 6 * MIN)
    assert due.id == a.id and due.version == 3


async def test_history_lists_every_version_oldest_first(store: Stores, feed: str) -> None:
    v1 = await post(store, headline="one")
    await store.editorial.edit_entry(feed, v1.id, {"headline": "two"}, if_match=1, actor="ana")
    await store.editorial.edit_entry(
        feed, v1.id, {"pinned": True, "mark_updated": True}, if_match=2, actor="bo"
    )
    await store.editorial.retract_entry(feed, v1.id, if_match=3, actor="cy")
    history = await store.editorial.history(feed, v1.id)
    assert [(e.kind, e.entry.version, e.actor) for e in history] == [
        ("create", 1, "t"),
        ("edit", 2, "ana"),
        ("edit", 3, "bo"),
        ("retract", 4, "cy"),
    ]
    assert history[1].changes == ("headline",)
    assert history[2].changes == ("updated_at", "pinned")
    with pytest.raises(NotFound):
        await store.editorial.history(feed, "nosuchentry")


async def test_pagination_across_pinned_and_unpinned_entries(store: Stores, feed: str) -> None:
    now = now_ms()
    created = []
    for i in range(21):
        # interleave ages and pins so neither order is the creation order
        age = ((i * 7) % 21) * MIN
        created.append(
            await post(
                store, headline=f"e{i}", pinned=i % 4 == 0, published_at=to_rfc3339(now - age)
            )
        )
    await store.projection.project_pending(feed)
    expected = sorted(created, key=lambda e: (e.pinned, e.published_at, e.id), reverse=True)
    assert [e.pinned for e in expected[:6]] == [True] * 6
    seen: list[Entry] = []
    before = None
    pages = 0
    while True:
        page = await store.public.read_timeline(feed, limit=7, before=before)
        pages += 1
        seen += page.entries
        assert page.cursor.epoch
        if page.next is None:
            break
        before = page.next
    assert pages == 3  # 21 = 3 x 7: the last full page says there is no more
    assert [e.id for e in seen] == [e.id for e in expected]
    # Pinning the oldest entry moves it up, once: the oldest of the pinned.
    last = expected[-1]
    await store.editorial.edit_entry(feed, last.id, {"pinned": True}, if_match=1, actor="a")
    await store.projection.project_pending(feed)
    top = await store.public.read_timeline(feed, limit=100)
    assert [e.pinned for e in top.entries] == [True] * 7 + [False] * 14
    assert top.entries[6].id == last.id and len({e.id for e in top.entries}) == 21


async def test_entries_of_other_feeds_stay_apart(store: Stores, feed: str) -> None:
    await store.registry.create_feed("sport", "Sport")
    a = await post(store, headline="news")
    await store.editorial.create_entry("sport", {"headline": "goal"}, actor="t")
    await store.projection.project_pending(feed)
    await store.projection.project_pending("sport")
    assert [e.id for e in (await store.public.read_timeline(feed, limit=10)).entries] == [a.id]
    with pytest.raises(NotFound):
        await store.editorial.get_entry("sport", a.id)


async def test_published_at_is_backdated_within_limits(store: Stores, feed: str) -> None:
    now = now_ms()
    e = await post(store, published_at=to_rfc3339(now - 3 * 24 * 60 * MIN))
    assert e.published_at == now - 3 * 24 * 60 * MIN
    with pytest.raises(InvalidInput) as info:
        await post(store, published_at=to_rfc3339(now - 31 * 24 * 60 * MIN))
    assert info.value.field == "published_at"
    assert dataclasses.asdict(await store.editorial.get_entry(feed, e.id)) == dataclasses.asdict(e)
    assert await log_len(store) == 1
