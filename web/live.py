"""The live endpoints: ``/api/v1/feeds/{feed}/ws`` and ``/api/v1/feeds/{feed}/sse``.

Each checks its input and the feed before the upgrade (or the response
start): a malformed ``since``/``limit`` is a 422, an unknown feed a 404, a
full or draining server a 503, all as problem+json. Then the connection is
handed to the hub (``web.hub``), which sends the snapshot or what was
missed and writes every later message straight to the transport. The
endpoint's own task only waits for the end of the connection (and, on a
WebSocket, reads the client's tiny messages). Protocol: docs/PROTOCOL.md.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from feed.cursor import Cursor
from feed.errors import FeedError, InvalidInput, NotSupported, StoreUnavailable
from feed.wire import (
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_RESTART,
    PONG_JSON,
    parse_client_message,
    sse_comment,
    ws_frame,
)
from web.channel import Channel, RawConnection, Subscriber, WebSocketConnection
from web.hub import Hub
from web.problems import error_problem
from web.serve import RAW_EXTENSION

LIMIT_DEFAULT = 50
LIMIT_MAX = 100
SSE_RETRY_MS = 3000


def _hub(scope: Scope) -> Hub:
    hub: Hub = scope["app"].state.nf.hub
    return hub


def _raw(scope: Scope) -> Any:
    raw = scope.get("extensions", {}).get(RAW_EXTENSION)
    if raw is None:
        raise NotSupported("live endpoints are served by `newsfeed web` (its uvicorn protocols)")
    return raw["connection"]


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


def _problem(exc: FeedError) -> Response:
    return error_problem(exc)


# -- WebSocket ------------------------------------------------------------------
async def websocket_endpoint(websocket: WebSocket) -> None:
    hub = _hub(websocket.scope)
    try:
        conn: WebSocketConnection = _raw(websocket.scope)
        since = parse_since(websocket.query_params.get("since"))
        limit = parse_limit(websocket.query_params.get("limit"))
        chan = await hub.channel(websocket.path_params["feed"])
        hub.admit()
    except FeedError as exc:
        await websocket.send_denial_response(_problem(exc))
        return
    try:
        await websocket.accept()
    except BaseException:
        hub.unadmit()
        raise
    sub = hub.open("ws", conn)
    try:
        await hub.serve(sub, chan, since, limit)
    except StoreUnavailable:
        sub.close(CLOSE_RESTART, "store unavailable: reconnect with since after a backoff")
    except BaseException:
        sub.close(CLOSE_INTERNAL, "server error")
        raise
    if not sub.closed:
        # From here the hub writes and the protocol reads: this task ends.
        conn.detach(lambda data: _client_message(sub, data))


PONG_FRAME = ws_frame(PONG_JSON)


def _client_message(sub: Subscriber, data: str | bytes) -> None:
    if parse_client_message(data) == "ping":
        sub.write(PONG_FRAME)
    else:
        sub.close(CLOSE_POLICY, "malformed client message")


# -- Server-Sent Events -----------------------------------------------------------
class EventStream(Response):
    """A text/event-stream response that the hub writes to directly."""

    def __init__(self, chan: Channel, since: Cursor | None, limit: int) -> None:
        self.chan = chan
        self.since = since
        self.limit = limit
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = _hub(scope)
        conn: RawConnection = _raw(scope)
        try:
            hub.admit()
        except FeedError as exc:
            await _problem(exc)(scope, receive, send)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-store"),
                        (b"x-accel-buffering", b"no"),
                        (b"access-control-allow-origin", b"*"),
                    ],
                }
            )
            first = b"retry: %d\n\n" % SSE_RETRY_MS + sse_comment("newsfeed live")
            await send({"type": "http.response.body", "body": first, "more_body": True})
        except BaseException:
            hub.unadmit()
            raise
        sub = hub.open("sse", conn)
        try:
            await hub.serve(sub, self.chan, self.since, self.limit)
            assert sub.done is not None
            await sub.done.wait()
        except StoreUnavailable:
            sub.close(CLOSE_RESTART, "store unavailable")
        finally:
            sub.close(CLOSE_INTERNAL, "server error")
        if not conn.transport.is_closing():
            # Drained: the hub wrote the last event; end the chunked body.
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def sse_endpoint(request: Request) -> Response:
    _raw(request.scope)
    # Last-Event-ID (set by EventSource on its reconnects) is newer than the
    # URL's since, which stays what the page was loaded with.
    since = parse_since(request.headers.get("last-event-id") or request.query_params.get("since"))
    limit = parse_limit(request.query_params.get("limit"))
    chan = await _hub(request.scope).channel(request.path_params["feed"])
    return EventStream(chan, since, limit)


def routes() -> list[BaseRoute]:
    return [
        WebSocketRoute("/api/v1/feeds/{feed}/ws", websocket_endpoint),
        Route("/api/v1/feeds/{feed}/sse", sse_endpoint, methods=["GET"]),
    ]
