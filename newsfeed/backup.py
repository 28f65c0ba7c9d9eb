"""``newsfeed backup`` and ``newsfeed restore``: a consistent copy of the embedded store.

A backup is an RDB snapshot: ``BGSAVE`` forks the server, and the child
writes everything as of that instant (a consistent point in time, whatever
is being written meanwhile) to a temporary file it renames into place. We
wait for that save to finish, then copy the file with its SHA-256 and a
manifest into the backup directory. The server keeps serving throughout.

A restore puts the snapshot back into a data directory whose server is
stopped: the current AOF directory and RDB are moved aside (never deleted)
into ``before-restore-<time>/``, the snapshot becomes ``dump.rdb``, and the
embedded server is started once so that it loads the snapshot and writes a
fresh AOF from it. Readers who come back with a cursor from after the
snapshot are reset (docs/PROTOCOL.md, "Rollbacks"); editors' forms of lost
versions get a conflict.

An external Redis (``REDIS_URL``, Sentinel) is backed up where it runs:
``backup`` then prints how, and does nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from feed import keys
from feed.errors import FeedError, StoreUnavailable
from feed.redis_io import Commands, as_str, connect, translated
from feed.settings import Settings
from newsfeed.supervisor import data_dir_lock, embedded_server, running_embedded, store_settings

RDB = "dump.rdb"
MANIFEST = "manifest.json"
SAVE_TIMEOUT = 600.0

EXTERNAL = """\
newsfeed: REDIS_URL/NEWSFEED_SENTINELS point at an external Redis; back it up where it runs:
  redis-cli -u "$REDIS_URL" --rdb /backups/newsfeed-$(date -u +%Y%m%dT%H%M%SZ).rdb
