"""Embedded posts on every page and document, and in Chromium.

Same rig as ``test_embeds`` (a local oEmbed provider on loopback, real web and
worker processes). What is checked everywhere: the card's texts are escaped
plain text, the thumbnail is our own re-encoded file, and nothing of the
provider's markup (its script, its iframe) reaches a page.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from feed.accounts import Accounts
from feed.webhooks import WebhookStore
from tests.conftest import seconds
from tests.web.admin_util import NONCE_RE, add_user, signed_in
from tests.web.test_reader_browser import new_page, until, wait_live
from tests.workers.embed_rig import Desk, eventually, tag, video
from tests.workers.receiver import Receiver, always

PROVIDER_MARKUP = ("widgets.js", "evil.example", "platform.example", "<iframe")


def clean(html: str) -> None:
    for bad in PROVIDER_MARKUP:
        assert bad not in html, bad


async def test_the_card_on_the_pages_feeds_and_json_ld(desk: Desk) -> None:
    url = video("ok")
    posted = (await desk.post("Strike on the port", embed={"url": url})).json()
    filled = await desk.embed_is(posted["id"], "ready")
    thumb = filled["embed"]["thumbnail"]["sizes"][-1]["jpeg"]
    escaped = f"Shelling &lt;b&gt;of&lt;/b&gt; {tag(url)} &amp; more"
    async with httpx.AsyncClient(base_url=desk.rig.base, timeout=seconds(10)) as http:
        pages = {
            "reader": f"/feeds/{desk.feed}",
            "permalink": f"/feeds/{desk.feed}/entries/{posted['id']}",
            "embed": f"/embed/{desk.feed}",
        }
        for name, path in pages.items():
            page = (await http.get(path)).text
            clean(page)
            card = re.search(r'<a class="nf-card" href="([^"]+)"[^>]*>(.*?)</a>', page, re.S)
            assert card is not None, name
            assert card.group(1) == url and escaped in card.group(2), name
            assert f'src="{thumb}"' in card.group(2) and 'alt=""' in card.group(2)
            assert "<b>of</b>" not in page, name
            if name != "embed":
                ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
                assert ld is not None
                doc = orjson.loads(ld.group(1))
                updates = doc.get("liveBlogUpdate") or [doc]
                shared = [u["sharedContent"] for u in updates if "sharedContent" in u]
                assert shared and shared[0]["url"] == url
                assert shared[0]["author"]["name"] == "Reporter One"

        async def documents_have_it() -> bool:
            r = await http.get(f"/feeds/{desk.feed}.atom")
            return r.status_code == 200 and "Shelling &amp;lt;b&amp;gt;of" in r.text

        await eventually(documents_have_it, 20, "the feed documents")
        for ext in ("atom", "rss", "json"):
            text = (await http.get(f"/feeds/{desk.feed}.{ext}")).text
            clean(text)
            assert "<script" not in text.replace("&lt;script", "")
            assert tag(url) in text, ext
            if ext != "json":  # JSON Feed's extension has the plain text as a string
                assert "<b>of</b>" not in text, ext
        feed_json: dict[str, Any] = (await http.get(f"/feeds/{desk.feed}.json")).json()
        item = feed_json["items"][0]
        assert item["_newsfeed"]["embed"]["url"] == url
        assert f'href="{url}"' in item["content_html"]
        assert "Shelling &lt;b&gt;of&lt;/b&gt;" in item["content_html"]


async def test_a_pending_card_is_a_plain_link(desk: Desk) -> None:
    desk.rig.provider.down.add("flaky")
    try:
        url = video("flaky")
        posted = (await desk.post("Plain for now", embed={"url": url})).json()
        async with httpx.AsyncClient(base_url=desk.rig.base, timeout=seconds(10)) as http:
            page = (await http.get(f"/feeds/{desk.feed}/entries/{posted['id']}")).text
        assert f'<a href="{url}" target="_blank" rel="noopener noreferrer nofollow"' in page
        assert "nf-card" not in page
    finally:
        desk.rig.provider.down.discard("flaky")


async def test_chromium_shows_the_card_live_with_no_provider_script_or_iframe(
    browser: Any, desk: Desk
) -> None:
    async with new_page(browser) as page:
        seen: list[str] = []
        page.on("request", lambda req: seen.append(req.url))
        await page.goto(f"{desk.rig.base}/feeds/{desk.feed}")
        await wait_live(page)
        url = video("ok")
        posted = (await desk.post("Live card", embed={"url": url})).json()
        item = f"#e-{posted['id']}"
        # first the plain link, at once; then the card, live, with its thumbnail loaded
        await until(page, f"!!document.querySelector('{item} .nf-embed-link a, {item} .nf-card')")
        await until(
            page,
            f"(() => {{ const i = document.querySelector('{item} .nf-card img');"
            " return !!i && i.complete && i.naturalWidth > 0; })()",
            within=30,
        )
        card = await page.eval_on_selector(
            f"{item} .nf-card",
            "a => ({href: a.href, text: a.textContent, rel: a.rel,"
            " html: a.innerHTML, src: a.querySelector('img').currentSrc})",
        )
        assert card["href"] == url and "noopener" in card["rel"]
        assert f"Shelling <b>of</b> {tag(url)} & more" in card["text"]  # shown as text
        assert "<b>" not in card["html"]  # never as markup
        assert card["src"].startswith(desk.rig.base + "/media/")
        counts = await page.evaluate(
            "(() => { const all = [...document.scripts];"
            " return {scripts: all.filter(s => s.src && !s.src.startsWith(location.origin)).length,"
            " iframes: document.querySelectorAll('iframe').length,"
            " inline: all.filter(s => /alert|widgets/.test(s.textContent)).length}; })()"
        )
        assert counts == {"scripts": 0, "iframes": 0, "inline": 0}
        assert not [u for u in seen if not u.startswith(desk.rig.base)]  # nothing third-party
        assert page.errors == []
        # the server-rendered page after a reload shows the same card
        await page.reload()
        await wait_live(page)
        title = await page.text_content(f"{item} .nf-card-title")
        assert title == f"Shelling <b>of</b> {tag(url)} & more"
        assert await page.evaluate("document.querySelectorAll('iframe').length") == 0


async def test_the_admin_page_pastes_a_link_and_shows_the_card_status(desk: Desk) -> None:
    await add_user(Accounts(desk.rig.store.redis), "olena", "editor", (desk.feed,))
    async with signed_in(desk.rig.base, "olena") as (admin, csrf):
        compose = await admin.get(f"/admin/feeds/{desk.feed}")
        assert 'name="embed_url"' in compose.text
        nonce = NONCE_RE.search(compose.text)
        assert nonce is not None
        form = {"csrf_token": csrf, "nonce": nonce.group(1), "headline": "From the admin page"}
        bad = await admin.post(
            f"/admin/feeds/{desk.feed}/entries",
            data={**form, "embed_url": "https://evil.test/post/1"},
        )
        assert bad.status_code == 422 and "embed.url is not a post" in bad.text
        assert 'value="https://evil.test/post/1"' in bad.text  # the editor's input is kept
        url = video("ok")
        r = await admin.post(f"/admin/feeds/{desk.feed}/entries", data={**form, "embed_url": url})
        assert r.status_code == 303, r.text
        entry_id = r.headers["location"].split("?e=")[1]
        await desk.embed_is(entry_id, "ready")
        page = (await admin.get(f"/admin/feeds/{desk.feed}/entries/{entry_id}")).text
        assert 'name="embed_url" type="url"' in page and f'value="{url}"' in page
        assert 'data-embed-status="ready"' in page and "Shelling &lt;b&gt;of" in page
        clean(page)
        listing = (await admin.get(f"/admin/feeds/{desk.feed}")).text
        assert 'data-embed-status="ready"' in listing
        # a failed one is shown as failed
        gone = await admin.post(
            f"/admin/feeds/{desk.feed}/entries",
            data={**form, "nonce": "n" + nonce.group(1)[1:], "embed_url": video("gone")},
        )
        gone_id = gone.headers["location"].split("?e=")[1]
        await desk.embed_is(gone_id, "failed")
        page = (await admin.get(f"/admin/feeds/{desk.feed}/entries/{gone_id}")).text
        assert 'data-embed-status="failed"' in page
        # removing the link on the edit form removes the embed
        edit = (await admin.get(f"/admin/feeds/{desk.feed}/entries/{entry_id}")).text
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', edit))
        fields = {k: v for k, v in hidden.items() if k in ("version", "tag", "base", "key_fields")}
        r = await admin.post(
            f"/admin/feeds/{desk.feed}/entries/{entry_id}",
            data={"csrf_token": csrf, **fields, "headline": "From the admin page", "embed_url": ""},
        )
        assert r.status_code == 303, r.text
        assert (await desk.entry(entry_id))["embed"] is None


async def test_webhooks_carry_the_pending_link_then_the_card(desk: Desk) -> None:
    hooks = WebhookStore(desk.rig.store.redis, allow_private=True)
    async with Receiver().serving() as rx:
        await hooks.add(desk.feed, rx.on("/hook", always(204)))
        url = video("ok")
        posted = (await desk.post("For partners", embed={"url": url})).json()

        async def two() -> bool:
            return len(rx.at("/hook", 204)) >= 2

        await eventually(two, 30, "two deliveries")
    bodies = [orjson.loads(r.body) for r in rx.at("/hook", 204)]
    assert [(b["type"], b["entry"]["id"]) for b in bodies[:2]] == [
        ("publish", posted["id"]),
        ("update", posted["id"]),
    ]
    assert bodies[0]["entry"]["embed"]["status"] == "pending"
    card = bodies[1]["entry"]["embed"]
    assert card["status"] == "ready" and card["author_name"] == "Reporter One"
    for b in bodies:
        clean(orjson.dumps(b).decode())
