"""Where redis-py enters: the client, reply decoding, error translation.

Every Redis adapter of ``feed`` (and the workers) talks to Redis inside
``translated()``, which turns redis-py's connection failures into
``StoreUnavailable``; nothing above this module catches a redis-py error.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis import exceptions as rex
from redis.asyncio.cluster import ClusterNode
from redis.cluster import get_node_name
from redis.commands.core import AsyncScript

from feed import keys
from feed.cluster import ClusterURL, is_cluster_url
from feed.errors import StoreUnavailable

log = logging.getLogger("newsfeed.redis")

Commands: TypeAlias = Any
"""The asyncio client as the adapters call its commands. redis-py types every
command ``Awaitable[T] | T`` (one signature shared by its sync and asyncio
clients), which mypy cannot await, so the adapters hold their client as
``Commands`` and take the typed ``aioredis.Redis`` in their constructors: the
one, named place where typing gives way, instead of a cast per call."""


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Map redis-py's connection failures to StoreUnavailable."""
    try:
        yield
    except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
        raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
    except rex.BusyLoadingError as exc:  # pragma: no cover - depends on timing
        raise StoreUnavailable("Redis is loading its data") from exc
    except (
        rex.ReadOnlyError,
        rex.MasterDownError,
        rex.TryAgainError,
        rex.ClusterDownError,
        rex.RedisClusterException,
        rex.ClusterError,
        rex.MovedError,
        rex.AskError,
    ) as exc:
        # A failover in progress: the node we reached cannot take writes now.
        raise StoreUnavailable(f"Redis cannot serve this now: {exc}") from exc


def as_str(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


async def try_command(redis: Commands, *args: Any, **options: Any) -> tuple[Any, str | None]:
    """Run one command: (its reply, None), or (None, the server's error text)."""
    try:
        return await redis.execute_command(*args, **options), None
    except rex.ResponseError as exc:
        return None, str(exc)


async def each_master(redis: Commands) -> list[dict[str, Any]]:
    """The options that send a command to each master of a cluster (or the one server).

    For the keyless commands about a server's own state (WAITAOF, CONFIG GET,
    INFO), which a cluster client cannot route by key.
    """
    if not is_cluster(redis):
        return [{}]
    await redis.initialize()  # the slot map (a no-op once read)
    return [{"target_nodes": node} for node in redis.get_primaries()]


WAITS = frozenset({"WAIT", "WAITAOF"})
"""Keyless commands that are about the connection's own writes before them."""


async def script_then(
    redis: Commands, script: Any, keys: Sequence[Any], args: Sequence[Any], *after: Sequence[Any]
) -> list[Any]:
    """A registered script (EVALSHA) then commands, pipelined on one connection.

    One round trip, and one connection: what ``WAITAOF`` needs to cover the
    script's writes. A server that lost its script cache (a restart, a
    failover) answers NOSCRIPT; the script is loaded and the pipeline sent
    again (nothing of it ran: the other commands are a hint and a wait).

    On a cluster the pipeline is split by node, each node's part sent on one
    connection in order: ``WAIT``/``WAITAOF`` are sent to the master of the
    script's keys (they have no key to route by), a command with keys of
    another slot (the wake-up hint) to its own master.
    """
    for _ in range(3):
        node = None
        if is_cluster(redis):
            await redis.initialize()  # the slot map (a no-op once read)
            node = redis.get_node_from_key(keys[0])
        async with redis.pipeline(transaction=False) as pipe:
            if node is None:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            else:  # redis-py's cluster pipeline refuses EVALSHA; EVAL is cached by Redis too
                pipe.eval(script.script, len(keys), *keys, *args)
            for command in after:
                if node is not None and str(command[0]).upper() in WAITS:
                    pipe.execute_command(*command, target_nodes=node)
                else:
                    pipe.execute_command(*command)
            # Errors come back as replies: the script's decides; a wait's is
            # raised; a hint's is only logged (the workers' sweep finds the
            # event within a second), so a hint that cannot be written never
            # fails a write that was applied.
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        if isinstance(replies[0], rex.NoScriptError):
            await redis.script_load(script.script)
            continue
        if isinstance(replies[0], Exception):
            raise replies[0]
        for i, command in enumerate(after, start=1):
            if isinstance(replies[i], Exception):
                if str(command[0]).upper() in WAITS:
                    raise replies[i]
                log.warning("%s failed after the script: %s", command[0], replies[i])
                replies[i] = None
        return replies
    raise StoreUnavailable("Redis keeps losing its scripts")


Client: TypeAlias = "aioredis.Redis | aioredis.RedisCluster"
"""A single Redis (or a Sentinel-managed primary) or a Redis Cluster."""


def connect(url: str, **options: Any) -> Client:
    """The client for ``url``: ``redis://``, ``rediss://``, ``unix://`` or
    ``redis+cluster://seed1:port,seed2:port`` (see ``feed.cluster``)."""
    if is_cluster_url(url):
        seeds = ClusterURL.parse(url)
        # A cluster client has a connection per node; a caller that uses it
        # one command at a time (the CLI) uses one connection per node.
        options.pop("single_connection_client", None)
        # redis-py declares connection_pool abstract on its cluster client (it has none).
        cluster: aioredis.RedisCluster = SeededCluster(  # type: ignore[abstract]
            seeds.nodes,
            startup_nodes=[ClusterNode(host, port) for host, port in seeds.nodes],
            decode_responses=False,
            health_check_interval=15,
            socket_keepalive=True,
            # A slot moving or a master failing over: retry within a bounded
            # number of attempts, following MOVED/ASK.
            cluster_error_retry_attempts=5,
            # On MOVED, patch the one slot rather than every N-th MOVED
            # closing every connection to re-read the map: that close cuts
            # the blocked XREADs of the other tasks, and redis-py drops a
            # node it saw a connection error from out of its seed list, so
            # a reshard could leave the client with no seed at all.
            reinitialize_steps=0,
            **seeds.client_options(),
            **options,
        )
        return cluster
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        decode_responses=False,
        health_check_interval=15,
        socket_keepalive=True,
        retry_on_timeout=True,
        **options,
    )
    return client


