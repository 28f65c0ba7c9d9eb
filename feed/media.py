"""Where photo files live: a small interface, a filesystem default.

``MediaStore`` is what the web layer needs: put a file under its content
hash, read it back. Names are ``<sha256>.<ext>``, so a put is idempotent and a
file never changes once written (served with immutable cache headers). An
S3-compatible store implements the same three methods (put = PutObject,
get = GetObject, exists = HeadObject) and is chosen in the composition root;
nothing else changes. Photo manifests (sizes, names) live in Redis next to
the feed (``PhotoIndex``), so any web process can resolve a photo id.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

import orjson

from feed import keys
from feed.redis_io import Client, Commands, translated

NAME_RE = re.compile(r"^[0-9a-f]{64}\.(?:webp|jpg)$")
PHOTO_ID_RE = re.compile(r"^ph_[0-9a-f]{24}$")
CONTENT_TYPES = {"webp": "image/webp", "jpg": "image/jpeg"}


class MediaStore(Protocol):
    def put(self, name: str, data: bytes) -> None: ...
    def get(self, name: str) -> bytes | None: ...
    def exists(self, name: str) -> bool: ...


class FilesystemMediaStore:
    """Files under one directory (the data directory's ``media/`` by default).

    Writes go to a temporary file in the same directory, are fsynced and
    renamed into place, so a reader never sees half a file and a crash leaves
    at most a stray temporary file.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if not NAME_RE.match(name):
            raise ValueError(f"not a media file name: {name!r}")
        return self.root / name[:2] / name

    def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".up-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def exists(self, name: str) -> bool:
        try:
            return self._path(name).exists()
        except ValueError:
            return False


class PhotoIndex:
    """The manifests of a feed's uploaded photos, by id, in Redis."""

    def __init__(self, redis: Client) -> None:
        self.redis: Commands = redis

    async def add(self, feed: str, manifest: dict[str, Any]) -> None:
        async with translated():
            await self.redis.hset(keys.photos(feed), manifest["id"], orjson.dumps(manifest))

    async def get(self, feed: str, photo_id: str) -> dict[str, Any] | None:
        if not PHOTO_ID_RE.match(photo_id):
            return None
        async with translated():
            raw = await self.redis.hget(keys.photos(feed), photo_id)
        if raw is None:
            return None
        manifest: dict[str, Any] = orjson.loads(raw)
        return manifest
