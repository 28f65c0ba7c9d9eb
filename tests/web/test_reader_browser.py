"""The reader page, the embed and their live behaviour in real Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from feed import keys
from feed.stores import Stores
from newsfeed.embedded import free_port
from tests.conftest import ROOT, Services, make_feed, seconds, start_web
from tests.web.helpers import Publisher
from tests.web.test_pages import kyiv_clock

SHOTS = ROOT / "docs" / "screenshots"
XSS_HEADLINE = '<img src=x onerror="window.__pwned=1">Breaking <script>window.__pwned=2</script>'
XSS_BODY = (
    '<p>Body <img src=x onerror="window.__pwned=3"></p><script>window.__pwned=4</script>'
    '<a href="javascript:window.__pwned=5">click</a>'
)


@pytest.fixture
async def news(services: Services, store: Stores) -> AsyncIterator[Publisher]:
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
        page.on(
            "console",
            lambda msg: (
                errors.append(msg.text)
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )
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


async def until(page: Any, expression: str, within: float = 15) -> None:
    """Poll a JS expression (wait_for_function would need 'unsafe-eval' under our CSP)."""
    deadline = asyncio.get_running_loop().time() + seconds(within)
    while not await page.evaluate(expression):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.05)


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
    browser: Any, services: Services, news: Publisher, store: Stores, tmp_path: Path
) -> None:
    out = SHOTS if os.environ.get("NEWSFEED_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    await store.registry.update_feed(
        "news", title="Russia\u2013Ukraine war: live updates", timezone=None
    )
    await seed_demo(news)
    for scheme in ("light", "dark"):
        async with new_page(
            browser, viewport={"width": 900, "height": 1000}, color_scheme=scheme
        ) as page:
            await page.goto(services.base_url + "/feeds/news")
            await wait_live(page)
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


async def test_live_publish_edit_and_retract_without_reload(
    browser: Any, services: Services, news: Publisher
) -> None:
    old = await news.post("Earlier update")
    await news.projected(old)
    async with new_page(browser) as page:
        await page.goto(services.base_url + "/feeds/news")
        await wait_live(page)
        assert await page.locator(".nf-status").text_content() == "Live"
        await page.evaluate("window.__sameDocument = true")

        fresh = await news.post("Fresh update from the front", "<p>Just in.</p>")
        await page.wait_for_selector(f"#e-{fresh['id']}", timeout=seconds(15) * 1000)
        assert await items(page) == [fresh["id"], old["id"]]
        item = page.locator(f"#e-{fresh['id']}")
        assert await item.locator(".nf-headline").text_content() == "Fresh update from the front"
        assert await item.locator(".nf-updated").count() == 0

        edited = await news.edit(fresh, headline="Fresh update, corrected", mark_updated=True)
        await page.wait_for_selector(
            f"#e-{fresh['id']}[data-version='{edited['version']}']", timeout=seconds(15) * 1000
        )
        assert await items(page) == [fresh["id"], old["id"]]  # in place
        assert await item.locator(".nf-headline").text_content() == "Fresh update, corrected"
        mark = await item.locator(".nf-updated").text_content()
        assert mark == f"(Updated: {kyiv_clock(edited['updated_at'])})"
        assert await item.locator(".nf-time").text_content() == kyiv_clock(edited["published_at"])

        await news.retract(edited)
        await page.wait_for_selector(
            f"#e-{fresh['id']}", state="detached", timeout=seconds(15) * 1000
        )
        assert await items(page) == [old["id"]]
        assert await page.evaluate("window.__sameDocument") is True
        assert page.errors == []


async def test_scrolled_down_reader_gets_a_button_not_a_jump(
    browser: Any, services: Services, news: Publisher
) -> None:
    posted = [
        await news.post(f"Update {i}", "<p>" + "A paragraph of reporting. " * 12 + "</p>")
        for i in range(20)
    ]
    await news.projected(posted[-1])
    async with new_page(browser, viewport={"width": 800, "height": 600}) as page:
        await page.goto(services.base_url + "/feeds/news")
        await wait_live(page)
        await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        await until(page, "window.scrollY > 1000")
        before = await page.evaluate("window.scrollY")
        anchor = page.locator(f"#e-{posted[0]['id']}")
        anchor_top = (await anchor.bounding_box() or {})["y"]

        first = await news.post("Breaking while you read")
        button = page.locator(".nf-new")
        await button.wait_for(state="visible", timeout=seconds(15) * 1000)
        assert await button.text_content() == "1 new update"
        second = await news.post("And another one")
        await until(page, "document.querySelector('.nf-new').textContent === '2 new updates'")
        # nothing moved under the reader
        assert await page.evaluate("window.scrollY") == before
        assert (await anchor.bounding_box() or {})["y"] == anchor_top
        assert await page.locator(f"#e-{first['id']}").count() == 0
        # the button is in view and reachable from the keyboard
        box = await button.bounding_box()
        assert box is not None and 0 <= box["y"] < 600

        await button.focus()
        await page.keyboard.press("Enter")
        await page.wait_for_selector(f"#e-{second['id']}")
        assert (await items(page))[:2] == [second["id"], first["id"]]
        assert await button.is_hidden()
        focused = await page.evaluate("document.activeElement.dataset.id")
        assert focused == second["id"]
        assert await page.evaluate("window.scrollY") < before


async def test_page_reconnects_after_a_web_restart_and_catches_up(
    browser: Any, services: Services, news: Publisher, tmp_path: Path
) -> None:
    port = free_port()
    web, base = start_web(services.redis_url, tmp_path, port=port)
    try:
        before = await news.post("Before the restart")
        await news.projected(before)
        async with new_page(browser) as page:
            await page.goto(base + "/feeds/news")
            await wait_live(page)
            web.stop()
            await page.wait_for_selector(
                '.nf-column[data-nf-state="reconnecting"]', timeout=seconds(15) * 1000
            )
            assert await page.locator(".nf-status").text_content() == "Reconnecting…"
            # posted through the other web process while this one is down
            during = await news.post("Posted while the server was down")
            edited = await news.edit(
                before, headline="Before the restart (edited)", mark_updated=True
            )
            await news.projected(during)
            await news.projected(edited)
            web, _ = start_web(services.redis_url, tmp_path, port=port)
            await page.wait_for_selector(f"#e-{during['id']}", timeout=seconds(40) * 1000)
            await wait_live(page)
            await page.wait_for_selector(f"#e-{before['id']}[data-version='{edited['version']}']")
            assert await items(page) == [during["id"], before["id"]]
            assert page.errors == []
    finally:
        web.stop()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def partner_site(directory: Path) -> Iterator[str]:
    """Another origin: a plain static server on another loopback port."""
    handler = lambda *a, **kw: _Quiet(*a, directory=str(directory), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


PARTNER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The Daily Partner</title>
<style>
  body {{ margin: 0; font: 17px/1.6 Georgia, serif; color: #222; background: #fafafa; }}
  header {{ background: #0b3d91; color: #fff; padding: 14px 32px; font: 700 22px sans-serif; }}
  .wrap {{ display: grid; grid-template-columns: 1fr 380px; gap: 32px; padding: 24px 32px; }}
  article p {{ max-width: 38em; }}
  /* hostile page CSS: must not reach into the embed */
  .nf-item {{ display: none !important; }}
  .nf-headline {{ color: rgb(255, 0, 0) !important; }}
  a {{ color: rgb(0, 128, 0); }}
</style></head>
<body>
<header>The Daily Partner</header>
<div class="wrap">
  <article>
    <h1>Peace talks: what is on the table</h1>
    <p>Our analysis of the positions both delegations bring to Istanbul, and what a
    ceasefire would need to hold. Follow every development in the live feed.</p>
    <p class="nf-headline" id="outside">A partner paragraph that happens to share a class name.</p>
  </article>
  <aside>
    <div id="embed" data-newsfeed="news" {attrs}></div>
  </aside>
</div>
{extra}
<script async src="{base}/embed.js"></script>
</body></html>
"""


