"""Photos over real HTTP: upload with the feed token, reference, serve; bad files store nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from feed.stores import Stores
from tests.conftest import Services, make_feed
from tests.feed.test_images import SVG, jpeg_with_gps, png_bomb, png_with_alpha
from tests.web.helpers import Publisher
from tests.web.test_api import eventually

FEED = "kyiv"
PHOTOS = f"/api/v1/feeds/{FEED}/photos"
API = f"/api/v1/feeds/{FEED}/entries"


@pytest.fixture
async def kyiv(services: Services, store: Stores) -> AsyncIterator[Publisher]:
    token = await make_feed(store, FEED, timezone="Europe/Kyiv")
    publisher = Publisher(services.base_url, FEED, token)
    try:
        yield publisher
    finally:
        await publisher.aclose()


def media_files(services: Services) -> set[str]:
    root = Path(services.media_dir)
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def upload(kyiv: Publisher, data: bytes, ctype: str = "image/jpeg") -> httpx.Response:
    return await kyiv.client.post(PHOTOS, content=data, headers={"Content-Type": ctype})


async def test_upload_strip_reference_and_serve(services: Services, kyiv: Publisher) -> None:
    r = await upload(kyiv, jpeg_with_gps())
    assert r.status_code == 201, r.text
    photo: dict[str, Any] = r.json()
    assert photo["id"].startswith("ph_") and (photo["width"], photo["height"]) == (1280, 720)
    assert [s["width"] for s in photo["sizes"]] == [320, 640, 1280]
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        for size in photo["sizes"]:
            for kind, ctype in (("webp", "image/webp"), ("jpeg", "image/jpeg")):
                got = await http.get(size[kind])
                assert got.status_code == 200 and got.headers["content-type"] == ctype
                assert "immutable" in got.headers["cache-control"]
                assert b"GPS" not in got.content and b"Canon" not in got.content
                again = await http.get(size[kind], headers={"If-None-Match": got.headers["etag"]})
                assert again.status_code == 304
        assert (await http.get("/media/" + "0" * 64 + ".jpg")).status_code == 404
        assert (await http.get("/media/../../etc/passwd")).status_code == 404
    # the same file again: the same photo, nothing new stored
    before = media_files(services)
    assert (await upload(kyiv, jpeg_with_gps())).json()["id"] == photo["id"]
    assert media_files(services) == before

    ref = {"id": photo["id"], "alt": "Firefighters at a damaged building", "credit": "Ed Wood"}
    entry = await kyiv.post("Strike on Kyiv", photo={**ref, "caption": "Podil, 6 a.m."})
    assert entry["photo"]["alt"] == ref["alt"] and entry["photo"]["sizes"] == photo["sizes"]
    await kyiv.projected(entry)
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        page = (await http.get(f"/feeds/{FEED}")).text
        img = re.search(r'<img src="[^"]+" srcset="[^"]+"[^>]*>', page)
        assert img is not None
        tag = img.group(0)
        for attr in ('width="1280"', 'height="720"', 'loading="lazy"', f'alt="{ref["alt"]}"'):
            assert attr in tag, (attr, tag)
        assert "Photo: Ed Wood" in page and "Podil, 6 a.m." in page
        assert '<source type="image/webp"' in page
        item = await eventually(lambda: feed_item(http, "Strike on Kyiv"))
        assert item["image"].endswith(photo["sizes"][-1]["jpeg"])
    # alt text is required; an unknown or foreign photo id is refused
    for bad, field in [
        ({"id": photo["id"]}, "photo"),
        ({"id": photo["id"], "alt": "   "}, "photo"),
        ({"id": "ph_" + "0" * 24, "alt": "x"}, "photo"),
        ({"id": photo["id"], "alt": "x", "sizes": []}, "photo"),
        ("ph_x", "photo"),
    ]:
        r = await kyiv.client.post(API, json={"headline": "x", "photo": bad})
        assert r.status_code == 422 and r.json()["field"] == field, (bad, r.text)


async def feed_item(http: httpx.AsyncClient, title: str) -> dict[str, Any] | None:
    items = (await http.get(f"/feeds/{FEED}.json")).json()["items"]
    return next((i for i in items if i["title"] == title and "image" in i), None)


@pytest.mark.parametrize(
    ("data", "ctype", "status"),
    [
        (jpeg_with_gps()[:5000], "image/jpeg", 422),  # truncated
        (png_bomb(), "image/png", 413),  # 50,000 x 50,000
        (SVG, "image/svg+xml", 415),
        (b"MZ\x90\x00 an executable renamed to photo.jpg", "image/jpeg", 415),
        (png_with_alpha(), "text/plain", 415),
        (b"", "image/jpeg", 422),
    ],
)
async def test_bad_uploads_are_problems_and_store_nothing(
    services: Services, kyiv: Publisher, data: bytes, ctype: str, status: int
) -> None:
    before = media_files(services)
    r = await upload(kyiv, data, ctype)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"]
    assert media_files(services) == before


async def test_uploads_need_the_feed_token(services: Services, kyiv: Publisher) -> None:
    async with httpx.AsyncClient(base_url=services.base_url) as anon:
        r = await anon.post(PHOTOS, content=png_with_alpha(), headers={"Content-Type": "image/png"})
        assert r.status_code == 401
    before = media_files(services)
    big = b"\xff\xd8\xff" + b"\x00" * (15 * 1024 * 1024 + 1)
    r = await kyiv.client.post(PHOTOS, content=big, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 413 and r.json()["field"] == "file"
    assert media_files(services) == before
