"""Serving the app: uvicorn with two thin protocol subclasses and a drain.

The live endpoints write pre-built bytes straight to each connection's
asyncio transport (see ``web.hub``). ASGI gives an app no transport, so
``newsfeed web`` runs uvicorn with:

- ``LiveWebSocketProtocol``: uvicorn's websockets-sansio protocol, which
  also hands the app itself (scope extension ``newsfeed.raw``) so the hub
  can ``transport.write()`` frames and close with any code without an
  ``await`` per message; the sans-I/O parser still reads client frames
  (size limit -> 1009, pings answered, close handshake);
- ``LiveHttpProtocol``: uvicorn's httptools protocol, which hands the app
  the same for the SSE endpoint (it writes pre-built HTTP chunks);
- ``DrainingServer``: before uvicorn's own shutdown, it asks the hub to
  close every live connection with 1012 and a reconnect hint (SSE: a last
  ``reconnect`` event and the end of the response), then lets uvicorn wait
  for the connections and run the lifespan shutdown.

Both protocols tell the app when their connection is lost (``on_lost``), so
the hub never writes to a dead transport.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame

from feed.settings import Settings
from feed.wire import CLOSE_RESTART

RAW_EXTENSION = "newsfeed.raw"
RESTART_REASON = "server restart: reconnect with since=<last cursor>"
CLOSE_TIMEOUT = 5.0
"""Seconds a closing WebSocket waits for the peer's close frame before abort."""


class _Inert:
    """Stands in for a detached connection's ASGI queue and flow-control event."""

    __slots__ = ()

    def put_nowait(self, item: object) -> None:
        pass

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass


_INERT = _Inert()


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, opened up to the live hub.

    Once the hub has taken a connection over, the endpoint *detaches* it:
    the ASGI task ends, the handshake's scope, request and response are
    dropped, and client frames go straight to ``on_message``. An idle live
    connection is then this object, its sans-I/O parser, the transport and
    a ping timer: no task, no queue, no coroutine frames.
    """

    on_lost: Callable[[], None] | None = None
    on_message: Callable[[str | bytes], None] | None = None
    detached = False

    async def run_asgi(self) -> None:
        extensions: Any = self.scope["extensions"]
        extensions[RAW_EXTENSION] = {"connection": self}
        try:
            await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
        if self.detached:
            return
        if self.close_timer is None:
            self.transport.close()

    def detach(self, on_message: Callable[[str | bytes], None]) -> None:
        """Hand the rest of the connection to the hub (see the class docstring)."""
        pending: list[str | bytes] = []
        while not self.queue.empty():
            message: Any = self.queue.get_nowait()
            if message["type"] == "websocket.receive":
                pending.append(message.get("text") or message.get("bytes") or b"")
        self.detached = True
        self.on_message = on_message
        self.queue = _INERT  # type: ignore[assignment]
        self.writable = _INERT  # type: ignore[assignment]
        self.scope = {}  # type: ignore[typeddict-item]
        del self.request, self.response
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        for data in pending:
            on_message(data)

    def handle_text(self, event: Frame) -> None:
        if self.on_message is None:
            return super().handle_text(event)
        try:
            text: str | bytes = bytes(event.data).decode() if event.fin else b""
        except UnicodeDecodeError:
            text = b""
        self.on_message(text)

    def handle_bytes(self, event: Frame) -> None:
        if self.on_message is None:
            return super().handle_bytes(event)
        self.on_message(bytes(event.data))

    def handle_cont(self, event: Frame) -> None:
        if self.on_message is None:
            return super().handle_cont(event)
        self.on_message(b"")  # fragmented messages are not part of the protocol

    def connection_lost(self, exc: Exception | None) -> None:
        callback, self.on_lost = self.on_lost, None
        self.on_message = None
        if callback is not None:
            callback()
        super().connection_lost(exc)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            # A denial (404, 503...) is a complete answer, not a failed handshake.
            self.handshake_complete = True

    @property
    def closed(self) -> bool:
        return self.close_sent or self.disconnected or self.transport.is_closing()

    def live_close(self, code: int, reason: str = "") -> None:
        """Send a close frame now (after what is buffered) and end the app's wait.

        The transport is aborted if the peer has not answered within
        ``CLOSE_TIMEOUT`` (a stalled client never reads the close frame).
        """
        if self.closed:
            return
        try:
            self.conn.send_close(code, reason)
        except InvalidState:  # pragma: no cover - already closing
            return
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.on_message = None
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(CLOSE_TIMEOUT, self.transport.abort)

    def shutdown(self) -> None:
        if self.handshake_complete and not self.closed and self.initial_response is None:
            self.live_close(CLOSE_RESTART, RESTART_REASON)
        super().shutdown()


class LiveHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, opened up to the SSE endpoint."""

    on_lost: Callable[[], None] | None = None

    def on_headers_complete(self) -> None:
        scope: Any = self.scope
        scope["extensions"] = {RAW_EXTENSION: {"connection": self}}
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        callback, self.on_lost = self.on_lost, None
        if callback is not None:
            callback()
        super().connection_lost(exc)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining the live connections before it shuts down."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.starlette = app

    async def shutdown(self, sockets: Any = None) -> None:
        # Stop accepting first: a client reconnecting during the drain must
        # be refused at the TCP level (EventSource retries that) rather
        # than answered 503 (EventSource gives up on that).
        for server in self.servers:
            server.close()
        nf = getattr(self.starlette.state, "nf", None)
        if nf is not None:
            with contextlib.suppress(Exception):
                await nf.hub.drain()
        await super().shutdown(sockets)


def config(app: Starlette, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=LiveHttpProtocol,
        ws=LiveWebSocketProtocol,
        ws_max_size=4096,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.heartbeat_seconds,
        ws_ping_timeout=settings.heartbeat_seconds,
        lifespan="on",
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        backlog=4096,
    )


def serve(app: Starlette, settings: Settings) -> None:
    """Run ``newsfeed web`` (the app ``create_app`` built) until SIGTERM or SIGINT, then drain."""
    server = DrainingServer(config(app, settings), app)
    server.run()
