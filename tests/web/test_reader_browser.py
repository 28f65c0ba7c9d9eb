"""The reader page, the embed and their live behaviour in real Chromium."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from feed.store import FeedStore
from tests.conftest import ROOT, Services, make_feed, seconds
from tests.web.helpers import Publisher

SHOTS = ROOT / "docs" / "screenshots"
XSS_HEADLINE = '<img src=x onerror="window.__pwned=1">Breaking <script>window.__pwned=2</script>'
XSS_BODY = (
    '<p>Body <img src=x onerror="window.__pwned=3"></p><script>window.__pwned=4</script>'
    '<a href="javascript:window.__pwned=5">click</a>'
)


@pytest.fixture
async def news(services: Services, store: FeedStore) -> AsyncIterator[Publisher]:
    token = await make_feed(store, "news", timezone="Europe/Kyiv")
    publisher = Publisher(services.base_url, "news", token)
    try:
        yield publisher
    finally:
        await publisher.aclose()


@contextlib.asynccontextmanager
async def new_page(browser: Any, **options: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(**options)
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors
        yield page
    finally:
        await context.close()


async def items(page: Any, root: Any = None) -> list[str]:
    scope = root or page
    ids: list[str] = await scope.eval_on_selector_all(
        ".nf-list > .nf-item", "els => els.map(e => e.dataset.id)"
    )
    return ids


async def wait_live(page: Any) -> None:
    await page.wait_for_selector('.nf-column[data-nf-state="live"]', timeout=seconds(15) * 1000)


async def test_column_renders_on_the_server_without_javascript(
    browser: Any, services: Services, news: Publisher
) -> None:
    first = await news.post("Talks resume in Istanbul", "<p>Delegations arrive.</p>")
    pinned = await news.post("What we know so far", "<p>Key facts.</p>", pinned=True)
    edited = await news.edit(first, body="<p>Delegations have arrived.</p>", mark_updated=True)
    await news.projected(pinned)
    await news.projected(edited)
    async with new_page(browser, java_script_enabled=False) as page:
        await page.goto(services.base_url + "/feeds/news")
        assert await items(page) == [pinned["id"], first["id"]]
        item = page.locator(f"#e-{first['id']}")
        assert "Delegations have arrived." in await item.inner_text()
        assert "(Updated:" in await item.locator(".nf-updated").inner_text()
        assert await page.locator(f"#e-{pinned['id']} .nf-pin").text_content() == "Pinned"
        log = page.locator(".nf-list")
        assert await log.get_attribute("role") == "log"
        assert await log.get_attribute("aria-live") == "polite"
        # without the script the status stays hidden and nothing claims to be live
        assert await page.locator(".nf-status").is_hidden()


DEMO = [
    ("-26h", "Overnight: air-raid alerts lifted across the east", "", None),
    (
        "-185m",
        "Delegations arrive in Istanbul for a second round of talks",
        "<p>Both sides confirmed their teams landed this morning; the first session "
        "is expected to start at noon local time.</p>",
        None,
    ),
    (
        "-140m",
        "Foreign minister: “No agreement without a full ceasefire”",
        "<blockquote>We came here to stop the killing, not to sign paper.</blockquote>",
        "https://example.org/statement",
    ),
    (
        "-95m",
        "Power restored to 40,000 homes in Kharkiv region",
        "<p>The regional administration said crews worked through the night. "
        '<a href="https://example.org/grid">Grid operator update</a>.</p>',
        None,
    ),
    (
        "-38m",
        "Trump calls Putin after Ukraine, Russia peace talks in Istanbul",
        "<p>The White House said the call lasted <strong>more than an hour</strong>.</p>",
        None,
    ),
]


def _ago(spec: str) -> str:
    from datetime import UTC, datetime, timedelta

    unit = spec[-1]
    amount = int(spec[1:-1])
    delta = timedelta(hours=amount) if unit == "h" else timedelta(minutes=amount)
    return (datetime.now(UTC) - delta).isoformat().replace("+00:00", "Z")


async def seed_demo(publisher: Publisher) -> list[dict[str, Any]]:
    posted = []
    for ago, headline, body, url in DEMO:
        fields: dict[str, Any] = {"published_at": _ago(ago)}
        if url:
            fields["url"] = url
        posted.append(await publisher.post(headline, body, **fields))
    pinned = await publisher.post(
        "Follow our live coverage of the Istanbul talks",
        "<p>Updates from our correspondents as they happen. All times local.</p>",
        pinned=True,
        published_at=_ago("-200m"),
    )
    edited = await publisher.edit(
        posted[-1],
        body="<p>The White House said the call lasted <strong>more than an hour</strong>; "
        "the Kremlin described it as “frank”.</p>",
        mark_updated=True,
    )
    await publisher.projected(pinned)
    await publisher.projected(edited)
    return [*posted[:-1], edited, pinned]


async def test_screenshots_of_the_reader_page(
    browser: Any, services: Services, news: Publisher, tmp_path: Path
) -> None:
    import os

    out = SHOTS if os.environ.get("NEWSFEED_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    await seed_demo(news)
    for scheme in ("light", "dark"):
        async with new_page(
            browser, viewport={"width": 900, "height": 1000}, color_scheme=scheme
        ) as page:
            await page.goto(services.base_url + "/feeds/news")
            await page.wait_for_selector(".nf-column[data-nf-state]")
            await page.wait_for_timeout(600)
            name = "reader.png" if scheme == "light" else "reader-dark.png"
            await page.screenshot(path=str(out / name), full_page=True)
            # a real column: the time sits left of the headline, on one line
            first = page.locator(".nf-item").nth(1)
            time_box = await first.locator(".nf-time").bounding_box()
            head_box = await first.locator(".nf-headline").bounding_box()
            assert time_box and head_box and time_box["x"] + time_box["width"] <= head_box["x"]
            assert time_box["height"] < 30
            assert page.errors == []
