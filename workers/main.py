"""The worker process: an arq Worker plus the duties it owns.

The arq side runs the jobs (feed rebuilds); the ``Duties`` task group
(projection loop, webhook dispatcher and delivery loop, document renderer,
gauges, heartbeat) is started in arq's startup hook and cancelled and
awaited in its shutdown hook, so its lifetime is the worker's. Webhook
deliveries are not arq jobs (see ``workers.delivery``): a ``deliver_webhook``
job that a worker of an earlier release left in arq's queue is moved onto
its webhook's queue.
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
from feed.delivery_queue import DeliveryQueue
from feed.errors import StoreUnavailable
from feed.model import now_ms
from feed.redis_io import translated
from feed.settings import Settings
from feed.stores import Stores
from feed.webhooks import Delivery
from workers import embeds, metrics
from workers.delivery import http_client
from workers.fanout import Duties

log = logging.getLogger("newsfeed.worker")


async def rebuild_feed(ctx: dict[str, Any], feed: str) -> dict[str, int]:
    """arq job: rebuild a feed's materialised state from its log."""
    store: Stores = ctx["store"]
    return await store.retention.rebuild(feed)


async def deliver_webhook(
    ctx: dict[str, Any],
    feed: str,
    webhook_id: str,
    delivery_id: str,
    event: str,
    body: str,
    created_at: int,
    attempt: int,
) -> str:
    """arq job of the previous release: onto the webhook's own queue with it."""
    store: Stores = ctx["store"]
    if await store.webhooks.get(feed, webhook_id) is None:
        return "webhook deleted"
    delivery = Delivery(feed, webhook_id, delivery_id, event, body, created_at, attempt)
    await DeliveryQueue(store.redis).enqueue(delivery, now_ms())
    return "moved to the webhook's queue"


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
        ctx["http"] = client = http_client(settings)
        ctx["embed_http"] = embed_client = embeds.http_client(settings)
        duties = Duties(store, settings, client, ctx["redis"], embed_client)
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
        for name in ("http", "embed_http"):
            client = ctx.get(name)
            if client is not None:
                await client.aclose()
        store: Stores | None = ctx.get("store")
        if store is not None:
            await store.redis.aclose()

    return ResilientWorker(
        functions=[
            # Every function's timeout bounds how long a job of a worker that
            # died stays claimed (arq: the longest timeout + 10 s) before
            # another worker runs it again: keep them short.
            func(rebuild_feed, max_tries=3, timeout=60),
            func(deliver_webhook, max_tries=3, timeout=30),
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
    received = SignalName()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, received.on, sig, stop)
    arq_log = logging.getLogger("arq.worker")
    arq_log.addFilter(received)
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
        arq_log.removeFilter(received)
    log.info("worker stopped")


class SignalName(logging.Filter):
    """arq's "shutdown on <signal>" line names the signal we got.

    With its own signal handling off (see ``serve``), arq's ``close()``
    reports a SIGUSR1 that nobody sent; this filter on the ``arq.worker``
    logger puts the SIGINT or SIGTERM that stopped the worker in its place.
    """

    def __init__(self) -> None:
        super().__init__()
        self.name_: str | None = None

    def on(self, sig: signal.Signals, stop: asyncio.Event) -> None:
        self.name_ = sig.name
        stop.set()

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            self.name_ is not None
            and isinstance(record.args, tuple)
            and record.args
            and record.args[0] == signal.SIGUSR1.name
        ):
            record.args = (self.name_, *record.args[1:])
        return True


def run_worker(settings: Settings) -> None:
    import uvloop

    uvloop.run(serve(settings))
