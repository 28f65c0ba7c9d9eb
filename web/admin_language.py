"""The admin pages' language, chosen per user (English, Ukrainian, ...).

``POST /admin/language`` stores the choice with the user (so it follows them
to every device) and in the session (so each page reads it without a
lookup); signing in copies it into the new session.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from feed.errors import InvalidInput
from web.admin_auth import Ctx, Guard
from web.admin_render import flash, form_field


async def set_language(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    nxt = form_field(form, "next", 300)
    if not nxt.startswith("/admin/") or "//" in nxt or "\\" in nxt:
        nxt = "/admin/"
    try:
        tag = await ctx.accounts.set_ui_language(ctx.user.name, form_field(form, "language", 35))
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse(nxt, 303)
    request.session["lang"] = tag
    flash(request, "Language set.")
    return RedirectResponse(nxt, 303)


def routes(guard: Guard) -> list[BaseRoute]:
    return [Route("/language", guard(set_language), methods=["POST"])]
