"""Key events and public corrections over real HTTP (real web + worker processes)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from feed.stores import Stores
from tests.conftest import Services, make_feed
from tests.web.helpers import Publisher
from tests.web.test_api import eventually

FEED = "kyiv"
API = f"/api/v1/feeds/{FEED}/entries"
NOTE = 'An earlier version said "three" </script><script>window.__pwned=1</script>'


@pytest.fixture
async def kyiv(services: Services, store: Stores) -> AsyncIterator[Publisher]:
    token = await make_feed(store, FEED, timezone="Europe/Kyiv")
    publisher = Publisher(services.base_url, FEED, token)
    try:
        yield publisher
    finally:
        await publisher.aclose()


async def test_the_api_filters_key_events_and_follows_unmarking(kyiv: Publisher) -> None:
    plain = await kyiv.post("Traffic update")
    key = await kyiv.post("Air raid alert", key_event=True, key_label="Alert")
    other = await kyiv.post("Power cut")
    other = await kyiv.edit(other, key_event=True)
    await kyiv.projected(other)
    await kyiv.projected(plain)
    await kyiv.projected(key)
    c = kyiv.client
    page = (await c.get(API, params={"key_events": "true"})).json()
    assert [e["id"] for e in page["entries"]] == [other["id"], key["id"]]
    assert page["entries"][1]["key_label"] == "Alert"
    paged = (await c.get(API, params={"key_events": "true", "limit": 1})).json()
    assert [e["id"] for e in paged["entries"]] == [other["id"]] and paged["next"]
    rest = (await c.get(API, params={"key_events": "1", "before": paged["next"]})).json()
    assert [e["id"] for e in rest["entries"]] == [key["id"]] and rest["next"] is None
    assert len((await c.get(API)).json()["entries"]) == 3
    other = await kyiv.edit(other, key_event=False)
    gone = await kyiv.retract(key)
    await kyiv.projected(other)
    await kyiv.projected(gone)
    assert (await c.get(API, params={"key_events": "true"})).json()["entries"] == []
    r = await c.get(API, params={"key_events": "maybe"})
    assert r.status_code == 422 and r.json()["field"] == "key_events"


async def test_bad_corrections_change_nothing(kyiv: Publisher) -> None:
    entry = await kyiv.post("Three injured")
    for data in ({"correction": "nothing changed"}, {"headline": "Four", "correction": ""}):
        r = await kyiv.client.patch(
            f"{API}/{entry['id']}", json=data, headers={"If-Match": f'"{entry["version"]}"'}
        )
        assert r.status_code == 422 and r.json()["field"] == "correction", r.text
    await kyiv.projected(entry)
    history = (await kyiv.client.get(f"{API}/{entry['id']}/history")).json()
    assert [v["version"] for v in history["versions"]] == [1]


async def test_reader_pages_show_key_events_and_the_correction_trail(
    services: Services, kyiv: Publisher
) -> None:
    first = await kyiv.post("Strike on Kyiv", "<p>Three people were injured.</p>")
    key = await kyiv.post("Air raid alert", key_event=True, key_label="Alert <b>now</b>")
    silent = await kyiv.edit(first, body="<p>Three people were injured .</p>")
    fixed = await kyiv.edit(
        silent, headline="Strike on Kyiv region", body="<p>Four people were injured.</p>",
        correction=NOTE,
    )  # fmt: skip
    await kyiv.projected(fixed)
    await kyiv.projected(key)
    async with httpx.AsyncClient(base_url=services.base_url) as http:
        for path in (f"/feeds/{FEED}", f"/embed/{FEED}"):
            page = (await http.get(path)).text
            keys = re.search(r'<nav class="nf-keys".*?</nav>', page, re.S)
            assert keys is not None and " hidden" not in keys.group(0)[:60]
            assert "Alert &lt;b&gt;now&lt;/b&gt;" in keys.group(0)
            assert f"/feeds/{FEED}/entries/{key['id']}" in keys.group(0)
            assert first["id"] not in keys.group(0)
            assert 'class="nf-correction"' in page and "<script>window.__pwned" not in page
            assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
        page = (await http.get(f"/feeds/{FEED}/entries/{first['id']}")).text
        trail = re.search(r'<section class="nf-trail".*?</section>', page, re.S)
        assert trail is not None
        steps = re.findall(r'<li class="nf-step nf-step-(\w+)" data-version="(\d+)"', page)
        assert steps == [("correction", "3"), ("published", "1")]  # newest first, v2 silent
        text = trail.group(0)
        assert "<del>Three</del><ins>Four</ins>" in text
        assert "<ins> region</ins>" in text
        assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
        assert "<script>window.__pwned" not in page
        history = (await http.get(f"{API}/{first['id']}/history")).json()
        assert [v["mark"] for v in history["versions"]] == ["published", None, "correction"]
        assert history["versions"][-1]["entry"]["correction_note"] == NOTE
        # JSON-LD names the correction; the key event page has no trail (nothing marked)
        assert '"CorrectionComment"' in page
        plain = (await http.get(f"/feeds/{FEED}/entries/{key['id']}")).text
        assert 'class="nf-trail"' not in plain

        async def atom_of_now() -> str | None:  # the worker renders documents after a write
            text = (await http.get(f"/feeds/{FEED}.atom")).text
            return text if "Correction:" in text else None

        atom = await eventually(atom_of_now)
        assert 'term="key-event"' in atom
