"""Test clients of the live protocol: real sockets, real processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from tests.conftest import seconds


def new_slug() -> str:
    """A feed of its own per test: the session's web process keeps channels."""
    return "l" + uuid.uuid4().hex[:12]


def ws_url(
    base: str, feed: str, since: str | None = None, params: dict[str, str] | None = None
) -> str:
    url = base.replace("http://", "ws://") + f"/api/v1/feeds/{feed}/ws"
    query = dict(params or {})
    if since is not None:
        query["since"] = since
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


async def connect(
    base: str,
    feed: str,
    since: str | None = None,
    params: dict[str, str] | None = None,
    **kw: Any,
) -> ClientConnection:
    url = ws_url(base, feed, since, params)
    return await websockets.connect(url, open_timeout=seconds(10), **kw)


async def next_json(ws: ClientConnection, wait: float = 10) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), seconds(wait))
    message: dict[str, Any] = orjson.loads(raw)
    return message


async def events(ws: ClientConnection, n: int, wait: float = 10) -> list[dict[str, Any]]:
    return [await next_json(ws, wait) for _ in range(n)]


async def nothing_more(ws: ClientConnection, wait: float = 0.5) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds(wait))
    except TimeoutError:
        return True
    return False


def key(message: dict[str, Any]) -> tuple[str, str, str, int]:
    """What a reader dedupes and orders by: cursor, type, (id, version)."""
    entry = message["entry"]
    return message["cursor"], message["type"], entry["id"], entry["version"]


class Editor:
    """Publishes through the real HTTP API with a feed's token."""

    def __init__(self, base: str, feed: str, token: str) -> None:
        self.feed = feed
        self.http = httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=seconds(10)
        )

    async def create(self, headline: str, **fields: Any) -> dict[str, Any]:
        resp = await self.http.post(
            f"/api/v1/feeds/{self.feed}/entries", json={"headline": headline, **fields}
        )
        assert resp.status_code == 201, resp.text
        entry: dict[str, Any] = resp.json()
        return entry

    async def edit(self, entry: dict[str, Any], **fields: Any) -> dict[str, Any]:
        resp = await self.http.patch(
            f"/api/v1/feeds/{self.feed}/entries/{entry['id']}",
            json=fields,
            headers={"If-Match": f'"{entry["version"]}"'},
        )
        assert resp.status_code == 200, resp.text
        edited: dict[str, Any] = resp.json()
        return edited

    async def retract(self, entry: dict[str, Any]) -> dict[str, Any]:
        resp = await self.http.delete(f"/api/v1/feeds/{self.feed}/entries/{entry['id']}")
        assert resp.status_code == 200, resp.text
        retracted: dict[str, Any] = resp.json()
        return retracted

    async def wait_public(self, count: int, wait: float = 10) -> None:
        """Until the public timeline holds ``count`` entries (the worker projected)."""
        deadline = asyncio.get_running_loop().time() + seconds(wait)
        while True:
            resp = await self.http.get(f"/api/v1/feeds/{self.feed}/entries", params={"limit": 100})
            if len(resp.json()["entries"]) >= count:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the timeline never reached {count} entries")
            await asyncio.sleep(0.05)

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class SSEEvent:
    event: str = "message"
    id: str | None = None
    data: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        message: dict[str, Any] = orjson.loads(self.data)
        return message


async def sse_events(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """Parse a text/event-stream (only what newsfeed sends: no multi-line data)."""
    current = SSEEvent()
    async for line in response.aiter_lines():
        if line == "":
            if current.event == "ready":  # the stream's first event: tested on its own
                current = SSEEvent(retry=current.retry, comments=current.comments)
            elif current.data or current.event != "message":
                yield current
                current = SSEEvent()
            else:  # a retry-only or comment-only block: keep them for the next event
                current = SSEEvent(retry=current.retry, comments=current.comments)
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "":
            current.comments.append(value)
        elif name == "event":
            current.event = value
        elif name == "id":
            current.id = value
        elif name == "data":
            current.data = value
        elif name == "retry":
            current.retry = int(value)


async def next_sse(stream: AsyncIterator[SSEEvent], wait: float = 10) -> SSEEvent:
    return await asyncio.wait_for(anext(stream), seconds(wait))


async def metric(base: str, name: str, label: str = "") -> float:
    """The sum of a Prometheus metric's samples (those with ``label``) on a web process."""
    async with httpx.AsyncClient(base_url=base) as http:
        text = (await http.get("/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
