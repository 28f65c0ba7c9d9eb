"""The admin's user pages (admin only): users, roles, feed grants, passwords.

Each change is written to the audit stream (a grant to the feed's, a role or
a password to the global one). A generated password is shown once, in the
response to the POST that made it, never stored in the session.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from feed.accounts import User
from feed.errors import InvalidInput, NotFound
from web.admin_auth import SESSION_SECONDS, Ctx, Guard
from web.admin_render import flash, form_field
from web.api import json_response
from web.photos import read_upload
from web.state import state


async def users_page(
    request: Request, ctx: Ctx, *, status: int = 200, created: tuple[str, str] | None = None
) -> Response:
    users: list[User] = await ctx.accounts.list_users()
    return ctx.ui.page(
        request,
        "users.html",
        status,
        title="Users",
        user=ctx.user,
        users=users,
        feeds=await ctx.store.registry.list_feeds(),
        created=created,
    )


async def show_users(request: Request, ctx: Ctx) -> Response:
    return await users_page(request, ctx)


async def _granted(ctx: Ctx, form: FormData) -> frozenset[str]:
    wanted = {f for f in form.getlist("feeds") if isinstance(f, str)}
    known = set(await ctx.store.registry.list_feeds())
    unknown = wanted - known
    if unknown:
        raise InvalidInput(f"no such feed: {', '.join(sorted(unknown))[:200]}", field="feeds")
    return frozenset(wanted)


async def create_user(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    name, role = form_field(form, "name", 64), form_field(form, "role", 10) or "editor"
    password = form.get("password")
    password = password[:1024] if isinstance(password, str) and password else None
    generated = secrets.token_urlsafe(12) if password is None else None
    try:
        feeds = await _granted(ctx, form)
        user = await ctx.accounts.add_user(
            name,
            password or generated or "",
            role,
            feeds,
        )
        display_name = form_field(form, "display_name", 200)
        if display_name:
            user = await ctx.accounts.set_profile(user.name, display_name, "")
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
    role = form_field(form, "role", 10)
    try:
        before = await ctx.accounts.get_user(name)
        if name == ctx.user.name and role != "admin":
            raise InvalidInput("you cannot take away your own admin role", field="role")
        feeds = await _granted(ctx, form)
        await ctx.accounts.set_profile(
            name, form_field(form, "display_name", 200), form_field(form, "bio", 1000)
        )
        await ctx.accounts.set_role(name, role)
        after = await ctx.accounts.set_grants(name, feeds)
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
        await ctx.accounts.set_password(name, password)
    except NotFound as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse("/admin/users", 303)
    await ctx.admin.end_sessions(name, SESSION_SECONDS)
    await ctx.admin.record(ctx.user.actor, "user.password", target=name)
    return await users_page(request, ctx, created=(name, password))


async def upload_avatar(request: Request, ctx: Ctx) -> Response:
    """A user's avatar (the raw image, X-CSRF-Token): the photo pipeline, squared."""
    name = request.path_params["name"]
    await ctx.accounts.get_user(name)  # 404 before any work
    nf = state(request)
    url = await nf.uploads.store_avatar(nf.media, await read_upload(request))
    await ctx.accounts.set_avatar(name, url)
    await ctx.admin.record(ctx.user.actor, "user.avatar", target=name)
    return json_response({"avatar": url}, 201, {"Cache-Control": "no-store"})


def routes(guard: Guard) -> list[BaseRoute]:
    return [
        Route("/users/{name}/avatar", guard(upload_avatar, admin_only=True), methods=["POST"]),
        Route("/users", guard(show_users, admin_only=True), methods=["GET"]),
        Route("/users", guard(create_user, admin_only=True), methods=["POST"]),
        Route("/users/{name}", guard(update_user, admin_only=True), methods=["POST"]),
        Route("/users/{name}/password", guard(reset_password, admin_only=True), methods=["POST"]),
    ]
