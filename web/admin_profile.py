"""Your own profile (every signed-in user): byline, bio, avatar, password.

A reporter sets the name, short bio and photo their bylines show, and
changes their own password, without asking an admin. A password change
needs the current password (checked through the sign-in throttle, so a
borrowed session cannot guess it) and ends every session of the user,
this one included: they sign in again with the new one. Each change goes
to the audit stream.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from feed.errors import InvalidInput
from feed.i18n import N_
from web.admin_auth import SESSION_SECONDS, Ctx, Guard
from web.admin_render import flash, form_field
from web.api import json_response
from web.photos import read_upload
from web.state import state

# Shown translated (``admin_render.translate_flash``): marked for extraction.
SAVED = N_("Your profile is saved.")
THROTTLED = N_("Too many wrong passwords. Wait 15 minutes and try again.")
WRONG = N_("That is not your current password. Nothing was changed.")
NOT_CHANGED = N_("Password not changed")


async def show_profile(request: Request, ctx: Ctx, *, status: int = 200) -> Response:
    return ctx.ui.page(
        request,
        "profile.html",
        status,
        title="Your profile",
        user=ctx.user,
        me=await ctx.accounts.get_user(ctx.user.name),
    )


async def save_profile(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    try:
        await ctx.accounts.set_profile(
            ctx.user.name, form_field(form, "display_name", 200), form_field(form, "bio", 1000)
        )
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse("/admin/profile", 303)
    await ctx.admin.record(ctx.user.actor, "user.profile", target=ctx.user.name)
    flash(request, SAVED)
    return RedirectResponse("/admin/profile", 303)


async def upload_own_avatar(request: Request, ctx: Ctx) -> Response:
    """Your avatar (the raw image, X-CSRF-Token): the photo pipeline, squared."""
    nf = state(request)
    url = await nf.uploads.store_avatar(nf.media, await read_upload(request))
    await ctx.accounts.set_avatar(ctx.user.name, url)
    await ctx.admin.record(ctx.user.actor, "user.avatar", target=ctx.user.name)
    return json_response({"avatar": url}, 201, {"Cache-Control": "no-store"})


async def change_password(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    current = str(form.get("current") or "")[:1024]
    new, repeat = str(form.get("new") or "")[:1024], str(form.get("repeat") or "")[:1024]
    name = ctx.user.name
    address = request.client.host if request.client else "unknown"
    if not await ctx.admin.login_allowed(name, address):
        await ctx.admin.record(ctx.user.actor, "login.throttled", name=name, address=address)
        flash(request, THROTTLED, "warn")
        return RedirectResponse("/admin/profile", 303)
    if await ctx.accounts.authenticate(name, current) is None:
        await ctx.admin.login_failed(name, address)
        flash(request, WRONG, "warn")
        return RedirectResponse("/admin/profile", 303)
    try:
        if new != repeat:
            raise InvalidInput("the two new passwords differ", field="new")
        await ctx.accounts.set_password(name, new)
    except InvalidInput as exc:
        flash(request, f"{NOT_CHANGED}: {exc.detail}", "warn")
        return RedirectResponse("/admin/profile", 303)
    await ctx.admin.login_succeeded(name)
    await ctx.admin.end_sessions(name, SESSION_SECONDS)
    await ctx.admin.record(ctx.user.actor, "user.password", target=name)
    request.session.clear()
    return RedirectResponse("/admin/login?next=/admin/profile", 303)


def routes(guard: Guard) -> list[BaseRoute]:
    return [
        Route("/profile", guard(show_profile), methods=["GET"]),
        Route("/profile", guard(save_profile), methods=["POST"]),
        Route("/profile/avatar", guard(upload_own_avatar), methods=["POST"]),
        Route("/profile/password", guard(change_password), methods=["POST"]),
    ]
