"""Who may do what on the admin page: sessions, CSRF, sign-in, the route guard.

- The session cookie (Starlette's SessionMiddleware: signed with a key derived
  from ``settings.secret_key``, HttpOnly, SameSite=Lax, path ``/admin``, Secure
  when ``secure_cookies`` is on or the request came over https) carries a
  random session id and the CSRF token; the session itself lives in Redis
  (``AdminStore``) so signing out ends it everywhere.
- CSRF: a per-session random token, required on every unsafe method, from the
  form field ``csrf_token`` or the ``X-CSRF-Token`` header, compared in
  constant time; a cross-site ``Origin`` is refused as well. (A dozen lines of
  our own rather than a library: the maintained Starlette CSRF middlewares
  implement the double-submit *cookie* pattern on headers and do not read
  form bodies, which is what plain HTML forms send.)
- ``guarded(handler)`` wraps every admin route: no session -> redirect to the
  sign-in page (HTML) or 401 problem+json; bad CSRF -> 403; a feed in the
  path that the user is not granted -> 403; admin-only routes -> 403 for
  editors. Handlers receive a ``Ctx`` with the user and the feed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from feed.accounts import Accounts, User
from feed.admin_store import AdminStore
from feed.errors import ConfigError, FeedError, NotFound
from feed.registry import FeedMeta
from feed.settings import Settings
from feed.stores import Stores
from feed.webhooks import WebhookStore
from web.admin_render import UI, flash
from web.problems import problem, status_of
from web.state import state

SESSION_COOKIE = "nf_admin"
SESSION_SECONDS = 12 * 3600
"""An editor's shift: the cookie and the Redis session both end after it."""
MAX_FORM_BYTES = 256 * 1024
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NEXT_RE = re.compile(r"^/admin(?:/[A-Za-z0-9._~/%-]*)?(?:\?[A-Za-z0-9._~=&%-]*)?$")


class AdminSessions:
    """SessionMiddleware with the Secure flag decided per request."""

    def __init__(self, app: ASGIApp, secret_key: str, secure: bool) -> None:
        if not secret_key:
            raise ConfigError("the admin page needs NEWSFEED_SECRET_KEY")
        key = hmac.new(secret_key.encode(), b"newsfeed admin session", hashlib.sha256).hexdigest()
        common: dict[str, Any] = {
            "session_cookie": SESSION_COOKIE,
            "max_age": SESSION_SECONDS,
            "path": "/admin",
            "same_site": "lax",
        }
        self.plain = SessionMiddleware(app, key, https_only=secure, **common)
        self.tls = SessionMiddleware(app, key, https_only=True, **common)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        https = scope.get("scheme") in ("https", "wss")
        await (self.tls if https else self.plain)(scope, receive, send)


@dataclasses.dataclass(slots=True)
class Ctx:
    """What an admin handler gets: the signed-in user, the stores, the feed."""

    user: User
    store: Stores
    accounts: Accounts
    webhooks: WebhookStore
    admin: AdminStore
    ui: UI
    feed: FeedMeta | None = None
    """The feed named in the path (already checked against the user's grants)."""


