"""The editors' admin page under ``/admin``: routes, the dashboard, compose.

Every route but the sign-in page and the two static assets goes through
``guarded`` (web.admin_auth), which checks the session, CSRF on unsafe
methods, the feed grant and the role on the server for every request.
Entry actions (edit, conflicts, retract, pin, history) are in
web.admin_entries; the admin's pages in web.admin_feeds (feeds, settings,
tokens, embed snippets, webhooks), web.admin_users (users, roles, grants) and
web.admin_audit (the audit log).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import orjson
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from feed.errors import IdempotencyMismatch, InvalidInput
from feed.model import Entry
from feed.settings import Settings
from web import (
    admin_audit,
    admin_entries,
    admin_feeds,
    admin_language,
    admin_pairing,
    admin_presence,
    admin_review,
    admin_users,
)
from web.admin_auth import AdminSessions, Ctx, Endpoint, Handler, guarded, login_page, logout
from web.admin_render import UI, flash, page_headers, parse_input_time, ui_language
from web.state import state

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
LIST_LIMIT = 50
COMPOSE_FIELDS = ("headline", "body", "url", "publish_at", "pinned")


def form_text(form: FormData, name: str, limit: int = 25_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def compose_data(form: FormData, tz: str) -> dict[str, Any]:
    """The create request a compose form makes (validated by the store)."""
    data: dict[str, Any] = {
        "headline": form_text(form, "headline"),
        "body": form_text(form, "body"),
        "pinned": form.get("pinned") == "1",
    }
    url = form_text(form, "url").strip()
    if url:
        data["url"] = url
    publish_at = form_text(form, "publish_at").strip()
    if publish_at:
        try:
            data["publish_at"] = parse_input_time(publish_at, tz)
        except ValueError:
            raise InvalidInput(
                "the publish time is not a valid date and time", field="publish_at"
            ) from None
    return data


def editor_order(entries: list[Entry]) -> list[Entry]:
    """Scheduled (soonest first), then pinned, then the rest, newest first."""
    scheduled = sorted(
        (e for e in entries if e.status == "scheduled"), key=lambda e: e.published_at
    )
    rest = [e for e in entries if e.status != "scheduled"]
    rest.sort(key=lambda e: e.published_at, reverse=True)
    rest.sort(key=lambda e: e.pinned and e.status == "published", reverse=True)
    return scheduled + rest


async def entries_html(request: Request, ctx: Ctx, entries: list[Entry]) -> str:
    """The editor screen's list (and, for editors, the review queue above it)."""
    assert ctx.feed is not None
    infos = await admin_review.review_infos(ctx.store, ctx.feed.slug, entries)
    shown = [e for e in entries if admin_review.shown_to(ctx.user, e, infos)]
    return ctx.ui.render(
        "_entries.html",
        lang=ui_language(request),
        entries=editor_order(shown),
        queue=admin_review.queue(shown, infos) if ctx.user.may_publish else [],
        review=infos,
        who=admin_review.who,
        feed=ctx.feed,
        csrf=request.session.get("csrf", ""),
        user=ctx.user,
    )


def signature(html: str) -> str:
    return hashlib.blake2b(html.encode(), digest_size=8).hexdigest()


async def dashboard(request: Request, ctx: Ctx) -> Response:
    slugs = [s for s in await ctx.store.registry.list_feeds() if ctx.user.can_edit(s)]
    feeds = await ctx.store.registry.describe_feeds(slugs)
    return ctx.ui.page(request, "dashboard.html", title="Feeds", user=ctx.user, feeds=feeds)


async def feed_page(
    request: Request,
    ctx: Ctx,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    error: InvalidInput | None = None,
    nonce: str | None = None,
) -> Response:
    assert ctx.feed is not None
    entries = await ctx.store.editorial.editorial_entries(ctx.feed.slug, LIST_LIMIT)
    html = await entries_html(request, ctx, entries)
    return ctx.ui.page(
        request,
        "feed.html",
        status,
        title=ctx.feed.title,
        user=ctx.user,
        feed=ctx.feed,
        entries_html=html,
        sig=signature(html),
        values={**dict.fromkeys(COMPOSE_FIELDS, ""), **(values or {})},
        error=error,
        nonce=nonce or secrets.token_urlsafe(18),
    )


