"""Drafts and review in Chromium: a contributor, an editor and a reader.

The contributor submits, the editor sees it in the queue live (without a
reload), sends it back with a note, the contributor sees the note, fixes it
and resubmits, the editor publishes, and the reader page shows it only then.
Then the contributor tries to publish, edit, pin and retract through forged
form POSTs (with their own valid session and CSRF token) and a drafts-only
API token tries the same through the API: every attempt is 403 and changes
nothing.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from feed import keys
from feed.accounts import Accounts
from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds
from tests.web.admin_util import add_user
from tests.web.test_admin_browser import T, eventually, open_as, public_entries


async def test_contributor_submits_editor_returns_then_publishes(
    browser: Any, services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "news", "Europe/Kyiv")
    await add_user(accounts, "olena", "contributor", ("news",))
    await add_user(accounts, "chief", "editor", ("news",))
    base = services.base_url
    olena = await open_as(browser, base, "olena")
    chief = await open_as(browser, base, "chief")
    reader_ctx = await browser.new_context()
    reader = await reader_ctx.new_page()
    try:
        await reader.goto(base + "/feeds/news")
        await reader.wait_for_selector('.nf-column[data-nf-state="live"]', timeout=T)
        # the contributor's form cannot publish, pin or schedule
        assert await olena.locator("#compose button[value=publish]").count() == 0
        assert await olena.locator("#compose input[name=pinned]").count() == 0
        assert await olena.locator("#compose input[name=publish_at]").count() == 0
        assert await chief.locator("#review-queue").count() == 0
        await olena.fill("#headline", "Explosions heard in Kharkiv")
        await olena.fill("#body", "<p>Residents report three blasts.</p>")
        await olena.click("#compose button[value=submit]")
        await olena.wait_for_url("**/admin/feeds/news?e=*")
        entry_id = olena.url.split("e=")[1]
        assert "Submitted for review" in await olena.locator("body").inner_text()
        # the editor's open screen shows it in the queue, live, with submitter and time
        item = chief.locator(f"#q-{entry_id}")
        await item.wait_for(timeout=seconds(20) * 1000)
        assert await item.locator(".submitter").text_content() == "olena"
        assert re.search(r"\d", await item.locator("time").text_content() or "")
        assert not [e for e in await public_entries(base) if e["id"] == entry_id]
        # sent back with a note
        await item.locator("a:has-text('Edit or send back')").click()
        await chief.fill("#note", "Which district? Name your source.")
        await chief.click("#send-back")
        await chief.wait_for_url("**/admin/feeds/news?e=*")
        assert await chief.locator(f"#q-{entry_id}").count() == 0
        # the contributor sees the note (on the list, live, and on the entry)
        note = olena.locator(f"#e-{entry_id} .review-note")
        await note.wait_for(timeout=seconds(20) * 1000)
        assert "Which district? Name your source." in (await note.text_content() or "")
        await olena.goto(f"/admin/feeds/news/entries/{entry_id}")
        assert "Name your source" in (await olena.locator("#review-note").text_content() or "")
        assert await olena.locator("#publish").count() == 0
        await olena.fill("textarea[name=body]", "<p>Three blasts in Saltivka, the mayor said.</p>")
        await olena.click("#submit-review")
        await olena.wait_for_url("**/admin/feeds/news?e=*")
        # back in the queue; the editor publishes
        item = chief.locator(f"#q-{entry_id}")
        await item.wait_for(timeout=seconds(20) * 1000)
        assert await reader.locator(f"#e-{entry_id}").count() == 0
        await item.locator("button[value=publish]").click()
        await chief.wait_for_url("**/admin/feeds/news?e=*")
        # only now does the reader see it, with the fixed text
        await reader.locator(f"#e-{entry_id}").wait_for(timeout=seconds(20) * 1000)
        assert "Saltivka" in await reader.locator(f"#e-{entry_id}").inner_text()
        history = [
            (e.kind, e.actor, e.entry.status)
            for e in await store.editorial.history("news", entry_id)
        ]
        assert history == [
            ("create", "user:olena", "submitted"),
            ("return", "user:chief", "returned"),
            ("submit", "user:olena", "submitted"),
            ("publish", "user:chief", "published"),
        ]
        audit = (await chief.goto("/admin/feeds/news/audit")) and await chief.content()
        for action in ("entry.create", "entry.return", "entry.submit", "entry.publish"):
            assert action in audit
        assert "olena" in audit and "chief" in audit
        await forged_attempts_change_nothing(olena, store, entry_id)
        await drafts_only_token_is_refused(base, store, accounts, entry_id)
    finally:
        for page in (olena, chief):
            await page.context.close()
        await reader_ctx.close()


async def forged_attempts_change_nothing(olena: Any, store: Stores, published_id: str) -> None:
    """The contributor's own session and CSRF token, forms she is not shown."""
    await olena.goto("/admin/feeds/news")
    csrf = await olena.locator("#compose input[name=csrf_token]").input_value()
    nonce = await olena.locator("#compose input[name=nonce]").input_value()
    entry = await store.editorial.get_entry("news", published_id)
    before_log = await store.redis.xlen(keys.log("news"))
    before = await store.editorial.get_entry("news", published_id)
    v = str(entry.version)
    forms = [
        ("/admin/feeds/news/entries", {"headline": "Straight to readers", "nonce": nonce,
                                       "action": "publish"}),
        (f"/admin/feeds/news/entries/{published_id}", {"headline": "Rewritten", "body": "",
                                                       "url": "", "version": v}),
        (f"/admin/feeds/news/entries/{published_id}/pin", {"pinned": "1"}),
        (f"/admin/feeds/news/entries/{published_id}/retract", {"version": v}),
        (f"/admin/feeds/news/entries/{published_id}/review", {"action": "publish",
                                                              "version": v}),
    ]  # fmt: skip
    for path, data in forms:
        r = await olena.request.post(path, form={"csrf_token": csrf, **data}, max_redirects=0)
        assert r.status == 403, (path, r.status)
    r = await olena.request.get(f"/admin/feeds/news/entries/{published_id}/retract")
    assert r.status == 403
    # her own submitted draft: she may not publish it either
    mine = await store.editorial.create_entry(
        "news", {"headline": "Mine", "status": "submitted"}, actor="user:olena", may_publish=False
    )
    before_log += 1
    r = await olena.request.post(
        f"/admin/feeds/news/entries/{mine[0].id}",
        form={"csrf_token": csrf, "headline": "Mine", "body": "", "url": "", "version": "1",
              "action": "publish"},
        max_redirects=0,
    )  # fmt: skip
    assert r.status == 403
    # the edit page of a published update offers her no form
    await olena.goto(f"/admin/feeds/news/entries/{published_id}")
    assert await olena.locator("#read-only").count() == 1
    assert await olena.locator("form#edit").count() == 0
    assert await store.redis.xlen(keys.log("news")) == before_log
    assert await store.editorial.get_entry("news", published_id) == before
    assert (await store.editorial.get_entry("news", mine[0].id)).status == "submitted"