Handler = Callable[[Request, Ctx], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class Guard(Protocol):
    """Makes an admin handler a route endpoint (``guarded`` with the app's UI)."""

    def __call__(self, handler: Handler, *, admin_only: bool = False) -> Endpoint: ...


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _same_origin(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by every browser on same-origin posts; the token decides
    netloc = urlsplit(origin).netloc
    allowed = {request.headers.get("host", "")}
    if settings.public_url:
        allowed.add(urlsplit(settings.public_url).netloc)
    return origin != "null" and netloc in allowed


async def csrf_ok(request: Request, settings: Settings) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not expected or not _same_origin(request, settings):
        return False
    sent: object = request.headers.get("x-csrf-token")
    if sent is None:
        # A form body is read for its token: forms are small, and an
        # unbounded body is never read. (A header needs no body: uploads.)
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM_BYTES:
            return False
        form = await request.form(max_files=0, max_fields=100)
        sent = form.get("csrf_token")
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


def refuse(request: Request, ui: UI, status: int, detail: str) -> Response:
    if wants_html(request):
        return ui.page(request, "error.html", status, title="Not allowed", detail=detail)
    return problem(status, {401: "Unauthorized", 403: "Forbidden"}.get(status, "Error"), detail)


def to_login(request: Request) -> Response:
    """To the sign-in page, then back: to this page, or for a form post, the form's page."""
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    elif request.method != "GET":
        target = urlsplit(request.headers.get("referer", "")).path or "/admin/"
    nxt = quote(target, safe="/") if NEXT_RE.match(target) else "/admin/"
    return RedirectResponse(f"/admin/login?next={nxt}", status_code=303)


async def current_user(request: Request, admin: AdminStore, accounts: Accounts) -> User | None:
    sid = request.session.get("sid")
    if not isinstance(sid, str):
        return None
    name = await admin.session_user(sid)
    if name is None:
        return None
    try:
        return await accounts.get_user(name)
    except NotFound:
        return None


def guarded(ui: UI, handler: Handler, *, admin_only: bool = False) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        nf = state(request)
        admin = nf.admin
        user = await current_user(request, admin, nf.accounts)
        if user is None:
            if wants_html(request):
                return to_login(request)
            return problem(401, "Unauthorized", "sign in at /admin/login first")
        if request.method in UNSAFE and not await csrf_ok(request, nf.settings):
            return refuse(request, ui, 403, "The form expired or came from another site.")
        if admin_only and user.role != "admin":
            return refuse(request, ui, 403, "Only an admin can do this.")
        ctx = Ctx(user, nf.store, nf.accounts, nf.webhooks, admin, ui)
        feed = request.path_params.get("feed")
        if feed is not None:
            if not user.can_edit(feed):
                return refuse(request, ui, 403, f"You are not granted the feed {feed!r}.")
            try:
                ctx.feed = await nf.store.registry.get_feed(feed)
            except NotFound:
                return refuse(request, ui, 404, f"There is no feed {feed!r}.")
        try:
            return await handler(request, ctx)
        except FeedError as exc:
            if not wants_html(request):
                raise
            status, title = status_of(exc)
            return ui.page(request, "error.html", status, title=title, detail=exc.detail, user=user)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


# -- sign in / out ------------------------------------------------------------
def _next(raw: object) -> str:
    return raw if isinstance(raw, str) and NEXT_RE.match(raw) else "/admin/"


def login_page(ui: UI) -> Endpoint:
    async def login(request: Request) -> Response:
        nf = state(request)
        admin = nf.admin
        nxt = _next(request.query_params.get("next"))
        if request.method == "GET":
            if await current_user(request, admin, nf.accounts) is not None:
                return RedirectResponse(nxt, status_code=303)
            csrf_token(request)
            return ui.page(request, "login.html", title="Sign in", next=nxt, name="", error=None)
        if not await csrf_ok(request, nf.settings):
            csrf_token(request)
            return ui.page(
                request, "login.html", 403, title="Sign in", next=nxt, name="",
                error="The sign-in form expired. Please try again.",
            )  # fmt: skip
        form = await request.form()
        name = str(form.get("name") or "")[:200].strip()
        password = str(form.get("password") or "")[:1024]
        nxt = _next(form.get("next"))
        address = request.client.host if request.client else "unknown"

        def again(status: int, error: str) -> Response:
            return ui.page(
                request, "login.html", status, title="Sign in", next=nxt, name=name, error=error
            )

        if not await admin.login_allowed(name, address):
            await admin.record(f"address:{address}", "login.throttled", name=name[:64])
            return again(429, "Too many sign-in attempts. Wait 15 minutes and try again.")
        user = await nf.accounts.authenticate(name, password) if name and password else None
        if user is None:
            await admin.login_failed(name, address)
            return again(401, "Wrong user name or password.")
        await admin.login_succeeded(name)
        sid = await admin.open_session(user.name, SESSION_SECONDS)
        old = request.session.get("sid")
        if isinstance(old, str):
            await admin.close_session(old)
        request.session.clear()
        request.session.update({"sid": sid, "csrf": secrets.token_urlsafe(32)})
        request.session["lang"] = await nf.accounts.ui_language(user.name)
        await admin.record(user.actor, "login", address=address)
        return RedirectResponse(nxt, status_code=303)

    return login


async def logout(request: Request, ctx: Ctx) -> Response:
    sid = request.session.get("sid")
    if isinstance(sid, str):
        await ctx.admin.close_session(sid)
    request.session.clear()
    csrf_token(request)
    flash(request, "Signed out.")
    return RedirectResponse("/admin/login", status_code=303)
