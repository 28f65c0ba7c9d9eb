"""The admin page's photo field in real Chromium: drop a file, see it, alt text required."""

from __future__ import annotations

import base64
from typing import Any

from feed.accounts import Accounts
from feed.stores import Stores
from tests.conftest import Services, make_feed
from tests.feed.test_images import SVG, png_with_alpha
from tests.web.admin_util import add_user
from tests.web.test_admin_browser import open_as

DROP = """([selector, b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type}));
  const target = document.querySelector(selector);
  for (const kind of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(kind, {dataTransfer: dt, bubbles: true, cancelable: true}));
  }
}"""


async def drop(page: Any, data: bytes, name: str, ctype: str) -> None:
    payload = ["fieldset.photo [data-drop]", base64.b64encode(data).decode(), name, ctype]
    await page.evaluate(DROP, payload)


async def test_drop_a_photo_alt_text_is_required_an_svg_is_refused(
    browser: Any, services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "news", "Europe/Kyiv")
    await add_user(accounts, "ed", "editor", ("news",))
    page = await open_as(browser, services.base_url, "ed")
    try:
        status = page.locator(".photo-status")
        await drop(page, SVG, "map.svg", "image/svg+xml")
        await status.locator("text=Not attached").wait_for()
        assert "SVG" in await status.inner_text()
        assert await page.locator("input[name=photo_id]").input_value() == ""

        await drop(page, png_with_alpha(), "scene.png", "image/png")
        await status.locator("text=Photo ready").wait_for()
        assert await page.locator("fieldset.photo img.preview").is_visible()
        photo_id = await page.locator("input[name=photo_id]").input_value()
        assert photo_id.startswith("ph_")
        await page.fill("input[name=headline]", "Smoke over the river")
        await page.click("button#post")
        # the browser refuses the form: alt text is required with a photo
        assert await page.evaluate(
            "!document.querySelector('input[name=photo_alt]').validity.valid"
        )
        assert "?e=" not in page.url
        await page.fill("input[name=photo_alt]", "Grey smoke over the Dnipro")
        await page.click("button#post")
        await page.wait_for_url("**/admin/feeds/news?e=*")
        entry_id = page.url.split("?e=")[1]
        entry = await store.editorial.get_entry("news", entry_id)
        assert entry.photo is not None and entry.photo.id == photo_id
        assert entry.photo.alt == "Grey smoke over the Dnipro"
        assert (entry.photo.width, entry.photo.height) == (500, 300)
    finally:
        await page.context.close()
