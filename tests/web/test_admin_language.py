"""The admin pages in the editor's language, chosen per user."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from feed.accounts import Accounts
from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds
from tests.web.admin_util import add_user, signed_in
from tests.web.test_admin_browser import open_as


async def test_each_editor_chooses_the_language_of_the_admin_pages(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "news")
    await add_user(accounts, "olena", "editor", ("news",))
    await add_user(accounts, "john", "editor", ("news",))
    async with signed_in(services.base_url, "olena") as (olena, csrf):
        r = await olena.post(
            "/admin/language",
            data={"csrf_token": csrf, "language": "uk", "next": "/admin/feeds/news"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/admin/feeds/news"
        page = (await olena.get("/admin/feeds/news")).text
        assert '<html lang="uk">' in page
        for text in (
            "Опублікувати",
            "Зберегти чернетку",
            "Заголовок",
            "Мову встановлено.",
            "Вийти",
        ):
            assert text in page, text
        assert ">Post<" not in page and ">Save draft<" not in page
        r = await olena.post(
            "/admin/language", data={"csrf_token": csrf, "language": "klingon", "next": "/x"}
        )
        assert r.headers["location"] == "/admin/"  # no open redirect; the choice is kept
        assert await accounts.ui_language("olena") == "uk"
    # the choice follows the user to a new session; another editor keeps English
    async with signed_in(services.base_url, "olena") as (olena, _):
        assert '<html lang="uk">' in (await olena.get("/admin/feeds/news")).text
    async with signed_in(services.base_url, "john") as (john, _):
        page = (await john.get("/admin/feeds/news")).text
        assert '<html lang="en">' in page and ">Post<" in page


async def test_ukrainian_admin_page_in_chromium(
    browser: Any, services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "news")
    await add_user(accounts, "olena", "editor", ("news",))
    await add_user(accounts, "taras", "editor", ("news",))
    await accounts.set_ui_language("olena", "uk")
    olena = await open_as(browser, services.base_url, "olena")
    taras = await open_as(browser, services.base_url, "taras")
    try:
        assert await olena.evaluate("document.documentElement.lang") == "uk"
        await olena.locator("#live-state", has_text="наживо").wait_for(timeout=seconds(20) * 1000)
        await olena.locator("#presence", has_text="Також тут: taras").wait_for(
            timeout=seconds(20) * 1000
        )
        await olena.fill("#headline", "Вибухи в Харкові")
        await olena.click("#compose button[value=publish]")
        await olena.wait_for_url("**/admin/feeds/news?e=*")
        flash = await olena.locator(".flash").text_content() or ""
        assert re.fullmatch(r"Опубліковано: Вибухи в Харкові", flash.strip())
        assert await taras.evaluate("document.documentElement.lang") == "en"
    finally:
        await olena.context.close()
        await taras.context.close()


# Technical words a Ukrainian admin page may show as they are.
ALLOWED = {"newsfeed", "Ctrl", "Enter", "Id", "URL", "Iframe", "CMS", "API", "UTC", "GMT"}
ALLOWED |= {"blockquote", "href", "ul", "Europe", "Kyiv", "English", "hreflang", "POST"}
ALLOWED |= {"Newsfeed", "Signature", "https", "partner", "example", "hooks", "cms", "Partner"}
ALLOWED |= {"script"}  # the HTML element named in the embed snippet label
ALLOWED |= {"JPEG", "PNG", "WebP"}  # image format names (the photo field)
ALLOWED |= {"Telegram", "YouTube"}  # provider names (the embedded post field)


class Prose(HTMLParser):
    """Visible text and labels, but not code (<code>, <textarea> snippets)."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang")
        if tag in ("script", "style", "code", "textarea"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "alt", "placeholder") and value:
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code", "textarea"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(data.strip())


async def test_no_english_left_on_the_ukrainian_admin_pages(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "news")
    await add_user(accounts, "chief", "admin")
    await accounts.set_ui_language("chief", "uk")
    entry, _ = await store.editorial.create_entry("news", {"headline": "Тест"}, actor="user:chief")
    async with signed_in(services.base_url, "chief") as (chief, _csrf):
        for path in (
            "/admin/",
            "/admin/feeds/news",
            f"/admin/feeds/news/entries/{entry.id}",
            f"/admin/feeds/news/entries/{entry.id}/retract",
            "/admin/feeds/news/settings",
            "/admin/users",
            "/admin/feeds/news/audit",
        ):
            page = (await chief.get(path, headers={"Accept": "text/html"})).text
            seen = Prose()
            seen.feed(page)
            assert seen.lang == "uk", path
            words = {w for t in seen.texts for w in re.findall(r"[A-Za-z]{2,}", t)}
            # data on the page (slugs, user names, actors, event codes) is not text to translate
            data = {"news", "News", "chief", "user", "entry", "create", "login", "feed", "en", "uk"}
            data |= {"ukraine", "live", "admin"}  # the slug example; the brand "newsfeed admin"
            data |= {"headline"}  # the history names the fields an edit changed
            data |= {"test"}  # the feed's API token is named "test"
            left = sorted(words - ALLOWED - data)
            assert not left, f"{path}: {left}"
