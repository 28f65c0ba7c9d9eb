"""/api/v1/feeds/{feed}/webhooks: register, list, delete, dead letters."""

from __future__ import annotations

import httpx
import pytest

from feed.stores import Stores
from feed.webhooks import WebhookStore
from tests.conftest import Services, make_feed

HOOKS = "/api/v1/feeds/news/webhooks"


MINE = "whsec_" + "c2VjcmV0" * 4  # base64 of 24 bytes


async def test_register_list_delete(store: Stores, services: Services) -> None:
    token = await make_feed(store, "news")
    other = await make_feed(store, "other")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=services.base_url, timeout=10) as c:
        r = await c.post(HOOKS, json={"url": "https://partner.example/hook"}, headers=auth)
        assert r.status_code == 201, r.text
        generated = r.json()
        assert generated["secret"].startswith("whsec_") and len(generated["secret"]) > 30
        assert r.headers["location"] == f"{HOOKS}/{generated['id']}"
        r = await c.post(
            HOOKS,
            json={
                "url": "http://two.example:8080/x",
                "secret": MINE,
                "description": "CMS",
            },
            headers=auth,
        )
        assert r.status_code == 201 and r.json()["secret"] == MINE
        listed = (await c.get(HOOKS, headers=auth)).json()["webhooks"]
        assert [h["url"] for h in listed] == [
            "https://partner.example/hook",
            "http://two.example:8080/x",
        ]
        assert all("secret" not in h for h in listed)

        r = await c.get(HOOKS, headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 403
        assert (await c.get(HOOKS)).status_code == 401

        r = await c.delete(f"{HOOKS}/{generated['id']}", headers=auth)
        assert r.status_code == 204
        r = await c.delete(f"{HOOKS}/{generated['id']}", headers=auth)
        assert r.status_code == 404
        listed = (await c.get(HOOKS, headers=auth)).json()["webhooks"]
        assert len(listed) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://partner.example/x"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "/relative"}, "url"),
        ({"url": 42}, "url"),
        ({"url": "http://127.0.0.1:8000/internal"}, "url"),
        ({"url": "http://localhost/"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "http://[::1]/"}, "url"),
        ({"url": "http://10.1.2.3/"}, "url"),
        ({"url": "http://p.example:99999/"}, "url"),
        ({"url": "https://ex.com/\u0000"}, "url"),
        ({"url": "https://xn--/"}, "url"),
        ({"url": "https://a..example/"}, "url"),
        ({"url": "https://user:pw@p.example/"}, "url"),
        ({"url": "https://p.example/", "secret": "partner-secret-0123456789"}, "secret"),
        ({}, "url"),
        ({"url": "https://p.example/", "secret": "short"}, "secret"),
        ({"url": "https://p.example/", "bogus": 1}, "bogus"),
    ],
)
async def test_bad_input_is_a_422_that_changes_nothing(
    store: Stores, services: Services, body: dict[str, object], field: str
) -> None:
    token = await make_feed(store, "news")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=services.base_url, timeout=10) as c:
        r = await c.post(HOOKS, json=body, headers=auth)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"] == field
        assert (await c.get(HOOKS, headers=auth)).json()["webhooks"] == []


async def test_dead_letters_are_listed_newest_first(store: Stores, services: Services) -> None:
    token = await make_feed(store, "news")
    hooks = WebhookStore(store.redis)
    for i in range(3):
        await hooks.add_dead("news", {"delivery_id": f"d{i}", "last_error": "HTTP 500"})
    async with httpx.AsyncClient(base_url=services.base_url, timeout=10) as c:
        r = await c.get(f"{HOOKS}/dead?limit=2", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert [d["delivery_id"] for d in r.json()["dead"]] == ["d2", "d1"]
        r = await c.get(f"{HOOKS}/dead?limit=0", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 422
