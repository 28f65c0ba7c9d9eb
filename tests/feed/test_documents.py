"""The feed documents parse with feedparser and carry the specs' required fields."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import feedparser
import orjson

from feed.documents import (
    FeedInfo,
    render_all,
    render_atom,
    render_json,
    render_rss,
)
from feed.model import Entry

T0 = 1_780_000_000_000
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def entry(i: int, **kw: object) -> Entry:
    base: dict[str, object] = dict(
        id=f"e{i:03d}",
        feed="news",
        version=1,
        headline=f"Headline {i}",
        body=f"<p>Body {i} &amp; <b>more</b></p>",
        url=None,
        published_at=T0 + i * 60_000,
        updated_at=None,
        status="published",
        pinned=False,
    )
    base.update(kw)
    return Entry(**base)  # type: ignore[arg-type]


INFO = FeedInfo("news", "War & Peace <Live>", "https://example.org", T0 - 1000)
ENTRIES = [
    entry(1),
    entry(2, updated_at=T0 + 10 * 60_000, version=3),
    entry(3, headline=f"Evil {XSS} \x00\x07 headline", body=f"<p>ok</p>{XSS}"),
    entry(4, url="https://elsewhere.example/story?a=1&b=2", pinned=True),
    entry(5, status="retracted"),
]


def test_atom_has_the_required_fields_and_edits_and_no_retracted() -> None:
    body = render_atom(INFO, ENTRIES)
    ET.fromstring(body)  # well-formed
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    f = parsed.feed
    assert f.id == "https://example.org/feeds/news"
    assert f.title == "War & Peace <Live>"
    assert f.updated_parsed is not None
    assert f.updated.startswith("2026-05-28T20:")  # the newest change (the edit at +10 min)
    ids = [e.id for e in parsed.entries]
    assert ids == [f"https://example.org/feeds/news/entries/e{i:03d}" for i in (4, 3, 2, 1)]
    for e in parsed.entries:
        assert e.title and e.updated_parsed and e.link
    edited = parsed.entries[2]
    assert edited.published != edited.updated
    assert parsed.entries[0].link == "https://elsewhere.example/story?a=1&b=2"
    assert parsed.entries[3].link == "https://example.org/feeds/news/entries/e001"


def test_rss_has_the_required_fields() -> None:
    body = render_rss(INFO, ENTRIES)
    ET.fromstring(body)
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "rss20"
    assert parsed.feed.title == "War & Peace <Live>"
    assert parsed.feed.link == "https://example.org/feeds/news"
    assert parsed.feed.description
    assert len(parsed.entries) == 4
    for e in parsed.entries:
        assert e.id.startswith("https://example.org/feeds/news/entries/")
        assert e.title and e.published_parsed
    assert "e005" not in body.decode()


def test_json_feed_1_1() -> None:
    doc = orjson.loads(render_json(INFO, ENTRIES))
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == "War & Peace <Live>"
    assert [i["id"].rsplit("/", 1)[1] for i in doc["items"]] == ["e004", "e003", "e002", "e001"]
    for item in doc["items"]:
        assert item["content_html"] and item["date_published"] and item["date_modified"]
    edited = doc["items"][2]
    assert edited["date_modified"] > edited["date_published"]
    # feedparser 6 does not read JSON Feed: check the 1.1 spec's rules here.
    assert doc["home_page_url"].startswith("https://") and doc["feed_url"].endswith(".json")
    for item in doc["items"]:
        assert isinstance(item["id"], str) and item["url"].startswith("https://")
        for key in ("date_published", "date_modified"):
            assert item[key].endswith("Z") and "T" in item[key]


def test_untrusted_text_is_escaped_and_bodies_sanitised() -> None:
    for fmt, render in (("atom", render_atom), ("rss", render_rss)):
        body = render(INFO, ENTRIES)
        ET.fromstring(body)
        text = body.decode()
        assert "<script" not in text, fmt
        assert "\x00" not in text and "\x07" not in text
        parsed = feedparser.parse(body)
        evil = next(e for e in parsed.entries if "e003" in e.id)
        # The headline is text: the markup shows as characters, never as tags.
        assert "<script>alert(1)</script>" in evil.title
        content = evil.content[0].value if fmt == "atom" else evil.description
        assert "alert(1)" not in content and "onerror" not in content
    doc = orjson.loads(render_json(INFO, ENTRIES))
    evil = next(i for i in doc["items"] if i["id"].endswith("e003"))
    assert "<script" not in evil["content_html"] and "onerror" not in evil["content_html"]


def test_an_empty_feed_is_valid_and_etags_follow_content() -> None:
    for render in (render_atom, render_rss):
        parsed = feedparser.parse(render(INFO, []))
        assert not parsed.bozo and parsed.entries == []
    a = render_all(INFO, ENTRIES, T0)
    b = render_all(INFO, ENTRIES[:2], T0)
    assert [d.format for d in a] == ["atom", "rss", "json"]
    assert all(x.etag != y.etag for x, y in zip(a, b, strict=True))
    assert render_all(INFO, ENTRIES, T0)[0].etag == a[0].etag
