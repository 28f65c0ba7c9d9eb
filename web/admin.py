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
    admin_profile,
    admin_review,
    admin_users,
    bylines,
    embed_refs,
    photo_refs,
)
from web.admin_auth import AdminSessions, Ctx, Endpoint, Handler, guarded, login_page, logout
from web.admin_render import UI, flash, page_headers, parse_input_time, ui_language
from web.api import json_response
from web.photos import read_upload
from web.state import state

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
LIST_LIMIT = 50
COMPOSE_FIELDS = (
    "headline",
    "body",
    "url",
    "publish_at",
    "pinned",
    "key_event",
    "key_label",
    "photo_id",
    "photo_alt",
    "photo_caption",
    "photo_credit",
    "embed_url",
)


def photo_fields(form: FormData) -> dict[str, Any] | None:
    """The photo reference a form makes (None when no photo is attached)."""
    photo_id = form.get("photo_id")
    if not isinstance(photo_id, str) or not photo_id.strip():
        return None
    return {
        "id": photo_id.strip()[:40],
        "alt": form_text(form, "photo_alt", 1000),
        "caption": form_text(form, "photo_caption", 2000),
        "credit": form_text(form, "photo_credit", 500),
    }


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
    if form.get("key_event") == "1":
        data["key_event"] = True
        label = form_text(form, "key_label", 200).strip()
        if label:
            data["key_label"] = label
    photo = photo_fields(form)
    if photo is not None:
        data["photo"] = photo
    authors = [a for a in form.getlist("authors") if isinstance(a, str)]
    if authors:
        data["authors"] = authors[:10]
    url = form_text(form, "url").strip()
    if url:
        data["url"] = url
    embed_url = form_text(form, "embed_url", 4000).strip()
    if embed_url:
        data["embed"] = {"url": embed_url}
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
        values={
            **dict.fromkeys(COMPOSE_FIELDS, ""),
            "authors": [ctx.user.name],
            "photo_preview": "",
            **(values or {}),
        },
        colleagues=await bylines.colleagues(ctx.accounts, ctx.feed.slug),
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
    values: dict[str, Any] = {k: form_text(form, k) for k in COMPOSE_FIELDS}
    values["authors"] = [a for a in form.getlist("authors") if isinstance(a, str)]
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
        data = await bylines.resolve(ctx.accounts, feed.slug, data, default=ctx.user.name)
        data = await photo_refs.resolve(state(request).photos, feed.slug, data)
        data = embed_refs.resolve(state(request).settings, data)
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


async def upload_photo(request: Request, ctx: Ctx) -> Response:
    """The admin page's upload (session and X-CSRF-Token): the API's pipeline."""
    assert ctx.feed is not None
    nf = state(request)
    data = await read_upload(request)  # a bad file raises: problem+json, nothing stored
    manifest = await nf.uploads.store(nf.media, nf.photos, ctx.feed.slug, data)
    return json_response(manifest, 201, {"Cache-Control": "no-store"})


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
        Route("/feeds/{feed}/photos", guard(upload_photo), methods=["POST"]),
        *admin_entries.routes(guard),
        *admin_review.routes(guard),
        *admin_presence.routes(guard),
        *admin_pairing.routes(guard),
        *admin_language.routes(guard),
        *admin_feeds.routes(guard),
        *admin_users.routes(guard),
        *admin_profile.routes(guard),
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
