"""Webhooks on the admin page (admin only): register, delete, dead letters.

The registry and delivery are feed.webhooks / workers.delivery; this module
only moves forms in and out. A new webhook's signing secret is shown once, in
the response to the POST that created it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from feed.errors import InvalidInput, NotFound
from web.admin_auth import Ctx
from web.admin_manage import settings_page
from web.admin_render import flash


async def create_webhook(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    form = await request.form()
    url = form.get("url")
    description = form.get("description")
    try:
        hook = await ctx.nf.webhooks.add(
            ctx.feed.slug,
            url.strip() if isinstance(url, str) else None,
            None,
            description.strip()[:200] if isinstance(description, str) else "",
        )
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings#webhooks", 303)
    await ctx.admin.record(
        ctx.user.actor, "webhook.create", feed=ctx.feed.slug, webhook=hook.id, url=hook.url
    )
    return await settings_page(request, ctx, status=201, new_webhook=hook)


async def delete_webhook(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    hook_id = request.path_params["hook"]
    hook = await ctx.nf.webhooks.get(ctx.feed.slug, hook_id)
    try:
        if hook is None:
            raise NotFound(f"no webhook {hook_id!r}")
        await ctx.nf.webhooks.delete(ctx.feed.slug, hook_id)
    except (NotFound, InvalidInput) as exc:
        flash(request, exc.detail, "warn")
    else:
        await ctx.admin.record(
            ctx.user.actor, "webhook.delete", feed=ctx.feed.slug, webhook=hook_id, url=hook.url
        )
        flash(request, f"Webhook {hook.url} deleted; it gets no more deliveries.")
    return RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings#webhooks", 303)


def routes(g: Callable[..., Any]) -> list[BaseRoute]:
    return [
        Route("/feeds/{feed}/webhooks", g(create_webhook, True), methods=["POST"]),
        Route("/feeds/{feed}/webhooks/{hook}/delete", g(delete_webhook, True), methods=["POST"]),
    ]