(a consistent snapshot streamed from the server; on Sentinel use the current primary or a
replica). To restore: stop every newsfeed process and Redis, put the file in place of the
server's RDB (its `dir`/`dbfilename`), move its AOF directory aside, start Redis, then
newsfeed. Readers are reset; see docs/PROTOCOL.md, "Rollbacks"."""


async def snapshot(redis: Commands) -> tuple[Path, dict[str, Any]]:
    """BGSAVE and wait for it; the RDB's path and what the manifest says about it."""
    async with translated():
        before = await redis.info("persistence")
        # A save already under way began before we asked: wait for the next.
        need = int(before["rdb_saves"]) + (2 if int(before["rdb_bgsave_in_progress"]) else 1)
        # SCHEDULE: at once, or as soon as a running save or AOF rewrite is done.
        await redis.execute_command("BGSAVE", "SCHEDULE")
        deadline = time.monotonic() + SAVE_TIMEOUT
        while True:
            info = await redis.info("persistence")
            if int(info["rdb_saves"]) >= need and not int(info["rdb_bgsave_in_progress"]):
                break
            if time.monotonic() > deadline:
                raise StoreUnavailable("the snapshot did not finish in time")
            await asyncio.sleep(0.05)
        if as_str(info.get("rdb_last_bgsave_status")) != "ok":
            raise StoreUnavailable("the server could not write its snapshot (see its log)")
        directory = as_str((await redis.config_get("dir"))["dir"])
        name = as_str((await redis.config_get("dbfilename"))["dbfilename"])
        server = await redis.info("server")
        feeds = await redis.scard(keys.FEEDS)
    version = server.get("valkey_version") or server.get("redis_version")
    meta = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "server": f"{server.get('server_name', 'redis')} {version}",
        "feeds": int(feeds),
    }
    return Path(directory) / name, meta


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_backup(rdb: Path, meta: dict[str, Any], out: Path) -> dict[str, Any]:
    """Copy the snapshot into ``out`` (created; must hold no backup yet); the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / RDB).exists():
        raise FeedError(f"{out} already holds a backup; choose another --out")
    partial = out / (RDB + ".partial")
    shutil.copyfile(rdb, partial)
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
    meta = {**meta, "file": RDB, "bytes": partial.stat().st_size, "sha256": _sha256(partial)}
    os.replace(partial, out / RDB)
    (out / MANIFEST).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2) + b"\n")
    return meta


def check_backup(source: Path) -> dict[str, Any]:
    """The manifest of a backup directory, after checking the snapshot's SHA-256."""
    try:
        meta: dict[str, Any] = orjson.loads((source / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise FeedError(f"{source} holds no newsfeed backup ({MANIFEST} missing)") from None
    rdb = source / RDB
    if not rdb.exists() or _sha256(rdb) != meta.get("sha256"):
        raise FeedError(f"{rdb} is missing or does not match its manifest")
    return meta


def put_back(source: Path, data_dir: Path) -> Path:
    """Move the data dir's store aside and put the snapshot in its place.

    The caller holds the data dir's lock (no server runs on it) and starts
    the embedded server afterwards, which loads the snapshot and writes a
    new AOF. Returns where the previous store was moved.
    """
    aside = data_dir / f"before-restore-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    aside.mkdir(parents=True)
    for name in ("appendonly", RDB):
        if (data_dir / name).exists():
            os.replace(data_dir / name, aside / name)
    shutil.copyfile(source / RDB, data_dir / (RDB + ".partial"))
    os.replace(data_dir / (RDB + ".partial"), data_dir / RDB)
    return aside


async def _rewrite_aof(url: str) -> None:
    """Turn the AOF on and wait until it holds the whole dataset."""
    redis = connect(url)
    try:
        async with translated():
            await redis.config_set("appendonly", "yes")
            deadline = time.monotonic() + SAVE_TIMEOUT
            while True:
                info = await redis.info("persistence")
                busy = int(info["aof_rewrite_in_progress"]) or int(info["aof_rewrite_scheduled"])
                if int(info["aof_enabled"]) and not busy:
                    break
                if time.monotonic() > deadline:
                    raise StoreUnavailable("the AOF of the restored store was not written in time")
                await asyncio.sleep(0.05)
            if as_str(info.get("aof_last_bgrewrite_status")) != "ok":
                raise StoreUnavailable("the server could not write the AOF (see its log)")
    finally:
        await redis.aclose()


# -- the commands ------------------------------------------------------------------
def add_commands(sub: Any, data_dir: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("backup", help="write a consistent copy of the embedded store to DIR")
    p.add_argument("--out", required=True, type=Path, help="a new or empty directory")
    data_dir(p)
    p.set_defaults(handler=cmd_backup)
    p = sub.add_parser("restore", help="put a backup back into the data dir (stop newsfeed first)")
    p.add_argument("--from", dest="source", required=True, type=Path, help="a backup directory")
    data_dir(p)
    p.set_defaults(handler=cmd_restore)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.embedded:
        print(EXTERNAL, file=sys.stderr)
        return 2
    with store_settings(settings) as connected:
        assert connected.redis_url is not None

        async def go() -> tuple[Path, dict[str, Any]]:
            redis = connect(connected.redis_url or "")
            try:
                return await snapshot(redis)
            finally:
                await redis.aclose()

        rdb, meta = asyncio.run(go())
        meta = write_backup(rdb, meta, args.out)
    print(f"backup of {meta['feeds']} feed(s) written to {args.out / RDB} ({meta['bytes']} bytes)")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.embedded:
        print(EXTERNAL, file=sys.stderr)
        return 2
    meta = check_backup(args.source)
    with data_dir_lock(settings.data_dir):
        if running_embedded(settings.data_dir) is not None:
            raise FeedError(f"a server is running on {settings.data_dir}: stop newsfeed first")
        aside = put_back(args.source, settings.data_dir)
        # A server with appendonly yes and no AOF starts empty: load the RDB
        # with the AOF off, then turn it on (a rewrite of what was loaded).
        server = embedded_server(settings)
        server.extra = (*server.extra, "--appendonly", "no")
        with server.running():
            asyncio.run(_rewrite_aof(server.url))
    print(
        f"restored the backup of {meta['created_at']} into {settings.data_dir} "
        f"(the previous store is in {aside}); start newsfeed again"
    )
    return 0
