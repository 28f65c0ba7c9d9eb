"""A Redis that comes back with less than it had: every reader is reset.

The operator's sequence of issue 11, with real processes: a valkey with AOF
in a data directory, two web processes and a worker that stay up across the
rollback. A reader connected, entries posted, the AOF directory copied,
entries edited and posted (the readers get them), the server SIGKILLed and
started again from the copy, an entry edited again with ``If-Match: "1"``.
Every connected reader must end with exactly the public state, having been
reset; none keeps an entry that no longer exists; no (epoch, id, version)
names two contents; a reader that was away is reset on its return; admin
edit forms loaded before the rollback get a conflict, never a silent
overwrite.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import httpx
import pytest

from feed.accounts import Accounts
from feed.redis_io import connect
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis, free_port
from tests.conftest import make_feed, seconds, start_web, start_worker
from tests.web.admin_util import add_user, csrf_of, sign_in
from tests.web.helpers import Publisher
from tests.web.protocol_reader import Contents, ProtocolReader, converge, public_state

pytestmark = pytest.mark.timeout(180)

HIDDEN_RE = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def form_of(html: str) -> dict[str, str]:
    """The hidden fields of the edit form (version, base, tag, csrf)."""
    return dict(HIDDEN_RE.findall(html))


async def until_all(readers: list[ProtocolReader], check: str, within: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds(within)
    while not all(any(e.get("headline") == check for e in r.state.values()) for r in readers):
        if loop.time() > deadline:
            raise AssertionError(f"not every reader got {check!r}")
        await asyncio.sleep(0.05)


async def test_restore_from_an_older_copy_resets_every_reader(tmp_path: Path) -> None:
    data = tmp_path / "redis"
    server = EmbeddedRedis(data, port=free_port())
    server.start()
    procs = []
    redis = connect(server.url)
    readers: list[ProtocolReader] = []
    away = ProtocolReader("", "", Contents())
    try:
        store = Stores.build(redis)
        token = await make_feed(store, "news")
        await add_user(Accounts(redis), "ed", feeds=("news",))
        web1, base1 = start_web(server.url, tmp_path)
        web2, base2 = start_web(server.url, tmp_path)
        worker = start_worker(server.url, tmp_path)
        procs = [web1, web2, worker]
        api = Publisher(base1, "news", token)
        contents = Contents()
        readers = [
            ProtocolReader(base, "news", contents, name=f"r{i}").start()
            for i, base in enumerate([base1, base1, base2, base2])
        ]
        admin = httpx.AsyncClient(base_url=base2, timeout=seconds(10))
        assert (await sign_in(admin, "ed")).status_code == 303  # the session is in the copy

        a = await api.post("A", "<p>first</p>")
        b = await api.post("B", "<p>second</p>")
        await until_all(readers, "B")

        # A reader that will be away during the rollback.
        away = ProtocolReader(base2, "news", contents, name="away").start()
        await until_all([away], "B")

        # The operator's copy of the AOF directory.
        copy = tmp_path / "copy"
        shutil.copytree(data / "appendonly", copy)

        # A CMS edits A to "X" and keeps the ETag it got: version 2 and the
        # digest of "X" (a version that is about to be lost).
        r = await api.client.patch(
            f"/api/v1/feeds/news/entries/{a['id']}",
            json={"headline": "X"},
            headers={"If-Match": f'"{a["version"]}"'},
        )
        assert r.status_code == 200, r.text
        a2, cms_etag = r.json(), r.headers["etag"]
        assert cms_etag.startswith('"2.')
        await api.edit(b, headline="B2")
        await api.post("C (will be lost)")
        await until_all(readers, "C (will be lost)")
        assert all(r.state[a["id"]]["headline"] == "X" for r in readers)
        await until_all([away], "C (will be lost)")
        await away.stop()
        seen_before = len(away.types)

        # Edit forms loaded now hold versions that are about to be lost.
        form_a = form_of((await admin.get(f"/admin/feeds/news/entries/{a['id']}")).text)
        form_b = form_of((await admin.get(f"/admin/feeds/news/entries/{b['id']}")).text)
        assert form_a["version"] == "2" and form_a["tag"] and form_b["version"] == "2"

        # kill -9, and start again from the copy (same port: the web
        # processes and the worker stay up and reconnect by themselves).
        server.kill()
        shutil.rmtree(data / "appendonly")
        shutil.copytree(copy, data / "appendonly")
        server.start()

        # The write: If-Match "1" is right again, and gives v2 "Y".
        async def edit_y() -> httpx.Response:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds(20)
            while True:
                r = await api.client.patch(
                    f"/api/v1/feeds/news/entries/{a['id']}",
                    json={"headline": "Y"},
                    headers={"If-Match": '"1"'},
                )
                if r.status_code != 503 or loop.time() > deadline:
                    return r
                await asyncio.sleep(0.1)

        r = await edit_y()
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2 == a2["version"] and r.json()["headline"] == "Y"

        # The CMS that holds the lost "X" now edits with its ETag: the
        # number 2 was handed out again, for "Y", so 412 and nothing written;
        # the 412's ETag is that of "Y", what the CMS must re-read.
        stale = await api.client.patch(
            f"/api/v1/feeds/news/entries/{a['id']}",
            json={"headline": "Z (over a lost version)"},
            headers={"If-Match": cms_etag},
        )
        assert stale.status_code == 412, stale.text
        assert stale.json()["current_version"] == 2 and "restored" in stale.json()["detail"]
        assert stale.headers["etag"] == r.headers["etag"] != cms_etag

        await converge(readers, base1, "news")
        truth = await public_state(base1, "news")
        assert {e["headline"] for e in truth.values()} == {"Y", "B"}
        for reader in readers:
            assert reader.resets, f"{reader.name} was never reset"
            assert reader.state == truth  # no lost entry kept, no wrong version
            assert not reader.skipped_different, reader.skipped_different
        assert not contents.clashes, contents.clashes

        # The reader that was away comes back with its cursor: reset, snapshot.
        away.start()
        await converge([away], base1, "news")
        assert away.types[seen_before : seen_before + 2] == ["reset", "snapshot"]
        # "epoch": the web processes that read the lost messages rotated it
        # (tests/feed/test_store.py shows the "stale" of a vanished cursor).
        assert away.resets == ["epoch"] and not away.skipped_different

        # The forms loaded before the rollback: a conflict, nothing written.
        for form, entry in ((form_a, a), (form_b, b)):
            posted = await admin.post(
                f"/admin/feeds/news/entries/{entry['id']}",
                data={**form, "headline": "Editor's change", "body": "", "url": ""},
            )
            assert posted.status_code == 409, posted.text
            assert "no longer stored" in posted.text
        after = await public_state(base1, "news")
        assert after == truth
        current = await store.editorial.get_entry("news", a["id"])
        assert (current.version, current.headline) == (2, "Y")
        # The conflict page's own form applies the change on top of what is there.
        page = await admin.post(
            f"/admin/feeds/news/entries/{a['id']}",
            data={**form_a, "headline": "Editor's change", "body": "", "url": ""},
        )
        retry = form_of(page.text)
        assert retry["csrf_token"] == csrf_of(page.text) and retry["version"] == "2"
        saved = await admin.post(
            f"/admin/feeds/news/entries/{a['id']}",
            data={**retry, "headline": "Editor's change", "body": "<p>first</p>", "url": ""},
        )
        assert saved.status_code == 303, saved.text
        current = await store.editorial.get_entry("news", a["id"])
        assert (current.version, current.headline) == (3, "Editor's change")
        await admin.aclose()
        await api.aclose()
    finally:
        for reader in [*readers, away]:
            await reader.stop()
        for proc in procs:
            proc.stop()
        await redis.aclose()
        server.stop()
