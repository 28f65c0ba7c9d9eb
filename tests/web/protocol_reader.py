"""A reader that follows docs/PROTOCOL.md's client algorithm, and checks it.

It keeps its state the way a conforming client does (reset drops it, a
snapshot replaces it, an (id, version) already seen is skipped) and records
what would betray a broken guarantee: a skipped message whose content
differs from what the reader holds (a reused (id, version) it cannot see),
and, across readers, one (epoch, id, version) seen with two contents.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson
import websockets

from tests.conftest import seconds
from tests.web.live_client import ws_url

Entry = dict[str, Any]


def content(entry: Entry) -> bytes:
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)


class Contents:
    """Every (epoch, id, version) any reader saw, with the content it named."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, int], bytes] = {}
        self.clashes: list[tuple[str, str, int]] = []

    def note(self, cursor: str, entry: Entry) -> None:
        key = (cursor.partition(".")[0], entry["id"], entry["version"])
        data = content(entry)
        prior = self.seen.setdefault(key, data)
        if prior != data:
            self.clashes.append(key)


class ProtocolReader:
    """One WebSocket reader that reconnects with its last cursor, for ever."""

    def __init__(self, base: str, feed: str, contents: Contents, name: str = "") -> None:
        self.base = base
        self.feed = feed
        self.contents = contents
        self.name = name
        self.state: dict[str, Entry] = {}
        self.seen: set[tuple[str, int]] = set()
        self.last: str | None = None
        self.resets: list[str] = []
        self.skipped_different: list[tuple[str, int]] = []
        self.types: list[str] = []
        """The type of every message received, in order."""
        self.connects = 0
        self._task: asyncio.Task[None] | None = None
        self._ws: Any = None

    def start(self) -> ProtocolReader:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                url = ws_url(self.base, self.feed, self.last)
                async with websockets.connect(url, open_timeout=seconds(10)) as ws:
                    self.connects += 1
                    async for raw in ws:
                        self.apply(orjson.loads(raw))
            except (OSError, websockets.WebSocketException, TimeoutError):
                pass
            await asyncio.sleep(0.1)

    def apply(self, m: dict[str, Any]) -> None:
        kind = m["type"]
        self.types.append(kind)
        if kind == "reset":
            self.resets.append(m["reason"])
            self.state, self.seen = {}, set()
        elif kind == "snapshot":
            self.state = {e["id"]: e for e in m["entries"]}
            for e in m["entries"]:
                self.seen.add((e["id"], e["version"]))
                self.contents.note(m["cursor"], e)
        elif kind in ("publish", "update", "retract"):
            e = m["entry"]
            key = (e["id"], e["version"])
            if kind != "retract":
                self.contents.note(m["cursor"], e)
            if key in self.seen:
                held = self.state.get(e["id"])
                if kind != "retract" and held is not None and content(held) != content(e):
                    self.skipped_different.append(key)
            else:
                self.seen.add(key)
                if kind == "retract":
                    self.state.pop(e["id"], None)
                else:
                    self.state[e["id"]] = e
        if m.get("cursor"):
            self.last = m["cursor"]


async def public_state(base: str, feed: str) -> dict[str, Entry]:
    """What the public API says the feed holds (every entry: limit 100)."""
    async with httpx.AsyncClient(base_url=base, timeout=seconds(10)) as http:
        r = await http.get(f"/api/v1/feeds/{feed}/entries", params={"limit": 100})
        r.raise_for_status()
        return {e["id"]: e for e in r.json()["entries"]}


async def converge(readers: list[ProtocolReader], base: str, feed: str, within: float = 30) -> None:
    """Wait until every reader holds exactly the public state."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds(within)
    while True:
        try:
            truth = await public_state(base, feed)
        except httpx.HTTPError:
            truth = None
        if truth is not None and all(r.state == truth for r in readers):
            return
        if loop.time() > deadline:
            behind = [r.name for r in readers if r.state != truth]
            raise AssertionError(f"readers {behind} never reached the public state {truth}")
        await asyncio.sleep(0.1)
