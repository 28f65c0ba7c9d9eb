"""Embedding a feed on other sites: ``/embed.js``, ``/embed/{feed}``, ``/oembed``.

``/embed.js`` is the same script as the reader page's ``live.js``: on a
partner's page it mounts every ``<div data-newsfeed="FEED">`` in a Shadow DOM
and reads the public JSON API (CORS ``*``) and the WebSocket of the host it
was loaded from. ``/embed/{feed}`` is the iframe page: the server-rendered
column, frameable by any site, reporting its height to the parent with
``postMessage``. ``/oembed`` returns the iframe snippet for a feed page's URL.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from feed.errors import InvalidInput, NotFound, NotSupported
from feed.i18n import language
from feed.model import now_ms
from feed.registry import check_slug
from web import render
from web.api import public_response
from web.pages import Pages, site_base
from web.state import state
from web.static_files import SHORT

DEFAULT_WIDTH = 400
DEFAULT_HEIGHT = 600
MIN_SIZE = 120
PAGE_PATH = re.compile(r"^/(?:feeds|embed)/([^/.]+)(?:/entries/[^/]+)?/?$")


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 6:
        raise InvalidInput(f"{name} must be a positive integer", field=name)
    return int(raw)


def iframe_html(base: str, feed: str, title: str, width: int, height: int, lang: str = "en") -> str:
    src = html.escape(f"{base}/embed/{quote(feed, safe='')}", quote=True)
    script = html.escape(f"{base}/embed.js", quote=True)
    label = html.escape(f"{title} — {language(lang).gettext('News Feed')}", quote=True)
    return (
        f'<iframe src="{src}" width="{width}" height="{height}" title="{label}" '
        f'loading="lazy" style="border:0;width:100%;max-width:{width}px" '
        f"data-newsfeed-frame></iframe>"
        f'<script async src="{script}"></script>'
    )


class Embed:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    async def script(self, request: Request) -> Response:
        return self.pages.assets.response(request, "live.js", cache=SHORT)

    async def frame(self, request: Request) -> Response:
        feed = request.path_params["feed"]
        theme = request.query_params.get("theme")
        raw_limit = request.query_params.get("limit", "20")
        limit = int(raw_limit) if raw_limit.isdigit() and 1 <= int(raw_limit) <= 100 else 20
        got = await self.pages.column(request, feed, limit=limit, before=None)
        if isinstance(got, Response):
            return got
        meta, context = got
        context["theme"] = theme if theme in ("light", "dark") else None
        return self.pages.html(
            request, "embed.html", context, frameable=True, lang=language(meta.language)
        )

    async def oembed(self, request: Request) -> Response:
        url = request.query_params.get("url")
        if not url:
            raise InvalidInput("url is required: the address of a feed page", field="url")
        fmt = request.query_params.get("format", "json")
        if fmt != "json":
            raise NotSupported("only format=json is supported", field="format")
        max_width = _int_param(request, "maxwidth")
        max_height = _int_param(request, "maxheight")
        feed = self._feed_of(request, url)
        store = state(request).store
        meta = await store.registry.get_feed(feed)
        width = min(DEFAULT_WIDTH, max(MIN_SIZE, max_width or DEFAULT_WIDTH))
        height = min(DEFAULT_HEIGHT, max(MIN_SIZE, max_height or DEFAULT_HEIGHT))
        base = site_base(request)
        body: dict[str, Any] = {
            "version": "1.0",
            "type": "rich",
            "title": meta.title,
            "provider_name": "newsfeed",
            "provider_url": base + "/",
            "cache_age": 3600,
            "width": width,
            "height": height,
            "html": iframe_html(base, feed, meta.title, width, height, meta.language),
        }
        return public_response(request, body)

    def _feed_of(self, request: Request, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError:
            raise InvalidInput("url is not a valid URL", field="url") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput("url must be an absolute http(s) URL", field="url")
        ours = {urlsplit(site_base(request)).netloc, request.headers.get("host", "")}
        match = PAGE_PATH.match(parts.path)
        if parts.netloc not in ours or not match:
            raise NotFound("url is not a feed page of this site")
        try:
            return check_slug(match.group(1))
        except InvalidInput:
            raise NotFound("url is not a feed page of this site") from None

    async def feed_meta(self, request: Request) -> Response:
        store = state(request).store
        meta = await store.registry.get_feed(request.path_params["feed"])
        base = site_base(request)
        data = meta.to_json()
        data["url"] = f"{base}/feeds/{quote(meta.slug, safe='')}"
        lang = language(meta.language)
        data["zone"] = render.zone_label(ZoneInfo(meta.timezone), now_ms(), lang)
        data["messages"] = render.script_messages(lang)
        return public_response(request, data)


def routes(pages: Pages) -> list[BaseRoute]:
    embed = Embed(pages)
    return [
        Route("/api/v1/feeds/{feed}", embed.feed_meta, methods=["GET"]),
        Route("/embed.js", embed.script, methods=["GET", "HEAD"]),
        Route("/embed/{feed}", embed.frame, methods=["GET", "HEAD"]),
        Route("/oembed", embed.oembed, methods=["GET"]),
    ]