async def test_embed_on_another_origin_renders_in_shadow_dom_and_goes_live(
    browser: Any, services: Services, news: Publisher, tmp_path: Path
) -> None:
    demo = await seed_demo(news)
    frame = (
        f'<iframe id="frame" src="{services.base_url}/embed/news?theme=dark"'
        ' title="News Feed"></iframe>'
    )
    (tmp_path / "index.html").write_text(
        PARTNER_PAGE.format(
            base=services.base_url,
            attrs='data-limit="5"',
            extra=frame
            + '<div id="dark" data-newsfeed="news" data-theme="dark" data-height="300">',
        )
    )
    with partner_site(tmp_path) as origin:
        assert origin != services.base_url
        async with new_page(browser, viewport={"width": 1100, "height": 1000}) as page:
            await page.goto(origin + "/index.html")
            # Playwright's CSS selectors pierce open shadow roots
            await page.wait_for_selector(
                '#embed .nf-column[data-nf-state="live"]', timeout=seconds(15) * 1000
            )
            assert await page.evaluate("document.getElementById('embed').shadowRoot !== null")
            assert await page.evaluate("document.querySelectorAll('.nf-item').length") == 0
            shown = await page.eval_on_selector_all(
                "#embed .nf-item", "els => els.map(e => e.dataset.id)"
            )
            assert len(shown) == 5 and shown[0] == demo[-1]["id"]  # pinned first, limit 5
            # no CSS leaks either way
            item = page.locator("#embed .nf-item").first
            assert await item.is_visible()
            color = await page.locator("#embed .nf-headline a").first.evaluate(
                "e => getComputedStyle(e).color"
            )
            assert color != "rgb(255, 0, 0)" and color != "rgb(0, 128, 0)"
            outside = await page.locator("#outside").evaluate("e => getComputedStyle(e).color")
            assert outside == "rgb(255, 0, 0)"
            # themable: a dark, fixed-height scrolling column
            dark = page.locator("#dark .nf-column")
            await page.wait_for_selector('#dark .nf-column[data-nf-state="live"]')
            style = await dark.evaluate(
                "e => { const l = e.querySelector('.nf-list'), s = getComputedStyle(l);"
                " return [getComputedStyle(e).backgroundColor, s.overflowY, l.clientHeight]; }"
            )
            assert style[0] == "rgb(21, 23, 27)" and style[1] == "auto" and style[2] <= 300
            light = await page.locator("#embed .nf-column").evaluate(
                "e => getComputedStyle(e).backgroundColor"
            )
            assert light == "rgb(255, 255, 255)"
            # the "More news" link of a 5-item page loads the next 5 from the JSON API
            await page.locator("#embed .nf-more").click()
            await page.wait_for_function(
                "document.getElementById('embed').shadowRoot"
                ".querySelectorAll('.nf-item').length === 6"
            )

            fresh = await news.post("Live in the partner's sidebar", "<p>It works.</p>")
            await page.wait_for_selector(f"#embed #e-{fresh['id']}", timeout=seconds(15) * 1000)
            edited = await news.edit(
                fresh, headline="Live in the sidebar, edited", mark_updated=True
            )
            await page.wait_for_selector(
                f"#embed #e-{fresh['id']}[data-version='{edited['version']}']",
                timeout=seconds(15) * 1000,
            )
            assert "(Updated:" in await page.locator(f"#embed #e-{fresh['id']}").inner_text()
            # the iframe embed on the same page told its parent how tall it is
            await page.wait_for_function(
                "parseInt(document.getElementById('frame').style.height) > 300"
            )
            embed_frame = page.frame_locator("#frame")
            await embed_frame.locator(f"#e-{fresh['id']}").wait_for(timeout=seconds(15) * 1000)
            out = SHOTS if os.environ.get("NEWSFEED_SCREENSHOTS") else tmp_path
            out.mkdir(parents=True, exist_ok=True)
            await page.locator("#frame").evaluate("e => e.remove()")
            await page.locator("#dark").evaluate("e => e.remove()")
            await page.wait_for_timeout(1800)  # let the highlight of the edit fade
            await page.screenshot(path=str(out / "embed.png"), full_page=True)
            assert page.errors == []


