"""The pure core's entries, events, fold and projection: no Redis."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.model import (
    ENTRY_FIELDS,
    Entry,
    Event,
    fold,
    new_entry_id,
    parse_rfc3339,
    project,
    to_rfc3339,
)

NOW = 1_790_000_000_000  # 2026-09-21


def entry(**over: object) -> Entry:
    base = Entry(
        id="e1",
        feed="news",
        version=1,
        headline="Talks resume in Istanbul",
        body="<p>More soon.</p>",
        url=None,
        published_at=NOW,
        updated_at=None,
        status="published",
        pinned=False,
    )
    return dataclasses.replace(base, **over)  # type: ignore[arg-type]


def ev(e: Entry, kind: str = "edit") -> Event:
    return Event(kind, e, "token:test", NOW)  # type: ignore[arg-type]


millis = st.integers(min_value=0, max_value=253_402_300_799_999)  # up to 9999-12-31

entries = st.builds(
    Entry,
    id=st.text("0123456789abcdefghjkmnpqrstvwxyz", min_size=1, max_size=14),
    feed=st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
    version=st.integers(1, 10_000),
    headline=st.text(min_size=1, max_size=300),
    body=st.text(max_size=200),
    url=st.none() | st.just("https://example.org/a?b=c"),
    published_at=millis,
    updated_at=st.none() | millis,
    status=st.sampled_from(["published", "scheduled", "retracted"]),
    pinned=st.booleans(),
)


@given(millis)
def test_rfc3339_round_trips_every_millisecond(ms: int) -> None:
    text = to_rfc3339(ms)
    assert text.endswith("Z") and len(text) == 24
    assert parse_rfc3339(text) == ms


def test_rfc3339_parsing() -> None:
    assert parse_rfc3339("2026-01-01T00:00:00.001Z") == 1_767_225_600_001
    assert parse_rfc3339("2026-01-01T01:00:00+01:00") == 1_767_225_600_000
    assert parse_rfc3339("2026-01-01t00:00:00z") == 1_767_225_600_000
    for bad in ("2026-01-01", "2026-01-01T00:00:00", "yesterday", "2026-13-01T00:00:00Z", ""):
        with pytest.raises(ValueError):
            parse_rfc3339(bad)


@given(entries)
def test_entry_json_round_trip(e: Entry) -> None:
    assert Entry.loads(e.dumps()) == e
    assert list(e.to_json()) == list(ENTRY_FIELDS)


@given(entries, st.sampled_from(["create", "edit", "retract", "publish"]), millis)
def test_event_round_trip_carries_the_whole_entry(e: Entry, kind: str, at: int) -> None:
    event = Event(kind, e, "user:ana", at, ("headline", "body"))  # type: ignore[arg-type]
    back = Event.loads(event.dumps())
    assert back == event
    assert orjson.loads(event.dumps())["entry"] == e.to_json()


def test_entry_ids_are_time_ordered_and_unique() -> None:
    ids = [new_entry_id(NOW + i) for i in range(50)]
    assert ids == sorted(ids)
    assert len({new_entry_id(NOW) for _ in range(200)}) == 200


def test_timeline_member_orders_pinned_first_then_newest() -> None:
    old_pinned = entry(id="a", published_at=NOW - 10_000, pinned=True)
    new = entry(id="b", published_at=NOW)
    older = entry(id="c", published_at=NOW - 5_000)
    members = sorted(
        [e.timeline_member() for e in (new, older, old_pinned)],
        reverse=True,
    )
    assert members == [m.timeline_member() for m in (old_pinned, new, older)]


@given(st.lists(st.integers(1, 20), min_size=1, max_size=30))
def test_fold_keeps_the_highest_version_whatever_the_order(versions: list[int]) -> None:
    events = [ev(entry(version=v, headline=f"v{v}")) for v in versions]
    state = fold({}, events)
    assert state["e1"].version == max(versions)
    assert state["e1"].headline == f"v{max(versions)}"
    # Applying the same events again changes nothing (idempotent by version).
    assert fold(dict(state), events) == state


def test_project_publish_update_retract() -> None:
    v1 = entry()
    v2 = entry(version=2, headline="Talks resume", pinned=True)
    v3 = entry(version=3, status="retracted", pinned=False)
    ops = project({"e1": None}, [ev(v1, "create"), ev(v2), ev(v3, "retract")])
    assert [op.type for op in ops] == ["publish", "update", "retract"]
    assert [op.version for op in ops] == [1, 2, 3]
    assert ops[0].old_member == "" and ops[0].member == v1.timeline_member()
    assert ops[1].old_member == v1.timeline_member() and ops[1].member == v2.timeline_member()
    assert ops[2].member == "" and ops[2].old_member == v2.timeline_member()
    assert orjson.loads(ops[2].data) == {
        "id": "e1",
        "feed": "news",
        "version": 3,
        "status": "retracted",
    }
    assert Entry.loads(ops[1].data) == v2


def test_project_skips_what_is_already_public() -> None:
    v1, v2 = entry(), entry(version=2, headline="x")
    assert project({"e1": v2}, [ev(v1, "create"), ev(v2)]) == []
    ops = project({"e1": v1}, [ev(v1, "create"), ev(v2)])
    assert [(op.type, op.version) for op in ops] == [("update", 2)]


def test_scheduled_entries_are_invisible_until_published() -> None:
    s1 = entry(status="scheduled", published_at=NOW + 60_000)
    s2 = dataclasses.replace(s1, version=2, headline="moved")
    assert project({"e1": None}, [ev(s1, "create"), ev(s2)]) == []
    p3 = dataclasses.replace(s2, version=3, status="published")
    ops = project({"e1": None}, [ev(s1, "create"), ev(s2), ev(p3, "publish")])
    assert [(op.type, op.version) for op in ops] == [("publish", 3)]


def test_retracting_a_never_public_entry_tells_readers_nothing() -> None:
    s1 = entry(status="scheduled")
    r2 = dataclasses.replace(s1, version=2, status="retracted")
    assert project({"e1": None}, [ev(s1, "create"), ev(r2, "retract")]) == []
