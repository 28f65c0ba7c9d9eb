"""Readers following a feed now, over every web process: the editor screen and the metric."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from feed import keys
from feed.accounts import Accounts
from feed.readers import encode_report, live_total
from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds, start_web
from tests.web.admin_util import add_user, signed_in
from tests.web.live_client import connect, metric, new_slug, next_json


def test_only_reports_still_valid_count() -> None:
    fields = {
        b"a": encode_report(3, 2000).encode(),
        b"b": encode_report(4, 999).encode(),  # expired: that process is gone
        b"c": b"garbage",
        b"d": encode_report(0, 5000).encode(),
    }
    assert live_total(fields, 1000) == (3, [b"b", b"c"])
    assert live_total({}, 1000) == (0, [])


async def _until(probe: Callable[[], Awaitable[float]], want: int, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds(within)
    while True:
        got = await probe()
        if got == want:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"readers: {got}, never {want}")
        await asyncio.sleep(0.5)


async def test_readers_on_two_processes_add_up_on_the_editor_screen_and_the_metric(
    store: Stores, services: Services, tmp_path: Path
) -> None:
    slug = new_slug()
    await make_feed(store, slug)
    name = "ed" + uuid.uuid4().hex[:8]
    await add_user(Accounts(store.redis), name, "editor", (slug,))
    other, other_base = start_web(services.redis_url, tmp_path)
    try:
        async with signed_in(services.base_url, name) as (client, _):

            async def on_screen() -> float:
                got = await client.get(f"/admin/feeds/{slug}/entries.json")
                readers: float = got.json()["readers"]
                return readers

            await _readers_come_and_go(store, slug, other_base, services.base_url, on_screen)
            page = await client.get(f"/admin/feeds/{slug}")
            assert 'id="readers"' in page.text
    finally:
        other.stop()


async def _readers_come_and_go(
    store: Stores,
    slug: str,
    other_base: str,
    base_url: str,
    on_screen: Callable[[], Awaitable[float]],
) -> None:
    """Three WebSockets and an SSE stream on two processes; then none."""
    async with contextlib.AsyncExitStack() as stack:
        for base in (base_url, base_url, other_base):
            ws = await stack.enter_async_context(await connect(base, slug))
            await next_json(ws)
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=other_base, timeout=seconds(10))
        )
        sse = await stack.enter_async_context(http.stream("GET", f"/api/v1/feeds/{slug}/sse"))
        assert sse.status_code == 200
        label = f'feed="{slug}"'
        await _until(on_screen, 4)
        for base in (base_url, other_base):
            await _until(functools.partial(metric, base, "newsfeed_live_readers", label), 4)
        # One write per feed and process, not per reader: one field each.
        assert await store.redis.hlen(keys.readers(slug)) == 2
    # All gone: the count follows within a report or two.
    await _until(on_screen, 0)
