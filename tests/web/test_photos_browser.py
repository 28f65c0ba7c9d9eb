"""Photos in real Chromium: 50 photo updates load without layout shift.

Chromium's Layout Instability API reports every unexpected shift; the test
sums them (the CLS a reader would get) while the reader scrolls through the
whole column, lazy images loading as they come near, and "More news" pulls
older photo updates in through the JSON API. Each image has its width and
height before it loads, so nothing may move.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from PIL import Image

from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds
from tests.web.helpers import Publisher
from tests.web.test_reader_browser import new_page, until

SHAPES = [(1600, 900), (900, 1200), (1200, 1200), (2000, 800), (640, 480)]
CLS_OBSERVER = """
window.__cls = 0; window.__shifts = 0;
new PerformanceObserver(list => {
  for (const e of list.getEntries()) {
    if (!e.hadRecentInput) { window.__cls += e.value; window.__shifts += 1; }
  }
}).observe({type: 'layout-shift', buffered: true});
"""


def photo(size: tuple[int, int], shade: int) -> bytes:
    image = Image.new("RGB", size, (shade, 90, 160))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


async def test_fifty_photo_updates_load_without_layout_shift(
    browser: Any, services: Services, store: Stores
) -> None:
    token = await make_feed(store, "photos", timezone="Europe/Kyiv")
    news = Publisher(services.base_url, "photos", token)
    try:
        ids = []
        for i, size in enumerate(SHAPES):
            r = await news.client.post(
                "/api/v1/feeds/photos/photos",
                content=photo(size, 40 * i),
                headers={"Content-Type": "image/jpeg"},
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        last: dict[str, Any] = {}
        for n in range(50):
            last = await news.post(
                f"Update {n} with a photo",
                f"<p>Report number {n} from the scene.</p>",
                photo={"id": ids[n % len(ids)], "alt": f"Scene {n}", "caption": f"Photo {n}"},
            )
        await news.projected(last)
    finally:
        await news.aclose()
    async with new_page(browser, viewport={"width": 1000, "height": 800}) as page:
        await page.add_init_script(CLS_OBSERVER)
        # a slow network makes late images more likely to move things, if they could
        await page.route("**/media/**", slow_media)
        await page.goto(services.base_url + "/feeds/photos")
        await page.wait_for_selector('.nf-column[data-nf-state="live"]', timeout=seconds(15) * 1000)
        imgs = page.locator(".nf-item .nf-photo img")
        assert await imgs.count() == 20
        first = imgs.first
        assert await first.get_attribute("loading") == "lazy"
        assert await first.get_attribute("width") and await first.get_attribute("height")
        await scroll_to_bottom(page)
        await page.locator(".nf-more").click()
        await until(page, "document.querySelectorAll('.nf-photo img').length >= 40")
        await scroll_to_bottom(page)
        await page.locator(".nf-more").click()
        await until(page, "document.querySelectorAll('.nf-photo img').length === 50")
        await scroll_to_bottom(page)
        await until(
            page, "[...document.querySelectorAll('.nf-photo img')].every(i => i.complete)", 30
        )
        loaded = await page.evaluate(
            "[...document.querySelectorAll('.nf-photo img')].filter(i => i.naturalWidth > 0).length"
        )
        assert loaded == 50  # every photo really loaded (the measure covers them all)
        cls = await page.evaluate("window.__cls")
        print(f"\nlayout shift score over 50 photo updates: {cls:.4f}")
        assert cls <= 0.1
        assert page.errors == []


async def slow_media(route: Any) -> None:
    await asyncio.sleep(0.15)
    await route.continue_()


async def scroll_to_bottom(page: Any) -> None:
    for _ in range(60):
        at_end = await page.evaluate(
            "window.scrollBy(0, 600),"
            " window.innerHeight + window.scrollY >= document.body.scrollHeight - 2"
        )
        await page.wait_for_timeout(60)
        if at_end:
            return
