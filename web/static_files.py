"""The few static files of the pages, served from memory.

Pages reference them as ``/static/NAME?v=<content hash>``: a request carrying
the current hash is cached for a year (``immutable``); any other gets a short
cache and an ETag. They are sent with ``Access-Control-Allow-Origin: *`` and
``Cross-Origin-Resource-Policy: cross-origin`` because the embed loads them
from partners' pages, gzipped (compressed once, at startup) when accepted.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

STATIC_DIR = Path(__file__).resolve().parent / "static"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
LONG = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300, stale-while-revalidate=3600"


@dataclasses.dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    version: str


READER_FILES = ("column.css", "site.css", "live.js")


class Assets:
    def __init__(self, directory: Path = STATIC_DIR, names: tuple[str, ...] = READER_FILES) -> None:
        self.files: dict[str, Asset] = {}
        for path in (directory / name for name in names):
            if path.is_file() and path.suffix in TYPES:
                body = path.read_bytes()
                version = hashlib.blake2b(body, digest_size=8).hexdigest()
                packed = gzip.compress(body, compresslevel=9, mtime=0)
                self.files[path.name] = Asset(body, packed, TYPES[path.suffix], version)

    def url(self, name: str) -> str:
        return f"/static/{name}?v={self.files[name].version}"

    def response(self, request: Request, name: str, *, cache: str | None = None) -> Response:
        asset = self.files.get(name)
        if asset is None:
            return Response("not found\n", status_code=404, media_type="text/plain")
        if cache is None:
            cache = LONG if request.query_params.get("v") == asset.version else SHORT
        gz = "gzip" in request.headers.get("accept-encoding", "")
        etag = f'"{asset.version}-gz"' if gz else f'"{asset.version}"'
        headers = {
            "Cache-Control": cache,
            "ETag": etag,
            "Vary": "Accept-Encoding",
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
        }
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if gz:
            headers["Content-Encoding"] = "gzip"
            return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    async def endpoint(self, request: Request) -> Response:
        return self.response(request, request.path_params["name"])
