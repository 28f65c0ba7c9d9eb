"""Presence in Chromium: two editors on one entry see each other within seconds."""

from __future__ import annotations

from typing import Any

import httpx

from feed.accounts import Accounts
from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds
from tests.web.admin_util import add_user, signed_in
from tests.web.test_admin_browser import open_as

WAIT = 20  # s: a beat is every 3 s; a closed page says goodbye at once


async def test_two_contexts_on_one_entry_show_each_other(
    browser: Any, services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "news", "Europe/Kyiv")
    await add_user(accounts, "olena", "editor", ("news",))
    await add_user(accounts, "chief", "editor", ("news",))
    entry, _ = await store.editorial.create_entry(
        "news", {"headline": "Air defence active over Kyiv"}, actor="user:chief"
    )
    base = services.base_url
    olena = await open_as(browser, base, "olena")
    chief = await open_as(browser, base, "chief")
    try:
        # on the editor screen: each sees the other on the feed
        for page, other in ((olena, "chief"), (chief, "olena")):
            await page.locator("#presence", has_text=f"Also here: {other}").wait_for(
                timeout=seconds(WAIT) * 1000
            )
        # both open the entry: each is told the other is editing it
        await olena.goto(f"/admin/feeds/news/entries/{entry.id}")
        await chief.goto(f"/admin/feeds/news/entries/{entry.id}")
        for page, other in ((olena, "chief"), (chief, "olena")):
            await page.locator("#presence", has_text=f"{other} is editing this update").wait_for(
                timeout=seconds(WAIT) * 1000
            )
        # chief goes back to the list: there olena's entry carries her badge,
        # and olena's page no longer names chief on the entry
        await chief.goto("/admin/feeds/news")
        await chief.locator(f"#e-{entry.id} .badge.editing", has_text="olena editing").wait_for(
            timeout=seconds(WAIT) * 1000
        )
        await olena.locator("#presence", has_text="editing").wait_for(
            state="hidden", timeout=seconds(WAIT) * 1000
        )
        # closing a page ends its presence at once (its goodbye beacon)
        await olena.context.close()
        await chief.locator("#presence").wait_for(state="hidden", timeout=seconds(WAIT) * 1000)
        assert await chief.locator(".badge.editing").count() == 0
    finally:
        await chief.context.close()


async def test_presence_is_guarded_and_checks_its_input(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "news")
    await make_feed(store, "secret")
    await add_user(accounts, "olena", "editor", ("news",))
    async with httpx.AsyncClient(base_url=services.base_url) as anon:
        r = await anon.post("/admin/feeds/news/presence", data={"tab": "abcdefgh"})
        assert r.status_code in (401, 403)
    async with signed_in(services.base_url, "olena") as (client, csrf):
        r = await client.post("/admin/feeds/news/presence", data={"tab": "abcdefgh"})
        assert r.status_code == 403  # no CSRF token
        ok = {"csrf_token": csrf, "tab": "abcdefgh"}
        r = await client.post("/admin/feeds/secret/presence", data=ok)
        assert r.status_code == 403  # not granted
        for bad in ({"tab": "x"}, {"tab": "abcdefgh", "entry": "../../etc"}):
            r = await client.post("/admin/feeds/news/presence", data={"csrf_token": csrf, **bad})
            assert r.status_code == 422
        r = await client.post("/admin/feeds/news/presence", data=ok)
        assert r.status_code == 200 and r.json()["here"] == []
