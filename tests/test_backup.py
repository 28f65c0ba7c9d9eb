"""``newsfeed backup`` and ``newsfeed restore`` with a real ``newsfeed run``.

A backup taken while it runs; more written after it; a restore refused while
it runs, done once it is stopped; started again, a reader who was away with
a cursor from after the backup is reset and ends with exactly what the
backup held; the previous store is kept aside.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from newsfeed.embedded import free_port
from tests.conftest import ROOT, Proc, proc_env, seconds, wait_http
from tests.web.helpers import Publisher
from tests.web.protocol_reader import Contents, ProtocolReader, converge, public_state

pytestmark = pytest.mark.timeout(180)


def newsfeed(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsfeed", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=seconds(60),
    )


async def until(check: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds(20)
    while not await check():  # type: ignore[operator]
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_restored_backup_resets_readers(tmp_path: Path) -> None:
    data, out = tmp_path / "var", tmp_path / "backup"
    env = proc_env("")  # no REDIS_URL: the embedded store in --data-dir
    port = free_port()
    run = ["run", "--port", str(port), "--data-dir", str(data)]
    base = f"http://127.0.0.1:{port}"
    server = Proc(run, env, tmp_path / "run.log").start()
    reader = ProtocolReader(base, "news", Contents(), name="away")
    try:
        wait_http(base + "/readyz", timeout=60)
        made = newsfeed("token", "create", "--feed", "news", "--data-dir", str(data), env=env)
        assert made.returncode == 0, made.stderr
        api = Publisher(base, "news", made.stdout.strip())
        a = await api.post("A", "<p>kept</p>")
        reader.start()
        await converge([reader], base, "news")

        backed = newsfeed("backup", "--out", str(out), "--data-dir", str(data), env=env)
        assert backed.returncode == 0, backed.stderr
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        assert manifest["feeds"] == 1 and manifest["bytes"] == (out / "dump.rdb").stat().st_size
        again = newsfeed("backup", "--out", str(out), "--data-dir", str(data), env=env)
        assert again.returncode == 2 and "already holds a backup" in again.stderr

        await api.edit(a, headline="X")
        await api.post("C (after the backup)")

        async def got_c() -> bool:
            return any(e["headline"] == "C (after the backup)" for e in reader.state.values())

        await until(got_c, "the reader got C")
        await reader.stop()
        seen = len(reader.types)
        await api.aclose()

        busy = newsfeed("restore", "--from", str(out), "--data-dir", str(data), env=env)
        assert busy.returncode == 2 and "newsfeed" in busy.stderr  # it is running
        assert server.stop() == 0
        done = newsfeed("restore", "--from", str(out), "--data-dir", str(data), env=env)
        assert done.returncode == 0, done.stderr
        assert list(data.glob("before-restore-*/appendonly"))  # the old store, kept

        server = Proc(run, env, tmp_path / "run2.log").start()
        wait_http(base + "/readyz", timeout=60)
        reader.start()
        await converge([reader], base, "news")
        truth = await public_state(base, "news")
        assert [(e["headline"], e["version"]) for e in truth.values()] == [("A", 1)]
        assert reader.types[seen : seen + 2] == ["reset", "snapshot"]
        assert reader.state == truth and not reader.skipped_different
    finally:
        await reader.stop()
        server.stop()


def test_an_external_redis_gets_instructions(redis_url: str) -> None:
    result = newsfeed("backup", "--out", "/nonexistent/x", env=proc_env(redis_url))
    assert result.returncode == 2
    assert "redis-cli" in result.stderr and "--rdb" in result.stderr
    assert not Path("/nonexistent/x").exists()
