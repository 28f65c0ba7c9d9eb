"""The pure rendering rules: clock, zone, dates, JSON-LD escaping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from feed.model import Entry
from web import render

KYIV = ZoneInfo("Europe/Kyiv")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def entry(published: str, **kw: object) -> Entry:
    fields: dict[str, object] = {
        "id": "abc",
        "feed": "news",
        "version": 1,
        "headline": "H",
        "body": "",
        "url": None,
        "published_at": ms(published),
        "updated_at": None,
        "status": "published",
        "pinned": False,
    }
    fields.update(kw)
    return Entry(**fields)  # type: ignore[arg-type]


def test_clock_is_a_twelve_hour_clock() -> None:
    assert render.clock(datetime(2026, 5, 16, 17, 44, tzinfo=UTC)) == "5:44 PM"
    assert render.clock(datetime(2026, 5, 16, 0, 5, tzinfo=UTC)) == "12:05 AM"
    assert render.clock(datetime(2026, 5, 16, 12, 0, tzinfo=UTC)) == "12:00 PM"
    assert render.clock(datetime(2026, 5, 16, 9, 7, tzinfo=UTC)) == "9:07 AM"


def test_item_shows_time_in_the_feeds_zone() -> None:
    now = ms("2026-05-16T15:00:00+00:00")
    it = render.item(entry("2026-05-16T14:44:00+00:00"), KYIV, now)
    assert (it.time, it.date, it.zone) == ("5:44 PM", None, None)  # EEST, today
    assert it.href == "/feeds/news/entries/abc"
    assert it.title == "May 16, 2026, 5:44 PM EEST"


def test_item_from_another_day_shows_its_date() -> None:
    now = ms("2026-05-16T15:00:00+00:00")
    it = render.item(entry("2026-05-15T20:30:00+00:00"), KYIV, now)
    assert (it.time, it.date) == ("11:30 PM", "May 15")
    # 21:30 UTC on the 15th is already the 16th in Kyiv
    assert render.item(entry("2026-05-15T21:30:00+00:00"), KYIV, now).date is None


def test_item_across_a_dst_change_names_its_zone() -> None:
    now = ms("2026-11-02T12:00:00+00:00")  # EET
    assert render.zone_label(KYIV, now) == "EET"
    it = render.item(entry("2026-10-20T09:00:00+00:00"), KYIV, now)  # EEST
    assert (it.time, it.zone) == ("12:00 PM", "EEST")


def test_updated_mark_and_link() -> None:
    now = ms("2026-05-16T15:00:00+00:00")
    it = render.item(
        entry(
            "2026-05-16T14:44:00+00:00",
            updated_at=ms("2026-05-16T15:10:00+00:00"),
            url="https://example.org/x",
        ),
        KYIV,
        now,
    )
    assert it.updated == "6:10 PM" and it.href == "https://example.org/x"
    assert render.item(entry("2026-05-16T14:44:00+00:00", url="javascript:x"), KYIV, now).href == (
        "/feeds/news/entries/abc"
    )


def test_script_json_cannot_close_its_element() -> None:
    data = {"h": "</script><script>alert(1)</script> & <!-- \u2028"}
    text = render.script_json(data)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == data


def test_live_blog_posting() -> None:
    e1 = entry("2026-05-16T14:44:00+00:00", id="one", headline="First")
    e2 = entry(
        "2026-05-16T15:44:00+00:00",
        id="two",
        headline="Second",
        updated_at=ms("2026-05-16T16:00:00+00:00"),
    )
    doc = render.live_blog(base="https://h", feed="news", title="News", entries=[e2, e1], now_ms=0)
    assert doc["@type"] == "LiveBlogPosting" and doc["url"] == "https://h/feeds/news"
    assert doc["coverageStartTime"] == "2026-05-16T14:44:00.000Z"
    assert doc["dateModified"] == "2026-05-16T16:00:00.000Z"
    first = doc["liveBlogUpdate"][0]
    assert first == {
        "@type": "BlogPosting",
        "@id": "https://h/feeds/news/entries/two",
        "headline": "Second",
        "datePublished": "2026-05-16T15:44:00.000Z",
        "dateModified": "2026-05-16T16:00:00.000Z",
        "url": "https://h/feeds/news/entries/two",
    }
