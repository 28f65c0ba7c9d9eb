"""Paired feeds on the admin page: pair two feeds, link an update to its translation.

Pairing is an admin's (the feed's settings page); linking an update is for
anyone granted both feeds (the entry's edit page). The rules and the
storage are feed.pairing's.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from feed.errors import Conflict, Forbidden, InvalidInput, NotFound
from feed.pairing import Pairing
from web.admin_auth import Ctx, Guard
from web.admin_render import flash, form_field

ENTRY_IN_URL = re.compile(r"(?:/entries/)?([0-9a-z]{1,40})/?$")


def pairing(ctx: Ctx) -> Pairing:
    return Pairing(ctx.store.redis, ctx.store.registry, ctx.store.editorial)


async def set_pair(request: Request, ctx: Ctx) -> Response:
    """Settings: pair with another feed (``pair`` = its slug) or unpair (empty)."""
    assert ctx.feed is not None
    other = form_field(await request.form(), "pair", 64)
    back = RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings", 303)
    try:
        if other:
            await pairing(ctx).pair(ctx.feed.slug, other)
        else:
            await pairing(ctx).unpair(ctx.feed.slug)
    except (InvalidInput, Conflict, NotFound) as exc:
        flash(request, exc.detail, "warn")
        return back
    await ctx.admin.record(ctx.user.actor, "feed.pair", feed=ctx.feed.slug, pair=other)
    flash(request, f"Paired with {other}." if other else "No paired feed.")
    return back


async def set_translation(request: Request, ctx: Ctx) -> Response:
    """An entry's page: link it to its translation (an id or a permalink URL) or unlink."""
    assert ctx.feed is not None
    feed, entry_id = ctx.feed.slug, request.path_params["id"]
    raw = form_field(await request.form(), "translation", 2000)
    back = RedirectResponse(f"/admin/feeds/{feed}/entries/{entry_id}", 303)
    if ctx.feed.pair and not ctx.user.can_edit(ctx.feed.pair):
        raise Forbidden(f"you are not granted the paired feed {ctx.feed.pair!r}")
    if not ctx.user.may_publish:
        raise Forbidden("only an editor links translations")
    try:
        if raw:
            match = ENTRY_IN_URL.search(raw)
            if not match:
                raise InvalidInput(
                    "give the translation's id or its permalink", field="translation"
                )
            await pairing(ctx).link(feed, entry_id, match.group(1))
        else:
            await pairing(ctx).unlink(feed, entry_id)
    except (InvalidInput, NotFound) as exc:
        flash(request, exc.detail, "warn")
        return back
    await ctx.admin.record(
        ctx.user.actor, "entry.translation", feed=feed, entry=entry_id, translation=raw
    )
    flash(request, "Translation linked." if raw else "Translation unlinked.")
    return back


def routes(guard: Guard) -> list[BaseRoute]:
    return [
        Route("/feeds/{feed}/pair", guard(set_pair, admin_only=True), methods=["POST"]),
        Route("/feeds/{feed}/entries/{id}/translation", guard(set_translation), methods=["POST"]),
    ]
