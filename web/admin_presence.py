"""Presence on the admin page: who else is on this feed, who has this entry open.

``admin.js`` beats ``POST /admin/feeds/{feed}/presence`` every 3 s from the
editor screen and from an entry's edit page (``entry`` = its id), with the
page's random ``tab`` id and the session's CSRF token in ``X-CSRF-Token``; the
answer lists everyone else present, which the page shows ("Olena is editing
this update"). ``leave=1`` (sent with ``navigator.sendBeacon`` when the page
is closed) removes the tab at once. feed.presence keeps the beats in Redis,
so any web process answers and a restart loses nothing that matters.

Why a beat over HTTP rather than a second admin WebSocket: a desk has a
handful of editors, a beat every 3 s each is nothing, it goes through the
same guard (session, CSRF, grant) as every admin request, and it needs no
connection state in the web processes.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from feed.errors import InvalidInput
from feed.presence import ENTRY_RE, TAB_RE, Presence, others
from web.admin_auth import Ctx, Guard
from web.admin_render import page_headers
from web.admin_review import who

BEAT_MS = 3000


async def beat(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    form = await request.form()
    tab, entry, leave = form.get("tab"), form.get("entry") or None, form.get("leave") == "1"
    if not isinstance(tab, str) or not TAB_RE.match(tab):
        raise InvalidInput("tab is 8-64 letters, digits, - or _", field="tab")
    if entry is not None and (not isinstance(entry, str) or not ENTRY_RE.match(entry)):
        raise InvalidInput("entry is an entry id", field="entry")
    presence = Presence(ctx.store.redis)
    user = ctx.user.actor
    if leave:
        await presence.leave(ctx.feed.slug, user, entry, tab)
        return Response(status_code=204, headers=page_headers(request))
    seen = await presence.beat(ctx.feed.slug, user, entry, tab)
    body = {
        "beat_ms": BEAT_MS,
        "here": [{"user": who(s.user), "entry": s.entry} for s in others(seen, user)],
    }
    return Response(
        orjson.dumps(body), media_type="application/json", headers=page_headers(request)
    )


def routes(guard: Guard) -> list[BaseRoute]:
    return [Route("/feeds/{feed}/presence", guard(beat), methods=["POST"])]
