"""Partner webhooks of a feed: register, list, delete, see dead letters.

Bearer API token of the feed, like the publishing API. The secret is shown
once, in the 201 answer to the POST; it is never listed.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from feed.errors import InvalidInput
from feed.webhooks import WebhookStore
from web.api import authorize, json_response, read_json
from web.state import state

DEAD_PAGE_MAX = 1000


def _hooks(request: Request) -> WebhookStore:
    return state(request).webhooks


async def _feed(request: Request) -> str:
    feed: str = request.path_params["feed"]
    await state(request).store.registry.get_feed(feed)
    await authorize(request, feed)
    return feed


async def create_webhook(request: Request) -> Response:
    feed = await _feed(request)
    data: Any = await read_json(request)
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    unknown = set(data) - {"url", "secret", "description"}
    if unknown:
        raise InvalidInput(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    hook = await _hooks(request).add(
        feed, data.get("url"), data.get("secret"), data.get("description", "")
    )
    return json_response(
        hook.to_json(with_secret=True),
        201,
        {"Location": f"/api/v1/feeds/{feed}/webhooks/{hook.id}", "Cache-Control": "no-store"},
    )


async def list_webhooks(request: Request) -> Response:
    feed = await _feed(request)
    hooks = await _hooks(request).all(feed)
    return json_response(
        {"webhooks": [h.to_json() for h in hooks]}, headers={"Cache-Control": "no-store"}
    )


async def delete_webhook(request: Request) -> Response:
    feed = await _feed(request)
    await _hooks(request).delete(feed, request.path_params["id"])
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


async def dead_letters(request: Request) -> Response:
    feed = await _feed(request)
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= DEAD_PAGE_MAX:
        raise InvalidInput(f"limit must be an integer from 1 to {DEAD_PAGE_MAX}", field="limit")
    dead = await _hooks(request).list_dead(feed, int(raw))
    return json_response({"dead": dead}, headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/feeds/{feed}/webhooks", list_webhooks, methods=["GET"]),
        Route("/api/v1/feeds/{feed}/webhooks", create_webhook, methods=["POST"]),
        # Before /{id}: "dead" is not a webhook id.
        Route("/api/v1/feeds/{feed}/webhooks/dead", dead_letters, methods=["GET"]),
        Route("/api/v1/feeds/{feed}/webhooks/{id}", delete_webhook, methods=["DELETE"]),
    ]
