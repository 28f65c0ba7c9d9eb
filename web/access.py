"""Request ids and the access log, at the outermost edge of the app.

``AccessMiddleware`` gives every HTTP request an id: the client's
``X-Request-ID`` when it is a sane token (1-128 of ``A-Za-z0-9._:-``, so a
proxy's id carries through), else a fresh one. The id goes back in the
``X-Request-ID`` response header, into every log line written while the
request runs (``newsfeed.logs`` reads ``REQUEST_ID``), and into one access
log line per request (logger ``newsfeed.access``: method, path, status,
bytes, duration, client); a health probe that succeeds only at debug level.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feed.context import REQUEST_ID

log = logging.getLogger("newsfeed.access")

SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PROBES = frozenset({"/healthz", "/readyz"})
"""Health probes (every few seconds from an orchestrator): logged only when
they fail, so the access log stays readable."""


def new_request_id() -> str:
    return secrets.token_hex(8)


def request_id_of(scope: Scope) -> str:
    return request_id_from(scope.get("headers", ()))


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's sane ``X-Request-ID``, else a fresh id."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if SANE_ID.match(candidate):
                return candidate
    return new_request_id()


class AccessMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        token = REQUEST_ID.set(rid)
        started = time.perf_counter()
        status = 0
        size = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            quiet = scope["path"] in PROBES and 200 <= status < 300
            level = logging.DEBUG if quiet else logging.INFO
            if log.isEnabledFor(level):
                _log_request(level, scope, status, size, started)
            REQUEST_ID.reset(token)


def _log_request(level: int, scope: Scope, status: int, size: int, started: float) -> None:
    """The access log line (built only when the level is on: ~3 % of a POST)."""
    client = scope.get("client")
    duration = (time.perf_counter() - started) * 1000
    log.log(
        level,
        "%s %s %d %dB %.1fms %s",
        scope["method"],
        scope["path"],
        status,
        size,
        duration,
        client[0] if client else "-",
        extra={
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "bytes": size,
            "duration_ms": round(duration, 2),
            "client": client[0] if client else None,
        },
    )


class LiveAccess:
    """The access log line of one live connection (``.../ws``, ``.../sse``), written
    when the connection ends: live connections are served beside the ASGI
    app (``web.live``), so ``AccessMiddleware`` never sees them.

    ``status`` is what the connection was answered (101, 200, or a
    refusal's 4xx/5xx; 0 if it went before any answer) and ``duration_ms``
    how long it was open. Half-open sockets that never send a whole head
    never get this far and log nothing.
    """

    __slots__ = ("client", "path", "request_id", "started", "status")

    def __init__(self, request_id: str, path: str, client: str) -> None:
        self.request_id = request_id
        self.path = path
        self.client = client
        self.started = time.perf_counter()
        self.status = 0

    def done(self) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        token = REQUEST_ID.set(self.request_id)
        try:
            duration = (time.perf_counter() - self.started) * 1000
            log.info(
                "GET %s %d %.1fms %s",
                self.path,
                self.status,
                duration,
                self.client or "-",
                extra={
                    "method": "GET",
                    "path": self.path,
                    "status": self.status,
                    "duration_ms": round(duration, 2),
                    "client": self.client or None,
                },
            )
        finally:
            REQUEST_ID.reset(token)
