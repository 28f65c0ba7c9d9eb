"""Bylines over real HTTP: profiles, credited colleagues, tokens that post as a user."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from feed.accounts import Accounts
from feed.errors import InvalidInput
from feed.stores import Stores
from tests.conftest import Services, make_feed
from tests.feed.test_images import SVG, jpeg_with_gps
from tests.web.admin_util import add_user, signed_in
from tests.web.helpers import Publisher
from tests.web.test_api import eventually

FEED = "kyiv"
API = f"/api/v1/feeds/{FEED}/entries"


async def feed_item(http: httpx.AsyncClient, title: str) -> dict[str, Any] | None:
    """The JSON Feed item of that title, once the worker rendered the document."""
    items = (await http.get(f"/feeds/{FEED}.json")).json()["items"]
    return next((i for i in items if i["title"] == title), None)


@pytest.fixture
async def newsroom(services: Services, store: Stores, accounts: Accounts) -> AsyncIterator[Any]:
    await make_feed(store, FEED, timezone="Europe/Kyiv")
    await store.registry.create_feed("other", "Other", "UTC")
    await add_user(accounts, "olena", "editor", (FEED,))
    await add_user(accounts, "taras", "editor", (FEED,))
    await add_user(accounts, "outsider", "editor", ("other",))
    await accounts.set_profile("olena", "  Olena   Kovalenko ", "Kyiv correspondent.")
    await accounts.set_profile("taras", "Taras <b>Shevchenko</b>", "")
    secret, token = await accounts.create_token(FEED, "cms", author="olena")
    assert token.author == "olena"
    anonymous, _ = await accounts.create_token(FEED, "wire")
    publisher = Publisher(services.base_url, FEED, secret)
    wire = Publisher(services.base_url, FEED, anonymous)
    try:
        yield publisher, wire
    finally:
        await publisher.aclose()
        await wire.aclose()


async def test_profiles_are_plain_bounded_text(accounts: Accounts, store: Stores) -> None:
    await add_user(accounts, "ed", "editor", ())
    user = await accounts.set_profile("ed", " Ed  Doe ", "Reporter.\nKyiv.")
    assert (user.display_name, user.bio, user.byline) == ("Ed Doe", "Reporter. Kyiv.", "Ed Doe")
    assert (await accounts.get_user("ed")).display_name == "Ed Doe"
    for name, bio, field in [("x" * 81, "", "display_name"), ("a\x00", "", "display_name"),
                             ("ok", "b" * 301, "bio"), (5, "", "display_name")]:  # fmt: skip
        with pytest.raises(InvalidInput) as exc:
            await accounts.set_profile("ed", name, bio)
        assert exc.value.field == field
    assert (await accounts.get_user("ed")).display_name == "Ed Doe"  # nothing changed
    await store.registry.create_feed("f", "F", "UTC")
    with pytest.raises(InvalidInput):  # a token can only post as a colleague of its feed
        await accounts.create_token("f", "cms", author="ed")
    assert await accounts.list_tokens("f") == []


async def test_a_token_posts_as_its_author_and_credits_colleagues(
    services: Services, newsroom: Any
) -> None:
    publisher, wire = newsroom
    mine = await publisher.post("Shelling in Kharkiv")
    assert mine["authors"] == [{"id": "olena", "name": "Olena Kovalenko", "avatar": None}]
    both = await publisher.post("Talks resume", authors=["taras", "olena"])
    assert [a["id"] for a in both["authors"]] == ["taras", "olena"]
    assert both["authors"][0]["name"] == "Taras <b>Shevchenko</b>"  # text, escaped on pages
    nobody = await wire.post("Wire copy")
    assert nobody["authors"] == []
    credited = await wire.edit(nobody, authors=["taras"])
    assert credited["authors"] == [
        {"id": "taras", "name": "Taras <b>Shevchenko</b>", "avatar": None}
    ]
    assert credited["updated_at"] is None  # a byline fix is silent

    for bad in (["outsider"], ["nobody"], [{"id": "olena", "name": "Forged Name"}],
                "olena", ["olena", "olena"], ["a", "b", "c", "d", "e", "f"]):  # fmt: skip
        r = await publisher.client.post(API, json={"headline": "x", "authors": bad})
        assert r.status_code == 422 and r.json()["field"] == "authors", (bad, r.text)
    r = await publisher.client.patch(
        f"{API}/{mine['id']}",
        json={"authors": ["outsider"]},
        headers={"If-Match": f'"{mine["version"]}"'},
    )
    assert r.status_code == 422
    await publisher.projected(credited)
    await publisher.projected(both)
    await publisher.projected(mine)
    got = (await publisher.client.get(f"{API}/{mine['id']}")).json()
    assert got["authors"] == [{"id": "olena", "name": "Olena Kovalenko", "avatar": None}]
    assert got["version"] == 1

    async with httpx.AsyncClient(base_url=services.base_url) as http:
        for path in (f"/feeds/{FEED}", f"/embed/{FEED}", f"/feeds/{FEED}/entries/{both['id']}"):
            page = (await http.get(path)).text
            assert "By Taras &lt;b&gt;Shevchenko&lt;/b&gt; and Olena Kovalenko" in page, path
            assert "<b>Shevchenko</b>" not in page.split("application/ld+json")[0]
        page = (await http.get(f"/feeds/{FEED}/entries/{both['id']}")).text
        block = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
        assert block is not None and "<" not in block.group(1)
        doc = json.loads(block.group(1))
        assert doc["author"] == [
            {"@type": "Person", "name": "Taras <b>Shevchenko</b>"},
            {"@type": "Person", "name": "Olena Kovalenko"},
        ]
        item = await eventually(lambda: feed_item(http, "Talks resume"))
        assert item["authors"] == [{"name": "Taras <b>Shevchenko</b>"}, {"name": "Olena Kovalenko"}]
        atom = (await http.get(f"/feeds/{FEED}.atom")).text
        assert "<author><name>Olena Kovalenko</name></author>" in atom
        rss = (await http.get(f"/feeds/{FEED}.rss")).text
        assert "<dc:creator>Olena Kovalenko</dc:creator>" in rss


async def test_an_avatar_goes_through_the_image_path_and_into_bylines(
    services: Services, newsroom: Any, accounts: Accounts
) -> None:
    publisher, _ = newsroom
    await add_user(accounts, "chief", "admin")
    path = "/admin/users/olena/avatar"
    async with signed_in(services.base_url, "chief") as (client, csrf):
        headers = {"X-CSRF-Token": csrf, "Origin": services.base_url}
        r = await client.post(
            path, content=SVG, headers={**headers, "Content-Type": "image/svg+xml"}
        )
        assert r.status_code == 415
        assert (await accounts.get_user("olena")).avatar == ""  # nothing changed
        r = await client.post(
            path, content=jpeg_with_gps(), headers={**headers, "Content-Type": "image/jpeg"}
        )
        assert r.status_code == 201, r.text
        avatar = r.json()["avatar"]
        r = await client.post(path, content=jpeg_with_gps(), headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 403  # no CSRF token, no upload
        got = await client.get(avatar)
        assert got.status_code == 200 and b"GPS" not in got.content and b"Canon" not in got.content
    assert (await accounts.get_user("olena")).avatar == avatar
    entry = await publisher.post("With a face")
    assert entry["authors"] == [{"id": "olena", "name": "Olena Kovalenko", "avatar": avatar}]
    await publisher.projected(entry)
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        page = (await http.get(f"/feeds/{FEED}/entries/{entry['id']}")).text
        assert f'<img class="nf-avatar" src="{avatar}" width="24" height="24" alt=""' in page
