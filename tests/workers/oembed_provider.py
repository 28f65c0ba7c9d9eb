"""A tiny real oEmbed provider on 127.0.0.1, for the embedded-post tests.

``GET /oembed?url=https://video.test/v/<mode>-<tag>`` answers by ``mode``:
``ok`` a card (with an ``html`` carrying a script and an iframe, which we
must never keep), ``flaky`` 503 while the mode is in ``down``, ``down``
always 503, ``slow`` nothing for a minute, ``huge`` 1 MiB of JSON without a
length, ``nonjson`` an HTML page, ``hop`` a redirect to ``ok`` on the same
host, ``away`` a redirect to another host, ``gone`` 404, ``hold`` waits for
``release`` first. ``GET /thumb.jpg`` is a real JPEG with GPS EXIF.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections import defaultdict
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, quote, urlsplit

import orjson
from PIL import Image

SCRIPT = '<script src="https://platform.example/widgets.js">alert(1)</script>'
IFRAME = '<iframe src="https://evil.example/frame"></iframe>'


def thumbnail_jpeg() -> bytes:
    image = Image.new("RGB", (640, 360), (30, 90, 160))
    for x in range(0, 640, 40):
        image.paste((220, 200, 40), (x, 0, x + 8, 360))
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x8825] = {1: "N", 2: (50.0, 27.0, 0.0), 3: "E", 4: (30.0, 31.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"shot at 50.45N 30.52E")
    return out.getvalue()


class OEmbedProvider:
    def __init__(self) -> None:
        self.port = 0
        self.counts: defaultdict[str, int] = defaultdict(int)
        """Requests per pasted URL's tag (``<mode>-<tag>``)."""
        self.down: set[str] = set()
        self.release = asyncio.Event()
        self.closing = asyncio.Event()
        self.thumbnail = thumbnail_jpeg()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/oembed?url={{url}}"

    def extra(self) -> str:
        """NEWSFEED_OEMBED_EXTRA for this provider."""
        return orjson.dumps(
            [
                {
                    "id": "testvideo",
                    "name": "TestVideo",
                    "pattern": r"https://video\.test/v/[a-z]+-[0-9a-z]+",
                    "endpoint": self.endpoint,
                }
            ]
        ).decode()

    def card(self, pasted: str) -> dict[str, object]:
        tag = pasted.rsplit("/", 1)[-1]
        return {
            "type": "video",
            "version": "1.0",
            "title": f"Shelling <b>of</b> {tag} & more",
            "author_name": "Reporter\u0007 One",
            "author_url": "https://video.test/@reporter",
            "provider_name": "TestVideo",
            "thumbnail_url": f"http://127.0.0.1:{self.port}/thumb.jpg",
            "html": f"{SCRIPT}{IFRAME}<p>player</p>",
        }

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            line = await reader.readline()
            if not line:
                return
            _, target, _ = line.decode().split(" ", 2)
            while await reader.readline() not in (b"\r\n", b"\n", b""):
                pass
            status, ctype, body, extra = await self.answer(target)
            head = f"HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\nconnection: close\r\n"
            if extra:
                head += extra
            elif not body.startswith(b'{"pad"'):
                head += f"content-length: {len(body)}\r\n"
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def answer(self, target: str) -> tuple[int, str, bytes, str]:
        parts = urlsplit(target)
        if parts.path == "/thumb.jpg":
            self.counts["thumb.jpg"] += 1
            return 200, "image/jpeg", self.thumbnail, ""
        if parts.path != "/oembed":
            return 404, "text/plain", b"no", ""
        pasted = parse_qs(parts.query).get("url", [""])[0]
        tag = pasted.rsplit("/", 1)[-1]
        mode = tag.split("-")[0]
        self.counts[tag] += 1
        json = "application/json"
        if mode == "hold":
            await self.release.wait()
            await asyncio.sleep(0.05)  # the test reads the thumbnail count before it
        if mode in ("ok", "hold") or (mode == "flaky" and "flaky" not in self.down):
            return 200, json, orjson.dumps(self.card(pasted)), ""
        if mode in ("flaky", "down"):
            return 503, "text/plain", b"down", ""
        if mode == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), 60)
            return 200, json, orjson.dumps(self.card(pasted)), ""
        if mode == "huge":
            return 200, json, b'{"pad": "' + b"x" * (1024 * 1024) + b'"}', ""
        if mode == "nonjson":
            return 200, "text/html", b"<html><script>alert(1)</script></html>", ""
        if mode == "hop":
            ok = quote(pasted.replace("/hop-", "/ok-"), safe="")
            return 302, "text/plain", b"", f"location: /oembed?url={ok}\r\ncontent-length: 0\r\n"
        if mode == "away":
            loc = f"http://localhost:{self.port}/oembed?url={quote(pasted, safe='')}"
            return 302, "text/plain", b"", f"location: {loc}\r\ncontent-length: 0\r\n"
        return 404, "text/plain", b"gone", ""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[OEmbedProvider]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            self.closing.set()
            self.release.set()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()
