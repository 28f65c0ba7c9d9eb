"""The delivery loop in process, against real Redis and a real receiver: a
webhook registered after the loop started gets its first delivery as soon
as this worker dispatched for it, not at the loop's next full refresh."""

from __future__ import annotations

import asyncio

import pytest

from feed.delivery_queue import DeliveryQueue
from feed.settings import Settings
from feed.stores import Stores
from feed.webhooks import WebhookStore
from tests.conftest import make_feed
from tests.workers.conftest import eventually
from tests.workers.receiver import Receiver, always
from tests.workers.test_dispatch import project_all
from workers import delivery
from workers.delivery import DeliveryLoop, dispatch, http_client


async def test_a_new_webhook_is_delivered_to_without_waiting_for_the_refresh(
    pstore: Stores, purl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The full refresh is pushed an hour away: only the wake can get the
    # new webhook to this loop in time.
    monkeypatch.setattr(delivery, "REFRESH_SECONDS", 3600.0)
    settings = Settings(redis_url=purl, webhook_allow_private=True)
    await make_feed(pstore, "news")
    hooks = WebhookStore(pstore.redis, allow_private=True)
    async with Receiver().serving() as receiver, http_client(settings) as client:
        loop = DeliveryLoop(settings, pstore.registry, hooks, DeliveryQueue(pstore.redis), client)
        runner = asyncio.create_task(loop.run())
        try:
            await asyncio.sleep(0.3)  # its first full refresh: no webhooks yet
            await hooks.add("news", receiver.on("/new", always(204)))
            await pstore.editorial.create_entry("news", {"headline": "first"}, actor="t")
            await project_all(pstore, "news")
            assert await dispatch(hooks, "news") == 1
            loop.wake("news")  # what the worker's dispatcher does after queuing

            async def delivered() -> bool:
                return bool(receiver.at("/new", 204))

            await eventually(delivered, within=10, what="the new webhook's first delivery")
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
