"""A Ukrainian feed in Chromium: server-rendered and script-rendered alike.

The reader page (server) and the script embed on another origin (rendered
by live.js from the JSON API) must both show Ukrainian strings and CLDR
formats, and agree on the daylight-saving change of 28 March 2027.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from feed.i18n import language
from feed.stores import Stores
from newsfeed.embedded import free_port
from tests.conftest import Services, seconds, start_web
from tests.web.test_i18n_pages import english_left, seed_ukrainian
from tests.web.test_reader_browser import PARTNER_PAGE, new_page, partner_site, until, wait_live

UK = language("uk")
KYIV = ZoneInfo("Europe/Kyiv")


def uk_clock(iso: str) -> str:
    return UK.time(datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(KYIV))


async def test_ukrainian_reader_page_live_in_chromium(
    browser: Any, services: Services, store: Stores, tmp_path: Path
) -> None:
    pub, _ = await seed_ukrainian(store, services)
    port = free_port()
    web, base = start_web(services.redis_url, tmp_path, port=port)
    try:
        async with new_page(browser, viewport={"width": 800, "height": 500}) as page:
            await page.goto(base + "/feeds/kyiv-uk")
            await wait_live(page)
            assert await page.evaluate("document.documentElement.lang") == "uk"
            assert await page.locator(".nf-status").text_content() == "Наживо"
            # a live publish and a live "Updated" mark, in the CLDR 24-hour clock
            fresh = await pub.post("Нова заява міністра", "<p>Щойно.</p>")
            item = page.locator(f"#e-{fresh['id']}")
            await item.wait_for(timeout=seconds(15) * 1000)
            assert await item.locator(".nf-time").text_content() == uk_clock(fresh["published_at"])
            assert re.fullmatch(r"\d\d:\d\d", await item.locator(".nf-time").text_content() or "")
            edited = await pub.edit(
                fresh, headline="Нова заява міністра (оновлено)", mark_updated=True
            )
            await page.wait_for_selector(f"#e-{fresh['id']}[data-version='{edited['version']}']")
            mark = await item.locator(".nf-updated").text_content()
            assert mark == f"(Оновлено: {uk_clock(edited['updated_at'])})"
            # the DST items the server rendered, as Chromium shows them
            after = page.locator(".nf-item", has_text="Після зміни часу")
            assert await after.locator(".nf-time").text_content() == "04:30 GMT+03:00"
            # a reader scrolled down gets a Ukrainian, correctly plural button
            await page.evaluate(
                "document.querySelector('.nf-list').style.paddingBottom = '3000px';"
                "window.scrollTo(0, document.body.scrollHeight)"
            )
            await until(page, "window.scrollY > 1000")
            await pub.post("Перша під час читання")
            button = page.locator(".nf-new")
            await button.wait_for(state="visible", timeout=seconds(15) * 1000)
            assert await button.text_content() == "1 нове оновлення"
            await pub.post("Друга під час читання")
            await until(
                page, "document.querySelector('.nf-new').textContent === '2 нові оновлення'"
            )
            for i in range(3):
                await pub.post(f"Ще одна {i}")
            await until(
                page, "document.querySelector('.nf-new').textContent === '5 нових оновлень'"
            )
            # a lost connection, in Ukrainian
            web.stop()
            await page.wait_for_selector(
                '.nf-column[data-nf-state="reconnecting"]', timeout=seconds(15) * 1000
            )
            assert await page.locator(".nf-status").text_content() == "Відновлення з’єднання…"
            texts = await page.evaluate(
                "[...document.querySelectorAll('.nf-column :not(.nf-headline):not(.nf-body)"
                ":not(.nf-body *):not(.nf-headline *)')]"
                ".flatMap(e => [...e.childNodes].filter(n => n.nodeType === 3)"
                ".map(n => n.textContent.trim())).filter(Boolean)"
            )
            assert english_left(texts) == []
            assert page.errors == []
    finally:
        web.stop()
        await pub.aclose()


async def test_ukrainian_script_embed_matches_the_server(
    browser: Any, services: Services, store: Stores, tmp_path: Path
) -> None:
    pub, _ = await seed_ukrainian(store, services)
    try:
        (tmp_path / "index.html").write_text(
            PARTNER_PAGE.format(base=services.base_url, attrs="", extra="").replace(
                'data-newsfeed="news"', 'data-newsfeed="kyiv-uk"'
            )
        )
        with partner_site(tmp_path) as origin:
            async with new_page(browser, viewport={"width": 1100, "height": 1000}) as page:
                await page.goto(origin + "/index.html")
                await page.wait_for_selector(
                    '#embed .nf-column[data-nf-state="live"]', timeout=seconds(15) * 1000
                )
                col = page.locator("#embed .nf-column")
                assert await col.get_attribute("lang") == "uk"
                assert await col.locator(".nf-title").text_content() == "Стрічка новин"
                assert await col.locator(".nf-status").text_content() == "Наживо"
                zone = await col.locator(".nf-zone").text_content()
                assert zone.startswith("Час за східноєвропейським")
                before = col.locator(".nf-item", has_text="Перед зміною часу")
                after = col.locator(".nf-item", has_text="Після зміни часу")
                # rendered by the script: the same CLDR formats as the server's
                assert await before.locator(".nf-time").text_content() == "02:30"
                assert await before.locator(".nf-date").text_content() == "28 бер."
                assert await after.locator(".nf-time").text_content() == "04:30 GMT+03:00"
                assert await after.locator(".nf-time").get_attribute("title") == (
                    "28 бер. 2027 р., 04:30 GMT+03:00"
                )
                updated = col.locator(".nf-item", has_text="Переговори у Стамбулі")
                assert re.fullmatch(
                    r"\(Оновлено: \d\d:\d\d\)", await updated.locator(".nf-updated").text_content()
                )
                source = await col.locator(".nf-source").text_content()
                assert source == "Київ наживо · сторінка онлайн ↗"
                shown = await col.evaluate(
                    "e => [...e.querySelectorAll('.nf-time, .nf-date, .nf-updated, .nf-zone,"
                    " .nf-title, .nf-status, .nf-source, .nf-pin')].map(n => n.textContent)"
                )
                assert english_left(shown) == []
                assert page.errors == []
    finally:
        await pub.aclose()
