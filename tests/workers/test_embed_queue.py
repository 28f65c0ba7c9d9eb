"""The embed fetch queue on a real Redis (the module's own: no worker runs on
it): queued with the append, leased, settled by compare-and-set, and the card
filled only while the entry still waits for it."""

from __future__ import annotations

from feed import embeds, keys
from feed.embed_queue import LEASE_MS, EmbedQueue
from feed.model import now_ms
from feed.stores import Stores

URL = "https://youtu.be/dQw4w9WgXcQ"
OTHER = "https://x.com/someone/status/123"


async def feed_of(pstore: Stores) -> str:
    await pstore.registry.create_feed("news", "News", "UTC")
    return "news"


async def test_the_append_queues_the_fetch_and_a_lease_hands_it_over(pstore: Stores) -> None:
    feed = await feed_of(pstore)
    q = EmbedQueue(pstore.redis)
    plain, _ = await pstore.editorial.create_entry(feed, {"headline": "no embed"}, actor="ed")
    entry, _ = await pstore.editorial.create_entry(
        feed, {"headline": "with", "embed": embeds.match(URL)}, actor="ed"
    )
    queued = await pstore.redis.zrange(keys.embed_queue(feed), 0, -1)
    assert queued == [entry.id.encode()]  # in the same round trip as the append
    now = now_ms() + 1000
    first = await q.claim(feed, now, 10)
    assert [(c.entry_id, c.attempt) for c in first] == [(entry.id, 1)]
    assert await q.claim(feed, now + LEASE_MS - 1, 10) == []  # leased
    # the claimer died: when its lease ends another worker takes it, counted
    again = await q.claim(feed, now + LEASE_MS, 10)
    assert [(c.entry_id, c.attempt) for c in again] == [(entry.id, 2)]
    assert not await q.done(first[0])  # the dead claimer's lease is gone: nothing
    assert await q.retry(again[0], now + LEASE_MS + 500)
    assert await q.claim(feed, now + LEASE_MS + 499, 10) == []
    third = await q.claim(feed, now + LEASE_MS + 500, 10)
    assert third[0].attempt == 3
    # an edit pasting another URL re-queues it (attempts start over): the
    # claim in flight may no longer settle it
    await pstore.editorial.edit_entry(
        feed, entry.id, {"embed": embeds.match(OTHER)}, if_match=1, actor="ed"
    )
    assert not await q.done(third[0])
    fresh = await q.claim(feed, now_ms() + 1000, 10)
    assert [(c.entry_id, c.attempt) for c in fresh] == [(entry.id, 1)]
    assert await q.done(fresh[0])
    assert await q.pending(feed) == 0 and not await pstore.redis.hlen(keys.embed_tries(feed))
    assert plain.embed is None


async def test_a_fill_is_a_compare_and_set_on_the_url(pstore: Stores) -> None:
    feed = await feed_of(pstore)
    entry, _ = await pstore.editorial.create_entry(
        feed, {"headline": "h", "embed": embeds.match(URL)}, actor="ed"
    )
    assert entry.embed is not None
    card = embeds.filled(entry.embed, embeds.Card("Title", "Author", None, None), None)
    moved = await pstore.editorial.edit_entry(
        feed, entry.id, {"embed": embeds.match(OTHER)}, if_match=1, actor="ed"
    )
    assert not await pstore.editorial.fill_embed(feed, entry.id, card, actor="embeds")
    assert await pstore.editorial.get_entry(feed, entry.id) == moved  # untouched
    assert moved.embed is not None
    ok = embeds.filled(moved.embed, embeds.Card("Other", None, None, None), None)
    assert await pstore.editorial.fill_embed(feed, entry.id, ok, actor="embeds")
    now = await pstore.editorial.get_entry(feed, entry.id)
    assert now.version == 3 and now.embed == ok and now.updated_at is None
    # filled once: a second (late, duplicate) fill of the same URL writes nothing
    assert not await pstore.editorial.fill_embed(feed, entry.id, ok, actor="embeds")
    await pstore.editorial.retract_entry(feed, entry.id, if_match=3, actor="ed")
    assert not await pstore.editorial.fill_embed(feed, "nope", ok, actor="embeds")
