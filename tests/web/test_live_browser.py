"""Chromium's native EventSource against the SSE endpoint, across a restart."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from feed.stores import Stores
from tests.conftest import Services, make_feed, seconds, start_web
from tests.web.live_client import Editor, new_slug

LISTEN = """(url) => {
  window.got = [];
  window.errors = 0;
  const es = new EventSource(url);
  for (const type of ["snapshot", "publish", "update", "retract", "reset", "reconnect"]) {
    es.addEventListener(type, (e) => {
      window.got.push({type, id: e.lastEventId, data: JSON.parse(e.data)});
    });
  }
  es.onerror = () => { window.errors += 1; };
  window.es = es;
}"""


async def _wait_count(page: Any, n: int) -> list[dict[str, Any]]:
    await page.wait_for_function(f"window.got.length >= {n}", timeout=seconds(20) * 1000)
    got: list[dict[str, Any]] = await page.evaluate("window.got")
    return got


async def test_eventsource_snapshot_live_and_resume_across_a_restart(
    browser: Any, store: Stores, services: Services, tmp_path: Path
) -> None:
    web, base = start_web(services.redis_url, tmp_path)
    port = int(base.rsplit(":", 1)[1])
    slug = new_slug()
    ed = Editor(services.base_url, slug, await make_feed(store, slug))
    page = await browser.new_page()
    try:
        await page.goto(base + "/healthz")
        await page.evaluate(LISTEN, f"/api/v1/feeds/{slug}/sse")
        (snap,) = await _wait_count(page, 1)
        assert snap["type"] == "snapshot" and snap["data"]["entries"] == []
        assert snap["id"] == snap["data"]["cursor"]
        a = await ed.create("a")
        a2 = await ed.edit(a, headline="a2")
        got = await _wait_count(page, 3)
        assert [(m["type"], m["data"]["entry"]["version"]) for m in got[1:]] == [
            ("publish", 1),
            ("update", a2["version"]),
        ]
        # A rolling restart: the process drains, EventSource reconnects on
        # its own to the new process with Last-Event-ID and misses nothing.
        web.signal(signal.SIGTERM)
        got = await _wait_count(page, 4)
        assert got[3]["type"] == "reconnect"
        assert web.popen is not None
        web.popen.wait(seconds(20))
        b = await ed.create("b")
        await ed.retract(a2)
        web, _ = start_web(services.redis_url, tmp_path, port=port)
        got = await _wait_count(page, 6)
        assert [(m["type"], m["data"]["entry"]["id"]) for m in got[4:]] == [
            ("publish", b["id"]),
            ("retract", a["id"]),
        ]
        assert got[4]["id"] == got[4]["data"]["cursor"]
        pairs = [
            (m["data"]["entry"]["id"], m["data"]["entry"]["version"]) for m in got[1:3] + got[4:]
        ]
        assert len(set(pairs)) == len(pairs) == 4
        assert await page.evaluate("window.es.readyState") == 1  # OPEN
    finally:
        await page.close()
        await ed.aclose()
        web.stop()
