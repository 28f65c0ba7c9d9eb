"""The admin's pages over real HTTP: feeds, users, grants, tokens, webhooks, audit."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from feed.accounts import Accounts
from feed.stores import Stores
from tests.conftest import Services
from tests.web.admin_util import NONCE_RE, PASSWORD, add_user, sign_in, signed_in

SNIPPET = re.compile(r'<textarea readonly id="(snippet-[a-z]+)"[^>]*>([^<]*)</textarea>')
SECRET_INPUT = re.compile(r'id="(new-[a-z-]+)" value="([^"]+)"')


def shown_secret(page: str, field: str) -> str:
    found = dict(SECRET_INPUT.findall(page))
    assert field in found, "the secret is not shown"
    return html.unescape(found[field])


async def test_admin_sets_up_a_feed_end_to_end(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await add_user(accounts, "chief", "admin")
    async with signed_in(services.base_url, "chief") as (admin, csrf):
        # a feed
        r = await admin.post(
            "/admin/feeds",
            data={
                "csrf_token": csrf,
                "slug": "kyiv",
                "title": "Kyiv live",
                "timezone": "Europe/Kyiv",
            },
        )
        assert r.status_code == 303
        meta = await store.registry.get_feed("kyiv")
        assert (meta.title, meta.timezone) == ("Kyiv live", "Europe/Kyiv")
        r = await admin.post(
            "/admin/feeds", data={"csrf_token": csrf, "slug": "Bad Slug!", "title": "x"}
        )
        assert r.status_code == 303 and await store.registry.list_feeds() == ["kyiv"]
        r = await admin.post(
            "/admin/feeds/kyiv/settings",
            data={"csrf_token": csrf, "title": "Kyiv: live", "timezone": "Mars/Olympus"},
        )
        assert (
            await store.registry.get_feed("kyiv")
        ).timezone == "Europe/Kyiv"  # refused, unchanged
        await admin.post(
            "/admin/feeds/kyiv/settings",
            data={"csrf_token": csrf, "title": "Kyiv: live", "timezone": "UTC"},
        )
        assert (await store.registry.get_feed("kyiv")).title == "Kyiv: live"

        # a user with a generated password, shown once
        r = await admin.post(
            "/admin/users",
            data={"csrf_token": csrf, "name": "olena", "role": "editor", "feeds": "kyiv"},
        )
        assert r.status_code == 201
        password = shown_secret(r.text, "new-password")
        assert r.headers["cache-control"] == "no-store"
        user = await accounts.get_user("olena")
        assert user.feeds == {"kyiv"} and user.role == "editor"
        assert password not in (await admin.get("/admin/users")).text
        async with httpx.AsyncClient(base_url=services.base_url) as other:
            assert (await sign_in(other, "olena", password)).status_code == 303
        # grants and role
        await admin.post(
            "/admin/users/olena", data={"csrf_token": csrf, "role": "editor", "feeds": []}
        )
        assert (await accounts.get_user("olena")).feeds == frozenset()
        await admin.post(
            "/admin/users/olena", data={"csrf_token": csrf, "role": "editor", "feeds": "nope"}
        )
        assert (await accounts.get_user("olena")).feeds == frozenset()  # unknown feed refused
        await admin.post("/admin/users/chief", data={"csrf_token": csrf, "role": "editor"})
        assert (await accounts.get_user("chief")).role == "admin"  # no self-demotion

        # an API token: shown once, works, listed by id only, revocable
        r = await admin.post("/admin/feeds/kyiv/tokens", data={"csrf_token": csrf, "name": "cms"})
        assert r.status_code == 201
        token = shown_secret(r.text, "new-token")
        settings_page = (await admin.get("/admin/feeds/kyiv/settings")).text
        assert token not in settings_page
        (listed,) = await accounts.list_tokens("kyiv")
        assert listed.id in settings_page and listed.name == "cms"
        api = {"Authorization": f"Bearer {token}"}
        r = await admin.post("/api/v1/feeds/kyiv/entries", json={"headline": "Hi"}, headers=api)
        assert r.status_code == 201
        r = await admin.post(
            f"/admin/feeds/kyiv/tokens/{listed.id}/revoke", data={"csrf_token": csrf}
        )
        assert r.status_code == 303
        r = await admin.post("/api/v1/feeds/kyiv/entries", json={"headline": "x"}, headers=api)
        assert r.status_code == 401

        # the embed box
        base = services.base_url  # NEWSFEED_PUBLIC_URL unset: the host the admin reached
        snippets = dict(SNIPPET.findall(settings_page))
        assert html.unescape(snippets["snippet-script"]) == (
            f'<div data-newsfeed="kyiv"></div><script async src="{base}/embed.js"></script>'
        )
        assert html.unescape(snippets["snippet-iframe"]).startswith(
            f'<iframe src="{base}/embed/kyiv"'
        )
        async with httpx.AsyncClient() as public:
            assert (await public.get(f"{services.base_url}/embed.js")).status_code == 200
            assert (await public.get(f"{services.base_url}/embed/kyiv")).status_code == 200

        # a webhook: secret shown once, then deleted
        r = await admin.post(
            "/admin/feeds/kyiv/webhooks",
            data={"csrf_token": csrf, "url": "https://partner.example/hook", "description": "P"},
        )
        assert r.status_code == 201
        secret = shown_secret(r.text, "new-webhook-secret")
        (hook,) = await services_hooks(store, "kyiv")
        assert hook.secret == secret and hook.url == "https://partner.example/hook"
        assert secret not in (await admin.get("/admin/feeds/kyiv/settings")).text
        r = await admin.post(
            "/admin/feeds/kyiv/webhooks", data={"csrf_token": csrf, "url": "ftp://nope"}
        )
        assert len(await services_hooks(store, "kyiv")) == 1
        await admin.post(f"/admin/feeds/kyiv/webhooks/{hook.id}/delete", data={"csrf_token": csrf})
        assert await services_hooks(store, "kyiv") == []

        # the audit log: every action, with who did it
        audit = (await admin.get("/admin/feeds/kyiv/audit")).text
        for action in (
            "feed.create",
            "feed.update",
            "grant.add",
            "grant.remove",
            "token.create",
            "token.revoke",
            "webhook.create",
            "webhook.delete",
            "entry.create",
        ):
            assert f"<code>{action}</code>" in audit, action
        assert "user:chief" in audit and f"token:cms({listed.id})" in audit
        everything = (await admin.get("/admin/audit")).text
        assert "<code>user.create</code>" in everything and "<code>login</code>" in everything


async def services_hooks(store: Stores, feed: str) -> list:  # type: ignore[type-arg]
    from feed.webhooks import WebhookStore

    return await WebhookStore(store.redis).all(feed)


async def test_a_forgotten_password_is_replaced_and_shown_once(
    services: Services, accounts: Accounts
) -> None:
    await add_user(accounts, "chief", "admin")
    await add_user(accounts, "olena", "editor")
    async with (
        signed_in(services.base_url, "olena") as (olena, _),
        signed_in(services.base_url, "chief") as (admin, csrf),
    ):
        assert (await olena.get("/admin/")).status_code == 200
        r = await admin.post("/admin/users/olena/password", data={"csrf_token": csrf})
        assert r.status_code == 200
        password = shown_secret(r.text, "new-password")
        assert password not in (await admin.get("/admin/users")).text
        assert (await olena.get("/admin/")).status_code == 401  # her open session ended
        assert (await admin.get("/admin/")).status_code == 200  # not everyone's
    async with httpx.AsyncClient(base_url=services.base_url) as client:
        assert (await sign_in(client, "olena", PASSWORD)).status_code == 401
        assert (await sign_in(client, "olena", password)).status_code == 303


async def test_scheduling_from_the_compose_form_uses_the_feed_time_zone(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await store.registry.create_feed("kyiv", "Kyiv", "Europe/Kyiv")
    await add_user(accounts, "ed", "editor", ("kyiv",))
    at = datetime.now(ZoneInfo("Europe/Kyiv")).replace(second=0, microsecond=0) + timedelta(hours=2)
    async with signed_in(services.base_url, "ed") as (client, csrf):
        page = (await client.get("/admin/feeds/kyiv")).text
        r = await client.post(
            "/admin/feeds/kyiv/entries",
            data={
                "csrf_token": csrf,
                "nonce": NONCE_RE.search(page).group(1),  # type: ignore[union-attr]
                "headline": "Briefing",
                "publish_at": at.strftime("%Y-%m-%dT%H:%M"),
            },
        )
        assert r.status_code == 303
        (entry,) = await store.editorial.editorial_entries("kyiv")
        assert entry.status == "scheduled"
        assert entry.published_at == int(at.timestamp() * 1000)
        listing = (await client.get("/admin/feeds/kyiv/entries.json")).json()
        assert listing["entries"][0]["status"] == "scheduled"
        assert 'class="badge scheduled"' in listing["html"]
        # bad input: a clear message, the text kept, nothing created
        r = await client.post(
            "/admin/feeds/kyiv/entries",
            data={
                "csrf_token": csrf,
                "nonce": "n" * 24,
                "headline": "Keep me",
                "publish_at": "tomorrow",
            },
        )
        assert r.status_code == 422
        assert "not a valid date and time" in r.text and 'value="Keep me"' in r.text
        assert len(await store.editorial.editorial_entries("kyiv")) == 1
