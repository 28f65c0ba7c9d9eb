"""A Ukrainian feed, parsed: reader page, permalink, embed, feed documents, JSON-LD.

The feed's language decides ``lang``, every reader-facing string and the
CLDR formats; a daylight-saving change in Europe/Kyiv is shown right. The
DST entries are scheduled for either side of the change of 28 March 2027
(02:30 EET and 04:30 EEST) and published by the scheduler's own path with
its clock at that night, so they carry those times as ``published_at``.
"""

from __future__ import annotations

import asyncio
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import feedparser
import httpx
import pytest

from feed.model import parse_rfc3339
from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds
from tests.web.helpers import Publisher
from tests.web.test_pages import ld_json

# Latin words a Ukrainian page may carry: names of formats and the brand.
LATIN_ALLOWED = {"newsfeed", "Atom", "RSS", "JSON", "GMT"}
PROPER_NAMES = ("JSON Feed",)
BEFORE_DST = "2027-03-28T00:30:00Z"  # 02:30 EET
AFTER_DST = "2027-03-28T01:30:00Z"  # 04:30 EEST


class Visible(HTMLParser):
    """The text a reader sees or hears: text nodes and labelling attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang")
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "alt", "placeholder") and value:
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def visible(page: str) -> Visible:
    parser = Visible()
    parser.feed(page)
    return parser


def english_left(texts: list[str]) -> list[str]:
    text = " ".join(texts)
    for name in PROPER_NAMES:
        text = text.replace(name, "")
    words = set(re.findall(r"[A-Za-z]{2,}", text))
    return sorted(words - LATIN_ALLOWED)


async def seed_ukrainian(store: Stores, services: Services) -> tuple[Publisher, dict[str, Any]]:
    """The feed ``kyiv-uk`` (uk, Europe/Kyiv): two live updates and two across DST."""
    token = await make_feed(store, "kyiv-uk", timezone="Europe/Kyiv")
    await store.registry.update_feed("kyiv-uk", title="Київ наживо", timezone=None, language="uk")
    pub = Publisher(services.base_url, "kyiv-uk", token)
    first = await pub.post("Переговори у Стамбулі", "<p>Делегації <b>прибувають</b>.</p>")
    edited = await pub.edit(first, body="<p>Делегації прибули.</p>", mark_updated=True)
    for label, at in (("Перед зміною часу", BEFORE_DST), ("Після зміни часу", AFTER_DST)):
        await store.editorial.create_entry(
            "kyiv-uk", {"headline": label, "publish_at": at}, actor="user:test"
        )
    published = await store.editorial.publish_due("kyiv-uk", now=parse_rfc3339(AFTER_DST) + 1)
    assert len(published) == 2
    for e in published:
        await pub.projected(e.to_json())
    await pub.projected(edited)
    return pub, {"edited": edited, "dst": {e.headline: e for e in published}}


@pytest.fixture
async def uk(store: Stores, services: Services) -> AsyncIterator[tuple[Publisher, dict[str, Any]]]:
    pub, seeded = await seed_ukrainian(store, services)
    try:
        yield pub, seeded
    finally:
        await pub.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def item_html(page: str, headline: str) -> str:
    blocks: list[str] = re.findall(r"<article.*?</article>", page, re.S)
    for block in blocks:
        if headline in block:
            return block
    raise AssertionError(f"no item {headline!r}")


async def test_ukrainian_reader_page_speaks_ukrainian(
    services: Services, uk: tuple[Publisher, dict[str, Any]], http: httpx.AsyncClient
) -> None:
    r = await http.get(services.base_url + "/feeds/kyiv-uk")
    assert r.status_code == 200
    page = r.text
    seen = visible(page)
    assert seen.lang == "uk"
    assert english_left(seen.texts) == []
    text = " ".join(seen.texts)
    for phrase in (
        "Стрічка новин",
        "Наживо",
        "Оновлюється безперервно",
        "Час за східноєвропейським",
    ):
        assert phrase in text, phrase
    # 24-hour CLDR clock, "Оновлено: HH:MM"
    edited = item_html(page, "Переговори у Стамбулі")
    assert re.search(r'class="nf-time"[^>]*>\d\d:\d\d<', edited)
    assert re.search(r"\(Оновлено: <time[^>]*>\d\d:\d\d</time>\)", edited)
    assert " AM" not in page and " PM" not in page
    # the DST change: 02:30 in winter time, 04:30 in summer time, named as it differs
    before = item_html(page, "Перед зміною часу")
    after = item_html(page, "Після зміни часу")
    assert ">02:30<" in before and "nf-zone-abbr" not in before  # EET, as today
    assert '>04:30 <abbr class="nf-zone-abbr">GMT+03:00</abbr>' in after
    assert '<span class="nf-date">28 бер.</span>' in before
    assert 'title="28 бер. 2027 р., 04:30 GMT+03:00"' in after
    # the reader script's strings, for live.js
    messages = json.loads(
        re.search(r'data-nf-messages="([^"]*)"', page).group(1).replace("&#34;", '"')  # type: ignore[union-attr]
    )
    assert messages["reconnecting"] == "Відновлення з’єднання…"
    assert messages["new_updates"]["few"] == "{n} нові оновлення"
    assert messages["key_events"] == "Головні події"
    # JSON-LD
    (doc,) = ld_json(page)
    assert doc["inLanguage"] == "uk"  # type: ignore[index]
    assert {u["inLanguage"] for u in doc["liveBlogUpdate"]} == {"uk"}  # type: ignore[index]


async def test_ukrainian_permalink_embed_and_errors(
    services: Services, uk: tuple[Publisher, dict[str, Any]], http: httpx.AsyncClient
) -> None:
    pub, seeded = uk
    entry_id = seeded["edited"]["id"]
    base = services.base_url
    for path in (f"/feeds/kyiv-uk/entries/{entry_id}", "/embed/kyiv-uk", "/feeds/kyiv-uk?before=x"):
        r = await http.get(base + path)
        seen = visible(r.text)
        assert seen.lang == "uk", path
        assert english_left(seen.texts) == [], path
    r = await http.get(base + f"/feeds/kyiv-uk/entries/{entry_id}")
    assert "← Усі новини" in r.text and "Оновлено:" in r.text
    (posting,) = ld_json(r.text)
    assert posting["inLanguage"] == "uk"  # type: ignore[index]
    r = await http.get(base + "/embed/kyiv-uk")
    assert "Стрічка новин" in r.text and 'data-nf-lang="uk"' in r.text
    retracted = await pub.retract(seeded["edited"])
    await pub.projected(retracted)
    r = await http.get(base + f"/feeds/kyiv-uk/entries/{entry_id}")
    assert r.status_code == 410
    assert "Новину відкликано" in r.text and english_left(visible(r.text).texts) == []
    # the embed's metadata carries the language and the script's strings
    meta = (await http.get(base + "/api/v1/feeds/kyiv-uk")).json()
    assert meta["language"] == "uk" and meta["messages"]["live"] == "Наживо"
    assert meta["zone"].startswith("за східноєвропейським")


async def test_ukrainian_feed_documents(
    services: Services, uk: tuple[Publisher, dict[str, Any]], http: httpx.AsyncClient
) -> None:
    base = services.base_url
    want = {"Перед зміною часу", "Після зміни часу"}
    # The worker re-renders the cached documents after each projected batch
    # (debounced): one rendered between the two posts is replaced shortly.
    deadline = asyncio.get_running_loop().time() + seconds(15)
    while True:
        r = await http.get(base + "/feeds/kyiv-uk.atom")
        parsed = feedparser.parse(r.content)
        if {e.title for e in parsed.entries} >= want:
            break
        assert asyncio.get_running_loop().time() < deadline, "the Atom document never caught up"
        await asyncio.sleep(0.1)
    root = ET.fromstring(r.content)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "uk"
    assert parsed.feed.get("language") == "uk"
    rss = feedparser.parse((await http.get(base + "/feeds/kyiv-uk.rss")).content)
    assert rss.feed.language == "uk"
    assert rss.feed.description == "Новини онлайн: Київ наживо"
    feed_json = (await http.get(base + "/feeds/kyiv-uk.json")).json()
    assert feed_json["language"] == "uk"
    assert feed_json["description"] == "Новини онлайн: Київ наживо"


async def test_changing_the_language_rerenders_the_documents(
    services: Services, store: Stores, http: httpx.AsyncClient
) -> None:
    """The cached documents follow a language change without a new entry."""
    token = await make_feed(store, "switch", timezone="Europe/Kyiv")
    pub = Publisher(services.base_url, "switch", token)
    try:
        await pub.projected(await pub.post("Перша новина"))
        url = services.base_url + "/feeds/switch.json"
        assert (await http.get(url)).json()["language"] == "en"
        for want in ("uk", "en"):
            await store.registry.update_feed("switch", title=None, timezone=None, language=want)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds(15)
            while (await http.get(url)).json()["language"] != want:
                assert loop.time() < deadline, want
                await asyncio.sleep(0.1)
            page = (await http.get(services.base_url + "/feeds/switch")).text
            assert f'<html lang="{want}">' in page
    finally:
        await pub.aclose()
