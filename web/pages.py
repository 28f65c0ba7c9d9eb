"""The reader's pages: the News Feed column and an entry's permalink.

Rendered on the server with Jinja2 (autoescape on: everything is text but an
entry's body, which the store has already sanitised), then made live by
``/static/live.js``. The page carries the live cursor read atomically with
the entries, so the script subscribes with ``since=<cursor>`` and nothing
falls between the page load and the subscription.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from feed.errors import NotFound
from feed.i18n import N_, Language, language
from feed.model import Entry, now_ms, to_rfc3339
from feed.pairing import Pairing
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
    """The Jinja2 environments (one per language) and the static assets, made once per app."""

    def __init__(self, assets: Assets | None = None) -> None:
        self.assets = assets or Assets()
        self._envs: dict[str, jinja2.Environment] = {}

    def env(self, lang: Language) -> jinja2.Environment:
        """The environment whose ``_``/``gettext``/``ngettext`` speak ``lang``."""
        env = self._envs.get(lang.tag)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.PackageLoader("web", "templates"),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                extensions=["jinja2.ext.i18n"],
            )
            env.install_gettext_translations(lang.translations, newstyle=True)  # type: ignore[attr-defined]
            env.globals["static"] = self.assets.url
            env.globals["lang"] = lang.tag
            env.filters["rfc3339"] = to_rfc3339
            env.filters["localtime"] = functools.partial(render.full_time, lang=lang)
            self._envs[lang.tag] = env
        return env

    def html(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        cache: str = PAGE_CACHE,
        frameable: bool = False,
        lang: Language | None = None,
    ) -> Response:
        body = self.env(lang or language(None)).get_template(template).render(**context)
        response = HTMLResponse(body, status_code=status, headers={"Cache-Control": cache})
        return secure(request, response, frameable=frameable)

    def error(
        self,
        request: Request,
        status: int,
        title: str,
        detail: str,
        lang: Language | None = None,
    ) -> Response:
        """An error page; ``title`` and ``detail`` are English msgids, translated here."""
        lang = lang or language(None)
        return self.html(
            request,
            "error.html",
            {"status": status, "title": lang.gettext(title), "detail": detail},
            status=status,
            cache="no-store",
            lang=lang,
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
            return self.error(request, 404, N_("Feed not found"), f"There is no feed {feed!r}.")
        lang = language(meta.language)
        if before is not None and not BEFORE_RE.fullmatch(before):
            return self.error(
                request,
                400,
                N_("Bad request"),
                lang.gettext("This is not a page of the feed."),
                lang,
            )
        page = await store.public.read_timeline(feed, limit=limit, before=before)
        keyed = await store.public.read_timeline(feed, limit=KEY_EVENTS_SHOWN, key_events=True)
        now = now_ms()
        zone = ZoneInfo(meta.timezone)
        base = site_base(request)
        context: dict[str, Any] = {
            "feed": meta,
            "feed_url": feed_path(feed),
            "items": [render.item(e, zone, now, lang) for e in page.entries],
            "key_items": render.key_events(keyed.entries, zone, lang),
            "cursor": str(page.cursor),
            "next": page.next,
            "before": before,
            "zone_label": render.zone_label(zone, now, lang),
            "base": base,
            "limit": limit,
            "messages": render.script_json(render.script_messages(lang)),
            "jsonld": render.script_json(
                render.live_blog(
                    base=base,
                    feed=feed,
                    title=meta.title,
                    entries=page.entries,
                    now_ms=now,
                    language=lang.tag,
                )
            ),
        }
        feed_link, links = await translations_of(store, meta, [e.id for e in page.entries])
        context["translation"] = feed_link
        context["translations"] = links
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
        return self.html(request, "reader.html", context, lang=language(got[0].language))

    async def permalink(self, request: Request) -> Response:
        feed, entry_id = request.path_params["feed"], request.path_params["id"]
        store = state(request).store
        try:
            meta = await store.registry.get_feed(feed)
        except NotFound:
            return self.error(request, 404, N_("Feed not found"), f"There is no feed {feed!r}.")
        try:
            entry = await store.public.public_entry(feed, entry_id)
        except NotFound:
            return await self._missing_entry(
                request, store, feed, entry_id, language(meta.language)
            )
        now = now_ms()
        zone = ZoneInfo(meta.timezone)
        base = site_base(request)
        lang = language(meta.language)
        events = await store.editorial.history(feed, entry_id)
        steps = trail(events)
        _, links = await translations_of(store, meta, [entry.id])
        posting = blog_posting(base, meta, entry)
        if entry.id in links:
            link = links[entry.id]
            posting["workTranslation"] = {
                "@type": "BlogPosting",
                "@id": base + link["href"],
                "inLanguage": link["lang"],
            }
        return self.html(
            request,
            "entry.html",
            {
                "trail": list(reversed(steps)),
                "feed": meta,
                "feed_url": feed_path(feed),
                "item": render.item(entry, zone, now, lang),
                "zone_label": render.zone_label(zone, now, lang),
                "jsonld": render.script_json(posting),
                "base": base,
                "translation": links.get(entry.id),
                "translations": links,
            },
            lang=lang,
        )

    async def _missing_entry(
        self, request: Request, store: Stores, feed: str, entry_id: str, lang: Language
    ) -> Response:
        try:
            current = await store.editorial.get_entry(feed, entry_id)
        except NotFound:
            current = None
        if current is not None and current.status == "retracted":
            return self.error(
                request,
                410,
                N_("Update retracted"),
                lang.gettext("This update was retracted."),
                lang,
            )
        return self.error(
            request, 404, N_("Update not found"), lang.gettext("There is no such update."), lang
        )

    async def not_found(self, request: Request) -> Response:
        return self.error(request, 404, N_("Not found"), "There is nothing at this address.")


async def translations_of(
    store: Stores, meta: FeedMeta, entry_ids: list[str]
) -> tuple[dict[str, str] | None, dict[str, dict[str, str]]]:
    """The paired feed's page and each entry's public translation, as links.

    Each link is labelled in the language it leads to ("Читати українською",
    "Read in English"): the catalogue's "Read in this language".
    """
    pairing = Pairing(store.redis, store.registry, store.editorial)
    other = await pairing.partner(meta)
    if other is None:
        return None, {}
    theirs = language(other.language)
    label = theirs.gettext("Read in this language")
    feed_link = {"href": feed_path(other.slug), "lang": theirs.tag, "label": label}
    links: dict[str, dict[str, str]] = {}
    for entry_id, translated in (await pairing.translations(meta, entry_ids)).items():
        try:
            await store.public.public_entry(other.slug, translated)
        except NotFound:
            continue  # not public (yet): no link to a page readers cannot open
        href = render.permalink(other.slug, translated)
        links[entry_id] = {"href": href, "lang": theirs.tag, "label": label}
    return feed_link, links


def blog_posting(base: str, meta: FeedMeta, entry: Entry) -> dict[str, Any]:
    doc = render.live_blog(
        base=base,
        feed=meta.slug,
        title=meta.title,
        entries=[entry],
        now_ms=entry.published_at,
        language=language(meta.language).tag,
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
