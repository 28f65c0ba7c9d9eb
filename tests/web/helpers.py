"""Publishing through the real API and waiting for the worker's projection."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import seconds


class Publisher:
    """An editor's CMS: the publishing API with a feed's token."""

    def __init__(self, base_url: str, feed: str, token: str) -> None:
        self.base = base_url
        self.feed = feed
        self.client = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def post(self, headline: str, body: str = "", **fields: Any) -> dict[str, Any]:
        r = await self.client.post(
            f"/api/v1/feeds/{self.feed}/entries",
            json={"headline": headline, "body": body, **fields},
        )
        assert r.status_code == 201, r.text
        entry: dict[str, Any] = r.json()
        return entry

    async def edit(self, entry: dict[str, Any], **fields: Any) -> dict[str, Any]:
        r = await self.client.patch(
            f"/api/v1/feeds/{self.feed}/entries/{entry['id']}",
            json=fields,
            headers={"If-Match": f'"{entry["version"]}"'},
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def retract(self, entry: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.delete(f"/api/v1/feeds/{self.feed}/entries/{entry['id']}")
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def public_version(self, entry_id: str) -> int | None:
        r = await self.client.get(f"/api/v1/feeds/{self.feed}/entries/{entry_id}")
        if r.status_code != 200:
            return None
        version: int = r.json()["version"]
        return version

    async def projected(self, entry: dict[str, Any], within: float = 15) -> None:
        """Wait until the worker made this version (or a retraction) public."""
        deadline = time.monotonic() + seconds(within)
        retracted = entry["status"] == "retracted"
        while time.monotonic() < deadline:
            version = await self.public_version(entry["id"])
            if retracted and version is None:
                return
            if not retracted and version is not None and version >= entry["version"]:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"entry {entry['id']} v{entry['version']} was not projected")
