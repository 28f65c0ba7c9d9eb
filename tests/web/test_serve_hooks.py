"""What web/serve.py relies on in uvicorn and websockets: fails loudly if an upgrade changes it.

1. ``uvicorn.Config(http=<class>)`` takes a protocol class and uvicorn builds
   one per accepted connection with keyword arguments;
2. those keywords, passed through unchanged, build the class uvicorn names
   ``httptools`` in ``HTTP_PROTOCOLS``, which then serves the request;
3. ``app_state`` among them is the ASGI lifespan state (what Starlette's
   lifespan yields), which is how ``FrontProtocol`` finds the live server;
4. ``websockets.server.ServerProtocol`` is the sans-I/O handshake and frame
   parser ``web.live_ws`` pumps bytes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.server import ServerProtocol

from feed.settings import Settings
from web import serve
from web.live import LIVE_STATE


def _in_range(installed: str, low: str, high: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".")[:3] if p.isdigit())

    return parts(low) <= parts(installed) < parts(high)


def test_the_installed_versions_are_the_tested_ones() -> None:
    """pyproject.toml pins these ranges; this is the run that tested them."""
    assert _in_range(version("uvicorn"), "0.55", "0.56"), version("uvicorn")
    assert _in_range(version("websockets"), "17.4", "18"), version("websockets")
    assert _in_range(version("httptools"), "0.9", "0.10"), version("httptools")


def test_uvicorn_takes_our_protocol_class_and_names_its_own() -> None:
    app = Starlette()
    config = serve.config(app, Settings())
    config.load()
    assert config.http_protocol_class is serve.FrontProtocol
    assert config.ws_protocol_class is None  # every WebSocket is ours
    assert serve.DELEGATE.__name__ == "HttpToolsProtocol"


class _Recording(serve.FrontProtocol):
    seen: list[dict[str, Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        _Recording.seen.append(kwargs)
        super().__init__(**kwargs)


async def test_uvicorn_builds_it_with_the_lifespan_state_and_the_delegate_serves() -> None:
    marker = object()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"probe": marker}

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello " + request.url.path)

    app = Starlette(routes=[Route("/hello", hello)], lifespan=lifespan)
    config = uvicorn.Config(app, http=_Recording, lifespan="on", log_config=None)
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    got = await http.get(f"http://127.0.0.1:{port}/hello")
                    break
                await asyncio.sleep(0.05)
            # Keep-alive: the second request goes to the delegate directly.
            again = await http.get(f"http://127.0.0.1:{port}/hello")
        assert got.status_code == 200 and got.text == "hello /hello"
        assert again.text == "hello /hello"
        kwargs = _Recording.seen[0]
        assert {"config", "server_state", "app_state"} <= set(kwargs)
        assert kwargs["app_state"]["probe"] is marker
        assert LIVE_STATE not in kwargs["app_state"]  # no live server: all delegated
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


def test_the_sans_io_server_protocol_parses_a_handshake_and_frames() -> None:
    ws = ServerProtocol(max_size=4096)
    ws.receive_data(
        b"GET /api/v1/feeds/news/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    (request,) = ws.events_received()
    assert isinstance(request, WsRequest) and request.path == "/api/v1/feeds/news/ws"
    response = ws.accept(request)
    assert response.status_code == 101
    ws.send_response(response)
    assert ws.data_to_send()[0].startswith(b"HTTP/1.1 101")
    # A masked client ping: the core queues the pong itself.
    ws.receive_data(b"\x89\x80\x00\x00\x00\x00")
    (frame,) = ws.events_received()
    assert isinstance(frame, Frame) and frame.opcode is Opcode.PING
    assert ws.data_to_send() == [b"\x8a\x00"]
