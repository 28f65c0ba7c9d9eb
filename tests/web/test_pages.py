"""The reader pages over plain HTTP against the real web and worker processes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from feed.stores import Stores
from tests.conftest import ROOT, Services, make_feed
from tests.web.helpers import Publisher
from web import render

XSS_HEADLINE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture
async def kyiv(services: Services, store: Stores) -> AsyncIterator[Publisher]:
    token = await make_feed(store, "kyiv", timezone="Europe/Kyiv")
    publisher = Publisher(services.base_url, "kyiv", token)
    try:
        yield publisher
    finally:
        await publisher.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def ld_json(page: str) -> list[object]:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    return [json.loads(b) for b in blocks]


def kyiv_zone() -> str:
    summer = datetime.now(ZoneInfo("Europe/Kyiv")).tzname() == "EEST"
    return f"Eastern European {'Summer' if summer else 'Standard'} Time"


def kyiv_clock(iso: str) -> str:
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/Kyiv"))
    return render.clock(dt)


async def test_reader_page_renders_the_column_on_the_server(
    services: Services, kyiv: Publisher, http: httpx.AsyncClient
) -> None:
    first = await kyiv.post("Talks resume in Istanbul", "<p>Delegations <b>arrive</b>.</p>")
    linked = await kyiv.post("Minister speaks", url="https://example.org/speech")
    pinned = await kyiv.post("Key facts", "<p>What we know.</p>", pinned=True)
    edited = await kyiv.edit(first, headline="Talks resume in Istanbul today", mark_updated=True)
    for e in (linked, pinned, edited):
        await kyiv.projected(e)

    r = await http.get(services.base_url + "/feeds/kyiv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    # pinned first, then newest first
    order = [m for m in re.findall(r'data-id="([0-9a-z]+)"', page)]
    assert order == [pinned["id"], linked["id"], first["id"]]
    assert 'class="nf-item nf-pinned"' in page and ">Pinned<" in page
    # times in the feed's zone, and the zone named once
    assert f">{kyiv_clock(edited['published_at'])}" in page
    assert f"Times in {kyiv_zone()}" in page
    # the Updated mark, the edited headline, the links
    assert f'(Updated: <time datetime="{edited["updated_at"]}">' in page
    assert kyiv_clock(edited["updated_at"]) in page
    assert "Talks resume in Istanbul today" in page
    assert 'href="https://example.org/speech"' in page
    assert f'href="/feeds/kyiv/entries/{pinned["id"]}"' in page
    assert "<p>Delegations <b>arrive</b>.</p>" in page
    # the live cursor the script resumes from, and an accessible log
    assert re.search(r'data-nf-cursor="[0-9a-z]+\.\d+-\d+"', page)
    assert 'role="log" aria-live="polite"' in page
    # JSON-LD
    (doc,) = ld_json(page)
    assert isinstance(doc, dict) and doc["@type"] == "LiveBlogPosting"
    updates = doc["liveBlogUpdate"]
    assert [u["headline"] for u in updates] == [
        "Key facts",
        "Minister speaks",
        "Talks resume in Istanbul today",
    ]
    assert updates[2]["dateModified"] == edited["updated_at"]
    assert updates[2]["datePublished"] == edited["published_at"]
    assert updates[0]["url"].endswith(f"/feeds/kyiv/entries/{pinned['id']}")
    assert all(u["@type"] == "BlogPosting" for u in updates)


async def test_more_news_pages_without_javascript(
    services: Services, kyiv: Publisher, http: httpx.AsyncClient
) -> None:
    posted = [await kyiv.post(f"Update number {i}") for i in range(23)]
    await kyiv.projected(posted[-1])
    await kyiv.projected(posted[0])
    r = await http.get(services.base_url + "/feeds/kyiv")
    ids = re.findall(r'data-id="([0-9a-z]+)"', r.text)
    assert ids == [e["id"] for e in reversed(posted)][:20]
    more = re.search(r'class="nf-more" href="([^"]+)"', r.text)
    assert more is not None
    r2 = await http.get(services.base_url + more.group(1).replace("&amp;", "&"))
    assert r2.status_code == 200
    older = re.findall(r'data-id="([0-9a-z]+)"', r2.text)
    assert older == [e["id"] for e in reversed(posted)][20:]
    assert 'class="nf-more"' not in r2.text
    assert 'data-nf-live="0"' in r2.text  # an archive page does not go live


async def test_editor_markup_is_escaped_and_json_ld_cannot_break_out(
    services: Services, kyiv: Publisher, http: httpx.AsyncClient
) -> None:
    body = '<p>ok</p><script>window.__pwned=3</script><a href="javascript:alert(1)">x</a>'
    entry = await kyiv.post(XSS_HEADLINE, body, url="https://example.org/a?b=1&c=2")
    await kyiv.projected(entry)
    for path in ("/feeds/kyiv", f"/feeds/kyiv/entries/{entry['id']}", "/embed/kyiv"):
        page = (await http.get(services.base_url + path)).text
        assert "<script>window.__pwned" not in page
        assert "<img src=x" not in page
        assert not re.search(r"<[^>]*\sonerror=", page)  # no element carries the handler
        assert "javascript:" not in page
        assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
        # every script element is external or JSON-LD: nothing inline runs
        for tag in re.findall(r"<script[^>]*>", page):
            assert " src=" in tag or 'type="application/ld+json"' in tag, tag
        for doc in ld_json(page):  # the JSON-LD still says exactly what the editor wrote
            assert XSS_HEADLINE in json.dumps(doc, ensure_ascii=False).replace('\\"', '"')
        for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S):
            assert "<" not in block and ">" not in block
    page = (await http.get(services.base_url + "/feeds/kyiv")).text
    assert "https://example.org/a?b=1&amp;c=2" in page


async def test_permalink_page(services: Services, kyiv: Publisher, http: httpx.AsyncClient) -> None:
    entry = await kyiv.post("Ceasefire announced", "<p>Details follow.</p>")
    await kyiv.projected(entry)
    r = await http.get(f"{services.base_url}/feeds/kyiv/entries/{entry['id']}")
    assert r.status_code == 200
    assert "Ceasefire announced" in r.text and "<p>Details follow.</p>" in r.text
    assert 'href="/feeds/kyiv"' in r.text
    (doc,) = ld_json(r.text)
    assert isinstance(doc, dict) and doc["@type"] == "BlogPosting"
    assert doc["headline"] == "Ceasefire announced"
    assert doc["isPartOf"]["@type"] == "LiveBlogPosting"

    gone = await kyiv.retract(entry)
    await kyiv.projected(gone)
    r = await http.get(f"{services.base_url}/feeds/kyiv/entries/{entry['id']}")
    assert r.status_code == 410 and "retracted" in r.text
    r = await http.get(f"{services.base_url}/feeds/kyiv/entries/nosuchentry00")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


async def test_unknown_feed_and_bad_page_are_html_errors(
    services: Services, http: httpx.AsyncClient
) -> None:
    for path in ("/feeds/nope", "/embed/nope", "/feeds/nope/entries/abc"):
        r = await http.get(services.base_url + path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")
        assert "Content-Security-Policy" in r.headers


async def test_bad_before_is_a_400(
    services: Services, kyiv: Publisher, http: httpx.AsyncClient
) -> None:
    r = await http.get(services.base_url + "/feeds/kyiv?before=<script>")
    assert r.status_code == 400
    assert "<script>" not in r.text


async def test_security_headers(
    services: Services, kyiv: Publisher, http: httpx.AsyncClient
) -> None:
    r = await http.get(services.base_url + "/feeds/kyiv")
    csp = r.headers["content-security-policy"]
    host = services.base_url.removeprefix("http://")
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert f"connect-src 'self' ws://{host} wss://{host}" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["x-frame-options"] == "DENY"
    r = await http.get(services.base_url + "/embed/kyiv")
    assert r.status_code == 200
    assert "frame-ancestors *" in r.headers["content-security-policy"]
    assert "x-frame-options" not in r.headers
    # a forged Host header does not inject into the policy
    r = await http.get(services.base_url + "/feeds/kyiv", headers={"Host": "evil; script-src *"})
    assert "script-src *" not in r.headers["content-security-policy"]


async def test_static_assets_are_versioned_and_cached(
    services: Services, kyiv: Publisher, http: httpx.AsyncClient
) -> None:
    page = (await http.get(services.base_url + "/feeds/kyiv")).text
    src = re.search(r'<script src="(/static/live\.js\?v=[0-9a-f]+)" defer>', page)
    assert src is not None
    r = await http.get(services.base_url + src.group(1))
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["content-encoding"] == "gzip"  # httpx asks for it and decodes it
    # "a few KB" on the wire: 12 KB with the languages, the SSE/polling
    # fallback, key events, corrections, bylines and photos (no build step)
    assert int(r.headers["content-length"]) < 12 * 1024
    js = await http.get(services.base_url + "/embed.js")
    assert js.status_code == 200 and js.content == r.content
    assert "immutable" not in js.headers["cache-control"]
    assert js.headers["access-control-allow-origin"] == "*"
    again = await http.get(
        services.base_url + "/embed.js", headers={"If-None-Match": js.headers["etag"]}
    )
    assert again.status_code == 304
    assert (await http.get(services.base_url + "/static/nope.js")).status_code == 404


async def test_oembed(services: Services, kyiv: Publisher, http: httpx.AsyncClient) -> None:
    base = services.base_url
    r = await http.get(base + "/oembed", params={"url": base + "/feeds/kyiv", "format": "json"})
    assert r.status_code == 200
    doc = r.json()
    assert doc["version"] == "1.0" and doc["type"] == "rich"
    assert doc["width"] == 400 and doc["height"] == 600
    assert doc["provider_name"] == "newsfeed" and doc["title"] == "Kyiv"
    assert f'<iframe src="{base}/embed/kyiv"' in doc["html"]
    assert f'<script async src="{base}/embed.js"></script>' in doc["html"]
    assert r.headers["access-control-allow-origin"] == "*"

    r = await http.get(
        base + "/oembed",
        params={"url": base + "/feeds/kyiv", "maxwidth": "300", "maxheight": "200"},
    )
    assert (r.json()["width"], r.json()["height"]) == (300, 200)

    async def problem(params: dict[str, str], status: int) -> None:
        r = await http.get(base + "/oembed", params=params)
        assert r.status_code == status, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"]

    await problem({}, 422)
    await problem({"url": "not a url"}, 422)
    await problem({"url": base + "/feeds/nope"}, 404)
    await problem({"url": "https://elsewhere.example/feeds/kyiv"}, 404)
    await problem({"url": base + "/admin"}, 404)
    await problem({"url": base + "/feeds/kyiv", "format": "xml"}, 501)
    await problem({"url": base + "/feeds/kyiv", "maxwidth": "wide"}, 422)


async def test_feed_meta_for_the_embed(
    services: Services, kyiv: Publisher, http: httpx.AsyncClient
) -> None:
    r = await http.get(services.base_url + "/api/v1/feeds/kyiv")
    assert r.status_code == 200
    assert r.json()["timezone"] == "Europe/Kyiv" and r.json()["title"] == "Kyiv"
    assert r.json()["zone"] == kyiv_zone()
    assert r.headers["access-control-allow-origin"] == "*"
    assert (await http.get(services.base_url + "/api/v1/feeds/nope")).status_code == 404


def test_the_embed_api_routes_are_in_the_openapi_file() -> None:
    import yaml
    from starlette.routing import Route

    from web import embed, pages

    documented = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())["paths"]
    for route in embed.routes(pages.Pages()):
        if isinstance(route, Route) and route.path.startswith(("/api/", "/oembed")):
            assert route.path in documented, route.path
            assert "get" in documented[route.path]