class SeededCluster(aioredis.RedisCluster):
    """redis-py's asyncio cluster client that never forgets its configured seeds.

    redis-py (5.x, what arq allows) drops a node out of its seed list when a
    command to it fails with a connection error, and re-reads the slot map
    only from that list. A moment in which every master drops our
    connections (a network blip, CLIENT KILL, a restart of all nodes) thus
    empties it, and the client is dead for good ("Redis Cluster cannot be
    connected ... None"). Before each re-read we put the configured seeds
    back (``initialize`` is the documented entry point; the seed list is
    the nodes manager's ``startup_nodes``).
    """

    def __init__(self, seeds: Sequence[tuple[str, int]], **options: Any) -> None:
        super().__init__(**options)
        self.seeds = tuple(seeds)

    async def initialize(self) -> aioredis.RedisCluster:
        manager = self.nodes_manager
        for host, port in self.seeds:
            if get_node_name(host, port) not in manager.startup_nodes:
                manager.startup_nodes[get_node_name(host, port)] = ClusterNode(
                    host, port, **manager.connection_kwargs
                )
        return await super().initialize()


def register(redis: Client, source: str) -> AsyncScript:
    """A Lua script called by EVALSHA (loaded on NOSCRIPT), on either client.

    On a cluster the script runs on the master of its keys' slot (every
    script's keys share one feed's hash tag). redis-py annotates
    ``register_script`` for the single-node client only; the cluster
    client's is the same method.
    """
    commands: Commands = redis
    script: AsyncScript = commands.register_script(source)
    return script


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, aioredis.RedisCluster)


def wake_shards(redis: Any) -> int:
    """How many wake-up streams the workers tail (see ``feed.keys.wake``):
    one on a single Redis, ``keys.WAKE_SHARDS`` spread over a cluster's slots."""
    return keys.WAKE_SHARDS if is_cluster(redis) else 1
