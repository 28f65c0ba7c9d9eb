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

from feed.errors import InvalidInput
from feed.model import Entry, Event, EventKind, parse_rfc3339

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

CREATE_FIELDS = frozenset({"headline", "body", "url", "published_at", "publish_at", "pinned"})
EDIT_FIELDS = frozenset(
    {"headline", "body", "url", "published_at", "publish_at", "pinned", "mark_updated"}
)


def sanitize_body(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    ).strip()


def _headline(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput("headline must be a string", field="headline")
    text = " ".join(value.split())
    if not text:
        raise InvalidInput("headline is required and cannot be blank", field="headline")
    if len(text) > HEADLINE_MAX:
        raise InvalidInput(f"headline is longer than {HEADLINE_MAX} characters", field="headline")
    if any(ord(c) < 32 for c in text):
        raise InvalidInput("headline contains control characters", field="headline")
    return text


def _body(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("body must be a string of HTML", field="body")
    if len(value) > BODY_MAX:
        raise InvalidInput(f"body is longer than {BODY_MAX} characters", field="body")
    return sanitize_body(value)


def _url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > URL_MAX:
        raise InvalidInput(f"url must be a string of at most {URL_MAX} characters", field="url")
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        raise InvalidInput("url is not a valid URL", field="url") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() for c in value.strip())
    ):
        raise InvalidInput("url must be an absolute http or https URL", field="url")
    return value.strip()


def _time(value: Any, field: str) -> int:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be an RFC 3339 date-time string", field=field)
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} is not an RFC 3339 date-time: {exc}", field=field) from None


def _published_at(value: Any, now: int) -> int:
    ms = _time(value, "published_at")
    if ms > now + FUTURE_SKEW_MS:
        raise InvalidInput(
            "published_at is in the future; use publish_at to schedule", field="published_at"
        )
    if ms < now - BACKDATE_LIMIT_MS:
        raise InvalidInput("published_at is more than 30 days in the past", field="published_at")
    return ms


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
    """Validate a create request into the first event of a new entry."""
    data = _check_fields(data, CREATE_FIELDS)
    if "headline" not in data:
        raise InvalidInput("headline is required", field="headline")
    if "published_at" in data and "publish_at" in data:
        raise InvalidInput("give published_at or publish_at, not both", field="publish_at")
    status: Any = "published"
    published = now
    if data.get("published_at") is not None:
        published = _published_at(data["published_at"], now)
    if data.get("publish_at") is not None:
        published = _publish_at(data["publish_at"], now)
        if published > now:
            status = "scheduled"
        else:
            published = now
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
    return Event("create", entry, actor, now, tuple(k for k in CREATE_FIELDS if k in data))


def edit_entry(current: Entry, data: Any, *, actor: str, now: int) -> Event:
    """Validate an edit (PATCH) into the event that moves to the next version."""
    data = _check_fields(data, EDIT_FIELDS)
    if current.status == "retracted":
        raise InvalidInput("a retracted entry cannot be edited", field="status")
    changes: dict[str, Any] = {}
    if "headline" in data:
        changes["headline"] = _headline(data["headline"])
    if "body" in data:
        changes["body"] = _body(data["body"])
    if "url" in data:
        changes["url"] = _url(data["url"])
    if "pinned" in data:
        changes["pinned"] = _bool(data["pinned"], "pinned")
    if "published_at" in data and data["published_at"] is not None:
        if current.status == "scheduled":
            raise InvalidInput("a scheduled entry is moved with publish_at", field="published_at")
        changes["published_at"] = _published_at(data["published_at"], now)
    if "publish_at" in data:
        if current.status != "scheduled":
            raise InvalidInput("only a scheduled entry can be rescheduled", field="publish_at")
        if data["publish_at"] is None:
            changes["published_at"], changes["status"] = now, "published"
        else:
            at = _publish_at(data["publish_at"], now)
            changes["published_at"] = max(at, now) if at > now else now
            if at <= now:
                changes["status"] = "published"
    mark = _bool(data.get("mark_updated", False), "mark_updated")
    if not changes and not mark:
        raise InvalidInput("the edit changes nothing", field="body")
    if mark and current.status == "published":
        changes["updated_at"] = now
    entry = dataclasses.replace(current, version=current.version + 1, **changes)
    return Event("edit", entry, actor, now, tuple(sorted(k for k in data if k != "mark_updated")))


def retract_entry(current: Entry, *, actor: str, now: int) -> Event:
    if current.status == "retracted":
        raise InvalidInput("the entry is already retracted", field="status")
    entry = dataclasses.replace(
        current, version=current.version + 1, status="retracted", pinned=False
    )
    return Event("retract", entry, actor, now, ("status",))


def publish_due(current: Entry, *, now: int, actor: str = "scheduler") -> Event | None:
    """The event that publishes a scheduled entry whose time has come, if any."""
    if current.status != "scheduled" or current.published_at > now:
        return None
    entry = dataclasses.replace(current, version=current.version + 1, status="published")
    return Event("publish", entry, actor, now, ("status",))


EVENT_KINDS: tuple[EventKind, ...] = ("create", "edit", "retract", "publish")
