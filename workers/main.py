"""The worker process: an arq Worker plus the duties it owns.

The arq side runs the jobs (webhook deliveries, feed rebuilds); the
``Duties`` task group (projection loop, webhook dispatcher, document
renderer, gauges) is started in arq's startup hook and cancelled and awaited
in its shutdown hook, so its lifetime is the worker's.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import orjson
from arq import func
from arq.connections import RedisSettings
from arq.worker import Worker

from feed import keys
from feed.backoff import Backoff
from feed.client import open_redis
from feed.errors import StoreUnavailable
from feed.redis_io import translated
from feed.settings import Settings
from feed.stores import Stores
from feed.webhooks import WebhookStore
from workers import metrics
from workers.delivery import (
    RESULT_KEEP_SECONDS,
    DeliveryContext,
    deliver_webhook,
    http_client,
)
from workers.fanout import Duties

log = logging.getLogger("newsfeed.worker")

MAX_TRIES = 1_000_000
"""arq's own retry count: deliveries retry by age (see workers.delivery)."""


async def rebuild_feed(ctx: dict[str, Any], feed: str) -> dict[str, int]:
    """arq job: rebuild a feed's materialised state from its log."""
    store: Stores = ctx["store"]
    return await store.retention.rebuild(feed)


class ResilientWorker(Worker):
    """arq's Worker, but a Redis failure while polling backs off and retries
    instead of ending the process (arq would let it propagate)."""

    backoff = Backoff()

    async def _poll_iteration(self) -> None:
        try:
            async with translated():
                await super()._poll_iteration()
            self.backoff.reset()
        except StoreUnavailable as exc:
            delay = self.backoff.next_delay()
            log.warning("arq poll: redis unavailable, retrying in %.2fs: %s", delay, exc)
            metrics.REDIS_ERRORS.inc()
            await asyncio.sleep(delay)


def redis_settings(settings: Settings) -> RedisSettings:
    """arq's connection: NEWSFEED_QUEUE_URL, else the store's Redis (its
    primary, through Sentinel)."""
    if settings.queue_url:
        queue = RedisSettings.from_dsn(settings.queue_url)
    elif settings.sentinels:
        queue = RedisSettings(
            host=list(settings.sentinels),
            sentinel=True,
            sentinel_master=settings.sentinel_primary,
        )
        if settings.redis_url:
            auth = RedisSettings.from_dsn(settings.redis_url)
            queue.username, queue.password = auth.username, auth.password
            queue.database = auth.database
    elif settings.redis_url:
        queue = RedisSettings.from_dsn(settings.redis_url)
    else:
        raise ValueError("the worker needs REDIS_URL or NEWSFEED_SENTINELS")
    queue.conn_retries = 30
    return queue


def build_worker(settings: Settings, *, handle_signals: bool = True) -> Worker:
    if settings.embedded:
        raise ValueError("the worker needs REDIS_URL or NEWSFEED_SENTINELS")

    async def startup(ctx: dict[str, Any]) -> None:
        redis = open_redis(settings)
        store = Stores.from_settings(redis, settings)
        ctx["store"] = store
        ctx["deliveries"] = DeliveryContext(
            settings,
            WebhookStore(redis, allow_private=settings.webhook_allow_private),
            ctx["redis"],
            http_client(settings),
        )
        duties = Duties(store, ctx["redis"], settings.base_url())
        ctx["duties_task"] = asyncio.create_task(duties.run(), name="duties")
        if settings.worker_metrics_port:
            metrics.serve_metrics(settings.worker_metrics_port, settings.host)

    async def shutdown(ctx: dict[str, Any]) -> None:
        task: asyncio.Task[None] | None = ctx.get("duties_task")
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("worker duties failed")
        dc: DeliveryContext | None = ctx.get("deliveries")
        if dc is not None:
            await dc.client.aclose()
        store: Stores | None = ctx.get("store")
        if store is not None:
            await store.redis.aclose()

    return ResilientWorker(
        functions=[
            # Every function's timeout bounds how long a job of a worker that
            # died stays claimed (arq: the longest timeout + 10 s) before
            # another worker runs it again: keep them short.
            func(rebuild_feed, max_tries=3, timeout=60),
            func(
                deliver_webhook,
                max_tries=MAX_TRIES,
                timeout=settings.webhook_timeout_seconds + 10,
                keep_result=RESULT_KEEP_SECONDS,
            ),
        ],
        queue_name=keys.ARQ_QUEUE,
        redis_settings=redis_settings(settings),
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
    """Run a worker until SIGINT or SIGTERM, then shut it down cleanly.

    The signals are ours, not arq's: arq cancels its main task once, and a
    cancellation that lands in a library at the wrong moment can be lost
    (Python 3.11's ``wait_for``), leaving a worker that ignores SIGTERM. We
    cancel until the worker has stopped.
    """
    worker = build_worker(settings, handle_signals=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    run = asyncio.create_task(worker.async_run(), name="arq")
    stopping = asyncio.create_task(stop.wait(), name="signals")
    try:
        await asyncio.wait({run, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("worker stopping")
        stopping.cancel()
        while not run.done():
            run.cancel()
            await asyncio.wait({run}, timeout=1.0)
        if not run.cancelled() and run.exception() is not None:
            log.error("worker failed", exc_info=run.exception())
        # Cancel the running jobs (arq puts each back in the queue) and wait
        # for them ourselves: arq's close() would re-raise a job's
        # cancellation and skip the rest of the shutdown.
        jobs = list(worker.tasks.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        worker.tasks.clear()
        await worker.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("worker stopped")


def run_worker(settings: Settings) -> None:
    import uvloop

    uvloop.run(serve(settings))
