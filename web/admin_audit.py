"""The audit log on the admin page: a feed's (its editors) and the global one (admins).

A feed's log merges the editorial log with the feed's audit stream
(feed.admin_store); the global log holds users, roles and grants.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from web.admin_auth import Ctx, Guard


async def feed_audit(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    records = await ctx.admin.feed_audit(ctx.feed.slug)
    return ctx.ui.page(
        request, "audit.html", title="Audit log", user=ctx.user, feed=ctx.feed, records=records
    )


async def global_audit(request: Request, ctx: Ctx) -> Response:
    records = await ctx.admin.admin_records(None)
    return ctx.ui.page(request, "audit.html", title="Audit log", user=ctx.user, records=records)


def routes(guard: Guard) -> list[BaseRoute]:
    return [
        Route("/feeds/{feed}/audit", guard(feed_audit), methods=["GET"]),
        Route("/audit", guard(global_audit, admin_only=True), methods=["GET"]),
    ]