async def _assert_inert(page: Any, scope: str, entry_id: str) -> None:
    item = page.locator(f"{scope} #e-{entry_id}")
    await item.wait_for(timeout=seconds(15) * 1000)
    assert await item.locator(".nf-headline").text_content() == XSS_HEADLINE
    assert await item.locator("img, script, iframe").count() == 0
    body = item.locator(".nf-body")
    assert await body.locator("a").count() == 1
    assert await body.locator("a").get_attribute("href") is None  # javascript: removed
    assert await page.evaluate("window.__pwned") is None


async def test_xss_payloads_never_run(
    browser: Any, services: Services, news: Publisher, tmp_path: Path
) -> None:
    rendered = await news.post(XSS_HEADLINE, XSS_BODY)
    await news.projected(rendered)
    async with new_page(browser) as page:
        # server-rendered page and JSON-LD
        await page.goto(services.base_url + "/feeds/news")
        await wait_live(page)
        await _assert_inert(page, "", rendered["id"])
        ld = await page.evaluate(
            "JSON.parse(document.querySelector('script[type=\"application/ld+json\"]')"
            ".textContent).liveBlogUpdate[0].headline"
        )
        assert ld == XSS_HEADLINE
        # rendered by the live script
        live = await news.post(XSS_HEADLINE, XSS_BODY)
        await _assert_inert(page, "", live["id"])
        edited = await news.edit(live, body=XSS_BODY + "<p>edited</p>", mark_updated=True)
        await page.wait_for_selector(f"#e-{live['id']}[data-version='{edited['version']}']")
        await _assert_inert(page, "", live["id"])
        # the permalink page
        await page.goto(f"{services.base_url}/feeds/news/entries/{live['id']}")
        await _assert_inert(page, "", live["id"])
        # the iframe page
        await page.goto(f"{services.base_url}/embed/news")
        await _assert_inert(page, "", live["id"])
        assert page.errors == []

    (tmp_path / "index.html").write_text(
        PARTNER_PAGE.format(base=services.base_url, attrs="", extra="")
    )
    with partner_site(tmp_path) as origin:
        async with new_page(browser) as page:
            await page.goto(origin + "/index.html")
            await page.wait_for_selector(
                '#embed .nf-column[data-nf-state="live"]', timeout=seconds(15) * 1000
            )
            await _assert_inert(page, "#embed", rendered["id"])
            again = await news.post(XSS_HEADLINE, XSS_BODY)
            await _assert_inert(page, "#embed", again["id"])
            await page.wait_for_timeout(300)
            assert await page.evaluate("window.__pwned") is None


