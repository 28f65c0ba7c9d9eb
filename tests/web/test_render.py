"""The pure rendering rules: clock, zone, dates, JSON-LD escaping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from feed.i18n import language
from feed.model import Entry
from web import render

KYIV = ZoneInfo("Europe/Kyiv")
UK = language("uk")


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
    assert it.title == "May 16, 2026, 5:44 PM GMT+03:00"


def test_item_from_another_day_shows_its_date() -> None:
    now = ms("2026-05-16T15:00:00+00:00")
    it = render.item(entry("2026-05-15T20:30:00+00:00"), KYIV, now)
    assert (it.time, it.date) == ("11:30 PM", "May 15")
    # 21:30 UTC on the 15th is already the 16th in Kyiv
    assert render.item(entry("2026-05-15T21:30:00+00:00"), KYIV, now).date is None


def test_item_across_a_dst_change_names_its_zone() -> None:
    now = ms("2026-11-02T12:00:00+00:00")  # EET
    assert render.zone_label(KYIV, now) == "Eastern European Standard Time"
    it = render.item(entry("2026-10-20T09:00:00+00:00"), KYIV, now)  # EEST
    assert (it.time, it.zone) == ("12:00 PM", "GMT+03:00")


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
        "inLanguage": "en",
    }
    assert doc["inLanguage"] == "en"
    uk = render.live_blog(
        base="https://h", feed="news", title="N", entries=[e1], now_ms=0, language="uk"
    )
    assert uk["inLanguage"] == "uk" and uk["liveBlogUpdate"][0]["inLanguage"] == "uk"


def test_ukrainian_clock_dates_and_zone() -> None:
    now = ms("2026-11-02T16:30:00+00:00")  # EET
    it = render.item(
        entry("2026-11-02T15:44:00+00:00", updated_at=ms("2026-11-02T16:10:00+00:00")),
        KYIV,
        now,
        UK,
    )
    assert (it.time, it.date, it.zone, it.updated) == ("17:44", None, None, "18:10")
    assert it.title == "2 лист. 2026 р., 17:44 GMT+02:00"
    older = render.item(entry("2026-10-30T06:05:00+00:00"), KYIV, now, UK)
    assert (older.time, older.date) == ("08:05", "30 жовт.")
    assert render.zone_label(KYIV, now, UK) == "за східноєвропейським стандартним часом"


def test_a_dst_change_in_kyiv_in_both_languages() -> None:
    """29 March 2026: 03:00 EET becomes 04:00 EEST; 01:30 and 00:30 UTC are an hour apart."""
    after_change = ms("2026-03-29T12:00:00+00:00")
    before = entry("2026-03-29T00:30:00+00:00")  # 02:30 EET
    after = entry("2026-03-29T01:30:00+00:00")  # 04:30 EEST
    en_b, en_a = (render.item(e, KYIV, after_change) for e in (before, after))
    uk_b, uk_a = (render.item(e, KYIV, after_change, UK) for e in (before, after))
    assert (en_b.time, en_b.zone, en_a.time, en_a.zone) == ("2:30 AM", "GMT+02:00", "4:30 AM", None)
    assert (uk_b.time, uk_b.zone, uk_a.time, uk_a.zone) == ("02:30", "GMT+02:00", "04:30", None)
    assert render.zone_label(KYIV, after_change) == "Eastern European Summer Time"
    assert render.zone_label(KYIV, after_change, UK) == "за східноєвропейським літнім часом"
    # the autumn change back: 04:00 EEST becomes 03:00 EET on 25 October 2026
    autumn = ms("2026-10-25T12:00:00+00:00")
    last_summer = render.item(entry("2026-10-25T00:30:00+00:00"), KYIV, autumn, UK)
    first_winter = render.item(entry("2026-10-25T01:30:00+00:00"), KYIV, autumn, UK)
    assert (last_summer.time, last_summer.zone) == ("03:30", "GMT+03:00")
    assert (first_winter.time, first_winter.zone) == ("03:30", None)


def test_script_messages_are_translated_with_plural_categories() -> None:
    en, uk = render.script_messages(language("en")), render.script_messages(UK)
    assert en["new_updates"] == {"one": "{n} new update", "other": "{n} new updates"}
    assert uk["new_updates"] == {
        "one": "{n} нове оновлення",
        "few": "{n} нові оновлення",
        "many": "{n} нових оновлень",
    }
    assert (uk["updated"], uk["more"], uk["reconnecting"]) == (
        "Оновлено: {time}",
        "Більше новин",
        "Відновлення з’єднання…",
    )
    assert uk["key_events"] == "Головні події" and uk["lang"] == "uk"
    assert set(en) == set(uk)
    for key, value in uk.items():
        if key not in ("lang", "new_updates"):
            assert value != en[key], key
