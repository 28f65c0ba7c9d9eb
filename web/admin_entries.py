"""Entry actions on the admin page: edit (with conflicts), retract, pin, history.

An edit form carries the version it was loaded at. Saving sends only the
fields the editor changed relative to that version, with ``If-Match`` at that
version; if another editor saved meanwhile (PreconditionFailed) the page shows
their current version next to the unsaved one and offers to apply the
editor's changes on top of the current version (only the fields the editor
touched, so the other editor's changes to other fields survive) or to
discard them.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from feed.errors import Forbidden, InvalidInput, PreconditionFailed
from feed.model import Entry, Event, to_rfc3339
from feed.pairing import Pairing
from feed.review import in_review
from feed.validate import sanitize_body
from web import bylines, embed_refs, photo_refs
from web.admin_auth import Ctx, Guard
from web.admin_render import flash, input_time, parse_input_time
from web.admin_review import info_of, requested, shown_to, who
from web.api import json_response
from web.state import state

FIELDS = ("headline", "body", "url", "pinned", "publish_at")


def _text(form: FormData, name: str, limit: int = 25_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _version(form: FormData, name: str) -> int:
    raw = _text(form, name, 12)
    if not raw.isdigit() or not 0 < int(raw) < 10**9:
        raise InvalidInput("the form lost its version; reload the entry", field=name)
    return int(raw)


def submitted(form: FormData) -> dict[str, Any]:
    """What the editor's form says, as the form's own strings and booleans.

    The key-event fields count only when the form had them (an editor's):
    a contributor's form never unmarks a key event by leaving them out.
    """
    out: dict[str, Any] = {
        "headline": _text(form, "headline"),
        "body": _text(form, "body"),
        "url": _text(form, "url").strip(),
        "pinned": form.get("pinned") == "1",
        "publish_at": _text(form, "publish_at").strip(),
        "mark_updated": form.get("mark_updated") == "1",
        "correction": _text(form, "correction", 2_000).strip(),
        "authors": [a for a in form.getlist("authors") if isinstance(a, str)][:10],
        "photo_id": _text(form, "photo_id", 40).strip(),
        "photo_alt": _text(form, "photo_alt", 1000),
        "photo_caption": _text(form, "photo_caption", 2000),
        "photo_credit": _text(form, "photo_credit", 500),
        "photo_preview": "",
        "embed": None,
    }
    if "embed_url" in form:  # an older form without the field keeps the embed
        out["embed_url"] = _text(form, "embed_url", 4000).strip()
    if form.get("key_fields") == "1":
        out["key_event"] = form.get("key_event") == "1"
        out["key_label"] = _text(form, "key_label", 200).strip()
    return out


def values_of(entry: Entry, tz: str) -> dict[str, Any]:
    return {
        "headline": entry.headline,
        "body": entry.body,
        "url": entry.url or "",
        "pinned": entry.pinned,
        "publish_at": input_time(entry.published_at, tz) if entry.status == "scheduled" else "",
        "mark_updated": False,
        "key_event": entry.key_event,
        "key_label": entry.key_label or "",
        "correction": "",
        "authors": [a.id for a in entry.authors],
        "photo_id": entry.photo.id if entry.photo else "",
        "photo_alt": entry.photo.alt if entry.photo else "",
        "photo_caption": (entry.photo.caption or "") if entry.photo else "",
        "photo_credit": (entry.photo.credit or "") if entry.photo else "",
        "photo_preview": entry.photo.sizes[0].jpeg if entry.photo else "",
        "embed_url": entry.embed.url if entry.embed else "",
        "embed": entry.embed,
    }


def changes(yours: dict[str, Any], base: Entry, tz: str) -> dict[str, Any]:
    """The edit request: the fields the editor changed relative to ``base``."""
    data: dict[str, Any] = {}
    if " ".join(yours["headline"].split()) != base.headline:
        data["headline"] = yours["headline"]
    if sanitize_body(yours["body"]) != base.body:
        data["body"] = yours["body"]
    if (yours["url"] or None) != base.url:
        data["url"] = yours["url"] or None
    if yours["pinned"] != base.pinned:
        data["pinned"] = yours["pinned"]
    if base.status == "scheduled" and yours["publish_at"] != input_time(base.published_at, tz):
        if yours["publish_at"]:
            try:
                data["publish_at"] = parse_input_time(yours["publish_at"], tz)
            except ValueError:
                raise InvalidInput(
                    "the publish time is not a valid date and time", field="publish_at"
                ) from None
        else:
            data["publish_at"] = None
    if yours.get("key_event", base.key_event) != base.key_event:
        data["key_event"] = yours["key_event"]
    label = " ".join(str(yours.get("key_label") or "").split()) or None
    if yours.get("key_event", base.key_event) and label != base.key_label:
        data["key_label"] = label
    if "photo_id" in yours:
        photo = photo_changes(yours, base)
        if photo is not False:
            data["photo"] = photo
    if "embed_url" in yours and yours["embed_url"] != (base.embed.url if base.embed else ""):
        data["embed"] = {"url": yours["embed_url"]} if yours["embed_url"] else None
    if "authors" in yours and list(yours["authors"]) != [a.id for a in base.authors]:
        data["authors"] = list(yours["authors"])
    if yours["mark_updated"]:
        data["mark_updated"] = True
    if yours.get("correction"):
        data["correction"] = yours["correction"]
    return data


def photo_changes(yours: dict[str, Any], base: Entry) -> dict[str, Any] | bool | None:
    """The photo reference to send: None removes it, False means unchanged."""
    if not yours["photo_id"]:
        return None if base.photo is not None else False
    texts = {
        "alt": yours.get("photo_alt") or "",
        "caption": yours.get("photo_caption") or "",
        "credit": yours.get("photo_credit") or "",
    }
    ph = base.photo
    if ph is not None and ph.id == yours["photo_id"]:
        same = (
            " ".join(texts["alt"].split()) == ph.alt
            and (" ".join(texts["caption"].split()) or None) == ph.caption
            and (" ".join(texts["credit"].split()) or None) == ph.credit
        )
        if same:
            return False
    return {"id": yours["photo_id"], **texts}


async def _history(ctx: Ctx, entry_id: str) -> list[Event]:
    assert ctx.feed is not None
    events: list[Event] = await ctx.store.editorial.history(ctx.feed.slug, entry_id)
    return events


async def _version_of(ctx: Ctx, entry_id: str, version: int) -> Entry | None:
    """The entry as it was at ``version`` (what an edit form was loaded at)."""
    assert ctx.feed is not None
    current: Entry = await ctx.store.editorial.get_entry(ctx.feed.slug, entry_id)
    if current.version == version:
        return current
    events = await _history(ctx, entry_id)
    return next((e.entry for e in events if e.entry.version == version), None)


async def entry_page(
    request: Request,
    ctx: Ctx,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    version: int | None = None,
    tag: str | None = None,
    error: InvalidInput | None = None,
) -> Response:
    assert ctx.feed is not None
    entry_id = request.path_params["id"]
    entry: Entry = await ctx.store.editorial.get_entry(ctx.feed.slug, entry_id)
    events = await _history(ctx, entry_id)
    info = info_of(events)
    if not shown_to(ctx.user, entry, {entry.id: info}):
        raise Forbidden("this draft is someone else's")
    mine = info.author == ctx.user.actor
    return ctx.ui.page(
        request,
        "entry.html",
        status,
        title=f"Edit: {entry.headline}",
        user=ctx.user,
        feed=ctx.feed,
        entry=entry,
        review=info,
        who=who,
        in_review=in_review(entry),
        can_change=ctx.user.may_publish or (in_review(entry) and mine),
        translation=(
            await Pairing(ctx.store.redis, ctx.store.registry, ctx.store.editorial).translations(
                ctx.feed, [entry.id]
            )
        ).get(entry.id),
        values=values or values_of(entry, ctx.feed.timezone),
        version=version or entry.version,
        base=version or entry.version,
        tag=tag if version else entry.tag(),
        events=list(reversed(events)),
        colleagues=await bylines.colleagues(ctx.accounts, ctx.feed.slug),
        error=error,
    )


async def show_entry(request: Request, ctx: Ctx) -> Response:
    return await entry_page(request, ctx)


async def save_entry(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    feed, entry_id = ctx.feed, request.path_params["id"]
    store = ctx.store
    form = await request.form()
    yours = submitted(form)
    tag = _tag(form)
    try:
        version = _version(form, "version")
        base_version = _version(form, "base") if form.get("base") else version
        base = await _version_of(ctx, entry_id, base_version)
        if base is None or (base_version == version and tag and base.tag() != tag):
            # The version this form was loaded at is not in the store any
            # more: it was lost when Redis came back from an older copy.
            return await conflict(request, ctx, entry_id, yours, base_version, lost=True)
        if not ctx.user.may_publish:
            yours["pinned"] = base.pinned  # a contributor's form has no Pinned box
        data = changes(yours, base, feed.timezone)
        data.update(requested(form, base))
        if not data:
            flash(request, "Nothing changed.", "info")
            return RedirectResponse(f"/admin/feeds/{feed.slug}/entries/{entry_id}", 303)
        data = await bylines.resolve(ctx.accounts, feed.slug, data, default=None)
        data = await photo_refs.resolve(state(request).photos, feed.slug, data)
        data = embed_refs.resolve(state(request).settings, data)
        entry = await store.editorial.edit_entry(
            feed.slug,
            entry_id,
            data,
            if_match=version,
            actor=ctx.user.actor,
            if_tag=tag,
            may_publish=ctx.user.may_publish,
        )
    except PreconditionFailed:
        return await conflict(request, ctx, entry_id, yours, base_version)
    except InvalidInput as exc:
        return await entry_page(
            request,
            ctx,
            status=422,
            values=yours,
            version=version_or_none(form),
            tag=tag,
            error=exc,
        )
    done = {
        "draft": "Draft saved",
        "submitted": "Submitted for review",
        "returned": "Sent back",
        "published": "Saved",
    }.get(entry.status, "Saved")
    if data.get("status") == "published":
        done = "Published"
    flash(request, f"{done} (version {entry.version}): {entry.headline}")
    return RedirectResponse(f"/admin/feeds/{feed.slug}?e={entry.id}", status_code=303)


def _tag(form: FormData) -> str | None:
    """The ``Entry.tag`` of the version the form was loaded at (None: not sent)."""
    raw = _text(form, "tag", 32)
    return raw if raw and raw.isalnum() else None


def version_or_none(form: FormData) -> int | None:
    try:
        return _version(form, "version")
    except InvalidInput:
        return None


async def conflict(
    request: Request,
    ctx: Ctx,
    entry_id: str,
    yours: dict[str, Any],
    base_version: int,
    *,
    lost: bool = False,
) -> Response:
    """Their current version next to yours. ``lost``: yours was based on a
    version the store no longer has (a restore); every field you sent is
    then shown as yours, nothing is taken from the lost base."""
    assert ctx.feed is not None
    current: Entry = await ctx.store.editorial.get_entry(ctx.feed.slug, entry_id)
    events = await _history(ctx, entry_id)
    base = None if lost else await _version_of(ctx, entry_id, base_version)
    if base is None:
        base = current
        lost = True
    unmarked = dict(yours, mark_updated=False, correction="")
    changed = list(changes(unmarked, base, ctx.feed.timezone))
    since = [e for e in events if e.entry.version > base_version]
    return ctx.ui.page(
        request,
        "conflict.html",
        409,
        title="Changed by someone else",
        user=ctx.user,
        feed=ctx.feed,
        theirs=current,
        yours=yours,
        changed=changed,
        since=since,
        base_version=base_version,
        lost=lost,
    )


async def retract_confirm(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    if not ctx.user.may_publish:
        raise Forbidden("only an editor can retract an update")
    entry = await ctx.store.editorial.get_entry(ctx.feed.slug, request.path_params["id"])
    return ctx.ui.page(
        request, "retract.html", title="Retract?", user=ctx.user, feed=ctx.feed, entry=entry
    )


async def retract(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    feed, entry_id = ctx.feed.slug, request.path_params["id"]
    form = await request.form()
    try:
        entry = await ctx.store.editorial.retract_entry(
            feed,
            entry_id,
            if_match=_version(form, "version"),
            actor=ctx.user.actor,
            if_tag=_tag(form),
            may_publish=ctx.user.may_publish,
        )
    except PreconditionFailed:
        flash(request, "Someone changed this entry meanwhile. Check it and confirm again.", "warn")
        return RedirectResponse(f"/admin/feeds/{feed}/entries/{entry_id}/retract", 303)
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse(f"/admin/feeds/{feed}", 303)
    flash(request, f"Retracted: {entry.headline}")
    return RedirectResponse(f"/admin/feeds/{feed}?e={entry.id}", status_code=303)


async def pin(request: Request, ctx: Ctx) -> Response:
    """Pin or unpin: the editor's intent holds whatever else changed meanwhile."""
    assert ctx.feed is not None
    feed, entry_id = ctx.feed.slug, request.path_params["id"]
    if not ctx.user.may_publish:
        raise Forbidden("only an editor can pin an update")
    want = (await request.form()).get("pinned") == "1"
    store = ctx.store
    current: Entry = await store.editorial.get_entry(feed, entry_id)
    word = "Pinned" if want else "Unpinned"
    if current.pinned == want:
        flash(request, f"Already {word.lower()}.", "info")
        return RedirectResponse(f"/admin/feeds/{feed}", 303)
    try:
        entry = await store.editorial.edit_entry(
            feed, entry_id, {"pinned": want}, if_match=current.version, actor=ctx.user.actor
        )
    except PreconditionFailed:
        flash(request, "Someone changed this entry at the same moment; try again.", "warn")
        return RedirectResponse(f"/admin/feeds/{feed}", 303)
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse(f"/admin/feeds/{feed}", 303)
    flash(request, f"{word}: {entry.headline}")
    return RedirectResponse(f"/admin/feeds/{feed}?e={entry.id}", status_code=303)


async def history_json(request: Request, ctx: Ctx) -> Response:
    """An entry's every editorial event (who, when, what changed), any status."""
    events = await _history(ctx, request.path_params["id"])
    return json_response(
        {
            "id": request.path_params["id"],
            "events": [
                {
                    "version": e.entry.version,
                    "kind": e.kind,
                    "actor": e.actor,
                    "at": to_rfc3339(e.at),
                    "changes": list(e.changes),
                    "entry": e.entry.to_json(),
                }
                for e in events
            ],
        },
        headers={"Cache-Control": "no-store"},
    )


def routes(guard: Guard) -> list[BaseRoute]:
    base = "/feeds/{feed}/entries/{id}"
    return [
        Route(base, guard(show_entry), methods=["GET"]),
        Route(base, guard(save_entry), methods=["POST"]),
        Route(base + "/history.json", guard(history_json), methods=["GET"]),
        Route(base + "/retract", guard(retract_confirm), methods=["GET"]),
        Route(base + "/retract", guard(retract), methods=["POST"]),
        Route(base + "/pin", guard(pin), methods=["POST"]),
    ]
