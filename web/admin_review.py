"""Drafts and review on the admin page: the queue, publish, send back.

The rules (who may move an entry where) are feed.review's, enforced in
``Editorial``; this module only reads the review facts an editor needs (who
wrote a draft, when it was submitted, the note it was sent back with) from
the entry's history, decides which entries a user's list shows, and turns
the queue's buttons into edits with ``status``.

Who sees what: a ``draft`` only its author; a submitted or returned entry
its author and every editor of the feed (the queue); a contributor sees the
published entries of the feed and their own drafts.
"""

from __future__ import annotations

import dataclasses

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from feed.accounts import User
from feed.errors import Forbidden, InvalidInput, PreconditionFailed
from feed.model import Entry, Event
from feed.review import in_review
from feed.stores import Stores
from web.admin_auth import Ctx, Guard
from web.admin_render import flash

ACTIONS = {"draft": "draft", "submit": "submitted", "publish": "published", "return": "returned"}


@dataclasses.dataclass(frozen=True, slots=True)
class ReviewInfo:
    author: str
    """The actor who wrote the entry (``user:olena``)."""
    submitted_at: int | None
    """When it was last submitted (epoch ms), if it was."""
    note: str
    """The note of the last time it was sent back ('' if never)."""
    returned_by: str


def who(actor: str) -> str:
    """``user:olena`` -> ``olena``; tokens stay as they are."""
    return actor.removeprefix("user:")


def info_of(events: list[Event]) -> ReviewInfo:
    author = events[0].actor if events else ""
    submitted = [e.at for e in events if e.entry.status == "submitted"]
    returns = [e for e in events if e.kind == "return"]
    return ReviewInfo(
        author=author,
        submitted_at=submitted[-1] if submitted else None,
        note=returns[-1].note if returns else "",
        returned_by=returns[-1].actor if returns else "",
    )


async def review_infos(store: Stores, feed: str, entries: list[Entry]) -> dict[str, ReviewInfo]:
    out = {}
    for e in entries:
        if in_review(e):
            out[e.id] = info_of(await store.editorial.history(feed, e.id))
    return out


def shown_to(user: User, entry: Entry, infos: dict[str, ReviewInfo]) -> bool:
    if not in_review(entry):
        return True
    mine = infos[entry.id].author == user.actor
    if entry.status == "draft" or not user.may_publish:
        return mine
    return True


def queue(entries: list[Entry], infos: dict[str, ReviewInfo]) -> list[Entry]:
    """Submitted entries, the longest waiting first."""
    waiting = [e for e in entries if e.status == "submitted"]
    return sorted(waiting, key=lambda e: infos[e.id].submitted_at or e.published_at)


def requested(form: FormData, base: Entry) -> dict[str, str]:
    """The ``status`` (and ``note``) a form's button asks for; {} to just save."""
    action = form.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        return {}
    wanted = ACTIONS[action]
    if wanted == base.status:
        return {}
    out = {"status": wanted}
    if wanted == "returned":
        note = form.get("note")
        out["note"] = note[:2000] if isinstance(note, str) else ""
    return out


def _version(form: FormData) -> int:
    raw = form.get("version")
    if not isinstance(raw, str) or not raw.isdigit() or not 0 < int(raw) < 10**9:
        raise InvalidInput("the form lost its version; reload the page", field="version")
    return int(raw)


async def review_action(request: Request, ctx: Ctx) -> Response:
    """The queue's buttons: publish, or send back with a note."""
    assert ctx.feed is not None
    feed, entry_id = ctx.feed.slug, request.path_params["id"]
    if not ctx.user.may_publish:
        raise Forbidden("only an editor can publish or send back an update")
    form = await request.form()
    page = f"/admin/feeds/{feed}/entries/{entry_id}"
    try:
        current = await ctx.store.editorial.get_entry(feed, entry_id)
        data = requested(form, current)
        if data.get("status") not in ("published", "returned"):
            raise InvalidInput("choose Publish or Send back", field="action")
        entry = await ctx.store.editorial.edit_entry(
            feed, entry_id, data, if_match=_version(form), actor=ctx.user.actor
        )
    except PreconditionFailed:
        flash(request, "The draft changed meanwhile. Check it, then decide again.", "warn")
        return RedirectResponse(page, 303)
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse(page, 303)
    if entry.status == "published":
        flash(request, f"Published: {entry.headline}")
    else:
        flash(request, f"Sent back: {entry.headline}")
    return RedirectResponse(f"/admin/feeds/{feed}?e={entry.id}", 303)


def routes(guard: Guard) -> list[BaseRoute]:
    return [
        Route("/feeds/{feed}/entries/{id}/review", guard(review_action), methods=["POST"]),
    ]
