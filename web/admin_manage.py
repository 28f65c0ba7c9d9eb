"""The admin's pages: feeds, users and grants, API tokens, embed snippets, audit.

Every route here but the feed audit is ``admin_only``; each administrative
action is written to the audit stream (the feed's, or the global one for
users and roles). Secrets (a new token, a generated password) are shown once,
in the response to the POST that made them, never stored in the session.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from feed.accounts import User
from feed.errors import InvalidInput, NotFound
from feed.registry import check_slug, check_timezone
from web.admin_auth import SESSION_SECONDS, Ctx
from web.admin_render import flash
from web.embed import iframe_html
from web.pages import site_base

DEAD_SHOWN = 10


def _text(form: Any, name: str, limit: int = 300) -> str:
    value = form.get(name)
    return value[:limit].strip() if isinstance(value, str) else ""


def embed_snippets(base: str, feed: str, title: str) -> dict[str, str]:
    """The copy-paste snippets; the iframe one is the oEmbed snippet (self-sizing)."""
    return {
        "script": (
            f'<div data-newsfeed="{feed}"></div><script async src="{base}/embed.js"></script>'
        ),
        "iframe": iframe_html(base, feed, title, 400, 600),
    }


async def create_feed(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    slug = _text(form, "slug", 64).lower()
    try:
        check_slug(slug)
        tz = check_timezone(_text(form, "timezone") or "UTC")
        meta = await ctx.nf.store.registry.create_feed(slug, _text(form, "title", 200) or slug, tz)
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse("/admin/", 303)
    await ctx.admin.record(ctx.user.actor, "feed.create", feed=slug, title=meta.title)
    flash(request, f"Feed {slug} created.")
    return RedirectResponse(f"/admin/feeds/{slug}/settings", 303)


async def settings_page(
    request: Request,
    ctx: Ctx,
    *,
    status: int = 200,
    new_token: str | None = None,
    new_webhook: Any = None,
) -> Response:
    assert ctx.feed is not None
    feed = ctx.feed
    tokens = await ctx.nf.accounts.list_tokens(feed.slug)
    hooks = ctx.nf.webhooks
    return ctx.ui.page(
        request,
        "settings.html",
        status,
        title=f"Settings: {feed.title}",
        user=ctx.user,
        feed=feed,
        tokens=tokens,
        new_token=new_token,
        new_webhook=new_webhook,
        webhooks=await hooks.all(feed.slug),
        dead=await hooks.list_dead(feed.slug, DEAD_SHOWN),
        dead_count=await hooks.count_dead(feed.slug),
        snippets=embed_snippets(site_base(request), feed.slug, feed.title),
    )


async def show_settings(request: Request, ctx: Ctx) -> Response:
    return await settings_page(request, ctx)


async def save_settings(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    form = await request.form()
    title, tz = _text(form, "title", 200), _text(form, "timezone", 64)
    try:
        meta = await ctx.nf.store.registry.update_feed(
            ctx.feed.slug, title=title or None, timezone=tz or None
        )
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
    else:
        await ctx.admin.record(
            ctx.user.actor, "feed.update", feed=meta.slug, title=meta.title, timezone=meta.timezone
        )
        flash(request, "Feed settings saved.")
    return RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings", 303)


async def create_token(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    name = _text(await request.form(), "name", 100) or "token"
    secret, token = await ctx.nf.accounts.create_token(ctx.feed.slug, name)
    await ctx.admin.record(
        ctx.user.actor, "token.create", feed=ctx.feed.slug, token=token.id, name=token.name
    )
    return await settings_page(request, ctx, status=201, new_token=secret)


async def revoke_token(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    token_id = request.path_params["token"]
    try:
        await ctx.nf.accounts.revoke_token(ctx.feed.slug, token_id)
    except NotFound as exc:
        flash(request, exc.detail, "warn")
    else:
        await ctx.admin.record(ctx.user.actor, "token.revoke", feed=ctx.feed.slug, token=token_id)
        flash(request, f"Token {token_id} revoked; requests with it now get 401.")
    return RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings", 303)


async def users_page(
    request: Request, ctx: Ctx, *, status: int = 200, created: tuple[str, str] | None = None
) -> Response:
    users: list[User] = await ctx.nf.accounts.list_users()
    return ctx.ui.page(
        request,
        "users.html",
        status,
        title="Users",
        user=ctx.user,
        users=users,
        feeds=await ctx.nf.store.registry.list_feeds(),
        created=created,
    )


async def show_users(request: Request, ctx: Ctx) -> Response:
    return await users_page(request, ctx)


async def _granted(ctx: Ctx, form: Any) -> frozenset[str]:
    wanted = {f for f in form.getlist("feeds") if isinstance(f, str)}
    known = set(await ctx.nf.store.registry.list_feeds())
    unknown = wanted - known
    if unknown:
        raise InvalidInput(f"no such feed: {', '.join(sorted(unknown))[:200]}", field="feeds")
    return frozenset(wanted)


async def create_user(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    name, role = _text(form, "name", 64), _text(form, "role", 10) or "editor"
    password = form.get("password")
    password = password[:1024] if isinstance(password, str) and password else None
    generated = secrets.token_urlsafe(12) if password is None else None
    try:
        feeds = await _granted(ctx, form)
        user = await ctx.nf.accounts.add_user(
            name,
            password or generated or "",
            role,
            feeds,
        )
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse("/admin/users", 303)
    await ctx.admin.record(
        ctx.user.actor, "user.create", target=user.name, role=user.role, feeds=sorted(user.feeds)
    )
    for feed in user.feeds:
        await ctx.admin.record(ctx.user.actor, "grant.add", feed=feed, target=user.name)
    return await users_page(
        request, ctx, status=201, created=(user.name, generated) if generated else None
    )


async def update_user(request: Request, ctx: Ctx) -> Response:
    name = request.path_params["name"]
    form = await request.form()
    role = _text(form, "role", 10)
    try:
        before = await ctx.nf.accounts.get_user(name)
        if name == ctx.user.name and role != "admin":
            raise InvalidInput("you cannot take away your own admin role", field="role")
        feeds = await _granted(ctx, form)
        await ctx.nf.accounts.set_role(name, role)
        after = await ctx.nf.accounts.set_grants(name, feeds)
    except (InvalidInput, NotFound) as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse("/admin/users", 303)
    if before.role != after.role:
        await ctx.admin.record(
            ctx.user.actor, "user.role", target=name, role=after.role, was=before.role
        )
    for feed in sorted(after.feeds - before.feeds):
        await ctx.admin.record(ctx.user.actor, "grant.add", feed=feed, target=name)
    for feed in sorted(before.feeds - after.feeds):
        await ctx.admin.record(ctx.user.actor, "grant.remove", feed=feed, target=name)
    flash(request, f"User {name} saved.")
    return RedirectResponse("/admin/users", 303)


async def reset_password(request: Request, ctx: Ctx) -> Response:
    """A new generated password for a user, shown once; their open sessions end."""
    name = request.path_params["name"]
    password = secrets.token_urlsafe(12)
    try:
        await ctx.nf.accounts.set_password(name, password)
    except NotFound as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse("/admin/users", 303)
    await ctx.admin.end_sessions(name, SESSION_SECONDS)
    await ctx.admin.record(ctx.user.actor, "user.password", target=name)
    return await users_page(request, ctx, created=(name, password))


async def feed_audit(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    records = await ctx.admin.feed_audit(ctx.feed.slug)
    return ctx.ui.page(
        request, "audit.html", title="Audit log", user=ctx.user, feed=ctx.feed, records=records
    )


async def global_audit(request: Request, ctx: Ctx) -> Response:
    records = await ctx.admin.admin_records(None)
    return ctx.ui.page(request, "audit.html", title="Audit log", user=ctx.user, records=records)


def routes(g: Callable[..., Any]) -> list[BaseRoute]:
    return [
        Route("/feeds", g(create_feed, True), methods=["POST"]),
        Route("/feeds/{feed}/settings", g(show_settings, True), methods=["GET"]),
        Route("/feeds/{feed}/settings", g(save_settings, True), methods=["POST"]),
        Route("/feeds/{feed}/tokens", g(create_token, True), methods=["POST"]),
        Route("/feeds/{feed}/tokens/{token}/revoke", g(revoke_token, True), methods=["POST"]),
        Route("/feeds/{feed}/audit", g(feed_audit), methods=["GET"]),
        Route("/users", g(show_users, True), methods=["GET"]),
        Route("/users", g(create_user, True), methods=["POST"]),
        Route("/users/{name}", g(update_user, True), methods=["POST"]),
        Route("/users/{name}/password", g(reset_password, True), methods=["POST"]),
        Route("/audit", g(global_audit, True), methods=["GET"]),
    ]