async def editor(request: Request, ctx: Ctx) -> Response:
    return await feed_page(request, ctx)


async def create_entry(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    feed = ctx.feed
    form = await request.form()
    nonce = form_text(form, "nonce")
    values = {k: form_text(form, k) for k in COMPOSE_FIELDS}
    if not NONCE_RE.match(nonce):
        return await feed_page(
            request,
            ctx,
            status=422,
            values=values,
            error=InvalidInput("the form is incomplete; please post again", field="nonce"),
        )
    try:
        data = compose_data(form, feed.timezone)
        # Ctrl+Enter sends no button: an editor posts, a contributor submits.
        action = form_text(form, "action") or ("publish" if ctx.user.may_publish else "submit")
        if action in ("draft", "submit"):
            data["status"] = "draft" if action == "draft" else "submitted"
        elif action != "publish":
            raise InvalidInput("choose Post, Save draft or Submit for review", field="action")
        entry, created = await ctx.store.editorial.create_entry(
            feed.slug,
            data,
            actor=ctx.user.actor,
            idempotency_key=f"admin:{ctx.user.name}:{nonce}",
            may_publish=ctx.user.may_publish,
        )
    except IdempotencyMismatch:
        error = InvalidInput(
            "This form was already posted with other text. Check the list before posting again.",
            field="nonce",
        )
        return await feed_page(request, ctx, status=422, values=values, error=error)
    except InvalidInput as exc:
        return await feed_page(request, ctx, status=422, values=values, error=exc, nonce=nonce)
    if created:
        when = {
            "scheduled": "Scheduled",
            "draft": "Draft saved",
            "submitted": "Submitted for review",
        }.get(entry.status, "Posted")
        flash(request, f"{when}: {entry.headline}")
    else:
        flash(request, "Already posted; the repeated submit was ignored.", "info")
    return RedirectResponse(f"/admin/feeds/{feed.slug}?e={entry.id}", status_code=303)


async def entries_json(request: Request, ctx: Ctx) -> Response:
    """The editorial list (every status) for the editor screen's live refresh."""
    assert ctx.feed is not None
    entries = await ctx.store.editorial.editorial_entries(ctx.feed.slug, LIST_LIMIT)
    html = await entries_html(request, ctx, entries)
    body = {
        "feed": ctx.feed.slug,
        "readers": await state(request).hub.readers(ctx.feed.slug),
        "entries": [e.to_json() for e in entries],
        "html": html,
        "sig": signature(html),
    }
    headers = page_headers(request)
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def routes(settings: Settings) -> list[BaseRoute]:
    ui = UI()

    def guard(handler: Handler, *, admin_only: bool = False) -> Endpoint:
        return guarded(ui, handler, admin_only=admin_only)

    inner: list[BaseRoute] = [
        Route("/login", login_page(ui), methods=["GET", "POST"], name="admin_login"),
        Route("/static/{name}", ui.assets.endpoint, methods=["GET"], name="admin_static"),
        Route("/logout", guard(logout), methods=["POST"]),
        Route("/", guard(dashboard), methods=["GET"]),
        Route("/feeds/{feed}", guard(editor), methods=["GET"]),
        Route("/feeds/{feed}/entries", guard(create_entry), methods=["POST"]),
        Route("/feeds/{feed}/entries.json", guard(entries_json), methods=["GET"]),
        *admin_entries.routes(guard),
        *admin_review.routes(guard),
        *admin_presence.routes(guard),
        *admin_pairing.routes(guard),
        *admin_language.routes(guard),
        *admin_feeds.routes(guard),
        *admin_users.routes(guard),
        *admin_audit.routes(guard),
    ]
    middleware = [
        Middleware(
            AdminSessions,
            secret_key=settings.secret_key,
            secure=settings.secure_cookies,
        )
    ]
    return [Mount("/admin", routes=inner, middleware=middleware)]


PUBLIC_ROUTES = frozenset({"admin_login", "admin_static"})
"""Admin routes that answer anonymous requests (the security tests exempt only these)."""
