"""The reader's pages: the News Feed column and an entry's permalink.

Rendered on the server with Jinja2 (autoescape on: everything is text but an
entry's body, which the store has already sanitised), then made live by
``/static/live.js``. The page carries the live cursor read atomically with
the entries, so the script subscribes with ``since=<cursor>`` and nothing
falls between the page load and the subscription.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from feed.errors import NotFound
from feed.model import Entry, now_ms, to_rfc3339
from feed.registry import FeedMeta
from feed.stores import Stores
from feed.trail import trail
from web import render
from web.security import secure
from web.state import state
from web.static_files import Assets

PAGE_SIZE = 20
KEY_EVENTS_SHOWN = 20
"""How many key events the list above the column shows (the newest)."""
BEFORE_RE = re.compile(r"[01]:\d{13}:[0-9a-z]{1,40}")
PAGE_CACHE = "public, max-age=2, stale-while-revalidate=30"


def site_base(request: Request) -> str:
    """The public base URL: ``NEWSFEED_PUBLIC_URL``, else what the client reached."""
    public = state(request).settings.public_url
    if public:
        return public.rstrip("/")
    return str(request.base_url).rstrip("/")


def feed_path(feed: str) -> str:
    return f"/feeds/{quote(feed, safe='')}"


class Pages:
    """The Jinja2 environment and the static assets, made once per app."""

    def __init__(self, assets: Assets | None = None) -> None:
        self.assets = assets or Assets()
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["static"] = self.assets.url
        self.env.filters["rfc3339"] = to_rfc3339
        self.env.filters["localtime"] = render.full_time

    def html(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        cache: str = PAGE_CACHE,
        frameable: bool = False,
    ) -> Response:
        body = self.env.get_template(template).render(**context)
        response = HTMLResponse(body, status_code=status, headers={"Cache-Control": cache})
        return secure(request, response, frameable=frameable)

    def error(self, request: Request, status: int, title: str, detail: str) -> Response:
        return self.html(
            request,
            "error.html",
            {"status": status, "title": title, "detail": detail},
            status=status,
            cache="no-store",
        )

    # -- shared by the reader page and the iframe embed -----------------------
    async def column(
        self, request: Request, feed: str, *, limit: int, before: str | None
    ) -> tuple[FeedMeta, dict[str, Any]] | Response:
        """The column's context, or an error page (unknown feed, bad ``before``)."""
        store = state(request).store
        try:
            meta = await store.registry.get_feed(feed)
        except NotFound:
            return self.error(request, 404, "Feed not found", f"There is no feed {feed!r}.")
        if before is not None and not BEFORE_RE.fullmatch(before):
            return self.error(
                request, 400, "Bad request", "before must be the 'next' value of a page."
            )
        page = await store.public.read_timeline(feed, limit=limit, before=before)
        keyed = await store.public.read_timeline(feed, limit=KEY_EVENTS_SHOWN, key_events=True)
        now = now_ms()
        zone = ZoneInfo(meta.timezone)
        base = site_base(request)
        context: dict[str, Any] = {
            "feed": meta,
            "feed_url": feed_path(feed),
            "items": [render.item(e, zone, now) for e in page.entries],
            "key_items": render.key_events(keyed.entries, zone),
            "cursor": str(page.cursor),
            "next": page.next,
            "before": before,
            "zone_label": render.zone_label(zone, now),
            "base": base,
            "limit": limit,
            "jsonld": render.script_json(
                render.live_blog(
                    base=base, feed=feed, title=meta.title, entries=page.entries, now_ms=now
                )
            ),
        }
        return meta, context

    # -- endpoints -------------------------------------------------------------
    async def reader(self, request: Request) -> Response:
        feed = request.path_params["feed"]
        before = request.query_params.get("before") or None
        got = await self.column(request, feed, limit=PAGE_SIZE, before=before)
        if isinstance(got, Response):
            return got
        _, context = got
        context["live"] = before is None
        context["embed"] = False
        return self.html(request, "reader.html", context)

    async def permalink(self, request: Request) -> Response:
        feed, entry_id = request.path_params["feed"], request.path_params["id"]
        store = state(request).store
        try:
            meta = await store.registry.get_feed(feed)
        except NotFound:
            return self.error(request, 404, "Feed not found", f"There is no feed {feed!r}.")
        try:
            entry = await store.public.public_entry(feed, entry_id)
        except NotFound:
            return await self._missing_entry(request, store, feed, entry_id)
        events = await store.editorial.history(feed, entry_id)
        now = now_ms()
        zone = ZoneInfo(meta.timezone)
        base = site_base(request)
        steps = trail(events)
        return self.html(
            request,
            "entry.html",
            {
                "trail": [
                    (step, render.item(step.entry, zone, now)) for step in reversed(steps)
                ],
                "feed": meta,
                "feed_url": feed_path(feed),
                "item": render.item(entry, zone, now),
                "zone_label": render.zone_label(zone, now),
                "jsonld": render.script_json(blog_posting(base, meta, entry)),
                "base": base,
            },
        )

    async def _missing_entry(
        self, request: Request, store: Stores, feed: str, entry_id: str
    ) -> Response:
        try:
            current = await store.editorial.get_entry(feed, entry_id)
        except NotFound:
            current = None
        if current is not None and current.status == "retracted":
            return self.error(request, 410, "Update retracted", "This update was retracted.")
        return self.error(request, 404, "Update not found", "There is no such update.")

    async def not_found(self, request: Request) -> Response:
        return self.error(request, 404, "Not found", "There is nothing at this address.")


def blog_posting(base: str, meta: FeedMeta, entry: Entry) -> dict[str, Any]:
    doc = render.live_blog(
        base=base, feed=meta.slug, title=meta.title, entries=[entry], now_ms=entry.published_at
    )
    posting: dict[str, Any] = doc["liveBlogUpdate"][0]
    posting["@context"] = "https://schema.org"
    posting["isPartOf"] = {"@type": "LiveBlogPosting", "@id": doc["@id"], "url": doc["url"]}
    return posting


def routes(pages: Pages) -> list[BaseRoute]:
    return [
        Route("/static/{name}", pages.assets.endpoint, methods=["GET", "HEAD"]),
        Route("/feeds/{feed}", pages.reader, methods=["GET", "HEAD"]),
        Route("/feeds/{feed}/entries/{id}", pages.permalink, methods=["GET", "HEAD"]),
    ]
