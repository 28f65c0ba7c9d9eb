"""The feed documents partners' readers poll: Atom, RSS, JSON Feed 1.1.

Served from the workers' cache (``nf:{F}:documents``) with a strong ETag
(If-None-Match -> 304), Last-Modified (If-Modified-Since -> 304),
Cache-Control a CDN can honour, and CORS open. An empty cache (a new feed,
or no worker yet) is filled once, here, from the public timeline.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from feed.docstore import regenerate
from feed.documents import Document, Format, http_date
from web.state import state

CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=60"


async def serve(request: Request, fmt: Format) -> Response:
    nf = state(request)
    feed: str = request.path_params["feed"]
    await nf.store.registry.get_feed(feed)
    doc: Document | None = await nf.documents.get(feed, fmt)
    if doc is None:
        _, docs = await regenerate(
            nf.store.registry, nf.store.public, nf.documents, feed, nf.settings.base_url()
        )
        doc = next(d for d in docs if d.format == fmt)
    headers = {
        "ETag": doc.etag,
        "Last-Modified": http_date(doc.modified),
        "Cache-Control": CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "ETag, Last-Modified",
        "Vary": "Accept-Encoding",
    }
    if _not_modified(request, doc):
        return Response(status_code=304, headers=headers)
    return Response(doc.body, headers={**headers, "Content-Type": doc.content_type})


def _not_modified(request: Request, doc: Document) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return doc.etag in tags or "*" in tags
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
        return doc.modified // 1000 <= since
    return False


async def atom(request: Request) -> Response:
    return await serve(request, "atom")


async def rss(request: Request) -> Response:
    return await serve(request, "rss")


async def json_feed(request: Request) -> Response:
    return await serve(request, "json")


def routes() -> list[BaseRoute]:
    # These must come before the reader page's "/feeds/{feed}" in the app's
    # routes: Starlette's {feed} would also match "news.atom".
    return [
        Route("/feeds/{feed}.atom", atom, methods=["GET", "HEAD"]),
        Route("/feeds/{feed}.rss", rss, methods=["GET", "HEAD"]),
        Route("/feeds/{feed}.json", json_feed, methods=["GET", "HEAD"]),
    ]
