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
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from feed import readiness
from feed.admin_store import AdminStore
from feed.client import open_redis
from feed.errors import ConfigError, FeedError
from feed.media import FilesystemMediaStore, PhotoIndex
from feed.redis_io import connect
from feed.settings import Settings
from feed.stores import Stores
from web import admin, api, embed, live, metrics, pages, photos, syndication, webhook_api
from web.hub import Hub
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
                yield {live.LIVE_STATE: live.LiveServer(hub, settings.client_buffer_bytes)}
        finally:
            await redis.aclose()
            if queue is not None:
                await queue.aclose()

    return Starlette(
        routes=[*routes(), *admin.routes(settings)],
        lifespan=lifespan,
        exception_handlers={FeedError: feed_error, HTTPException: http_error},
    )
