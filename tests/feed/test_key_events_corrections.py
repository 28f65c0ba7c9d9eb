"""Key events and public corrections in the pure core: validation, trail, diff."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from feed.cursor import parse_stream_id
from feed.diff import text_of, words
from feed.documents import FeedInfo, render_atom, render_json, render_rss
from feed.errors import InvalidInput
from feed.livestream import LiveMessage
from feed.model import Entry, Event, project, to_rfc3339
from feed.trail import trail
from feed.validate import edit_entry, new_entry, retract_entry
from feed.webhooks import event_body

NOW = 1_790_000_000_000


def create(**data: Any) -> Event:
    return new_entry(
        {"headline": "Strike on Kyiv", **data}, feed="news", entry_id="e1", actor="a", now=NOW
    )


def test_a_key_event_with_a_label_is_created_and_the_label_is_plain_text() -> None:
    entry = create(key_event=True, key_label="  Air   raid\talert ").entry
    assert entry.key_event and entry.key_label == "Air raid alert"
    assert "key_event" in Entry.loads(entry.dumps()).to_json()
    assert Entry.loads(entry.dumps()) == entry


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"key_label": "Alert"}, "key_label"),  # a label without the mark
        ({"key_event": "yes"}, "key_event"),
        ({"key_event": True, "key_label": "x" * 81}, "key_label"),
        ({"key_event": True, "key_label": "bell\x07"}, "key_label"),
        ({"key_event": True, "key_label": 5}, "key_label"),
    ],
)
def test_bad_key_event_input_is_refused(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        create(**data)
    assert exc.value.field == field


def test_old_stored_entries_read_without_the_new_fields() -> None:
    raw = create().entry.to_json()
    for name in ("key_event", "key_label", "corrected_at", "correction_note"):
        raw.pop(name)
    old = Entry.from_json(raw)
    assert not old.key_event and old.key_label is None and old.corrected_at is None


def test_marking_and_unmarking_a_key_event() -> None:
    first = create().entry
    marked = edit_entry(first, {"key_event": True, "key_label": "Alert"}, actor="a", now=NOW + 1)
    assert marked.entry.key_event and marked.entry.key_label == "Alert"
    assert set(marked.changes) == {"key_event", "key_label"}
    assert marked.entry.updated_at is None  # marking is no "Updated" for readers
    unmarked = edit_entry(marked.entry, {"key_event": False}, actor="a", now=NOW + 2)
    assert not unmarked.entry.key_event and unmarked.entry.key_label is None
    with pytest.raises(InvalidInput) as exc:
        edit_entry(first, {"key_label": "Alert"}, actor="a", now=NOW + 1)
    assert exc.value.field == "key_label"


def test_a_correction_sets_its_note_and_time_and_needs_a_content_change() -> None:
    first = create(body="<p>Three injured.</p>").entry
    fixed = edit_entry(
        first,
        {"body": "<p>Four injured.</p>", "correction": " An earlier version said three. "},
        actor="a",
        now=NOW + 5,
    ).entry
    assert fixed.correction_note == "An earlier version said three."
    assert fixed.corrected_at == fixed.updated_at == NOW + 5
    for data, field in [
        ({"correction": "Nothing else changed"}, "correction"),
        ({"pinned": True, "correction": "Only a pin"}, "correction"),
        ({"body": "<p>x</p>", "correction": "   "}, "correction"),
        ({"body": "<p>x</p>", "correction": "y" * 501}, "correction"),
        ({"body": "<p>x</p>", "correction": ["a"]}, "correction"),
    ]:
        with pytest.raises(InvalidInput) as exc:
            edit_entry(first, data, actor="a", now=NOW + 6)
        assert exc.value.field == field, data


def test_a_scheduled_entry_cannot_be_corrected_in_public() -> None:
    later = new_entry(
        {"headline": "Later", "publish_at": to_rfc3339(NOW + 3_600_000)},
        feed="news",
        entry_id="e2",
        actor="a",
        now=NOW,
    ).entry
    assert later.status == "scheduled"
    with pytest.raises(InvalidInput) as exc:
        edit_entry(later, {"headline": "Later still", "correction": "x"}, actor="a", now=NOW)
    assert exc.value.field == "correction"


def history() -> list[Event]:
    e1 = create(body="<p>Three people were injured in Kyiv.</p>")
    e2 = edit_entry(e1.entry, {"body": "<p>Three people were injured in Kyiv .</p>"}, actor="a",
                    now=NOW + 1)  # fmt: skip
    e3 = edit_entry(
        e2.entry,
        {"headline": "Strike on Kyiv region", "body": "<p>Four people were injured.</p>",
         "correction": "An earlier version misstated the number injured."},
        actor="a",
        now=NOW + 2,
    )  # fmt: skip
    e4 = edit_entry(e3.entry, {"body": "<p>Four people were hurt.</p>", "mark_updated": True},
                    actor="a", now=NOW + 3)  # fmt: skip
    return [e1, e2, e3, e4]


def test_the_trail_lists_marked_versions_with_word_diffs_and_hides_silent_fixes() -> None:
    steps = trail(history())
    assert [(s.version, s.mark) for s in steps] == [(1, "published"), (3, "correction"),
                                                    (4, "updated")]  # fmt: skip
    correction = steps[1]
    assert correction.note == "An earlier version misstated the number injured."
    assert correction.at == NOW + 2
    assert ("ins", " region") in correction.headline
    assert ("del", "Three") in correction.text and ("ins", "Four") in correction.text
    # the silent fix (v2: a stray space) is no step; the correction diffs against v1's text
    assert "".join(t for op, t in correction.text if op != "ins") == (
        "Three people were injured in Kyiv."
    )
    assert steps[2].text == [("same", "Four people were "), ("del", "injured"), ("ins", "hurt"),
                             ("same", ".")]  # fmt: skip


def test_a_retracted_entry_has_no_further_steps() -> None:
    events = history()
    events.append(retract_entry(events[-1].entry, actor="a", now=NOW + 9))
    assert [s.version for s in trail(events)] == [1, 3, 4]


def test_word_diff_is_plain_text_and_exact() -> None:
    assert words("a b c", "a x c") == [("same", "a "), ("del", "b"), ("ins", "x"), ("same", " c")]
    assert words("", "new") == [("ins", "new")]
    assert words("same", "same") == [("same", "same")]
    assert text_of("<p>Tom &amp; <b>Jerry</b></p><p>&lt;script&gt;</p>") == "Tom & Jerry <script>"
    # the segments rebuild both sides
    old, new = "Four people were injured, two badly", "Five people were hurt, two badly."
    segs = words(old, new)
    assert "".join(t for op, t in segs if op != "ins") == old
    assert "".join(t for op, t in segs if op != "del") == new


def test_the_key_events_timeline_follows_marking_and_retraction() -> None:
    events = [create()]
    events.append(edit_entry(events[-1].entry, {"key_event": True}, actor="a", now=NOW + 1))
    events.append(edit_entry(events[-1].entry, {"key_event": False}, actor="a", now=NOW + 2))
    events.append(edit_entry(events[-1].entry, {"key_event": True}, actor="a", now=NOW + 3))
    events.append(retract_entry(events[-1].entry, actor="a", now=NOW + 4))
    ops = project({"e1": None}, events)
    assert [(o.type, o.key_event) for o in ops] == [("publish", False), ("update", True),
        ("update", False), ("update", True), ("retract", False)]  # fmt: skip


def test_feeds_carry_the_correction_escaped_and_the_key_event() -> None:
    first = create(key_event=True, key_label="Alert & <siren>", body="<p>Three.</p>").entry
    note = 'An earlier version said "three" <script>alert(1)</script>'
    fixed = edit_entry(first, {"body": "<p>Four.</p>", "correction": note}, actor="a",
                       now=NOW + 1).entry  # fmt: skip
    info = FeedInfo("news", "News", "https://n.example", NOW)
    atom = render_atom(info, [fixed]).decode()
    # escaped twice: once as HTML text in the content, once by the XML serialiser
    assert "<script>" not in atom and "&amp;lt;script&amp;gt;alert(1)" in atom
    assert 'term="key-event"' in atom and 'label="Alert &amp; &lt;siren&gt;"' in atom
    assert "Correction:" in atom
    rss = render_rss(info, [fixed]).decode()
    assert "<script>" not in rss and 'domain="key-event"' in rss
    doc = orjson.loads(render_json(info, [fixed]))
    item = doc["items"][0]
    assert item["tags"] == ["Key event"]
    assert item["_newsfeed"]["correction_note"] == note
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in item["content_html"]
    assert "<script>" not in item["content_html"]


def test_webhook_payloads_carry_the_correction_key_event_byline_and_photo() -> None:
    first = create(
        key_event=True,
        authors=[{"id": "olena", "name": "Olena Kovalenko", "avatar": None}],
        body="<p>Three.</p>",
    ).entry
    fixed = edit_entry(
        first, {"body": "<p>Four.</p>", "correction": "It said three."}, actor="a", now=NOW + 1
    ).entry
    (op,) = project({"e1": first}, [Event("edit", fixed, "a", NOW + 1)])
    message = LiveMessage(parse_stream_id("5-0"), op.type, op.entry_id, op.version, op.data)
    body = orjson.loads(event_body("news", "ep", message))
    assert body["type"] == "update"
    assert body["entry"]["correction_note"] == "It said three."
    assert body["entry"]["key_event"] is True
    assert body["entry"]["authors"][0]["name"] == "Olena Kovalenko"
    assert "photo" in body["entry"]