async def drafts_only_token_is_refused(
    base: str, store: Stores, accounts: Accounts, published_id: str
) -> None:
    secret, _ = await accounts.create_token("news", "field-cms", "draft")
    api = f"{base}/api/v1/feeds/news/entries"
    before_log = await store.redis.xlen(keys.log("news"))
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {secret}"}) as c:
        r = await c.post(api, json={"headline": "Publish me"})
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        r = await c.post(api, json={"headline": "Publish me", "status": "published"})
        assert r.status_code == 403
        r = await c.post(api, json={"headline": "Pin me", "status": "draft", "pinned": True})
        assert r.status_code == 403
        r = await c.patch(f"{api}/{published_id}", json={"headline": "x"},
                          headers={"If-Match": '"4"'})  # fmt: skip
        assert r.status_code == 403
        r = await c.delete(f"{api}/{published_id}")
        assert r.status_code == 403
        assert await store.redis.xlen(keys.log("news")) == before_log
        # what it may do: a draft, then submit it; never publish it
        r = await c.post(api, json={"headline": "From the field", "status": "draft"})
        assert r.status_code == 201 and r.json()["status"] == "draft"
        draft = r.json()
        r = await c.patch(f"{api}/{draft['id']}", json={"status": "submitted"},
                          headers={"If-Match": '"1"'})  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "submitted"
        r = await c.patch(f"{api}/{draft['id']}", json={"status": "published"},
                          headers={"If-Match": '"2"'})  # fmt: skip
        assert r.status_code == 403
        # readers never see it: public API, the entry itself, its history
        pub = httpx.AsyncClient()
        async with pub:
            assert (await pub.get(f"{api}/{draft['id']}")).status_code == 404
            assert (await pub.get(f"{api}/{draft['id']}/history")).status_code == 404
        # a later published entry is projected: everything before it was too
        fence_token, _ = await accounts.create_token("news", "fence")
        fence = await pub_post(api, fence_token, "Fence")
        await eventually(lambda: has_public(base, fence["id"]))
        assert draft["id"] not in {e["id"] for e in await public_entries(base)}


async def pub_post(api: str, token: str, headline: str) -> dict[str, Any]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as c:
        r = await c.post(api, json={"headline": headline})
        assert r.status_code == 201
        out: dict[str, Any] = r.json()
        return out


async def has_public(base: str, entry_id: str) -> bool:
    return entry_id in {e["id"] for e in await public_entries(base)}
