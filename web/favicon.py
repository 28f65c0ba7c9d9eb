"""``/favicon.ico``: a small icon, so no page logs a 404 for it.

Browsers ask for ``/favicon.ico`` on every site; the pages also link it.
The icon (a 32x32 PNG inside an ICO container, which every browser reads)
is drawn here in a few lines rather than shipped as a binary: a rounded
red square with a white "live" dot and three text bars.
"""

from __future__ import annotations

import functools
import struct
import zlib

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

SIZE = 32
RED = (200, 30, 45, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def _pixel(x: int, y: int) -> tuple[int, int, int, int]:
    r = 6  # corner radius
    cx = min(max(x, r), SIZE - 1 - r)
    cy = min(max(y, r), SIZE - 1 - r)
    if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
        return CLEAR
    if (x - 9) ** 2 + (y - 9) ** 2 <= 9:
        return WHITE  # the live dot
    for top, right in ((15, 25), (20, 22), (25, 18)):
        if top <= y < top + 3 and 6 <= x < right:
            return WHITE
    return RED


def _png() -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes(_pixel(x, y)) for x in range(SIZE)) for y in range(SIZE)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


@functools.cache
def icon() -> bytes:
    png = _png()
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(png), 6 + 16)
    return directory + entry + png


async def favicon(request: Request) -> Response:
    return Response(
        icon(),
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=604800"},
    )


def routes() -> list[BaseRoute]:
    return [Route("/favicon.ico", favicon, methods=["GET", "HEAD"])]
