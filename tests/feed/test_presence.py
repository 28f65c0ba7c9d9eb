"""Presence beats in the real Redis: who is here, who left, who timed out."""

from __future__ import annotations

from feed.presence import TTL_MS, Presence, others
from feed.stores import Stores


async def test_beats_leaves_and_timeouts(store: Stores) -> None:
    p = Presence(store.redis)
    t = 1_800_000_000_000
    await p.beat("news", "user:olena", "e1", "tab-olena-1", now=t)
    await p.beat("news", "user:taras", None, "tab-taras-1", now=t + 1000)
    seen = await p.beat("news", "user:chief", "e1", "tab-chief-1", now=t + 2000)
    assert [(s.user, s.entry) for s in others(seen, "user:chief")] == [
        ("user:olena", "e1"),
        ("user:taras", None),
    ]
    # olena closes her page; taras stops beating and times out
    await p.leave("news", "user:olena", "e1", "tab-olena-1")
    seen = await p.beat("news", "user:chief", "e1", "tab-chief-1", now=t + 1000 + TTL_MS + 1)
    assert others(seen, "user:chief") == []
    # two tabs of one user on one entry are one line; another feed is apart
    await p.beat("news", "user:olena", "e2", "tab-olena-2", now=t + 20_000)
    await p.beat("news", "user:olena", "e2", "tab-olena-3", now=t + 20_001)
    await p.beat("other", "user:ivan", None, "tab-ivan-1", now=t + 20_001)
    seen = await p.beat("news", "user:chief", None, "tab-chief-2", now=t + 20_002)
    assert [(s.user, s.entry) for s in others(seen, "user:chief")] == [("user:olena", "e2")]
