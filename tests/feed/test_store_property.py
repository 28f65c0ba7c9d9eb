"""Property: whatever a client sends, the store either appends exactly one
event holding the validated entry, or rejects it naming a field and writes
nothing (real Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings

from feed import keys
from feed.errors import InvalidInput
from feed.model import Entry, Event
from feed.redis_io import connect
from feed.stores import Stores
from tests.feed.test_validate import requests

FEED = "prop"


async def _snapshot(store: Stores) -> tuple[int, dict[bytes, bytes]]:
    return int(await store.redis.xlen(keys.log(FEED))), await store.redis.hgetall(
        keys.entries(FEED)
    )


async def _check(redis_url: str, create: Any, edit: Any, accepted: dict[str, int]) -> None:
    redis = connect(redis_url)
    try:
        store = Stores.build(redis)
        if FEED not in await store.registry.list_feeds():
            await store.registry.create_feed(FEED, "Prop")
        base, _ = await store.editorial.create_entry(FEED, {"headline": "base"}, actor="p")
        for data, call in ((create, "create"), (edit, "edit")):
            before = await _snapshot(store)
            try:
                if call == "create":
                    entry, _ = await store.editorial.create_entry(FEED, data, actor="p")
                else:
                    entry = await store.editorial.edit_entry(
                        FEED, base.id, data, if_match=base.version, actor="p"
                    )
            except InvalidInput as exc:
                assert isinstance(exc.field, str), exc.detail
                assert await _snapshot(store) == before
                continue
            accepted[call] += 1
            length, entries = await _snapshot(store)
            assert length == before[0] + 1
            assert Entry.loads(entries[entry.id.encode()]) == entry
            [last] = await redis.xrevrange(keys.log(FEED), count=1)
            assert Event.loads(last[1][b"ev"]).entry == entry
    finally:
        await redis.aclose()


def test_rejections_write_nothing_and_acceptances_write_one_event(redis_url: str) -> None:
    accepted = {"create": 0, "edit": 0}

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests, requests)
    def prop(create: Any, edit: Any) -> None:
        asyncio.run(_check(redis_url, create, edit, accepted))

    prop()
    # Guard against a strategy that only ever produces rejections.
    # About one request in nine is well-formed, so over 120 examples "none"
    # is a broken strategy, not bad luck (0.89**120 < 1e-6).
    assert accepted["create"] > 0 and accepted["edit"] > 0, accepted
