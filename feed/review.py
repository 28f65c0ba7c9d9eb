"""Drafts and review: who may do what to an entry, and the review states.

An entry in review is invisible to readers, like a scheduled one: the
public projection only ever shows ``published`` entries, so a draft never
reaches the public view, the live stream, the feed documents or webhooks.

    draft ──submit──► submitted ──return (note)──► returned
      ▲                 │   ▲                          │
      └─────(save)──────┘   └─────────submit───────────┘
    draft | submitted | returned ──publish (editor)──► published

Writers are of two kinds. One *may publish* (an editor or admin, an API
token of scope ``publish``); the other may only draft (a ``contributor``, a
token of scope ``draft``). A drafting writer may create drafts and submit
them, and edit the review-state entries they wrote; never publish, edit a
published or scheduled entry, retract, pin or set a publication time.
Everything here is pure: ``Editorial`` calls these checks before it writes,
so the admin page and the API enforce the same rules, and a refused action
(``Forbidden``, 403) writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from feed.errors import Forbidden, InvalidInput
from feed.model import Entry, EventKind, Status

ReviewState = Literal["draft", "submitted", "returned"]
REVIEW_STATES: tuple[ReviewState, ...] = ("draft", "submitted", "returned")
CREATE_STATES = ("published", "draft", "submitted")
NOTE_MAX = 2000

# state asked for -> (the states it can be reached from, the event kind)
TRANSITIONS: dict[Status, tuple[frozenset[str], EventKind]] = {
    "draft": (frozenset({"draft", "submitted", "returned"}), "edit"),
    "submitted": (frozenset({"draft", "submitted", "returned"}), "submit"),
    "returned": (frozenset({"submitted"}), "return"),
    "published": (frozenset(REVIEW_STATES), "publish"),
}
DRAFTER_FIELDS = frozenset({"headline", "body", "url", "status", "mark_updated"})


def in_review(entry: Entry) -> bool:
    return entry.status in REVIEW_STATES


def check_create(data: Any, *, may_publish: bool) -> None:
    """Refuse a create that a drafting writer may not make (before validation)."""
    if may_publish or not isinstance(data, dict):
        return
    status = data.get("status")
    if status not in ("draft", "submitted"):
        raise Forbidden(
            "you may only save drafts or submit them for review: "
            'give "status": "draft" or "submitted"'
        )
    if data.get("pinned"):
        raise Forbidden("only an editor can pin an update")
    for field in ("published_at", "publish_at"):
        if data.get(field) is not None:
            raise Forbidden("only an editor sets when an update is published")


def check_edit(current: Entry, data: Any, *, may_publish: bool, is_author: bool) -> None:
    """Refuse an edit that the writer may not make (before validation)."""
    if may_publish:
        return
    if not in_review(current):
        raise Forbidden("only an editor can change a published, scheduled or retracted update")
    if not is_author:
        raise Forbidden("a contributor can change only their own drafts")
    if isinstance(data, dict):
        extra = sorted(set(data) - DRAFTER_FIELDS)
        if extra:
            raise Forbidden(f"only an editor can change {extra[0]}")
        if data.get("status") not in (None, "draft", "submitted"):
            raise Forbidden("only an editor can publish or send back an update")


def check_retract(current: Entry, *, may_publish: bool) -> None:
    if not may_publish:
        raise Forbidden("only an editor can retract an update")


def target_state(current: Entry, data: Mapping[str, Any]) -> tuple[Status, EventKind] | None:
    """(new status, event kind) when the edit moves the entry between states."""
    if "status" not in data:
        return None
    wanted = data["status"]
    if not isinstance(wanted, str) or wanted not in TRANSITIONS:
        raise InvalidInput("status is draft, submitted, returned or published", field="status")
    sources, kind = TRANSITIONS[wanted]
    if current.status == wanted == "published":
        return None  # a CMS sending the whole entry back: no change of state
    if current.status not in sources:
        raise InvalidInput(f"a {current.status} update cannot become {wanted}", field="status")
    return wanted, kind


def check_note(data: Mapping[str, Any], wanted: str | None) -> str:
    note = data.get("note")
    if note is None:
        if wanted == "returned":
            raise InvalidInput("say what to fix: a note is required to send back", field="note")
        return ""
    if not isinstance(note, str):
        raise InvalidInput("note is text", field="note")
    note = note.strip()
    if wanted != "returned":
        raise InvalidInput("a note goes with sending an update back", field="note")
    if not 1 <= len(note) <= NOTE_MAX:
        raise InvalidInput(f"the note is 1-{NOTE_MAX} characters", field="note")
    return note
