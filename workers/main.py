"""The worker process: an arq Worker plus the projection loop it owns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from arq.connections import RedisSettings
from arq.worker import Worker

from feed import keys
from feed.settings import Settings
from feed.store import FeedStore, connect
from workers.fanout import Fanout

log = logging.getLogger("newsfeed.worker")


async def rebuild_feed(ctx: dict[str, Any], feed: str) -> dict[str, int]:
    """arq job: rebuild a feed's materialised state from its log."""
    store: FeedStore = ctx["store"]
    return await store.rebuild(feed)


def build_worker(settings: Settings, *, handle_signals: bool = True) -> Worker:
    if settings.redis_url is None:
        raise ValueError("the worker needs REDIS_URL")
    redis_url = settings.redis_url

    async def startup(ctx: dict[str, Any]) -> None:
        redis = connect(redis_url)
        store = FeedStore(
            redis,
            retention_seconds=settings.retention_seconds,
            retention_events=settings.retention_events,
            live_retention_events=settings.live_retention_events,
        )
        ctx["store"] = store
        ctx["fanout_task"] = asyncio.create_task(Fanout(store).run(), name="fanout")

    async def shutdown(ctx: dict[str, Any]) -> None:
        task: asyncio.Task[None] | None = ctx.get("fanout_task")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        store: FeedStore | None = ctx.get("store")
        if store is not None:
            await store.redis.aclose()

    return Worker(
        functions=[rebuild_feed],
        queue_name=keys.ARQ_QUEUE,
        redis_settings=RedisSettings.from_dsn(redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        handle_signals=handle_signals,
        job_serializer=orjson.dumps,
        job_deserializer=orjson.loads,
        poll_delay=0.1,
        max_jobs=50,
        keep_result=60,
    )


async def serve(settings: Settings) -> None:
    """Run a worker until SIGINT or SIGTERM, then shut it down cleanly."""
    worker = build_worker(settings, handle_signals=True)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass
    finally:
        await worker.close()
    log.info("worker stopped")


def run_worker(settings: Settings) -> None:
    import uvloop

    uvloop.run(serve(settings))
