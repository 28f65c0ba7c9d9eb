"""Readers whose network blocks WebSockets (and SSE): the column and the embed in Chromium.

WebSockets are blocked with Playwright's ``route_web_socket``: while
``blocked`` is set, every WebSocket the page opens to the live endpoint is
closed before the server sees it. SSE is blocked with ``route`` (the
request fails). A MutationObserver records every (id, version) that enters
the column, so applying one twice (or a snapshot re-rendering the column)
would show.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds
from tests.web.live_client import Editor, new_slug
from tests.web.test_reader_browser import PARTNER_PAGE, new_page, partner_site

WS = re.compile(r"^ws://127\.0\.0\.1:\d+/api/v1/feeds/[^/]+/ws")

OBSERVE = """(root) => {
  const host = root ? document.querySelector(root).shadowRoot : document;
  const list = host.querySelector('.nf-list');
  window.nfApplied = window.nfApplied || {};
  const seen = window.nfApplied[root || 'page'] = [];
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.dataset && n.dataset.id) seen.push(n.dataset.id + '@' + n.dataset.version);
    }
  }).observe(list, {childList: true});
}"""


class Blocker:
    """WebSockets to the live endpoint fail while ``blocked``."""

    def __init__(self) -> None:
        self.blocked = True
        self.refused = 0

    async def handle(self, ws: Any) -> None:
        if self.blocked:
            self.refused += 1
            await ws.close(code=1011, reason="blocked by the test")
        else:
            ws.connect_to_server()


async def _column(page: Any, scope: str) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate(
        """(scope) => {
          const host = scope ? document.querySelector(scope).shadowRoot : document;
          const col = host.querySelector('.nf-column');
          const items = [...col.querySelectorAll('.nf-list > .nf-item')];
          return {transport: col.dataset.nfTransport || null, state: col.dataset.nfState,
                  status: col.querySelector('.nf-status').textContent,
                  items: items.map(e => e.dataset.id + '@' + e.dataset.version)};
        }""",
        scope,
    )
    return state


async def _until(page: Any, scope: str, check: Any, what: str, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds(within)
    while True:
        state = await _column(page, scope)
        if check(state):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{scope or 'page'}: timed out waiting for {what}: {state}")
        await asyncio.sleep(0.1)


async def _applied(page: Any, scope: str) -> list[str]:
    got: list[str] = await page.evaluate("(k) => window.nfApplied[k]", scope or "page")
    return got


async def test_column_and_embed_fall_back_to_sse_then_catch_up_over_websocket(
    browser: Any, store: Stores, services: Services, tmp_path: Path
) -> None:
    slug = new_slug()
    ed = Editor(services.base_url, slug, await make_feed(store, slug))
    try:
        old = await ed.create("old")
        gone = await ed.create("to be retracted")
        await ed.wait_public(2)
        (tmp_path / "index.html").write_text(
            PARTNER_PAGE.replace('data-newsfeed="news"', f'data-newsfeed="{slug}"').format(
                base=services.base_url, attrs="", extra=""
            )
        )
        blocker = Blocker()
        with partner_site(tmp_path) as origin:
            async with new_page(browser) as page, new_page(browser) as partner:
                for p in (page, partner):
                    await p.context.route_web_socket(WS, blocker.handle)
                await page.goto(f"{services.base_url}/feeds/{slug}")
                await partner.goto(origin + "/index.html")
                await partner.wait_for_selector("#embed .nf-column")
                views = [(page, ""), (partner, "#embed")]
                for p, scope in views:
                    await p.evaluate(OBSERVE, scope or None)
                    await _until(
                        p,
                        scope,
                        lambda s: s["transport"] == "sse" and s["state"] == "live",
                        "the SSE fallback",
                    )
                    assert (await _column(p, scope))["status"] == "Live"
                assert blocker.refused >= 4  # two WebSocket attempts per column

                # Live over SSE: publish, edit, retract.
                new = await ed.create("over SSE")
                new2 = await ed.edit(new, headline="over SSE, edited")
                await ed.retract(gone)
                want = [f"{new['id']}@{new2['version']}", f"{old['id']}@1"]
                for p, scope in views:
                    await _until(p, scope, lambda s: s["items"] == want, "the SSE changes")

                # The block is lifted: the column tries the WebSocket again
                # (every 15 s in a fallback) and resumes from its cursor.
                blocker.blocked = False
                between = await ed.create("while switching")  # SSE or the WebSocket's catch-up
                for p, scope in views:
                    await _until(
                        p, scope, lambda s: s["transport"] == "ws", "the WebSocket", within=45
                    )
                after = await ed.create("over the WebSocket")
                old2 = await ed.edit(old, headline="old, edited")
                want = [
                    f"{after['id']}@1",
                    f"{between['id']}@1",
                    f"{new['id']}@{new2['version']}",
                    f"{old['id']}@2",
                ]
                for p, scope in views:
                    await _until(p, scope, lambda s: s["items"] == want, "the WebSocket changes")
                    applied = await _applied(p, scope)
                    assert len(applied) == len(set(applied)), f"applied twice: {applied}"
                    assert set(applied) == {
                        f"{new['id']}@1",
                        f"{new['id']}@{new2['version']}",
                        f"{after['id']}@1",
                        f"{between['id']}@1",
                        f"{old['id']}@{old2['version']}",
                    }
                    assert (await _column(p, scope))["status"] == "Live"
                assert page.errors == [] and partner.errors == []
    finally:
        await ed.aclose()


async def test_with_websocket_and_sse_blocked_the_column_polls(
    browser: Any, store: Stores, services: Services
) -> None:
    slug = new_slug()
    ed = Editor(services.base_url, slug, await make_feed(store, slug))
    try:
        old = await ed.create("old")
        gone = await ed.create("to be retracted")
        await ed.wait_public(2)
        blocker = Blocker()
        async with new_page(browser) as page:
            await page.context.route_web_socket(WS, blocker.handle)
            sse_blocked = True

            async def sse(route: Any) -> None:
                if sse_blocked:
                    await route.abort()
                else:
                    await route.continue_()

            await page.context.route(re.compile(r".*/api/v1/feeds/[^/]+/sse.*"), sse)
            await page.goto(f"{services.base_url}/feeds/{slug}")
            await page.evaluate(OBSERVE, None)
            await _until(
                page, "", lambda s: s["transport"] == "poll" and s["state"] == "live", "polling"
            )
            assert (await _column(page, ""))["status"] == "Live (slow connection)"
            new = await ed.create("polled")
            new2 = await ed.edit(new, headline="polled, edited")
            await ed.retract(gone)
            want = [f"{new['id']}@{new2['version']}", f"{old['id']}@1"]
            await _until(page, "", lambda s: s["items"] == want, "the polled changes")
            # Unblocked: back to the WebSocket, resuming from the polled cursor.
            blocker.blocked = False
            sse_blocked = False
            await _until(page, "", lambda s: s["transport"] == "ws", "the WebSocket", within=45)
            after = await ed.create("live again")
            want = [f"{after['id']}@1", *want]
            await _until(page, "", lambda s: s["items"] == want, "the WebSocket changes")
            applied = await _applied(page, "")
            assert len(applied) == len(set(applied)), f"applied twice: {applied}"
            assert page.errors == []
    finally:
        await ed.aclose()
