"""``create_app(settings)``: the Starlette application, built without globals.

Resources (the Redis client, the store, the live hub) are created in the
lifespan and handed to endpoints as typed state (``web.state.state(request)``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from feed import readiness
from feed.admin_store import AdminStore
from feed.client import open_redis
from feed.errors import ConfigError, FeedError
from feed.media import FilesystemMediaStore, PhotoIndex
from feed.ratelimit import Budgets, RateLimits
from feed.redis_io import connect
from feed.settings import Settings
from feed.stores import Stores
from web import (
    admin,
    api,
    api_docs,
    embed,
    favicon,
    live,
    metrics,
    pages,
    photos,
    syndication,
    webhook_api,
)
from web.access import AccessMiddleware
from web.hub import Hub
from web.limits import LimitMiddleware, live_admission
from web.problems import feed_error, http_error
from web.state import AppState, state
from web.uploads import Uploads

log = logging.getLogger("newsfeed.web")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    nf = state(request)
    why = await readiness.problem(nf.store.redis, nf.queue)
    if why is not None:
        return JSONResponse(
            {"status": "unavailable", "detail": why},
            status_code=503,
            headers={"Cache-Control": "no-store"},
        )
    return JSONResponse({"status": "ready"}, headers={"Cache-Control": "no-store"})


def pages_routes() -> list[BaseRoute]:
    """The reader pages and the embed; one Jinja2 environment and asset set."""
    reader_pages = pages.Pages()
    return [*pages.routes(reader_pages), *embed.routes(reader_pages)]


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics.endpoint),
        *favicon.routes(),
        *api_docs.routes(),
        *api.routes(),
        *photos.routes(),
        *live.routes(),
        *webhook_api.routes(),
        # Feed documents before any "/feeds/{feed}" page route: {feed} would
        # also match "news.atom".
        *syndication.routes(),
        *pages_routes(),
    ]


def create_app(settings: Settings) -> Starlette:
    if settings.embedded:
        raise ConfigError(
            "the web app needs REDIS_URL or NEWSFEED_SENTINELS "
            "(newsfeed run sets REDIS_URL for the embedded server)"
        )
    # limits speaks the same URL forms: redis://, redis+cluster://seeds, and
    # redis+sentinel://sentinels/primary for a Sentinel deployment.
    redis_url = settings.redis_url or "redis+sentinel://{}/{}".format(
        ",".join(f"{host}:{port}" for host, port in settings.sentinels), settings.sentinel_primary
    )
    limits: RateLimits | None = None
    if settings.rate_limits:
        budgets = Budgets.from_settings(
            settings.limit_writes_per_token,
            settings.limit_writes_per_client,
            settings.limit_reads_per_client,
            settings.limit_live_per_client,
        )
        limits = RateLimits(redis_url, budgets)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        redis = open_redis(settings)
        # arq's queue: NEWSFEED_QUEUE_URL when it is another Redis (a cluster's).
        queue_url = settings.queue_url
        queue = None if queue_url in (None, settings.redis_url) else connect(queue_url)
        store = Stores.from_settings(redis, settings)
        hub = Hub(
            store,
            max_connections=settings.max_connections,
            client_buffer_bytes=settings.client_buffer_bytes,
            heartbeat_seconds=settings.heartbeat_seconds,
        )
        try:
            async with hub.running():
                app.state.nf = AppState(
                    settings,
                    store,
                    store.accounts,
                    store.webhooks,
                    store.documents,
                    hub,
                    AdminStore(redis),
                    FilesystemMediaStore(settings.media_root),
                    PhotoIndex(redis),
                    Uploads(),
                    queue,
                )
                # The lifespan state reaches web.serve.FrontProtocol as
                # uvicorn's app_state: the live connections are served there.
                admission = (
                    live_admission(limits, settings.forwarded_allow_ips)
                    if limits is not None
                    else None
                )
                server = live.LiveServer(hub, settings.client_buffer_bytes, admission)
                yield {live.LIVE_STATE: server}
        finally:
            await redis.aclose()
            if queue is not None:
                await queue.aclose()

    # Outermost first: every response (a 429 too) gets its request id and access log line.
    middleware = [Middleware(AccessMiddleware)]
    if limits is not None:
        middleware.append(Middleware(LimitMiddleware, limits=limits))
    return Starlette(
        routes=[*routes(), *admin.routes(settings)],
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={FeedError: feed_error, HTTPException: http_error},
    )
