"""Your own profile over real HTTP: a reporter sets their byline, bio and
avatar and changes their password without an admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from feed.accounts import Accounts
from feed.i18n import language
from feed.stores import Stores
from tests.conftest import Services, make_feed
from tests.feed.test_images import SVG, jpeg_with_gps
from tests.web.admin_util import PASSWORD, add_user, csrf_of, sign_in, signed_in
from tests.web.helpers import Publisher
from tests.web.test_admin_browser import open_as

NEW = "a much longer new passphrase"


async def test_a_reporter_sets_their_own_byline_and_avatar(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    token = await make_feed(store, "kyiv")
    await add_user(accounts, "olena", "editor", ("kyiv",))
    await add_user(accounts, "taras", "editor", ("kyiv",))
    async with signed_in(services.base_url, "olena") as (client, csrf):
        page = await client.get("/admin/profile")
        assert page.status_code == 200 and 'action="/admin/profile/password"' in page.text
        assert 'href="/admin/profile"' in (await client.get("/admin/")).text  # in the nav
        saved = await client.post(
            "/admin/profile",
            data={"csrf_token": csrf, "display_name": " Olena  Kovalenko ", "bio": "Kyiv"},
        )
        assert saved.status_code == 303
        assert "Your profile is saved." in (await client.get("/admin/profile")).text
        headers = {"X-CSRF-Token": csrf, "Origin": services.base_url}
        refused = await client.post(
            "/admin/profile/avatar",
            content=SVG,
            headers={**headers, "Content-Type": "image/svg+xml"},
        )
        assert refused.status_code == 415
        r = await client.post(
            "/admin/profile/avatar",
            content=jpeg_with_gps(),
            headers={**headers, "Content-Type": "image/jpeg"},
        )
        assert r.status_code == 201, r.text
        avatar = r.json()["avatar"]
        got = await client.get(avatar)
        assert got.status_code == 200 and b"GPS" not in got.content
        # Only one's own: another user's avatar stays an admin's business.
        other = await client.post(
            "/admin/users/taras/avatar",
            content=jpeg_with_gps(),
            headers={**headers, "Content-Type": "image/jpeg"},
        )
        assert other.status_code == 403
    me = await accounts.get_user("olena")
    assert (me.display_name, me.bio, me.avatar) == ("Olena Kovalenko", "Kyiv", avatar)
    assert (await accounts.get_user("taras")).avatar == ""
    publisher = Publisher(services.base_url, "kyiv", token)
    try:
        entry = await publisher.post("By her", authors=["olena"])
    finally:
        await publisher.aclose()
    assert entry["authors"] == [{"id": "olena", "name": "Olena Kovalenko", "avatar": avatar}]


async def test_changing_your_password_needs_the_current_one_and_ends_your_sessions(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "kyiv")
    await add_user(accounts, "olena", "editor", ("kyiv",))
    async with (
        signed_in(services.base_url, "olena") as (client, csrf),
        signed_in(services.base_url, "olena") as (elsewhere, _),
    ):

        async def change(current: str, new: str, repeat: str) -> httpx.Response:
            return await client.post(
                "/admin/profile/password",
                data={"csrf_token": csrf, "current": current, "new": new, "repeat": repeat},
            )

        wrong = await change("not my password", NEW, NEW)
        assert wrong.status_code == 303 and wrong.headers["location"] == "/admin/profile"
        assert "not your current password" in (await client.get("/admin/profile")).text
        differ = await change(PASSWORD, NEW, NEW + "!")
        assert "the two new passwords differ" in (await client.get("/admin/profile")).text
        short = await change(PASSWORD, "short", "short")
        assert "at least 10 characters" in (await client.get("/admin/profile")).text
        assert wrong.status_code == differ.status_code == short.status_code == 303
        assert await accounts.authenticate("olena", PASSWORD) is not None  # nothing changed

        done = await change(PASSWORD, NEW, NEW)
        assert done.status_code == 303 and done.headers["location"].startswith("/admin/login")
        # Every session of hers ended, this one and the other browser's.
        for c in (client, elsewhere):
            r = await c.get("/admin/", headers={"Accept": "text/html"})
            assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")
    assert await accounts.authenticate("olena", PASSWORD) is None
    assert await accounts.authenticate("olena", NEW) is not None
    async with httpx.AsyncClient(base_url=services.base_url) as fresh:
        assert (await sign_in(fresh, "olena", NEW)).status_code == 303


async def test_guessing_the_current_password_is_throttled(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    # A borrowed session cannot try passwords faster than the sign-in form.
    await make_feed(store, "kyiv")
    await add_user(accounts, "olena", "editor", ("kyiv",))
    async with signed_in(services.base_url, "olena") as (client, csrf):
        for i in range(12):
            await client.post(
                "/admin/profile/password",
                data={"csrf_token": csrf, "current": f"guess {i}", "new": NEW, "repeat": NEW},
            )
        page = (await client.get("/admin/profile")).text
        assert "Too many wrong passwords" in page
        # Even the right password is refused while throttled.
        await client.post(
            "/admin/profile/password",
            data={"csrf_token": csrf_of(page), "current": PASSWORD, "new": NEW, "repeat": NEW},
        )
    assert await accounts.authenticate("olena", NEW) is None


async def test_the_profile_page_in_chromium(
    browser: Any, services: Services, store: Stores, accounts: Accounts, tmp_path: Path
) -> None:
    await make_feed(store, "news")
    await add_user(accounts, "olena", "editor", ("news",))
    page = await open_as(browser, services.base_url, "olena")
    try:
        await page.click("header.top a:has-text('Your profile')")
        await page.wait_for_url("**/admin/profile")
        photo = tmp_path / "me.jpg"
        photo.write_bytes(jpeg_with_gps())
        await page.set_input_files("[data-avatar-file]", str(photo))
        await page.locator(".avatar-status:has-text('Avatar saved.')").wait_for()
        src = await page.get_attribute("img.avatar-img", "src")
        assert src and src.startswith("/media/")
        await page.fill("input[name=display_name]", "Olena Kovalenko")
        await page.click("button:has-text('Save profile')")
        await page.locator("text=Your profile is saved.").wait_for()
        assert await page.input_value("input[name=display_name]") == "Olena Kovalenko"
    finally:
        await page.context.close()
    me = await accounts.get_user("olena")
    assert (me.display_name, me.avatar) == ("Olena Kovalenko", src)


async def test_upload_messages_follow_the_editors_language(
    browser: Any, services: Services, store: Stores, accounts: Accounts, tmp_path: Path
) -> None:
    # admin.js's upload statuses come from the page's catalogue, not English.
    uk = language("uk")

    def said(english: str) -> str:
        text = uk.gettext(english)
        assert text != english, f"{english!r} is not translated"
        return text.split("%(")[0]

    await make_feed(store, "news")
    await add_user(accounts, "olena", "editor", ("news",))
    await accounts.set_ui_language("olena", "uk")
    page = await open_as(browser, services.base_url, "olena")
    try:
        await page.goto("/admin/profile")
        photo = tmp_path / "me.jpg"
        photo.write_bytes(jpeg_with_gps())
        await page.set_input_files("[data-avatar-file]", str(photo))
        await page.locator(f".avatar-status:has-text('{said('Avatar saved.')}')").wait_for()
        await page.goto("/admin/feeds/news")
        status = page.locator(".photo-status")
        bad = tmp_path / "map.jpg"
        bad.write_bytes(SVG)  # an SVG renamed: refused by content
        await page.set_input_files("[data-photo-file]", str(bad))
        await status.locator(f"text={said('Not attached: %(error)s')}").wait_for()
        await page.set_input_files("[data-photo-file]", str(photo))
        ready = said("Photo ready (%(w)s\u00d7%(h)s).")
        await status.locator(f"text={ready}").wait_for()
        await page.click("[data-photo-remove]")
        await status.locator(f"text={said('No photo.')}").wait_for()
    finally:
        await page.context.close()