async def test_a_stale_cursor_resets_the_column_to_the_snapshot(
    browser: Any, services: Services, news: Publisher, store: Stores, tmp_path: Path
) -> None:
    port = free_port()
    web, base = start_web(services.redis_url, tmp_path, port=port)
    try:
        kept = await news.post("Still true")
        dropped = await news.post("Will be retracted")
        await news.projected(kept)
        await news.projected(dropped)
        async with new_page(browser) as page:
            await page.goto(base + "/feeds/news")
            await wait_live(page)
            await page.locator(f"#e-{kept['id']}").evaluate("e => e.dataset.probe = 'old'")
            web.stop()
            await page.wait_for_selector('.nf-column[data-nf-state="reconnecting"]')
            # the live stream is now another one (as after a restore elsewhere)
            await store.redis.set(keys.epoch("news"), "restored")
            gone = await news.retract(dropped)
            fresh = await news.post("After the restore")
            await news.projected(gone)
            await news.projected(fresh)
            web, _ = start_web(services.redis_url, tmp_path, port=port)
            await page.wait_for_selector(f"#e-{fresh['id']}", timeout=seconds(40) * 1000)
            assert await items(page) == [fresh["id"], kept["id"]]
            # the list was replaced by the snapshot, not patched
            assert await page.locator(f"#e-{kept['id']}").get_attribute("data-probe") is None
            cursor = await page.locator(".nf-column").get_attribute("data-nf-cursor")
            assert cursor is not None and cursor.startswith("restored.")
    finally:
        web.stop()
