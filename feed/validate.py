"""Validation and sanitising of editors' input: pure functions, no I/O.

Every rejection raises ``InvalidInput`` naming the offending field; nothing
is partly accepted. Bodies are sanitised by nh3 against a small allow-list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import nh3

from feed import review
from feed.errors import InvalidInput
from feed.model import ENTRY_FIELDS, Entry, Event, EventKind, Status, parse_rfc3339

HEADLINE_MAX = 300
BODY_MAX = 20_000
URL_MAX = 2_000
BACKDATE_LIMIT_MS = 30 * 24 * 3600 * 1000
FUTURE_SKEW_MS = 60 * 1000
SCHEDULE_LIMIT_MS = 366 * 24 * 3600 * 1000

ALLOWED_TAGS = {
    "p",
    "br",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "s",
    "a",
    "ul",
    "ol",
    "li",
    "blockquote",
    "q",
    "code",
    "sub",
    "sup",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}

CREATE_FIELDS = frozenset(
    {"headline", "body", "url", "published_at", "publish_at", "pinned", "status"}
)
EDIT_FIELDS = frozenset(
    {
        "headline",
        "body",
        "url",
        "published_at",
        "publish_at",
        "pinned",
        "mark_updated",
        "status",
        "note",
    }
)


def sanitize_body(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    ).strip()


def _text(value: Any, field: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be {what}", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} is not valid Unicode text", field=field) from None
    return value


def _headline(value: Any) -> str:
    text = " ".join(_text(value, "headline", "a string").split())
    if not text:
        raise InvalidInput("headline is required and cannot be blank", field="headline")
    if len(text) > HEADLINE_MAX:
        raise InvalidInput(f"headline is longer than {HEADLINE_MAX} characters", field="headline")
    if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text):
        raise InvalidInput("headline contains control characters", field="headline")
    return text


def _body(value: Any) -> str:
    if value is None:
        return ""
    html = _text(value, "body", "a string of HTML")
    if len(html) > BODY_MAX:
        raise InvalidInput(f"body is longer than {BODY_MAX} characters", field="body")
    return sanitize_body(html)


def _url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = _text(value, "url", f"a string of at most {URL_MAX} characters").strip()
    if len(text) > URL_MAX:
        raise InvalidInput(f"url must be a string of at most {URL_MAX} characters", field="url")
    try:
        parts = urlsplit(text)
        host, _ = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError:
        raise InvalidInput("url is not a valid URL", field="url") from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not host
        or any(c.isspace() or ord(c) < 32 or ord(c) == 0x7F for c in text)
    ):
        raise InvalidInput("url must be an absolute http or https URL", field="url")
    return text


def _time(value: Any, field: str) -> int:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be an RFC 3339 date-time string", field=field)
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} is not an RFC 3339 date-time: {exc}", field=field) from None


def _published_at(value: Any, now: int) -> int:
    """A given publication time: backdated at most 30 days, never in the future.

    A time up to a minute ahead (a client clock running fast) is taken as
    now: the server clock decides.
    """
    ms = _time(value, "published_at")
    if ms > now + FUTURE_SKEW_MS:
        raise InvalidInput(
            "published_at is in the future; use publish_at to schedule", field="published_at"
        )
    if ms < now - BACKDATE_LIMIT_MS:
        raise InvalidInput("published_at is more than 30 days in the past", field="published_at")
    return min(ms, now)


def _publish_at(value: Any, now: int) -> int:
    ms = _time(value, "publish_at")
    if ms > now + SCHEDULE_LIMIT_MS:
        raise InvalidInput("publish_at is more than a year ahead", field="publish_at")
    return ms


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be true or false", field=field)
    return value


def _check_fields(data: Any, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput("the request body must be a JSON object", field="body")
    for key in data:
        if key not in allowed:
            raise InvalidInput(f"unknown field {key!r}", field=str(key))
    return data


def new_entry(data: Any, *, feed: str, entry_id: str, actor: str, now: int) -> Event:
    """Validate a create request into the first event of a new entry.

    ``published_at`` backdates (at most 30 days); ``publish_at`` schedules
    (at most a year ahead; a time already past publishes now). Without
    either, the server clock decides.
    """
    data = _check_fields(data, CREATE_FIELDS)
    if "headline" not in data:
        raise InvalidInput("headline is required", field="headline")
    if data.get("published_at") is not None and data.get("publish_at") is not None:
        raise InvalidInput("give published_at or publish_at, not both", field="publish_at")
    status: Status = "published"
    published = now
    wanted = data.get("status", "published")
    if not isinstance(wanted, str) or wanted not in review.CREATE_STATES:
        raise InvalidInput("a new update is published, draft or submitted", field="status")
    if wanted != "published":
        for field in ("published_at", "publish_at"):
            if data.get(field) is not None:
                raise InvalidInput("a draft gets its time when it is published", field=field)
        status = "draft" if wanted == "draft" else "submitted"
    if data.get("published_at") is not None:
        published = _published_at(data["published_at"], now)
    if data.get("publish_at") is not None:
        at = _publish_at(data["publish_at"], now)
        if at > now:
            status, published = "scheduled", at
    entry = Entry(
        id=entry_id,
        feed=feed,
        version=1,
        headline=_headline(data["headline"]),
        body=_body(data.get("body")),
        url=_url(data.get("url")),
        published_at=published,
        updated_at=None,
        status=status,
        pinned=_bool(data.get("pinned", False), "pinned"),
    )
    given = {"published_at" if k == "publish_at" else k for k, v in data.items() if v is not None}
    return Event("create", entry, actor, now, tuple(f for f in ENTRY_FIELDS if f in given))


def changed_fields(old: Entry, new: Entry) -> tuple[str, ...]:
    """The entry fields (other than the version) that differ, in JSON order."""
    return tuple(
        f for f in ENTRY_FIELDS if f not in ("id", "version") and getattr(old, f) != getattr(new, f)
    )


def edit_entry(current: Entry, data: Any, *, actor: str, now: int) -> Event:
    """Validate an edit (PATCH) into the event that moves to the next version.

    Only the given fields change. ``mark_updated: true`` sets ``updated_at``
    (the "Updated" mark readers see) on a published entry; without it a
    correction stays silent. ``publish_at`` moves a scheduled entry (null or
    a past time publishes it now); ``published_at`` re-dates a published
    one. An edit that changes nothing is rejected.
    """
    data = _check_fields(data, EDIT_FIELDS)
    if current.status == "retracted":
        raise InvalidInput("a retracted entry cannot be edited", field="status")
    target = review.target_state(current, data)
    note = review.check_note(data, target[0] if target else None)
    if review.in_review(current) and data.get("published_at") is not None:
        raise InvalidInput("a draft gets its time when it is published", field="published_at")
    changes: dict[str, Any] = {}
    if "headline" in data:
        changes["headline"] = _headline(data["headline"])
    if "body" in data:
        changes["body"] = _body(data["body"])
    if "url" in data:
        changes["url"] = _url(data["url"])
    if "pinned" in data:
        changes["pinned"] = _bool(data["pinned"], "pinned")
    if data.get("published_at") is not None:
        if current.status == "scheduled":
            raise InvalidInput("a scheduled entry is moved with publish_at", field="published_at")
        if "publish_at" in data:
            raise InvalidInput("give published_at or publish_at, not both", field="publish_at")
        given = _time(data["published_at"], "published_at")
        # Sending the current time back (a CMS saving the whole entry) is
        # no change, however old the entry is.
        if given != current.published_at:
            changes["published_at"] = _published_at(data["published_at"], now)
    if "publish_at" in data:
        if current.status != "scheduled":
            raise InvalidInput("only a scheduled entry can be rescheduled", field="publish_at")
        at = None if data["publish_at"] is None else _publish_at(data["publish_at"], now)
        if at is not None and at > now:
            changes["published_at"] = at
        else:
            changes["published_at"], changes["status"] = now, "published"
    mark = _bool(data.get("mark_updated", False), "mark_updated")
    if mark and current.status == "published":
        changes["updated_at"] = now
    kind: EventKind = "edit"
    if target is not None:
        changes["status"], kind = target
        if target[0] == "published":
            # published now: the time readers see is the publication, not the draft's
            changes["published_at"], changes["updated_at"] = now, None
    entry = dataclasses.replace(current, version=current.version + 1, **changes)
    diff = changed_fields(current, entry)
    if not diff:
        field = next(iter(sorted(data)), "body")
        raise InvalidInput("the edit changes nothing", field=field)
    return Event(kind, entry, actor, now, diff, note)


def retract_entry(current: Entry, *, actor: str, now: int) -> Event:
    if current.status == "retracted":
        raise InvalidInput("the entry is already retracted", field="status")
    entry = dataclasses.replace(
        current, version=current.version + 1, status="retracted", pinned=False
    )
    return Event("retract", entry, actor, now, changed_fields(current, entry))


def publish_due(current: Entry, *, now: int, actor: str = "scheduler") -> Event | None:
    """The event that publishes a scheduled entry whose time has come, if any."""
    if current.status != "scheduled" or current.published_at > now:
        return None
    entry = dataclasses.replace(current, version=current.version + 1, status="published")
    return Event("publish", entry, actor, now, ("status",))
