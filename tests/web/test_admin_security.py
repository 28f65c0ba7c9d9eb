"""The admin page refuses what it must, over real HTTP to a real web process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from feed.accounts import Accounts
from feed.stores import Stores
from feed.webhooks import WebhookStore
from tests.conftest import Services, make_feed, start_web
from tests.web.admin_util import (
    PASSWORD,
    add_user,
    admin_routes,
    concrete,
    csrf_of,
    public,
    sign_in,
    signed_in,
)

ROUTES = list(admin_routes())
GUARDED = [(name, method, path) for name, method, path in ROUTES if not public(name)]


def test_the_route_list_is_complete() -> None:
    """The enumeration sees every admin route (a sanity check of the helper)."""
    paths = {(m, p) for _, m, p in ROUTES}
    assert ("POST", "/admin/feeds/{feed}/entries") in paths
    assert ("POST", "/admin/feeds/{feed}/entries/{id}/retract") in paths
    assert ("POST", "/admin/users") in paths
    assert len(GUARDED) >= 20
    assert {n for n, _, _ in ROUTES if public(n)} == {"admin_login", "admin_static"}


@pytest.mark.parametrize(
    ("name", "method", "path"), GUARDED, ids=[f"{m} {p}" for _, m, p in GUARDED]
)
async def test_every_admin_route_refuses_anonymous(
    services: Services, store: Stores, name: str, method: str, path: str
) -> None:
    await make_feed(store, "news")
    entry, _ = await store.editorial.create_entry("news", {"headline": "Before"}, actor="test")
    url = services.base_url + concrete(path, entry=entry.id)
    form = {"headline": "Hacked", "slug": "evil", "name": "evil", "pinned": "1", "version": "1"}
    async with httpx.AsyncClient(timeout=30) as client:
        # an API client: 401 problem+json
        r = await client.request(method, url, data=form if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        # a browser: sent to the sign-in page
        r = await client.request(
            method, url, headers={"Accept": "text/html"}, data=form if method == "POST" else None
        )
        assert r.status_code == 303
        assert r.headers["location"].startswith("/admin/login")
        # a forged session cookie is no session
        r = await client.request(method, url, headers={"Cookie": "nf_admin=eyJzaWQiOiJ4In0=.a.b"})
        assert r.status_code == 401
    assert [e.headline for e in await store.editorial.editorial_entries("news")] == ["Before"]
    assert await store.registry.list_feeds() == ["news"]


async def test_login_page_and_assets_are_public(services: Services) -> None:
    async with httpx.AsyncClient(base_url=services.base_url) as client:
        r = await client.get("/admin", headers={"Accept": "text/html"}, follow_redirects=True)
        assert r.status_code == 200 and str(r.url).endswith("/admin/login?next=/admin/")
        page = await client.get("/admin/login")
        assert page.status_code == 200 and "Sign in" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert (await client.get("/admin/static/admin.js")).status_code == 200
        assert (await client.get("/admin/static/nope.js")).status_code == 404


async def test_a_form_post_without_a_valid_csrf_token_is_refused(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "news")
    await add_user(accounts, "ed", "editor", ("news",))
    async with signed_in(services.base_url, "ed") as (client, csrf):
        page = await client.get("/admin/feeds/news", headers={"Accept": "text/html"})
        nonce = page.text.split('name="nonce" value="')[1].split('"')[0]
        form = {"headline": "Hello", "nonce": nonce}
        for bad in ({}, {"csrf_token": ""}, {"csrf_token": csrf[:-2] + "xx"}):
            r = await client.post("/admin/feeds/news/entries", data={**form, **bad})
            assert r.status_code == 403, bad
        # the right token from another site's page
        r = await client.post(
            "/admin/feeds/news/entries",
            data={**form, "csrf_token": csrf},
            headers={"Origin": "https://evil.example"},
        )
        assert r.status_code == 403
        assert await store.editorial.editorial_entries("news") == []
        # the login form is protected too (login CSRF)
        fresh = httpx.AsyncClient(base_url=services.base_url)
        async with fresh:
            r = await fresh.post("/admin/login", data={"name": "ed", "password": PASSWORD})
            assert r.status_code == 403 and "sid" not in str(r.cookies)
        r = await client.post("/admin/feeds/news/entries", data={**form, "csrf_token": csrf})
        assert r.status_code == 303
        assert [e.headline for e in await store.editorial.editorial_entries("news")] == ["Hello"]


async def test_an_editor_cannot_touch_a_feed_they_are_not_granted(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await make_feed(store, "mine")
    other_token = await make_feed(store, "theirs")
    mine_token, _ = await accounts.create_token("mine", "cms")
    target, _ = await store.editorial.create_entry("theirs", {"headline": "Theirs"}, actor="test")
    await add_user(accounts, "ed", "editor", ("mine",))
    before = await store.editorial.history("theirs", target.id)
    feed_routes = [(m, p) for n, m, p in GUARDED if "{feed}" in p]
    assert len(feed_routes) >= 12
    async with signed_in(services.base_url, "ed") as (client, csrf):
        for method, path in feed_routes:
            url = concrete(path, feed="theirs", entry=target.id)
            data = {
                "csrf_token": csrf,
                "headline": "Hijacked",
                "nonce": "n" * 20,
                "version": str(target.version),
                "pinned": "1",
                "name": "stolen",
                "title": "Stolen",
                "url": "https://evil.example/hook",
            }
            r = await client.request(method, url, data=data if method == "POST" else None)
            assert r.status_code == 403, (method, path, r.status_code, r.text[:200])
            # same for a feed that does not exist: no way to probe feed names
            r = await client.request(method, concrete(path, feed="nope", entry=target.id))
            assert r.status_code == 403
        # admin-only routes on the editor's own feed, and the global ones
        for n, method, path in GUARDED:
            if n in {"show_settings", "save_settings", "create_token", "revoke_token"}:
                r = await client.request(
                    method, concrete(path, feed="mine"), data={"csrf_token": csrf}
                )
                assert r.status_code == 403, path
            if n in {"show_users", "create_user", "update_user", "create_feed", "global_audit"}:
                data = {"csrf_token": csrf, "name": "ed", "role": "admin", "slug": "x"}
                r = await client.request(method, concrete(path, name="ed"), data=data)
                assert r.status_code == 403, path
    # the API: a token of another feed
    async with httpx.AsyncClient(base_url=services.base_url, timeout=30) as api:
        auth = {"Authorization": f"Bearer {mine_token}"}
        url = f"/api/v1/feeds/theirs/entries/{target.id}"
        r = await api.post("/api/v1/feeds/theirs/entries", json={"headline": "x"}, headers=auth)
        assert r.status_code == 403
        r = await api.patch(url, json={"headline": "x"}, headers={**auth, "If-Match": '"1"'})
        assert r.status_code == 403
        assert (await api.delete(url, headers=auth)).status_code == 403
        # the feed's own token still works (the refusals were about the grant)
        ok = await api.delete(url, headers={"Authorization": f"Bearer {other_token}"})
        assert ok.status_code == 200
    after = await store.editorial.history("theirs", target.id)
    assert len(after) == len(before) + 1  # only the feed's own token's retraction
    assert after[-1].kind == "retract" and after[-1].actor.startswith("token:test(")
    assert (await accounts.get_user("ed")).role == "editor"
    assert await store.registry.list_feeds() == ["mine", "theirs"]
    assert [t.name for t in await accounts.list_tokens("theirs")] == ["test"]
    assert await WebhookStore(store.redis).all("theirs") == []


async def test_repeated_wrong_passwords_are_throttled(
    services: Services, accounts: Accounts
) -> None:
    await add_user(accounts, "ed")
    async with httpx.AsyncClient(base_url=services.base_url, timeout=30) as client:
        for _ in range(5):
            r = await sign_in(client, "ed", "wrong password!")
            assert r.status_code == 401
            assert "Wrong user name or password." in r.text
        r = await sign_in(client, "ed", PASSWORD)
        assert r.status_code == 429, "the right password is refused while throttled"
        assert "Too many sign-in attempts" in r.text
        assert (await client.get("/admin/", headers={"Accept": "text/html"})).status_code == 303
    # an unknown account gets the same answer as a wrong password
    async with httpx.AsyncClient(base_url=services.base_url, timeout=30) as client:
        r = await sign_in(client, "nobody", "wrong password!")
        assert r.status_code == 401 and "Wrong user name or password." in r.text


async def test_many_accounts_from_one_address_are_throttled(
    services: Services, accounts: Accounts
) -> None:
    await add_user(accounts, "ed")
    async with httpx.AsyncClient(base_url=services.base_url, timeout=30) as client:
        for i in range(20):
            assert (await sign_in(client, f"guess{i}", "wrong password!")).status_code == 401
        assert (await sign_in(client, "ed", PASSWORD)).status_code == 429


async def test_sign_out_ends_the_session_server_side(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await add_user(accounts, "ed")
    async with signed_in(services.base_url, "ed") as (client, csrf):
        stolen = dict(client.cookies)
        r = await client.post("/admin/logout", data={"csrf_token": csrf})
        assert r.status_code == 303
    async with httpx.AsyncClient(base_url=services.base_url, cookies=stolen) as thief:
        assert (await thief.get("/admin/")).status_code == 401


def _cookie(response: httpx.Response) -> str:
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert len(cookies) == 1
    return cookies[0].lower()


async def test_session_cookies_are_httponly_samesite(
    services: Services, accounts: Accounts
) -> None:
    await add_user(accounts, "ed")
    async with httpx.AsyncClient(base_url=services.base_url) as client:
        r = await sign_in(client, "ed")
        assert r.status_code == 303
        cookie = _cookie(r)
        assert cookie.startswith("nf_admin=")
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/admin" in cookie
        assert "max-age=43200" in cookie
        assert "secure" not in cookie
    # behind a TLS-terminating proxy on loopback (X-Forwarded-Proto): Secure
    async with httpx.AsyncClient(
        base_url=services.base_url, headers={"X-Forwarded-Proto": "https"}
    ) as client:
        r = await sign_in(client, "ed")
        assert "; secure" in _cookie(r)


async def test_secure_cookies_setting(
    services: Services, accounts: Accounts, tmp_path: Path
) -> None:
    await add_user(accounts, "ed")
    web, base = start_web(services.redis_url, tmp_path, NEWSFEED_SECURE_COOKIES="1")
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            page = await client.get("/admin/login")
            assert "secure" in _cookie(page)
            # the client will not send a Secure cookie over http: carry it by hand
            token = csrf_of(page.text)
            r = await client.post(
                "/admin/login",
                data={"name": "ed", "password": PASSWORD, "csrf_token": token},
                headers={"Cookie": "nf_admin=" + page.cookies["nf_admin"]},
            )
            assert r.status_code == 303
            cookie = _cookie(r)
            assert "httponly" in cookie and "samesite=lax" in cookie and "; secure" in cookie
    finally:
        web.stop()
