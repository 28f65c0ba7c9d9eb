"""The live endpoints: ``/api/v1/feeds/{feed}/ws`` and ``/api/v1/feeds/{feed}/sse``.

They are not ASGI routes. ``web.serve.FrontProtocol`` reads each new
connection's first request head and hands a live one to ``LiveServer.take``
with the transport; from then on the connection is ours: a ``LiveWebSocket``
(``web.live_ws``, on ``websockets``' sans-I/O core) or a ``LiveSSE``
(``web.live_sse``). Each checks its input and the feed before it answers:
a malformed ``since``/``limit`` is a 422, an unknown feed a 404, a full or
draining server a 503, all as problem+json. Then the hub (``web.hub``) sends
the snapshot or what was missed, and writes every later message straight
to the transport. The serving task ends there. Protocol: docs/PROTOCOL.md.

``LiveServer`` also holds the connection bounds: the pending heads (a
cap, oldest dropped first), the connection slots (``Hub.admit``, from the
request head until the socket is gone), the handshake timeout, the kernel
send buffer (``SEND_BUFFER``) and the file descriptors they need.

The ASGI routes left here only answer a live request that reached the app
through uvicorn, i.e. a later request on a kept-alive HTTP connection: SSE
is redirected (307, ``Connection: close``) so the client asks again on a
fresh connection, which is ours; a WebSocket upgrade there is a 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import http
import logging
import re
import resource
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

import httptools
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from websockets.datastructures import Headers
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from feed.context import REQUEST_ID
from feed.cursor import Cursor
from feed.errors import FeedError, InvalidInput, StoreUnavailable
from feed.wire import CLOSE_INTERNAL, CLOSE_RESTART, READY_JSON, sse_event
from web.access import LiveAccess, request_id_from
from web.channel import Channel, Subscriber
from web.hub import Hub
from web.live_sse import LiveSSE
from web.live_ws import LiveWebSocket
from web.problems import error_problem, problem

log = logging.getLogger("newsfeed.live")

LIVE_STATE = "newsfeed.live"
"""Key of the ``LiveServer`` in the lifespan state (uvicorn's ``app_state``)."""
LIMIT_DEFAULT = 50
LIMIT_MAX = 100
SSE_RETRY_MS = 3000
HANDSHAKE_TIMEOUT = 10.0
"""Seconds from a live request head to its answer (101, or the SSE head)."""
SEND_BUFFER = 64 * 1024
"""SO_SNDBUF of a live socket (Linux doubles it): what the kernel may hold
unsent, on top of ``NEWSFEED_CLIENT_BUFFER_BYTES`` in the process."""
FD_RESERVE = 1024
"""File descriptors kept beyond live and pending connections: Redis, plain
HTTP requests (/healthz, /readyz, pages), files."""
PATH = re.compile(r"^/api/v1/feeds/([^/]+)/(ws|sse)$")


Admission = Callable[[str, str, str], Awaitable[None]]
"""An edge check awaited before a live connection is answered, given the
feed, the peer's address and the request's ``X-Forwarded-For`` ('' if none);
a FeedError it raises refuses the connection with that error's problem
(``web.limits.live_admission``: the API limits)."""


class Pending(Protocol):
    """A connection whose first request head is still being read."""

    def evict(self) -> None: ...


def parse_since(raw: str | None) -> Cursor | None:
    if raw is None or raw == "":
        return None
    try:
        return Cursor.parse(raw)
    except ValueError:
        raise InvalidInput(
            "since must be a cursor this feed sent, like '3f9a1c2e.1700000000000-0'",
            field="since",
        ) from None


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return LIMIT_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= LIMIT_MAX:
        raise InvalidInput(f"limit must be an integer from 1 to {LIMIT_MAX}", field="limit")
    return int(raw)


def _problem_parts(exc: FeedError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    response = error_problem(exc)
    return response.status_code, list(response.raw_headers), bytes(response.body)


class LiveServer:
    """This process's live connections, from their first byte to their last."""

    def __init__(
        self, hub: Hub, client_buffer_bytes: int, admission: Admission | None = None
    ) -> None:
        self.hub = hub
        self.limit = client_buffer_bytes
        self.admission = admission
        self.pending: dict[Pending, None] = {}
        """Connections still sending their first head, oldest first."""
        self.pending_max = max(16, min(1024, hub.max_connections // 8))
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        room = soft - self.pending_max - FD_RESERVE
        if hub.max_connections > room:
            log.warning(
                "NEWSFEED_MAX_CONNECTIONS=%d does not fit the open-file limit %d "
                "(%d pending heads and %d in reserve): using %d",
                hub.max_connections,
                soft,
                self.pending_max,
                FD_RESERVE,
                max(16, room),
            )
            hub.max_connections = max(16, room)

    # -- connections still sending their head ---------------------------------------
    def pending_opened(self, conn: Pending) -> None:
        while len(self.pending) >= self.pending_max:
            next(iter(self.pending)).evict()  # removes itself
        self.pending[conn] = None

    def pending_closed(self, conn: Pending) -> None:
        self.pending.pop(conn, None)

    # -- routing --------------------------------------------------------------------
    def take(
        self,
        method: bytes,
        url: bytes,
        headers: list[tuple[bytes, bytes]],
        transport: asyncio.Transport,
        buffer: bytearray,
    ) -> bool:
        """Serve this request if it is a live one; False: not ours (uvicorn's)."""
        if method != b"GET":
            return False
        try:
            target = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            return False
        match = PATH.match(target.path.decode("latin-1"))
        if match is None:
            return False
        feed, kind = unquote(match.group(1)), match.group(2)
        head = dict(headers)
        if kind == "ws" and head.get(b"upgrade", b"").lower() != b"websocket":
            return False  # the ASGI route answers 426
        params = dict(parse_qsl((target.query or b"").decode("latin-1"), keep_blank_values=True))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        transport.set_write_buffer_limits(high=max(4096, self.limit // 2))
        client = client_address(transport, head)
        access = LiveAccess(request_id_from(headers), target.path.decode("latin-1"), client[0])
        if kind == "ws":
            self._websocket(feed, params, transport, bytes(buffer), client, access)
        else:
            last_id = head.get(b"last-event-id", b"").decode("latin-1")
            self._sse(feed, params, last_id, transport, client, access)
        return True

    def _spawn(self, access: LiveAccess, coro: Coroutine[Any, Any, None]) -> None:
        """Run a connection's task with its request id in every log line."""
        context = contextvars.copy_context()
        context.run(REQUEST_ID.set, access.request_id)
        self.hub.spawn(coro, context=context)

    async def _admit(self, feed: str, client: tuple[str, str]) -> None:
        if self.admission is not None:
            await self.admission(feed, *client)

    # -- WebSocket --------------------------------------------------------------------
    def _websocket(
        self,
        feed: str,
        params: dict[str, str],
        transport: asyncio.Transport,
        head: bytes,
        client: tuple[str, str],
        access: LiveAccess,
    ) -> None:
        def on_request(conn: LiveWebSocket, request: WsRequest) -> None:
            transport.pause_reading()  # nothing to read before the answer
            try:
                since = parse_since(params.get("since"))
                limit = parse_limit(params.get("limit"))
                self.hub.admit()
            except FeedError as exc:
                self._ws_refuse(conn, exc)
                return
            conn.on_gone = self.hub.unadmit
            self._spawn(access, self._ws_serve(conn, request, feed, since, limit, client))

        conn = LiveWebSocket(transport, self.limit, on_request)
        conn.access = access
        transport.set_protocol(conn)
        conn.data_received(head)

    def _ws_refuse(self, conn: LiveWebSocket, exc: FeedError) -> None:
        status, raw, body = _problem_parts(exc)
        headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw])
        headers["Connection"] = "close"
        if conn.access is not None:
            headers["X-Request-ID"] = conn.access.request_id
            conn.access.status = status
        phrase = http.HTTPStatus(status).phrase
        conn.ws.send_response(WsResponse(status, phrase, headers, body))
        conn.flush()

    async def _ws_serve(
        self,
        conn: LiveWebSocket,
        request: WsRequest,
        feed: str,
        since: Cursor | None,
        limit: int,
        client: tuple[str, str],
    ) -> None:
        transport = conn.transport
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                await self._admit(feed, client)
                chan = await self.hub.channel(feed)
        except FeedError as exc:
            self._ws_refuse(conn, exc)
            return
        except TimeoutError:
            transport.abort()
            return
        except Exception:
            log.exception("live WebSocket handshake failed")
            transport.abort()
            return
        if transport.is_closing():
            return
        response = conn.ws.accept(request)
        if conn.access is not None:
            response.headers["X-Request-ID"] = conn.access.request_id
            conn.access.status = response.status_code
        conn.ws.send_response(response)
        conn.flush()
        if response.status_code != 101:
            return
        transport.resume_reading()
        await self._serve(self.hub.open("ws", conn), chan, since, limit)

    # -- Server-Sent Events -------------------------------------------------------------
    def _sse(
        self,
        feed: str,
        params: dict[str, str],
        last_id: str,
        transport: asyncio.Transport,
        client: tuple[str, str],
        access: LiveAccess,
    ) -> None:
        conn = LiveSSE(transport, self.limit)
        conn.access = access
        transport.set_protocol(conn)
        try:
            # Last-Event-ID (set by EventSource on its reconnects) is newer
            # than the URL's since, which stays what the page was loaded with.
            since = parse_since(last_id or params.get("since"))
            limit = parse_limit(params.get("limit"))
            self.hub.admit()
        except FeedError as exc:
            conn.refuse(*self._refusal(exc))
            return
        conn.on_gone = self.hub.unadmit
        self._spawn(access, self._sse_serve(conn, feed, since, limit, client))

    def _refusal(self, exc: FeedError) -> tuple[int, str, list[tuple[bytes, bytes]], bytes]:
        status, raw, body = _problem_parts(exc)
        return status, http.HTTPStatus(status).phrase, raw, body

    async def _sse_serve(
        self,
        conn: LiveSSE,
        feed: str,
        since: Cursor | None,
        limit: int,
        client: tuple[str, str],
    ) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                await self._admit(feed, client)
                chan = await self.hub.channel(feed)
        except FeedError as exc:
            conn.refuse(*self._refusal(exc))
            return
        except TimeoutError:
            conn.transport.abort()
            return
        except Exception:
            log.exception("live SSE start failed")
            conn.transport.abort()
            return
        if conn.transport.is_closing():
            return
        # "ready" first: a client that never sees it (a proxy that buffers
        # the stream) knows to poll instead.
        conn.start(b"retry: %d\n\n" % SSE_RETRY_MS + sse_event("ready", None, READY_JSON))
        await self._serve(self.hub.open("sse", conn), chan, since, limit)

    async def _serve(
        self, sub: Subscriber, chan: Channel, since: Cursor | None, limit: int
    ) -> None:
        try:
            await self.hub.serve(sub, chan, since, limit)
        except StoreUnavailable:
            sub.close(CLOSE_RESTART, "store unavailable: reconnect with since after a backoff")
        except Exception:
            log.exception("live connection failed")
            sub.close(CLOSE_INTERNAL, "server error")


def client_address(transport: asyncio.Transport, head: dict[bytes, bytes]) -> tuple[str, str]:
    """The peer's address and the request's ``X-Forwarded-For`` ('' if none);
    which of them names the client is the admission check's call."""
    peer = transport.get_extra_info("peername")
    address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
    return address, head.get(b"x-forwarded-for", b"").decode("latin-1")


# -- what reaches the app through uvicorn ---------------------------------------------
async def sse_elsewhere(request: Request) -> Response:
    """A live SSE request on a kept-alive HTTP connection: ask again on a new one."""
    return Response(
        status_code=307,
        headers={
            "Location": str(request.url),
            "Connection": "close",
            "Cache-Control": "no-store",
            "Access-Control-Allow-Origin": "*",
        },
    )


async def websocket_elsewhere(request: Request) -> Response:
    upgrade = request.headers.get("upgrade", "").lower() == "websocket"
    detail = (
        "open the WebSocket on a new connection"
        if upgrade
        else "this endpoint speaks WebSocket: send an Upgrade request"
    )
    response = problem(400 if upgrade else 426, "Bad request", detail)
    response.headers["Connection"] = "close"
    if not upgrade:
        response.headers["Upgrade"] = "websocket"
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/feeds/{feed}/ws", websocket_elsewhere, methods=["GET"]),
        Route("/api/v1/feeds/{feed}/sse", sse_elsewhere, methods=["GET"]),
    ]
