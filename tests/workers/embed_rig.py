"""The embedded-post rig: a local oEmbed provider on 127.0.0.1 and real web and
worker processes on the module's private valkey, allow-listing that provider
and letting it be reached on loopback (these processes only)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from feed.redis_io import connect
from feed.stores import Stores
from tests.conftest import Proc, TestRedis, make_feed, seconds, start_web, start_worker
from tests.workers.oembed_provider import OEmbedProvider

ATTEMPTS = 4


async def eventually(check: Any, within: float = 20, what: str = "") -> None:
    """Poll an async predicate until it is true (bounded)."""
    deadline = time.monotonic() + seconds(within)
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.05)


@dataclasses.dataclass
class Rig:
    provider: OEmbedProvider
    base: str
    store: Stores
    media: Path
    web: Proc
    worker: Proc


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[OEmbedProvider]:
    async with OEmbedProvider().running() as p:
        yield p


@pytest.fixture(scope="module")
async def rig(
    provider: OEmbedProvider, private_server: TestRedis, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    tmp = tmp_path_factory.mktemp("embeds")
    env = {
        "NEWSFEED_MEDIA_DIR": str(tmp / "media"),
        "NEWSFEED_OEMBED_EXTRA": provider.extra(),
        "NEWSFEED_OEMBED_ALLOW_PRIVATE": "1",  # the test provider is on 127.0.0.1
        "NEWSFEED_OEMBED_TIMEOUT_SECONDS": str(seconds(1.0)),
        "NEWSFEED_OEMBED_ATTEMPTS": str(ATTEMPTS),
        "NEWSFEED_OEMBED_RETRY_SECONDS": "0.2",
        "NEWSFEED_WEBHOOK_ALLOW_PRIVATE": "1",  # the webhook test's receiver is on 127.0.0.1
    }
    if private_server.queue_url:
        env["NEWSFEED_QUEUE_URL"] = private_server.queue_url
    web, base = start_web(private_server.url, tmp, None, **env)
    worker = start_worker(private_server.url, tmp, "embeds-worker", **env)
    redis = connect(private_server.url)
    try:
        yield Rig(provider, base, Stores.build(redis), tmp / "media", web, worker)
    finally:
        web.stop()
        worker.stop()
        await redis.aclose()


class Desk:
    """One feed of the rig and its token."""

    def __init__(self, rig: Rig, feed: str, token: str) -> None:
        self.rig = rig
        self.feed = feed
        self.api = f"/api/v1/feeds/{feed}/entries"
        self.http = httpx.AsyncClient(
            base_url=rig.base, headers={"Authorization": f"Bearer {token}"}, timeout=seconds(10)
        )

    async def post(self, headline: str, **fields: Any) -> httpx.Response:
        return await self.http.post(self.api, json={"headline": headline, **fields})

    async def entry(self, entry_id: str) -> dict[str, Any]:
        """The editorial state (what the next edit starts from)."""
        e = await self.rig.store.editorial.get_entry(self.feed, entry_id)
        return e.to_json()

    async def embed_is(self, entry_id: str, status: str, within: float = 20) -> dict[str, Any]:
        async def check() -> bool:
            embed = (await self.entry(entry_id))["embed"]
            return embed is not None and embed["status"] == status

        await eventually(check, within, f"embed {status}")
        return await self.entry(entry_id)


@pytest.fixture
async def desk(rig: Rig) -> AsyncIterator[Desk]:
    feed = "e" + uuid.uuid4().hex[:10]
    token = await make_feed(rig.store, feed)
    d = Desk(rig, feed, token)
    try:
        yield d
    finally:
        await d.http.aclose()


def video(mode: str) -> str:
    return f"https://video.test/v/{mode}-{uuid.uuid4().hex[:8]}"


def tag(url: str) -> str:
    return url.rsplit("/", 1)[-1]
