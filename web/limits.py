"""The API limits at the HTTP edge (``feed.ratelimit`` counts in Redis).

``LimitMiddleware`` classifies each HTTP request: a write (POST, PUT, PATCH,
DELETE) counts against its client address and, with a bearer token, against
the token; any other request is a read and counts against its client
address. Health, readiness, metrics and the static assets are not counted.
Over a budget the answer is a 429 problem+json with ``Retry-After`` and
nothing else happens. The live endpoints never reach this middleware (their
connections are taken before the app, ``web.live``): ``live_admission`` is
the check ``web.live.LiveServer`` awaits before it answers one.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from feed.errors import RateLimited
from feed.ratelimit import RateLimits, client_key, token_key
from web.live import Admission
from web.problems import error_problem

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics", "/favicon.ico"})
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, secret = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and secret.strip():
                return str(secret.strip())
    return None


class LimitMiddleware:
    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client_key(client[0] if client else "")
        try:
            if scope["method"] in READS:
                await self.limits.hit("reads_client", address)
            else:
                bearer = _bearer(scope)
                if bearer is not None:
                    await self.limits.hit("writes_token", token_key(bearer))
                await self.limits.hit("writes_client", address)
        except RateLimited as exc:
            await error_problem(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _exempt(path: str) -> bool:
    return path in EXEMPT or path.startswith("/static/")


def forwarded_client(peer: str, forwarded: str, trusted: str) -> str:
    """The client's address: the peer's, or when the peer is a trusted proxy
    (``FORWARDED_ALLOW_IPS``: a comma-separated list, ``*`` for any) the
    last hop of ``X-Forwarded-For`` (the one that proxy added), as uvicorn
    decides for HTTP requests."""
    proxies = {p.strip() for p in trusted.split(",") if p.strip()}
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    if hops and ("*" in proxies or peer in proxies):
        return hops[-1]
    return peer


def live_admission(limits: RateLimits, trusted: str) -> Admission:
    """The live endpoints' check: one connection opened by this client."""

    async def admit(feed: str, peer: str, forwarded: str) -> None:
        await limits.hit("live_client", client_key(forwarded_client(peer, forwarded, trusted)))

    return admit
