"""Photos over HTTP: the upload endpoint, the media files, and entry references.

``POST /api/v1/feeds/{feed}/photos`` (the feed's bearer token) takes the
image as the raw request body and answers 201 with its manifest (id, size,
renditions); an entry then references it as ``"photo": {"id", "alt",
"caption", "credit"}``. The admin page uploads through its own session-
checked twin. Decoding and re-encoding (``feed.images``) run in a worker
thread, at most ``UPLOAD_CONCURRENCY`` at once per process, so a burst of
large uploads can neither stall the event loop nor exhaust memory. Nothing
is written until every check passed.

``GET /media/{sha256}.{webp,jpg}`` serves the files with immutable cache
headers: a name is the hash of its bytes, so it never changes.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from feed import images
from feed.errors import PayloadTooLarge, UnsupportedMediaType
from feed.media import CONTENT_TYPES, NAME_RE
from web.api import authorize, json_response
from web.state import state

IMMUTABLE = "public, max-age=31536000, immutable"
UPLOAD_TYPES = ("image/", "application/octet-stream")


async def read_upload(request: Request) -> bytes:
    """The raw body, refused beyond ``images.MAX_BYTES`` before it is all read."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not ctype.startswith(UPLOAD_TYPES):
        raise UnsupportedMediaType(
            "send the photo itself as the body, Content-Type image/jpeg, image/png or image/webp",
            field="Content-Type",
        )
    too_large = f"a photo may be at most {images.MAX_BYTES // (1024 * 1024)} MB"
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > images.MAX_BYTES):
        raise PayloadTooLarge(too_large, field="file")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > images.MAX_BYTES:
            raise PayloadTooLarge(too_large, field="file")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload(request: Request) -> Response:
    feed = request.path_params["feed"]
    nf = state(request)
    await authorize(request, feed)
    data = await read_upload(request)
    manifest = await nf.uploads.store(nf.media, nf.photos, feed, data)
    return json_response(
        manifest,
        201,
        {"Location": f"/api/v1/feeds/{feed}/photos/{manifest['id']}", "Cache-Control": "no-store"},
    )


async def media_file(request: Request) -> Response:
    name = request.path_params["name"]
    if not NAME_RE.match(name):
        return Response("not found", status_code=404, media_type="text/plain")
    data = await asyncio.to_thread(state(request).media.get, name)
    if data is None:
        return Response("not found", status_code=404, media_type="text/plain")
    etag = f'"{name.split(".")[0][:32]}"'
    headers = {
        "Cache-Control": IMMUTABLE,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=CONTENT_TYPES[name.rsplit(".", 1)[1]], headers=headers)


def routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/feeds/{feed}/photos", upload, methods=["POST"]),
        Route("/media/{name}", media_file, methods=["GET", "HEAD"]),
    ]
