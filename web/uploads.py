"""The upload pipeline: process in a worker thread (bounded), store, index."""

from __future__ import annotations

import asyncio
from typing import Any

from feed import images
from feed.media import MediaStore, PhotoIndex

UPLOAD_CONCURRENCY = 2


class Uploads:
    """Processing and storing uploads: one per app (its semaphore bounds the work)."""

    def __init__(self) -> None:
        self._slots = asyncio.Semaphore(UPLOAD_CONCURRENCY)

    async def store(
        self, media: MediaStore, index: PhotoIndex, feed: str, data: bytes
    ) -> dict[str, Any]:
        async with self._slots:
            processed = await asyncio.to_thread(images.process, data)
            for r in processed.renditions:
                await asyncio.to_thread(media.put, r.name, r.data)
        manifest = public_manifest(processed.manifest())
        await index.add(feed, manifest)
        return manifest

    async def store_avatar(self, media: MediaStore, data: bytes) -> str:
        """A square avatar through the same checks; its JPEG's URL."""
        async with self._slots:
            processed = await asyncio.to_thread(images.process_avatar, data)
            for r in processed.renditions:
                await asyncio.to_thread(media.put, r.name, r.data)
        jpeg = next(r for r in processed.renditions if r.content_type == "image/jpeg")
        return f"/media/{jpeg.name}"


def public_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """File names as site-relative URLs (``/media/<name>``)."""
    sizes = [
        {**s, "webp": f"/media/{s['webp']}", "jpeg": f"/media/{s['jpeg']}"}
        for s in manifest["sizes"]
    ]
    return {**manifest, "sizes": sizes}
