"""NEWSFEED_DURABILITY with real servers and real processes.

A server that cannot confirm fsyncs stops start-up with one line; with
``replica`` durability and no replica a write answers 503 with Retry-After,
and its retry with the same Idempotency-Key, once a replica is there, is
answered with the one entry the first attempt created.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as syncredis

from feed.redis_io import Commands, connect
from feed.stores import Stores
from newsfeed.embedded import EmbeddedRedis
from tests.conftest import ROOT, make_feed, proc_env, seconds, start_web

pytestmark = pytest.mark.timeout(120)


def run_web(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``newsfeed web`` that must refuse to start (bounded: it would serve for ever)."""
    return subprocess.run(
        [sys.executable, "-m", "newsfeed", "web", "--port", "1"],
        env=proc_env(url, **env),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=seconds(30),
    )


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["--appendonly", "no"], "appendonly is disabled"),
        (["--rename-command", "WAITAOF", ""], "unknown command"),  # what Redis < 7.2 says
    ],
)
def test_a_server_that_cannot_confirm_fsyncs_stops_start_up(extra: list[str], why: str) -> None:
    with EmbeddedRedis(None, extra=extra).running() as server:
        for mode in ("fsync", "replica"):
            result = run_web(server.url, NEWSFEED_DURABILITY=mode)
            assert result.returncode != 0
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, result.stderr
            assert f"NEWSFEED_DURABILITY={mode}" in lines[0] and why in lines[0]


def test_without_durability_such_a_server_is_fine(tmp_path: Path) -> None:
    with EmbeddedRedis(None, extra=["--appendonly", "no"]).running() as server:
        web, base = start_web(server.url, tmp_path, NEWSFEED_DURABILITY="none")
        try:
            assert httpx.get(base + "/readyz").status_code == 200
        finally:
            web.stop()


def replicas_online(url: str) -> int:
    client: Commands = syncredis.Redis.from_url(url)
    try:
        info: dict[str, Any] = client.info("replication")
    finally:
        client.close()
    return sum(
        1
        for k, v in info.items()
        if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
    )


async def test_replica_durability_answers_503_until_a_replica_confirms(tmp_path: Path) -> None:
    primary = EmbeddedRedis(None)
    replica = EmbeddedRedis(None, extra=["--replicaof", "127.0.0.1", str(primary.port)])
    with primary.running():
        redis = connect(primary.url)
        try:
            token = await make_feed(Stores.build(redis), "news")
        finally:
            await redis.aclose()
        web, base = start_web(
            primary.url,
            tmp_path,
            NEWSFEED_DURABILITY="replica",
            NEWSFEED_DURABILITY_TIMEOUT_SECONDS="0.3",
        )
        try:
            async with httpx.AsyncClient(base_url=base, timeout=seconds(10)) as http:
                post = {
                    "url": "/api/v1/feeds/news/entries",
                    "json": {"headline": "Ceasefire announced"},
                    "headers": {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"},
                }
                first = await http.post(**post)  # type: ignore[arg-type]
                assert first.status_code == 503, first.text
                assert first.headers["retry-after"]
                assert "NEWSFEED_DURABILITY=replica" in first.json()["detail"]
                with replica.running():
                    deadline = asyncio.get_running_loop().time() + seconds(20)
                    while replicas_online(primary.url) < 1:
                        assert asyncio.get_running_loop().time() < deadline, "no replica"
                        await asyncio.sleep(0.1)
                    retry = await http.post(**post)  # type: ignore[arg-type]
                    assert retry.status_code == 201, retry.text
                    assert retry.headers["idempotent-replayed"] == "true"
                    other = await http.post(
                        "/api/v1/feeds/news/entries",
                        json={"headline": "Talks resume"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert other.status_code == 201, other.text
                    # The replica has both: what was acknowledged is there.
                    client: Commands = syncredis.Redis.from_url(replica.url)
                    try:
                        stored = client.hgetall("nf:{news}:entries")
                    finally:
                        client.close()
                    ids = {bytes(k).decode() for k in stored}
                    assert ids == {retry.json()["id"], other.json()["id"]}
        finally:
            web.stop()
