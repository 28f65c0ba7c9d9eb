"""Validation, sanitising and the versioning rules of the pure core: no Redis."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feed import validate
from feed.errors import InvalidInput
from feed.model import Entry, Event, to_rfc3339
from feed.validate import (
    BACKDATE_LIMIT_MS,
    CREATE_FIELDS,
    EDIT_FIELDS,
    HEADLINE_MAX,
    edit_entry,
    new_entry,
    publish_due,
    retract_entry,
)

NOW = 1_790_000_000_000
DAY = 24 * 3600 * 1000


def create(data: Any, now: int = NOW) -> Entry:
    return new_entry(data, feed="news", entry_id="e1", actor="token:t", now=now).entry


def rejected(data: Any, field: str, fn: Any = create) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        fn(data)
    assert info.value.field == field, info.value.detail
    return info.value


# -- create -------------------------------------------------------------------
def test_a_minimal_entry_is_published_now() -> None:
    e = create({"headline": "  Trump calls   Putin \n"})
    assert e.headline == "Trump calls Putin"
    assert (e.version, e.status, e.published_at, e.updated_at) == (1, "published", NOW, None)
    assert (e.body, e.url, e.pinned) == ("", None, False)


def test_headline_rules() -> None:
    rejected({}, "headline")
    rejected({"headline": ""}, "headline")
    rejected({"headline": " \t\n "}, "headline")
    rejected({"headline": 42}, "headline")
    rejected({"headline": None}, "headline")
    rejected({"headline": "x" * (HEADLINE_MAX + 1)}, "headline")
    rejected({"headline": "bell\x07"}, "headline")
    rejected({"headline": "c1\x9f"}, "headline")
    rejected({"headline": "lone \ud800 surrogate"}, "headline")
    assert create({"headline": "x" * HEADLINE_MAX}).headline == "x" * HEADLINE_MAX


def test_body_is_sanitised_to_the_allow_list() -> None:
    e = create(
        {
            "headline": "h",
            "body": '<p onclick="x()">Hi <script>alert(1)</script><b>there</b>'
            '<a href="javascript:alert(1)">bad</a> <a href="https://e.org/">ok</a></p>'
            '<img src=x onerror="alert(1)"><iframe src="https://evil"></iframe>',
        }
    )
    assert e.body == (
        '<p>Hi <b>there</b><a rel="noopener noreferrer nofollow">bad</a> '
        '<a href="https://e.org/" rel="noopener noreferrer nofollow">ok</a></p>'
    )
    assert create({"headline": "h", "body": None}).body == ""
    rejected({"headline": "h", "body": ["<p>"]}, "body")
    rejected({"headline": "h", "body": "x" * (validate.BODY_MAX + 1)}, "body")


def test_url_must_be_absolute_http() -> None:
    assert create({"headline": "h", "url": " https://e.org/a?b=1 "}).url == "https://e.org/a?b=1"
    assert create({"headline": "h", "url": ""}).url is None
    for bad in (
        "javascript:alert(1)",
        "ftp://e.org/",
        "/relative",
        "https://",
        "http://e.org:99999/",
        "http://e .org/",
        "http://[::1",
        7,
    ):
        rejected({"headline": "h", "url": bad}, "url")


def test_unknown_fields_and_non_objects_are_rejected() -> None:
    rejected({"headline": "h", "author": "me"}, "author")
    rejected({"headline": "h", "version": 3}, "version")
    rejected(["headline"], "body")
    rejected("headline", "body")
    rejected({"headline": "h", "pinned": "yes"}, "pinned")


def test_published_at_backdates_within_limits() -> None:
    e = create({"headline": "h", "published_at": to_rfc3339(NOW - 3 * DAY)})
    assert e.published_at == NOW - 3 * DAY and e.status == "published"
    edge = create({"headline": "h", "published_at": to_rfc3339(NOW - BACKDATE_LIMIT_MS)})
    assert edge.published_at == NOW - BACKDATE_LIMIT_MS
    rejected(
        {"headline": "h", "published_at": to_rfc3339(NOW - BACKDATE_LIMIT_MS - 1)}, "published_at"
    )
    # A client clock a few seconds fast is taken as now: the server clock decides.
    assert create({"headline": "h", "published_at": to_rfc3339(NOW + 5_000)}).published_at == NOW
    rejected({"headline": "h", "published_at": to_rfc3339(NOW + 3_600_000)}, "published_at")
    rejected({"headline": "h", "published_at": "2026-01-01"}, "published_at")
    rejected({"headline": "h", "published_at": 1_790_000_000}, "published_at")


def test_a_create_event_names_the_given_fields() -> None:
    data = {"headline": "h", "url": None, "publish_at": to_rfc3339(NOW + DAY), "pinned": False}
    event = new_entry(data, feed="news", entry_id="e1", actor="token:t", now=NOW)
    assert (event.kind, event.actor, event.at) == ("create", "token:t", NOW)
    assert event.changes == ("headline", "published_at", "pinned")


def test_publish_at_schedules() -> None:
    e = create({"headline": "h", "publish_at": to_rfc3339(NOW + DAY)})
    assert (e.status, e.published_at) == ("scheduled", NOW + DAY)
    past = create({"headline": "h", "publish_at": to_rfc3339(NOW - DAY)})
    assert (past.status, past.published_at) == ("published", NOW)
    rejected({"headline": "h", "publish_at": to_rfc3339(NOW + 400 * DAY)}, "publish_at")
    both = {"headline": "h", "publish_at": to_rfc3339(NOW + DAY), "published_at": to_rfc3339(NOW)}
    rejected(both, "publish_at")


# -- edit ---------------------------------------------------------------------
def edit(current: Entry, data: Any, now: int = NOW + 60_000) -> Event:
    return edit_entry(current, data, actor="user:ana", now=now)


def test_an_edit_moves_to_the_next_version_with_only_the_given_fields() -> None:
    v1 = create({"headline": "Talks in Istanbul", "body": "<p>a</p>", "url": "https://e.org"})
    event = edit(v1, {"headline": "Talks resume in Istanbul"})
    v2 = event.entry
    assert v2.version == 2 and v2.headline == "Talks resume in Istanbul"
    assert (v2.body, v2.url, v2.published_at, v2.status) == (
        v1.body,
        v1.url,
        v1.published_at,
        "published",
    )
    assert event.kind == "edit" and event.changes == ("headline",)


def test_updated_at_is_set_only_when_the_edit_is_marked() -> None:
    v1 = create({"headline": "typo hre"})
    silent = edit(v1, {"headline": "typo here"}).entry
    assert silent.updated_at is None
    marked = edit(silent, {"body": "<p>more</p>", "mark_updated": True}, now=NOW + 99).entry
    assert marked.updated_at == NOW + 99 and marked.version == 3
    # A later unmarked correction keeps the last "Updated" time.
    again = edit(marked, {"body": "<p>more.</p>"}, now=NOW + 500).entry
    assert again.updated_at == NOW + 99
    # mark_updated alone bumps the "Updated" time.
    bumped = edit(again, {"mark_updated": True}, now=NOW + 900)
    assert bumped.entry.updated_at == NOW + 900 and bumped.changes == ("updated_at",)
    rejected({"mark_updated": "yes"}, "mark_updated", lambda d: edit(v1, d))


def test_edits_that_change_nothing_are_rejected() -> None:
    v1 = create({"headline": "same", "pinned": True})
    rejected({}, "body", lambda d: edit(v1, d))
    rejected({"headline": " same "}, "headline", lambda d: edit(v1, d))
    rejected({"pinned": True, "mark_updated": False}, "mark_updated", lambda d: edit(v1, d))


def test_edit_rejections() -> None:
    v1 = create({"headline": "h"})
    rejected({"headline": ""}, "headline", lambda d: edit(v1, d))
    rejected({"id": "other"}, "id", lambda d: edit(v1, d))
    rejected({"status": "published"}, "status", lambda d: edit(v1, d))
    rejected({"publish_at": to_rfc3339(NOW + DAY)}, "publish_at", lambda d: edit(v1, d))
    gone = retract_entry(v1, actor="a", now=NOW).entry
    rejected({"headline": "x"}, "status", lambda d: edit(gone, d))


def test_published_at_edits() -> None:
    old = create({"headline": "h", "published_at": to_rfc3339(NOW - 29 * DAY)})
    later = NOW + 5 * DAY  # the entry is now more than 30 days old
    # Sending the current time back (a CMS saving the whole entry) is fine.
    e = edit(old, {"headline": "h2", "published_at": to_rfc3339(old.published_at)}, now=later)
    assert e.entry.published_at == old.published_at and e.changes == ("headline",)
    rejected(
        {"published_at": to_rfc3339(old.published_at - 1)},
        "published_at",
        lambda d: edit(old, d, now=later),
    )
    moved = edit(old, {"published_at": to_rfc3339(later - DAY)}, now=later).entry
    assert moved.published_at == later - DAY


def test_rescheduling_and_publishing_a_scheduled_entry() -> None:
    s1 = create({"headline": "h", "publish_at": to_rfc3339(NOW + DAY)})
    s2 = edit(s1, {"publish_at": to_rfc3339(NOW + 2 * DAY)}).entry
    assert (s2.status, s2.published_at, s2.version) == ("scheduled", NOW + 2 * DAY, 2)
    rejected({"published_at": to_rfc3339(NOW)}, "published_at", lambda d: edit(s1, d))
    # Marking a scheduled entry "Updated" is meaningless: no updated_at.
    s3 = edit(s2, {"headline": "h3", "mark_updated": True}).entry
    assert s3.updated_at is None and s3.status == "scheduled"
    now = edit(s3, {"publish_at": None}, now=NOW + 1000).entry
    assert (now.status, now.published_at, now.updated_at) == ("published", NOW + 1000, None)
    past = edit(s3, {"publish_at": to_rfc3339(NOW - DAY)}, now=NOW + 7).entry
    assert (past.status, past.published_at) == ("published", NOW + 7)


def test_retract_and_publish_due() -> None:
    v1 = create({"headline": "h", "pinned": True})
    r = retract_entry(v1, actor="a", now=NOW)
    assert r.kind == "retract" and r.entry.version == 2
    assert (r.entry.status, r.entry.pinned) == ("retracted", False)
    assert r.changes == ("status", "pinned")
    with pytest.raises(InvalidInput):
        retract_entry(r.entry, actor="a", now=NOW)

    s1 = create({"headline": "h", "publish_at": to_rfc3339(NOW + DAY)})
    assert publish_due(s1, now=NOW + DAY - 1) is None
    due = publish_due(s1, now=NOW + DAY + 5)
    assert due is not None and due.kind == "publish"
    assert (due.entry.status, due.entry.version, due.entry.published_at) == (
        "published",
        2,
        NOW + DAY,
    )
    assert publish_due(v1, now=NOW + DAY) is None


# -- the property: every rejection names a field; every acceptance round-trips --
class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_safe_html(html: str) -> None:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in validate.ALLOWED_TAGS, tag
        for name, value in attrs:
            assert not name.startswith("on"), name
            assert name in validate.ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}, name
            if name == "href":
                assert urlsplit(value or "").scheme in validate.URL_SCHEMES, value
    assert "<script" not in html.lower()


html_bits = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<b>x</b>",
        "<script>alert(1)</script>",
        "<scr<script>ipt>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">j</a>',
        '<a href="https://e.org/" onclick="x">l</a>',
        '<a href="mailto:a@e.org" title="t">m</a>',
        "<svg onload=alert(1)>",
        "<style>*{}</style>",
        '<p style="color:red">',
        "&lt;",
        "<!-- c -->",
        "text ",
    ]
)
times = st.integers(NOW - 40 * DAY, NOW + 400 * DAY).map(to_rfc3339)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=40),
    st.text(min_size=290, max_size=310),
    st.lists(html_bits, max_size=8).map("".join),
    st.sampled_from(["https://e.org/x", "http://e.org", "ftp://e.org", "https://", "mailto:a@b"]),
    times,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
field_names = st.sampled_from(sorted(CREATE_FIELDS | EDIT_FIELDS | {"id", "version", "Headline"}))
# Well-formed requests (most accepted), the same with one field replaced by
# anything, and arbitrary garbage.
plain_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300)
good_fields: dict[str, st.SearchStrategy[Any]] = {
    "body": st.none() | st.lists(html_bits, max_size=8).map("".join),
    "url": st.sampled_from([None, "", "https://e.org/x?y=1", "http://e.org:8080/a#b"]),
    "pinned": st.booleans(),
}
backdate = {"published_at": st.integers(NOW - 29 * DAY, NOW).map(to_rfc3339)}
schedule = {"publish_at": st.integers(NOW - DAY, NOW + 300 * DAY).map(to_rfc3339)}
good_create = st.one_of(
    *[
        st.fixed_dictionaries({"headline": plain_text}, optional={**good_fields, **when})
        for when in (backdate, schedule)
    ]
)
good_edit = st.one_of(
    *[
        st.fixed_dictionaries(
            {},
            optional={"headline": plain_text, "mark_updated": st.booleans(), **good_fields, **when},
        )
        for when in (backdate, {"publish_at": st.none() | schedule["publish_at"]})
    ]
)


@st.composite
def one_field_off(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    data = dict(draw(base))
    data[draw(field_names)] = draw(values)
    return data


requests = st.one_of(
    good_create,
    good_edit,
    one_field_off(good_create),
    one_field_off(good_edit),
    st.dictionaries(field_names, values, max_size=6),
    st.dictionaries(st.text(max_size=8), values, max_size=3),
    values,
)


def check_outcome(data: Any, call: Any) -> Event | None:
    try:
        event: Event = call(data)
    except InvalidInput as exc:
        assert isinstance(exc.field, str), exc.detail
        assert exc.field or (isinstance(data, dict) and "" in data), exc.detail
        assert exc.detail
        if isinstance(data, dict) and exc.field not in ("body", "headline", "status"):
            assert exc.field in data, (exc.field, data)
        return None
    assert Event.loads(event.dumps()) == event
    assert Entry.loads(event.entry.dumps()) == event.entry
    e = event.entry
    assert 1 <= len(e.headline) <= HEADLINE_MAX and e.headline == e.headline.strip()
    assert_safe_html(e.body)
    assert e.url is None or urlsplit(e.url).scheme in ("http", "https")
    assert e.status in ("published", "scheduled")
    assert e.published_at >= NOW - BACKDATE_LIMIT_MS
    assert e.status == "scheduled" or e.published_at <= NOW + 10 * DAY
    return event


OUTCOMES = {"accepted": 0, "rejected": 0}


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_property_create(data: Any) -> None:
    event = check_outcome(data, create_event)
    OUTCOMES["rejected" if event is None else "accepted"] += 1
    if event is not None:
        assert event.entry.version == 1 and event.entry.updated_at is None


def create_event(data: Any) -> Event:
    return new_entry(data, feed="news", entry_id="e1", actor="t", now=NOW)


CURRENT = [
    create({"headline": "published", "body": "<p>b</p>", "url": "https://e.org"}),
    create({"headline": "pinned", "pinned": True}),
    create({"headline": "scheduled", "publish_at": to_rfc3339(NOW + DAY)}),
]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CURRENT), requests)
def test_property_edit(current: Entry, data: Any) -> None:
    event = check_outcome(data, lambda d: edit_entry(current, d, actor="a", now=NOW + 1))
    OUTCOMES["rejected" if event is None else "accepted"] += 1
    if event is not None:
        new = event.entry
        assert new.version == current.version + 1 and new.id == current.id
        assert event.changes and all(getattr(current, f) != getattr(new, f) for f in event.changes)
        marked = isinstance(data, dict) and (
            data.get("mark_updated") is True or data.get("correction") is not None
        )
        if marked and current.status == "published":
            assert new.updated_at == NOW + 1
        else:
            assert new.updated_at == current.updated_at
        if isinstance(data, dict) and data.get("correction") is not None:
            assert new.corrected_at == NOW + 1 and new.correction_note
        else:
            assert (new.corrected_at, new.correction_note) == (
                current.corrected_at,
                current.correction_note,
            )
        unchanged = {"id", "feed"} | {f for f in ("headline", "body", "url", "pinned")}
        for f in unchanged - set(data):
            assert getattr(new, f) == getattr(current, f)
        assert dataclasses.replace(new, version=current.version) != current


def test_the_properties_saw_both_outcomes() -> None:
    """Guard: the strategies above must exercise acceptances and rejections."""
    assert OUTCOMES["accepted"] > 100 and OUTCOMES["rejected"] > 100, OUTCOMES
