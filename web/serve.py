"""Serving the app: uvicorn for HTTP, our own protocol for the live endpoints.

``newsfeed web`` runs uvicorn with one documented setting changed: the
HTTP protocol class (``uvicorn.Config(http=FrontProtocol)``; the parameter
takes ``type[asyncio.Protocol]``). uvicorn still binds or is given the
listening sockets, accepts, runs the lifespan and shuts down gracefully;
for each accepted connection it builds a ``FrontProtocol`` with its
keyword arguments. The front protocol reads the first request head with
``httptools`` (bounded in size and time) and then:

- ``GET /api/v1/feeds/{feed}/ws`` or ``/sse``: the connection becomes ours
  (``web.live``): a WebSocket on ``websockets``' sans-I/O
  ``ServerProtocol``, or a Server-Sent Events stream, written by the hub
  without a task or an ``await`` per message;
- anything else: it builds the protocol class uvicorn itself uses for
  ``--http httptools``, with the very keyword arguments uvicorn gave us,
  hands it the transport and the bytes read so far, and steps aside.

No uvicorn method is overridden, no uvicorn code copied, no private
attribute read. What we rely on (the ``http`` setting, the constructor
keywords passed through unchanged, ``app_state`` being the lifespan state)
is pinned by tests/web/test_serve_hooks.py, which fails loudly if an
upgrade changes it.

Bounds (docs/PROTOCOL.md, "Limits"): a connection that has not sent a
complete head within ``HEAD_TIMEOUT`` is closed; at most
``pending_max`` such connections are held (the oldest is dropped for a new
one, so a flood of half-open sockets cannot lock others out); the live
connections are counted from their head on; and ``serve`` raises the file
descriptor limit and checks that live + pending + ``FD_RESERVE`` fit.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Sequence
from typing import Any, cast

import httptools
import uvicorn
from starlette.applications import Starlette
from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

from feed.settings import Settings
from web.live import LIVE_STATE, LiveServer

log = logging.getLogger("newsfeed.web")

HEAD_TIMEOUT = 10.0
"""Seconds a new connection has to send its first request head."""
MAX_HEAD = 16 * 1024
"""Bytes of a first request head; more is a 431."""

DELEGATE = import_from_string(HTTP_PROTOCOLS["httptools"])
"""The class uvicorn uses for ``--http httptools``: every non-live request."""


class _Head:
    """httptools callbacks collecting the first request's target and headers."""

    __slots__ = ("complete", "headers", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.complete = True


class FrontProtocol(asyncio.Protocol):
    """The first protocol of every connection: route, then hand over."""

    def __init__(self, **uvicorn_kwargs: Any) -> None:
        self.kwargs = uvicorn_kwargs
        live: LiveServer | None = uvicorn_kwargs["app_state"].get(LIVE_STATE)
        self.live = live
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.head = _Head()
        self.parser = httptools.HttpRequestParser(self.head)
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self.live is None:  # no hub (lifespan off): plain uvicorn
            self.delegate()
            return
        self.live.pending_opened(self)
        self.timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT, self.evict)

    def evict(self) -> None:
        """Too slow to send a head, or pushed out by newer pending connections."""
        self._settled()
        if self.transport is not None:
            self.transport.abort()

    def _settled(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.live is not None:
            self.live.pending_closed(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._settled()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError:
            self.delegate()  # uvicorn answers 400
            return
        if self.head.complete:
            self.route()
        elif len(self.buffer) > MAX_HEAD:
            self._settled()
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-length: 0\r\nconnection: close\r\n\r\n"
            )
            self.transport.close()

    def route(self) -> None:
        self._settled()
        assert self.live is not None and self.transport is not None
        method = self.parser.get_method()
        if not self.live.take(
            method, self.head.url, self.head.headers, self.transport, self.buffer
        ):
            self.delegate()

    def delegate(self) -> None:
        """Hand the connection to uvicorn's own HTTP protocol."""
        self._settled()
        assert self.transport is not None
        inner: asyncio.Protocol = DELEGATE(**self.kwargs)
        self.transport.set_protocol(inner)
        inner.connection_made(self.transport)
        if self.buffer:
            inner.data_received(bytes(self.buffer))
        self.buffer = bytearray()


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def config(app: Starlette, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=FrontProtocol,
        ws="none",  # every WebSocket of this app is a live one: ours
        lifespan="on",
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        backlog=4096,
    )


def serve(
    app: Starlette, settings: Settings, *, sockets: Sequence[socket.socket] | None = None
) -> None:
    """Run ``newsfeed web`` until SIGTERM or SIGINT, then drain.

    ``sockets``: already bound listening sockets to serve (instead of
    binding ``settings.host``/``settings.port``).
    """
    raise_fd_limit()
    server = uvicorn.Server(config(app, settings))
    server.run(sockets=list(sockets) if sockets is not None else None)
