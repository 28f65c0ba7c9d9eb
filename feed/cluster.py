"""Redis Cluster: the URL that names one, and what "the cluster can serve" means.

A cluster is named by a URL with the scheme ``redis+cluster://`` (or
``rediss+cluster://`` for TLS) and a comma-separated list of seed nodes::

    redis+cluster://[user:password@]host1:port1,host2:port2,host3:port3

Any reachable seed is enough: the client reads the slot map from it
(CLUSTER SLOTS) and follows MOVED and ASK redirections from then on
(redis-py's asyncio ``RedisCluster``). Everything else about running on a
cluster is in the keys (``feed.keys``: one hash tag per feed, no command
that spans two slots) and in the separate queue URL (arq's transactions
span keys that share no tag, so its queue lives on a plain Redis, see
``Settings.queue_url``).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import unquote

from feed.errors import ConfigError

SCHEMES = ("redis+cluster", "rediss+cluster")
SLOTS = 16384


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SCHEMES


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterURL:
    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str) -> ClusterURL:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in SCHEMES:
            raise ConfigError(f"{url!r} is not a redis+cluster:// URL")
        netloc = rest.split("/", 1)[0].split("?", 1)[0]
        username = password = None
        if "@" in netloc:
            auth, netloc = netloc.rsplit("@", 1)
            user, has_pw, pw = auth.partition(":")
            username = unquote(user) or None
            password = unquote(pw) if has_pw else None
        nodes: list[tuple[str, int]] = []
        for part in netloc.split(","):
            host, colon, port = part.strip().rpartition(":")
            if not colon:
                host, port = port, "6379"
            host = host.strip("[]")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"{url!r}: {part!r} is not a host:port seed node")
            nodes.append((host, int(port)))
        return cls(tuple(nodes), username, password, scheme.lower() == "rediss+cluster")

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.username is not None:
            options["username"] = self.username
        if self.password is not None:
            options["password"] = self.password
        if self.tls:
            options["ssl"] = True
        return options


def parse_info(raw: bytes | str | dict[str, Any]) -> dict[str, str]:
    """CLUSTER INFO's ``key:value`` lines as a dict (redis-py may have parsed it)."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else raw
    info = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            info[key] = value
    return info


def serving_problem(info: dict[str, str]) -> str | None:
    """Why a node's CLUSTER INFO says the cluster cannot serve, or None."""
    assigned = int(info.get("cluster_slots_assigned", 0))
    failing = int(info.get("cluster_slots_fail", 0)) + int(info.get("cluster_slots_pfail", 0))
    if assigned != SLOTS:
        return f"{SLOTS - assigned} of {SLOTS} slots are not assigned to any master"
    if failing:
        return f"{failing} slots are on failing masters"
    if info.get("cluster_state") != "ok":
        return f"cluster_state is {info.get('cluster_state', 'unknown')}"
    return None
