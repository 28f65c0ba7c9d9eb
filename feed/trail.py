"""An update's public trail: the versions readers were told about. Pure, no I/O.

The trail starts with the version readers first saw and adds every later
published version that carried a mark: "Updated" (``mark_updated``) or a
public correction (with its note). A fix made without a mark stays silent:
it is no step of its own, and its change shows in the next marked step's
difference (or only in the current text when no mark followed). Each step
carries the word-level difference of headline and text from the step
before it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Literal

from feed.diff import Segment, changed, text_of, words
from feed.model import Entry, Event

Mark = Literal["published", "updated", "correction"]


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    version: int
    at: int
    """Epoch ms: when this version went public (its mark's time)."""
    mark: Mark
    note: str | None
    """The correction note of a correction step."""
    entry: Entry
    headline: list[Segment]
    text: list[Segment]

    @property
    def changed(self) -> bool:
        return changed(self.headline) or changed(self.text)


def mark_of(before: Entry, after: Entry) -> Mark | None:
    """How readers were told of ``after``, a later version of the public ``before``.

    None: a silent fix, or no longer public.
    """
    if not after.visible:
        return None
    if after.corrected_at is not None and after.corrected_at != before.corrected_at:
        return "correction"
    if after.updated_at is not None and after.updated_at != before.updated_at:
        return "updated"
    return None


def trail(events: Iterable[Event]) -> list[Step]:
    """The public steps of one entry's history, oldest first."""
    steps: list[Step] = []
    previous: Entry | None = None
    shown: Entry | None = None
    for event in events:
        entry = event.entry
        if previous is not None and entry.version <= previous.version:
            continue
        if previous is not None and steps:
            mark = mark_of(previous, entry)
        else:
            mark = "published" if entry.visible else None
        previous = entry
        if mark is None:
            continue
        base_headline = shown.headline if shown else entry.headline
        base_text = text_of(shown.body) if shown else text_of(entry.body)
        at = entry.published_at
        if mark == "correction" and entry.corrected_at is not None:
            at = entry.corrected_at
        elif mark == "updated" and entry.updated_at is not None:
            at = entry.updated_at
        steps.append(
            Step(
                version=entry.version,
                at=at,
                mark=mark,
                note=entry.correction_note if mark == "correction" else None,
                entry=entry,
                headline=words(base_headline, entry.headline),
                text=words(base_text, text_of(entry.body)),
            )
        )
        shown = entry
    return steps
