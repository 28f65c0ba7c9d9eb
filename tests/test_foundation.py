"""The foundation: settings, the embedded server, the CLI and the processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from feed.errors import ConfigError
from feed.settings import Settings
from newsfeed.embedded import free_port
from tests.conftest import ROOT, seconds, wait_http


def test_settings_refuse_a_remote_redis_without_a_secret() -> None:
    with pytest.raises(ConfigError, match="NEWSFEED_SECRET_KEY"):
        Settings.from_env({"REDIS_URL": "redis://example:6379/0"})


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.from_env({"REDIS_URL": "http://nope", "NEWSFEED_SECRET_KEY": "x" * 20})
    with pytest.raises(ConfigError, match="NEWSFEED_PORT"):
        Settings.from_env({"NEWSFEED_PORT": "eighty"})
    settings = Settings.from_env({"NEWSFEED_PORT": "9000", "NEWSFEED_DATA_DIR": "/tmp/x"})
    assert settings.port == 9000 and settings.embedded and settings.data_dir == Path("/tmp/x")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.pop("REDIS_URL", None)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "newsfeed", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=ROOT,
        timeout=seconds(60),
    )


def test_bad_redis_url_is_one_line_naming_it() -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    result = _cli("web", env={"REDIS_URL": url, "NEWSFEED_SECRET_KEY": "k" * 32})
    assert result.returncode == 2
    assert url in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_run_embedded_stops_cleanly_and_keeps_everything(tmp_path: Path) -> None:
    data = tmp_path / "var"
    port = free_port()
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.pop("NEWSFEED_SECRET_KEY", None)

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsfeed", "run", "--port", str(port), "--data-dir", str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        wait_http(f"http://127.0.0.1:{port}/readyz", timeout=30)
        return proc

    run = start()
    try:
        # The admin commands reach the running embedded server.
        created = _cli(
            "feed", "create", "kyiv", "--timezone", "Europe/Kyiv", "--data-dir", str(data)
        )
        assert created.returncode == 0, created.stderr
        token = _cli("token", "create", "--feed", "kyiv", "--data-dir", str(data)).stdout.strip()
        assert token.startswith("nft_") and "\n" not in token
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/feeds/kyiv/entries",
            json={"headline": "Sirens in Kyiv"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        children = _children(run.pid)
        server_pid = int((data / "redis.pid").read_text())
        assert len(children) == 3 and server_pid in children  # web, worker, valkey
    finally:
        run.send_signal(signal.SIGINT)
        out, _ = run.communicate(timeout=seconds(40))
    assert run.returncode == 0, out
    assert "password:" in out  # the first run says how to sign in
    deadline = time.monotonic() + seconds(5)
    while time.monotonic() < deadline and any(_alive(p) for p in [*children, server_pid]):
        time.sleep(0.05)
    assert not any(_alive(p) for p in [*children, server_pid])

    run = start()
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/feeds/kyiv/entries")
        assert [e["headline"] for e in r.json()["entries"]] == ["Sirens in Kyiv"]
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/feeds/kyiv/entries",
            json={"headline": "All clear"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201  # the token survived the restart
    finally:
        run.send_signal(signal.SIGTERM)
        out, _ = run.communicate(timeout=seconds(40))
    assert run.returncode == 0
    assert "password:" not in out  # not a first run any more
