"""The admin page in real Chromium against real web and worker processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from feed.accounts import Accounts
from feed.model import now_ms, to_rfc3339
from feed.stores import Stores
from tests.conftest import ROOT, Services, all_keys, make_feed, seconds
from tests.web.admin_util import PASSWORD, add_user

T = 15_000  # ms, Playwright's waits


async def reader_shows(reader: Any, selector: str, *, gone: bool = False) -> None:
    """Wait, on a reader page that is live, for ``selector`` to appear (or go)."""
    target = reader.locator(selector)
    await target.wait_for(state="detached" if gone else "visible", timeout=seconds(20) * 1000)


def in_hours(n: float) -> str:
    return to_rfc3339(now_ms() + int(n * 3600_000))


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 15) -> Any:
    """Poll ``check`` until it returns a truthy value (a bounded wait, not a timing)."""
    deadline = time.monotonic() + seconds(within)
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def public_entries(base: str, feed: str = "news") -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(
            f"{base}/api/v1/feeds/{feed}/entries", headers={"Cache-Control": "no-cache"}
        )
        r.raise_for_status()
        entries: list[dict[str, Any]] = r.json()["entries"]
        return entries


async def public_entry(base: str, headline: str) -> dict[str, Any] | None:
    return next((e for e in await public_entries(base) if e["headline"] == headline), None)


@pytest.fixture
async def newsroom(store: Stores, accounts: Accounts) -> str:
    token = await make_feed(store, "news", "Europe/Kyiv")
    await add_user(accounts, "chief", "admin")
    await add_user(accounts, "ed", "editor", ("news",))
    return token


async def open_as(browser: Any, base: str, name: str, **options: Any) -> Any:
    context = await browser.new_context(base_url=base, **options)
    context.set_default_timeout(T)
    page = await context.new_page()
    await page.goto("/admin/feeds/news")
    assert "/admin/login" in page.url  # sent to sign in first
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url("**/admin/feeds/news")
    return page


@pytest.fixture
async def pages(browser: Any) -> AsyncIterator[list[Any]]:
    opened: list[Any] = []
    yield opened
    for page in opened:
        await page.context.close()


async def test_post_edit_pin_retract(
    browser: Any, services: Services, store: Stores, newsroom: str, pages: list[Any]
) -> None:
    base = services.base_url
    page = await open_as(browser, base, "ed")
    reader_context = await browser.new_context(base_url=base)
    reader = await reader_context.new_page()
    pages += [page, reader]
    await reader.goto("/feeds/news")
    # post, one keystroke away
    await page.fill("input[name=headline]", "Air raid alert in Kyiv")
    await page.fill("textarea[name=body]", "Residents are urged to <b>take shelter</b>.")
    await page.press("textarea[name=body]", "Control+Enter")
    await page.wait_for_url("**/admin/feeds/news?e=*")
    await page.locator(".flash", has_text="Posted").wait_for()
    item = page.locator(".entry", has_text="Air raid alert in Kyiv")
    await item.locator(".badge.live").wait_for()
    entry_id = page.url.split("?e=")[1]
    await reader_shows(reader, f"#e-{entry_id}")
    assert "Air raid alert in Kyiv" in await reader.locator(f"#e-{entry_id}").inner_text()
    assert await reader.locator(f"#e-{entry_id} .nf-updated").count() == 0
    posted = await eventually(lambda: public_entry(base, "Air raid alert in Kyiv"))
    assert posted["id"] == entry_id
    assert posted["body"] == "Residents are urged to <b>take shelter</b>."
    assert posted["updated_at"] is None

    # edit with "mark as updated"
    await item.locator("a", has_text="Edit").click()
    await page.fill("input[name=headline]", "Air raid alert in Kyiv lifted")
    await page.check("input[name=mark_updated]")
    await page.click("button:has-text('Save')")
    await page.locator(".flash", has_text="Saved").wait_for()
    item = page.locator(".entry", has_text="Air raid alert in Kyiv lifted")
    await item.locator(".badge.updated").wait_for()
    await reader_shows(reader, f"#e-{entry_id} .nf-updated")
    assert "lifted" in await reader.locator(f"#e-{entry_id}").inner_text()
    edited = await eventually(lambda: public_entry(base, "Air raid alert in Kyiv lifted"))
    assert edited["updated_at"] is not None and edited["version"] == 2

    # pin: first on the public timeline
    await store.editorial.create_entry("news", {"headline": "A newer entry"}, actor="test")
    await page.reload()
    await item.locator("button", has_text="Pin").click()
    await page.locator(".flash", has_text="Pinned").wait_for()

    async def pinned_first() -> bool:
        entries = await public_entries(base)
        return bool(entries) and entries[0]["id"] == posted["id"] and entries[0]["pinned"]

    await eventually(pinned_first)
    await reader_shows(reader, f"#e-{entry_id} .nf-pin")
    await item.locator("button", has_text="Unpin").wait_for()

    # retract, after a confirmation
    await item.locator("a", has_text="Retract").click()
    await page.locator("h1", has_text="Retract this entry?").wait_for()
    assert await store.editorial.get_entry("news", posted["id"]) is not None
    await page.click("#confirm-retract")
    await page.locator(".flash", has_text="Retracted").wait_for()
    await page.locator(".entry.retracted", has_text="lifted").wait_for()

    async def gone() -> bool:
        return await public_entry(base, "Air raid alert in Kyiv lifted") is None

    await eventually(gone)
    await reader_shows(reader, f"#e-{entry_id}", gone=True)
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{base}/api/v1/feeds/news/entries/{posted['id']}")
        assert r.status_code == 410

    # who did what: the entry's history and the feed's audit log
    history = await store.editorial.history("news", posted["id"])
    assert [(e.kind, e.actor) for e in history] == [
        ("create", "user:ed"),
        ("edit", "user:ed"),
        ("edit", "user:ed"),
        ("retract", "user:ed"),
    ]
    await page.goto("/admin/feeds/news/audit")
    rows = page.locator("table.audit tbody tr")
    assert "entry.retract" in await rows.nth(0).inner_text()
    assert "user:ed" in await rows.nth(0).inner_text()


async def test_other_editors_posts_appear_live(
    browser: Any, services: Services, store: Stores, newsroom: str, pages: list[Any]
) -> None:
    page = await open_as(browser, services.base_url, "ed")
    pages.append(page)
    await page.locator(".entries .empty").wait_for()
    await page.locator(".live-state.up").wait_for()  # subscribed to the public WebSocket
    # a post through the API (a CMS, another editor) and a scheduled one
    async with httpx.AsyncClient(base_url=services.base_url) as client:
        r = await client.post(
            "/api/v1/feeds/news/entries",
            json={"headline": "Posted by the CMS"},
            headers={"Authorization": f"Bearer {newsroom}"},
        )
        assert r.status_code == 201
    await store.editorial.create_entry(
        "news", {"headline": "Later today", "publish_at": in_hours(3)}, actor="user:x"
    )
    await page.locator(".entry", has_text="Posted by the CMS").wait_for(timeout=seconds(20) * 1000)
    await page.locator(".entry.scheduled", has_text="Later today").wait_for(
        timeout=seconds(20) * 1000
    )
    assert "/admin/feeds/news" in page.url  # no reload happened


async def test_a_conflicting_edit_is_caught_and_shown(
    browser: Any,
    services: Services,
    store: Stores,
    newsroom: str,
    pages: list[Any],
    tmp_path: Path,
) -> None:
    entry, _ = await store.editorial.create_entry(
        "news", {"headline": "Talks in Istanbul", "body": "Delegations arrive."}, actor="test"
    )
    first = await open_as(browser, services.base_url, "ed")
    second = await open_as(browser, services.base_url, "chief")
    pages += [first, second]
    for page in (first, second):
        await page.goto(f"/admin/feeds/news/entries/{entry.id}")
    await first.fill("textarea[name=body]", "Delegations arrived; talks begin at 10:00.")
    await first.click("button:has-text('Save')")
    await first.locator(".flash", has_text="Saved").wait_for()

    await second.fill("input[name=headline]", "Peace talks in Istanbul")
    await second.click("button:has-text('Save')")
    banner = second.locator(".conflict-banner")
    await banner.wait_for()
    assert "Another editor changed this entry" in await banner.inner_text()
    assert "user:ed" in await banner.inner_text()
    theirs = await second.locator(".theirs").inner_text()
    yours = await second.locator(".yours").inner_text()
    assert "talks begin at 10:00" in theirs and "Talks in Istanbul" in theirs
    assert "Peace talks in Istanbul" in yours and "You changed: headline" in yours
    assert (await store.editorial.get_entry("news", entry.id)).headline == "Talks in Istanbul"

    await second.screenshot(path=str(tmp_path / "conflict.png"))
    if os.environ.get("NEWSFEED_SCREENSHOTS"):
        shutil.copy(tmp_path / "conflict.png", ROOT / "docs" / "screenshots" / "admin-conflict.png")
    await second.click("button:has-text('Apply my changes')")
    await second.locator(".flash", has_text="Saved").wait_for()
    final = await store.editorial.get_entry("news", entry.id)
    assert final.version == 3
    r = await second.request.get(f"/admin/feeds/news/entries/{entry.id}/history.json")
    history = await r.json()
    assert [(e["version"], e["actor"], e["changes"]) for e in history["events"]] == [
        (1, "test", ["headline", "body"]),
        (2, "user:ed", ["body"]),
        (3, "user:chief", ["headline"]),
    ]
    assert final.headline == "Peace talks in Istanbul"
    assert final.body == "Delegations arrived; talks begin at 10:00."  # theirs survived


async def test_a_double_submit_posts_once(
    browser: Any, services: Services, store: Stores, newsroom: str, pages: list[Any]
) -> None:
    page = await open_as(browser, services.base_url, "ed")
    pages.append(page)
    await page.fill("input[name=headline]", "Explosions heard in Odesa")
    form = await page.evaluate(
        "() => Object.fromEntries(new FormData(document.getElementById('compose')))"
    )
    await page.dblclick("#post")
    await page.locator(".flash").wait_for()
    await page.wait_for_load_state()
    entries = await store.editorial.editorial_entries("news")
    assert [e.headline for e in entries] == ["Explosions heard in Odesa"]

    # the same form posted again, twice (a retry on a flaky connection)
    for _ in range(2):
        r = await page.request.post("/admin/feeds/news/entries", form=form, max_redirects=0)
        assert r.status == 303
    assert len(await store.editorial.editorial_entries("news")) == 1
    await page.goto("/admin/feeds/news")
    assert "Already posted" in await page.locator(".flash").inner_text()

    # a fresh form render is a new post
    await page.fill("input[name=headline]", "Second report from Odesa")
    await page.click("#post")
    await page.locator(".flash", has_text="Posted").wait_for()
    assert len(await store.editorial.editorial_entries("news")) == 2


async def test_editor_screen_on_desktop_and_phone(
    browser: Any,
    services: Services,
    store: Stores,
    newsroom: str,
    pages: list[Any],
    tmp_path: Path,
) -> None:
    """The editor screen: side by side on a desktop, stacked and unclipped on a phone."""
    a, _ = await store.editorial.create_entry(
        "news",
        {
            "headline": "Zelensky to meet Erdogan in Ankara",
            "body": "<p>Talks on the grain corridor.</p>",
        },
        actor="user:ed",
    )
    await store.editorial.edit_entry("news", a.id, {"pinned": True}, if_match=1, actor="user:ed")
    b, _ = await store.editorial.create_entry(
        "news",
        {"headline": "Drone attack on Kharkiv power station", "url": "https://example.com/kharkiv"},
        actor="user:chief",
    )
    await store.editorial.edit_entry(
        "news",
        b.id,
        {"body": "Two people injured, officials say.", "mark_updated": True},
        if_match=1,
        actor="user:chief",
    )
    c, _ = await store.editorial.create_entry(
        "news", {"headline": "Unconfirmed report"}, actor="user:ed"
    )
    await store.editorial.retract_entry("news", c.id, if_match=1, actor="user:ed")
    await store.editorial.create_entry(
        "news",
        {"headline": "Daily briefing at 09:00", "publish_at": in_hours(6)},
        actor="user:chief",
    )
    await store.editorial.create_entry(
        "news",
        {
            "headline": "Trump calls Putin after peace talks in Istanbul",
            "body": "The call lasted <i>two hours</i>.",
        },
        actor="user:ed",
    )
    page = await open_as(
        browser, services.base_url, "chief", viewport={"width": 1280, "height": 860}
    )
    pages.append(page)
    await page.fill("input[name=headline]", "Explosions reported in central Kyiv")
    compose = await page.locator(".compose").bounding_box()
    latest = await page.locator(".latest").bounding_box()
    assert compose["x"] + compose["width"] <= latest["x"]  # side by side
    shot = tmp_path / "admin.png"
    await page.screenshot(path=str(shot), full_page=False)

    phone = await open_as(
        browser,
        services.base_url,
        "ed",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    pages.append(phone)
    compose = await phone.locator(".compose").bounding_box()
    latest = await phone.locator(".latest").bounding_box()
    assert compose["y"] + compose["height"] <= latest["y"]  # stacked
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    post = await phone.locator("#post").bounding_box()
    assert post["height"] >= 44  # a thumb-sized target
    await phone.screenshot(path=str(tmp_path / "admin-phone.png"), full_page=True)
    if os.environ.get("NEWSFEED_SCREENSHOTS"):
        shutil.copy(shot, ROOT / "docs" / "screenshots" / "admin.png")
        shutil.copy(tmp_path / "admin-phone.png", ROOT / "docs" / "screenshots" / "admin-phone.png")


async def test_an_expired_session_does_not_lose_the_draft(
    browser: Any, services: Services, store: Stores, newsroom: str, pages: list[Any]
) -> None:
    page = await open_as(browser, services.base_url, "ed")
    pages.append(page)
    await page.fill("input[name=headline]", "Breaking: ceasefire announced")
    await page.fill("textarea[name=body]", "Details to follow.")
    # the session ends server-side while the editor types (12 h, or signed out elsewhere)
    for key in await all_keys(store.redis, "nf:session:*"):
        await store.redis.delete(key)
    await page.locator("#signed-out").wait_for()  # the list's refresh noticed; the page stays
    assert await page.input_value("input[name=headline]") == "Breaking: ceasefire announced"
    await page.click("#post")
    await page.wait_for_url("**/admin/login?next=**")
    assert await store.editorial.editorial_entries("news") == []
    await page.fill("input[name=name]", "ed")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url("**/admin/feeds/news")
    await page.locator("#draft-note").wait_for()
    assert await page.input_value("input[name=headline]") == "Breaking: ceasefire announced"
    assert await page.input_value("textarea[name=body]") == "Details to follow."
    await page.press("input[name=headline]", "Control+Enter")
    await page.locator(".flash", has_text="Posted").wait_for()
    assert [e.headline for e in await store.editorial.editorial_entries("news")] == [
        "Breaking: ceasefire announced"
    ]
    # posted: the draft is gone
    await page.goto("/admin/feeds/news")
    assert await page.input_value("input[name=headline]") == ""
