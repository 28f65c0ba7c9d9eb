"""Readiness: can this process serve now? (``GET /readyz``, ``newsfeed web`` start-up).

On a single Redis: it answers PING. On a cluster: every master our slot map
names answers CLUSTER INFO with ``cluster_state:ok`` and all 16384 slots
assigned, none failing. And arq's queue Redis (``Settings.queue_url``),
when it is another server, answers PING.
"""

from __future__ import annotations

from typing import Any

from feed.cluster import parse_info, serving_problem
from feed.redis_io import Client, Commands, is_cluster


async def problem(redis: Client, queue: Client | None = None) -> str | None:
    """Why we cannot serve, or None. Never raises."""
    try:
        if is_cluster(redis):
            commands: Commands = redis
            await commands.initialize()  # the slot map (a no-op once read)
            primaries = commands.get_primaries()
            if not primaries:
                return "Redis Cluster: no master known"
            for node in primaries:
                raw: Any = await commands.execute_command("CLUSTER INFO", target_nodes=node)
                why = serving_problem(parse_info(raw))
                if why is not None:
                    return f"Redis Cluster node {node.host}:{node.port}: {why}"
        else:
            await redis.ping()
    except Exception as exc:  # any failure means: not ready
        return f"Redis unreachable: {exc}"
    if queue is not None:
        try:
            await queue.ping()
        except Exception as exc:
            return f"the job queue's Redis is unreachable: {exc}"
    return None
