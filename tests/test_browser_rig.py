"""The browser rig itself: Debian's Chromium renders a page newsfeed serves."""

from __future__ import annotations

from typing import Any

from tests.conftest import Services


async def test_chromium_reaches_the_web_process(browser: Any, services: Services) -> None:
    page = await browser.new_page()
    try:
        response = await page.goto(services.base_url + "/healthz")
        assert response is not None and response.status == 200
        assert '"ok"' in await page.content()
    finally:
        await page.close()
