"""Embedded posts end to end: a real oEmbed provider on 127.0.0.1, real web and
worker processes on a private valkey, real HTTP and WebSocket readers.

The provider is allow-listed for these processes only (``NEWSFEED_OEMBED_EXTRA``)
and the private-address rule is switched off for them only
(``NEWSFEED_OEMBED_ALLOW_PRIVATE``); ``test_the_private_address_rule_refuses_it``
shows that without the switch the same provider is refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from feed import keys
from feed.model import Embed
from feed.settings import Settings
from tests.conftest import seconds
from tests.web.live_client import connect as ws_connect
from tests.web.live_client import next_json
from tests.workers.embed_rig import ATTEMPTS, Desk, eventually, tag, video
from tests.workers.oembed_provider import OEmbedProvider
from workers.embeds import Failure, Fetcher, http_client


def no_provider_markup(raw: bytes | str) -> None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    for bad in ("<script", "<iframe", "widgets.js", "evil.example", '"html"', "player"):
        assert bad not in text, bad


async def test_card_is_filled_and_pushed_live(desk: Desk) -> None:
    url = video("ok")
    async with await ws_connect(desk.rig.base, desk.feed) as ws:
        assert (await next_json(ws))["type"] == "snapshot"
        r = await desk.post("Strike on the port", url="https://example.org/a", embed={"url": url})
        assert r.status_code == 201, r.text
        posted = r.json()
        # posted at once, with a plain link: the provider is not waited for
        assert posted["embed"] == {
            "url": url,
            "provider": "testvideo",
            "provider_name": "TestVideo",
            "status": "pending",
            "title": None,
            "author_name": None,
            "author_url": None,
            "thumbnail": None,
        }
        first = await next_json(ws)
        assert first["type"] == "publish" and first["entry"]["embed"]["status"] == "pending"
        second = await next_json(ws, 20)
    assert second["type"] == "update" and second["entry"]["id"] == posted["id"]
    entry = second["entry"]
    assert entry["version"] == 2 and entry["updated_at"] is None  # silent: no "Updated" mark
    assert entry["correction_note"] is None and entry["headline"] == "Strike on the port"
    card = entry["embed"]
    assert card["status"] == "ready" and card["url"] == url
    # plain texts as the provider sent them, control characters dropped; escaped when shown
    assert card["title"] == f"Shelling <b>of</b> {tag(url)} & more"
    assert card["author_name"] == "Reporter One"
    assert card["author_url"] == "https://video.test/@reporter"
    thumb = card["thumbnail"]
    assert [s["width"] for s in thumb["sizes"]] == [320, 640]  # never upscaled past 640
    assert thumb["alt"].startswith("TestVideo: Shelling")
    no_provider_markup(orjson.dumps(entry))
    async with httpx.AsyncClient(base_url=desk.rig.base) as http:
        for size in thumb["sizes"]:
            for kind in ("webp", "jpeg"):
                got = await http.get(size[kind])
                assert got.status_code == 200 and "immutable" in got.headers["cache-control"]
                assert b"GPS" not in got.content and b"Canon" not in got.content
                assert b"50.45N" not in got.content
        public = (await http.get(f"{desk.api}/{posted['id']}")).json()
        assert public["embed"]["status"] == "ready"
        history = (await http.get(f"{desk.api}/{posted['id']}/history")).json()
        no_provider_markup(orjson.dumps(history))
    events = await desk.rig.store.editorial.history(desk.feed, posted["id"])
    assert [(e.kind, e.actor, e.changes) for e in events][1] == ("edit", "embeds", ("embed",))
    assert not await desk.rig.store.redis.zcard(keys.embed_queue(desk.feed))


async def test_provider_down_then_up_fills_the_card_later(desk: Desk) -> None:
    provider = desk.rig.provider
    provider.down.add("flaky")
    url = video("flaky")
    try:
        r = await desk.post("Curfew extended", embed={"url": url})
        assert r.status_code == 201
        entry_id = r.json()["id"]

        async def retried() -> bool:
            return provider.counts[tag(url)] >= 2

        await eventually(retried, 20, "two attempts")
        now = await desk.entry(entry_id)
        assert now["embed"]["status"] == "pending" and now["version"] == 1
    finally:
        provider.down.discard("flaky")
    done = await desk.embed_is(entry_id, "ready")
    assert done["embed"]["title"].endswith("& more") and done["version"] == 2
    assert provider.counts[tag(url)] <= ATTEMPTS


async def test_a_provider_that_stays_down_is_given_up_after_the_attempts(desk: Desk) -> None:
    url = video("down")
    r = await desk.post("Power cut", embed={"url": url})
    entry = await desk.embed_is(r.json()["id"], "failed", within=30)
    assert entry["embed"]["title"] is None and entry["embed"]["url"] == url
    assert entry["updated_at"] is None
    assert desk.rig.provider.counts[tag(url)] == ATTEMPTS
    assert not await desk.rig.store.redis.zcard(keys.embed_queue(desk.feed))


@pytest.mark.parametrize("mode", ["slow", "huge", "nonjson", "away", "gone"])
async def test_bad_answers_leave_a_plain_link(desk: Desk, mode: str) -> None:
    url = video(mode)
    r = await desk.post(f"Bad provider: {mode}", embed={"url": url})
    assert r.status_code == 201
    entry = await desk.embed_is(r.json()["id"], "failed", within=40)
    assert entry["embed"]["thumbnail"] is None and entry["embed"]["title"] is None
    # only a timeout is worth retrying; the others fail at once
    expected = ATTEMPTS if mode == "slow" else 1
    assert desk.rig.provider.counts[tag(url)] == expected


async def test_a_same_host_redirect_is_followed(desk: Desk) -> None:
    r = await desk.post("Redirected", embed={"url": video("hop")})
    entry = await desk.embed_is(r.json()["id"], "ready")
    assert entry["embed"]["title"].startswith("Shelling")


BAD_EMBEDS: list[Any] = [
    {"url": "http://video.test/v/ok-1"},  # not https
    {"url": "https://evil.test/v/ok-1"},
    {"url": "https://youtube.com.evil.test/watch?v=dQw4w9WgXcQ"},
    {"url": "https://www.you tube.com/watch?v=dQw4w9WgXcQ"},
    {"url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ\n<script>"},
    {"url": "https://t.me/channel"},
    {"url": "javascript:alert(1)//https://x.com/a/status/1"},
    {"url": 5},
    {"url": "https://video.test/v/ok-1", "title": "forged card"},
    {"url": "https://video.test/v/ok-1", "status": "ready"},
    "https://video.test/v/ok-1",
    [],
]


async def test_a_url_off_the_allow_list_is_a_422_and_changes_nothing(desk: Desk) -> None:
    store = desk.rig.store
    before = await store.redis.xlen(keys.log(desk.feed))
    for bad in BAD_EMBEDS:
        r = await desk.post("Nope", embed=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == "embed", r.json()
    assert await store.redis.xlen(keys.log(desk.feed)) == before
    ok = (await desk.post("Fine", embed={"url": video("ok")})).json()
    for bad in BAD_EMBEDS[:3]:
        r = await desk.http.patch(
            f"{desk.api}/{ok['id']}", json={"embed": bad}, headers={"If-Match": '"1"'}
        )
        assert r.status_code == 422 and r.json()["field"] == "embed"
    assert len(await store.editorial.history(desk.feed, ok["id"])) <= 2  # only the card's fill


async def test_an_edit_that_replaces_the_url_is_not_clobbered_by_a_late_fetch(desk: Desk) -> None:
    provider = desk.rig.provider
    provider.release.clear()
    old, new = video("hold"), video("ok")
    posted = (await desk.post("Shelling in Kharkiv", embed={"url": old})).json()

    async def in_flight() -> bool:
        return provider.counts[tag(old)] == 1

    await eventually(in_flight, 20, "the old fetch in flight")
    r = await desk.http.patch(
        f"{desk.api}/{posted['id']}", json={"embed": {"url": new}}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    filled = await desk.embed_is(posted["id"], "ready")
    assert filled["embed"]["url"] == new and tag(new) in filled["embed"]["title"]
    version = filled["version"]
    thumbs_before = provider.counts.get("thumb.jpg", 0)
    provider.release.set()  # the old fetch now gets its answer, and its thumbnail

    async def old_answered() -> bool:
        return provider.counts.get("thumb.jpg", 0) > thumbs_before

    await eventually(old_answered, 10)
    await asyncio.sleep(seconds(1.0))  # give a wrong write the chance to happen
    after = await desk.entry(posted["id"])
    assert after["version"] == version and after["embed"]["url"] == new
    titles = [
        e.entry.embed.title
        for e in await desk.rig.store.editorial.history(desk.feed, posted["id"])
        if e.entry.embed is not None
    ]
    assert not any(t and tag(old) in t for t in titles)
    # removing the embed (null) wins over everything after it too
    r = await desk.http.patch(
        f"{desk.api}/{posted['id']}", json={"embed": None}, headers={"If-Match": f'"{version}"'}
    )
    assert r.status_code == 200 and r.json()["embed"] is None


async def test_the_same_url_again_keeps_the_card_and_a_failed_one_is_fetched_again(
    desk: Desk,
) -> None:
    url = video("ok")
    posted = (await desk.post("Same link", embed={"url": url})).json()
    ready = await desk.embed_is(posted["id"], "ready")
    r = await desk.http.patch(
        f"{desk.api}/{posted['id']}",
        json={"embed": {"url": url}},
        headers={"If-Match": f'"{ready["version"]}"'},
    )
    assert r.status_code == 422  # the edit changes nothing
    desk.rig.provider.down.add("flaky")
    flaky = video("flaky")
    try:
        other = (await desk.post("Flaky link", embed={"url": flaky})).json()

        async def attempts_spent() -> bool:
            return desk.rig.provider.counts[tag(flaky)] >= ATTEMPTS

        await eventually(attempts_spent, 30)
        failed = await desk.embed_is(other["id"], "failed")
    finally:
        desk.rig.provider.down.discard("flaky")
    r = await desk.http.patch(
        f"{desk.api}/{other['id']}",
        json={"embed": {"url": flaky}},
        headers={"If-Match": f'"{failed["version"]}"'},
    )
    assert r.status_code == 200 and r.json()["embed"]["status"] == "pending"
    await desk.embed_is(other["id"], "ready")


# -- the fetcher alone, against the same provider -----------------------------------
def settings(provider: OEmbedProvider, **over: Any) -> Settings:
    return Settings(
        oembed_extra=provider.extra(),
        oembed_timeout_seconds=seconds(1.0),
        **over,
    )


class NoMedia:
    def put(self, name: str, data: bytes) -> None:
        raise AssertionError("nothing may be stored")

    def get(self, name: str) -> bytes | None:
        return None

    def exists(self, name: str) -> bool:
        return False


def pending(url: str) -> Embed:
    return Embed(url=url, provider="testvideo", provider_name="TestVideo")


async def test_the_private_address_rule_refuses_it(provider: OEmbedProvider) -> None:
    """Without the test switch the loopback provider is never called."""
    s = settings(provider)  # oembed_allow_private is off: the production default
    async with http_client(s) as client:
        url = video("ok")
        with pytest.raises(Failure) as caught:
            await Fetcher(s, client, NoMedia()).card(pending(url))
    assert "non-public address 127.0.0.1" in caught.value.reason
    assert not caught.value.transient
    assert provider.counts[tag(url)] == 0


async def test_the_fetcher_reports_each_bad_answer(provider: OEmbedProvider) -> None:
    s = settings(provider, oembed_allow_private=True)
    cases = {
        "slow": ("did not answer in time", True),
        "huge": ("more than 262144 bytes", False),
        "nonjson": ("answered text/html", False),
        "away": ("another host (localhost)", False),
        "gone": ("answered 404", False),
        "down": ("answered 503", True),
    }
    async with http_client(s) as client:
        fetcher = Fetcher(s, client, NoMedia())
        for mode, (reason, transient) in cases.items():
            with pytest.raises(Failure) as caught:
                await fetcher.card(pending(video(mode)))
            assert reason in caught.value.reason, (mode, caught.value.reason)
            assert caught.value.transient is transient, mode
        # a provider that is no longer allow-listed is not called at all
        with pytest.raises(Failure):
            await Fetcher(Settings(oembed_allow_private=True), client, NoMedia()).card(
                pending(video("ok"))
            )
