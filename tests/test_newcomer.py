"""What a newcomer hits first, each with a test that fails if it comes back:
the admin commands and --data-dir, `newsfeed run` on a busy port and when it
prints its URLs, `feed set`, `init`, the worker's heartbeat and its
shutdown line, the admin list's clock."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson

from feed.i18n import language
from newsfeed.embedded import EmbeddedRedis, free_port
from tests.conftest import ROOT, SECRET, proc_env, seconds, start_worker
from web.admin_render import when
from web.render import clock, local


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("REDIS_URL", "NEWSFEED_SECRET_KEY"):
        env.pop(name, None)
    env.update(extra)
    return env


def _cli(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsfeed", *args],
        capture_output=True,
        text=True,
        env=_env(**(env or {})),
        cwd=cwd,
        timeout=seconds(60),
    )


def _start_run(data: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "newsfeed", "run", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(NEWSFEED_LOG_LEVEL="warning"),
        cwd=ROOT,
    )


def _read_until(proc: subprocess.Popen[bytes], marker: str, within: float) -> list[str]:
    """stdout lines up to the one containing ``marker`` (read unbuffered)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buffer = b""
    deadline = time.monotonic() + seconds(within)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buffer += chunk
            lines = buffer.decode().splitlines(keepends=True)
            for i, line in enumerate(lines):
                if marker in line and line.endswith("\n"):
                    return lines[: i + 1]
    raise AssertionError(f"no {marker!r} in {buffer.decode()!r}")


def test_admin_commands_never_start_a_new_store_silently(tmp_path: Path) -> None:
    elsewhere = tmp_path / "not-the-run-dir"
    token = _cli("token", "create", "--feed", "news", "--data-dir", str(elsewhere))
    assert token.returncode == 2
    assert "--data-dir" in token.stderr and "no newsfeed store" in token.stderr
    assert token.stdout == ""
    assert not (elsewhere / "appendonly").exists()
    # The default ./var too, from a fresh working directory.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    listed = _cli("feed", "list", cwd=fresh)
    assert listed.returncode == 2 and "--data-dir" in listed.stderr
    assert not (fresh / "var" / "appendonly").exists()
    # Creating says so.
    created = _cli("feed", "create", "kyiv", "--data-dir", str(elsewhere))
    assert created.returncode == 0, created.stderr
    assert "creating a new store" in created.stderr
    assert (elsewhere / "appendonly").is_dir()


def test_run_waits_for_its_port_and_never_shows_the_password_before_a_failure(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    port = free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen()
    try:
        busy = _start_run(data, port)
        raw, _ = busy.communicate(timeout=seconds(60))
        out = raw.decode()
        assert busy.returncode != 0
        assert "password" not in out and "reader page" not in out
        assert f"127.0.0.1:{port}" in out and "--port" in out
    finally:
        blocker.close()
    run = _start_run(data, port)
    try:
        lines = _read_until(run, "reader page", within=60)
        # Printed only once the web process listens: the URL answers now.
        url = lines[-1].split()[-1]
        assert httpx.get(url, timeout=5).status_code == 200
        assert any("password:" in line for line in lines), lines  # the first run, after all
        assert lines.index(next(x for x in lines if "password:" in x)) < len(lines) - 1
        # The README's token command, with the --data-dir it needs.
        token = _cli("token", "create", "--feed", "news", "--data-dir", str(data))
        assert token.returncode == 0 and token.stdout.startswith("nft_"), token.stderr
        missing = _cli("token", "create", "--feed", "nope", "--data-dir", str(data))
        assert missing.returncode == 2 and "--data-dir" in missing.stderr
        changed = _cli(
            "feed", "set", "news", "--title", "Kyiv live", "--timezone", "Europe/Kyiv",
            "--data-dir", str(data),
        )  # fmt: skip
        assert changed.returncode == 0, changed.stderr
        listed = _cli("feed", "list", "--data-dir", str(data)).stdout
        assert "news\tEurope/Kyiv" in listed and "Kyiv live" in listed
        bad = _cli("feed", "set", "news", "--timezone", "Mars/Olympus", "--data-dir", str(data))
        assert (
            bad.returncode == 2
            and "Europe/Kyiv" in _cli("feed", "list", "--data-dir", str(data)).stdout
        )
    finally:
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=seconds(40))
    assert run.returncode == 0


def test_init_creates_a_feed_and_an_admin_once(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "valkey")
    with server.running():
        env = {"REDIS_URL": server.url, "NEWSFEED_SECRET_KEY": SECRET}
        first = _cli("init", env=env)
        assert first.returncode == 0, first.stderr
        assert "created the feed 'news'" in first.stdout and "password:" in first.stdout
        again = _cli("init", env=env)
        assert again.returncode == 0 and again.stdout == ""
        assert "news" in _cli("feed", "list", env=env).stdout


def test_the_worker_heartbeat_proves_its_loop_runs(redis_url: str, tmp_path: Path) -> None:
    beat = tmp_path / "heartbeat"
    health = proc_env(redis_url, NEWSFEED_WORKER_HEARTBEAT_FILE=str(beat))

    def healthy(max_age: str) -> bool:
        result = subprocess.run(
            [sys.executable, "-m", "newsfeed", "healthcheck", "worker", "--max-age", max_age],
            env=health,
            capture_output=True,
            timeout=seconds(30),
        )
        return result.returncode == 0

    assert not healthy("30")  # no worker yet
    worker = start_worker(
        redis_url,
        tmp_path,
        NEWSFEED_WORKER_HEARTBEAT_FILE=str(beat),
        NEWSFEED_LOG_LEVEL="info",
    )
    try:
        deadline = time.monotonic() + seconds(30)
        while not healthy("30"):
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.2)
        # A frozen worker (its process alive, its loop not running) is unhealthy.
        assert worker.popen is not None
        worker.popen.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds(5))
            assert not healthy("4")
        finally:
            worker.popen.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + seconds(10)
        while not healthy("4"):
            assert time.monotonic() < deadline, "the heartbeat did not resume"
            time.sleep(0.2)
        # Ctrl-C: the log names the signal that stopped it.
        worker.popen.send_signal(signal.SIGINT)
        assert worker.popen.wait(seconds(30)) == 0
    finally:
        worker.stop()
    log = worker.log.read_text()
    messages = [orjson.loads(line)["msg"] for line in log.splitlines() if line.startswith("{")]
    assert any("shutdown on SIGINT" in m for m in messages), messages[-5:]
    assert not any("SIGUSR1" in m for m in messages)


def test_the_admin_list_shows_the_time_as_the_reader_does() -> None:
    now = datetime.now(tz=UTC).replace(hour=10, minute=11, second=0, microsecond=0)
    ms = int(now.timestamp() * 1000)
    for tz, lang in (("UTC", "en"), ("Europe/Kyiv", "uk"), ("America/New_York", "en")):
        reader = clock(local(ms, ZoneInfo(tz)), language(lang))
        assert when(ms, tz, language(lang)).endswith(reader), (tz, lang)
    assert when(ms, "UTC").endswith("10:11 AM")  # the English admin, like the English reader
