"""Paired feeds: an English and a Ukrainian desk, updates linked to their translations."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from feed.accounts import Accounts
from feed.errors import Conflict, InvalidInput
from feed.pairing import Pairing
from feed.stores import Stores
from tests.conftest import Services, make_feed
from tests.web.admin_util import add_user, signed_in
from tests.web.helpers import Publisher
from tests.web.test_pages import ld_json


async def desks(store: Stores, services: Services) -> tuple[Publisher, Publisher]:
    en = await make_feed(store, "kyiv-en", timezone="Europe/Kyiv")
    uk = await make_feed(store, "kyiv-uk", timezone="Europe/Kyiv")
    await store.registry.update_feed("kyiv-uk", title="Київ", timezone=None, language="uk")
    return Publisher(services.base_url, "kyiv-en", en), Publisher(services.base_url, "kyiv-uk", uk)


def pairing(store: Stores) -> Pairing:
    return Pairing(store.redis, store.registry, store.editorial)


async def test_pairing_rules(store: Stores, services: Services) -> None:
    en, uk = await desks(store, services)
    await make_feed(store, "other-en")
    p = pairing(store)
    with pytest.raises(InvalidInput):
        await p.pair("kyiv-en", "other-en")  # same language
    with pytest.raises(InvalidInput):
        await p.pair("kyiv-en", "kyiv-en")
    a, b = await p.pair("kyiv-en", "kyiv-uk")
    assert (a.pair, b.pair) == ("kyiv-uk", "kyiv-en")
    await store.registry.update_feed("other-en", title=None, timezone=None, language="uk")
    with pytest.raises(Conflict):
        await p.pair("other-en", "kyiv-en")  # kyiv-en is taken
    e = await en.post("Air raid alert in Kyiv")
    with pytest.raises(InvalidInput):
        await p.link("kyiv-en", e["id"], "nosuchentry")
    assert await p.translations(a, [e["id"]]) == {}
    await p.unpair("kyiv-en")
    assert (await store.registry.get_feed("kyiv-uk")).pair == ""
    await en.aclose()
    await uk.aclose()


async def test_linked_updates_carry_hreflang_and_a_link_in_the_other_language(
    store: Stores, services: Services, accounts: Accounts, browser: Any
) -> None:
    en, uk = await desks(store, services)
    await add_user(accounts, "chief", "admin")
    base = services.base_url
    try:
        e = await en.post("Air raid alert in Kyiv", "<p>Go to shelters.</p>")
        u = await uk.post("Повітряна тривога в Києві", "<p>Пройдіть в укриття.</p>")
        await en.projected(e)
        await uk.projected(u)
        async with signed_in(base, "chief") as (admin, csrf):
            r = await admin.post(
                "/admin/feeds/kyiv-en/pair", data={"csrf_token": csrf, "pair": "kyiv-uk"}
            )
            assert r.status_code == 303
            page = (await admin.get(f"/admin/feeds/kyiv-en/entries/{e['id']}")).text
            assert 'id="translation"' in page
            r = await admin.post(
                f"/admin/feeds/kyiv-en/entries/{e['id']}/translation",
                data={"csrf_token": csrf, "translation": f"{base}/feeds/kyiv-uk/entries/{u['id']}"},
            )
            assert r.status_code == 303
        async with httpx.AsyncClient(base_url=base) as http:
            en_url = f"{base}/feeds/kyiv-en/entries/{e['id']}"
            uk_url = f"{base}/feeds/kyiv-uk/entries/{u['id']}"
            en_page = (await http.get(f"/feeds/kyiv-en/entries/{e['id']}")).text
            uk_page = (await http.get(f"/feeds/kyiv-uk/entries/{u['id']}")).text
            assert f'<link rel="alternate" hreflang="uk" href="{uk_url}">' in en_page
            assert f'<link rel="alternate" hreflang="en" href="{en_url}">' in uk_page
            assert re.search(
                r'<a href="/feeds/kyiv-uk/entries/[^"]+" hreflang="uk" lang="uk">'
                r"Читати українською</a>",
                en_page,
            )
            assert re.search(
                r'<a href="/feeds/kyiv-en/entries/[^"]+" hreflang="en" lang="en">'
                r"Read in English</a>",
                uk_page,
            )
            (posting,) = ld_json(en_page)
            assert posting["workTranslation"]["inLanguage"] == "uk"  # type: ignore[index]
            column = (await http.get("/feeds/kyiv-uk")).text
            assert 'hreflang="en" href="' + base + '/feeds/kyiv-en"' in column
            assert ">Read in English</a>" in column  # the feed's and the item's
            # a retracted translation is not linked
            await en.projected(await en.retract(e))
            uk_page = (await http.get(f"/feeds/kyiv-uk/entries/{u['id']}")).text
            assert "Read in English" not in uk_page and 'hreflang="en"' not in uk_page
        # in Chromium: the link goes to the translation
        context = await browser.new_context()
        try:
            page = await context.new_page()
            fresh = await en.post("Explosions in Kharkiv")
            await en.projected(fresh)
            await pairing(store).link("kyiv-uk", u["id"], fresh["id"])
            await page.goto(f"{base}/feeds/kyiv-uk/entries/{u['id']}")
            await page.click("a[hreflang=en]")
            await page.wait_for_url(f"**/feeds/kyiv-en/entries/{fresh['id']}")
            assert await page.evaluate("document.documentElement.lang") == "en"
            assert await page.locator("a[hreflang=uk]").text_content() == "Читати українською"
        finally:
            await context.close()
    finally:
        await en.aclose()
        await uk.aclose()
