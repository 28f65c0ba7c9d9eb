"""What "acknowledged" means for an editorial write: ``NEWSFEED_DURABILITY``.

    fsync    (default) answered only once Redis confirms the AOF fsync of the
             write (``WAITAOF 1 0``)
    replica  ... and that at least one replica has it too (``WAIT 1``; see
             ``Durability.commands`` for why not ``WAITAOF 1 1``)
    none     answered when Redis applied it (what the AOF policy gives)

``WAITAOF`` covers every write the connection made before it, so the
editorial store sends it in the same pipeline as its write (one round trip,
one connection). Redis confirms the fsync at the next fsync: with
``appendfsync always`` that is the same event-loop turn (one fsync for every
write of the turn, before any reply); with ``everysec`` it can be up to a
second later (measured ~100 ms p50, 200 ms p99 on Valkey 8.1). The embedded
server therefore runs ``appendfsync always`` unless durability is ``none``.

A write whose confirmation does not come within the timeout was applied but
is not known to be durable: the caller gets ``NotDurable`` (503 with
``Retry-After``); a retry with the same ``Idempotency-Key`` returns the
entry and waits for the confirmation again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, Literal, get_args

from feed.errors import ConfigError, Unavailable
from feed.redis_io import Commands, as_str, each_master, translated, try_command

log = logging.getLogger("newsfeed")

Mode = Literal["fsync", "replica", "none"]
MODES: tuple[Mode, ...] = get_args(Mode)


class NotDurable(Unavailable):
    """The write was applied but its fsync (or replica) was not confirmed in time."""


@dataclasses.dataclass(frozen=True, slots=True)
class Durability:
    mode: Mode = "fsync"
    timeout_ms: int = 2000
    """How long a write waits for its confirmation before answering 503."""

    @classmethod
    def parse(cls, raw: str, timeout_ms: int = 2000) -> Durability:
        if raw not in MODES:
            raise ConfigError(f"NEWSFEED_DURABILITY={raw!r} is not one of {', '.join(MODES)}")
        return cls(raw, timeout_ms)

    @property
    def waits(self) -> bool:
        return self.mode != "none"

    def commands(self) -> list[tuple[str | int, ...]]:
        """What is sent after each write, on its connection (empty for ``none``).

        ``replica`` asks for the local fsync and for one replica to have the
        write (``WAIT 1``), not for the replica's own fsync (``WAITAOF 1 1``):
        a replica reports its AOF fsyncs only in its once-a-second ack, so
        ``WAITAOF 1 1`` took 1.0 s p50 and 3.1 s at worst per write here,
        while ``WAIT 1`` took 1-2 ms (the replica fsyncs within its next
        event-loop turn with ``appendfsync always``, unconfirmed).
        """
        if self.mode == "none":
            return []
        out: list[tuple[str | int, ...]] = [("WAITAOF", 1, 0, self.timeout_ms)]
        if self.mode == "replica":
            out.append(("WAIT", 1, self.timeout_ms))
        return out

    def confirmed(self, replies: Sequence[Any]) -> bool:
        """Do the replies to ``commands()`` meet the mode?"""
        if self.mode == "none":
            return True
        if int(replies[0][0]) < 1:  # WAITAOF: local fsyncs
            return False
        return self.mode != "replica" or int(replies[1]) >= 1  # WAIT: replicas

    def check(self, replies: Sequence[Any]) -> None:
        if not self.confirmed(replies):
            where = "a replica" if self.mode == "replica" else "the Redis server's disk"
            raise NotDurable(
                f"the write was applied but not confirmed on {where} within "
                f"{self.timeout_ms} ms (NEWSFEED_DURABILITY={self.mode}); retry with "
                "the same Idempotency-Key, or re-read the entry before editing again"
            )

    def embedded_appendfsync(self) -> str:
        """The embedded server's AOF policy for this mode (see the module doc)."""
        return "everysec" if self.mode == "none" else "always"

    def refusal(self, error: str) -> ConfigError:
        return ConfigError(
            f"NEWSFEED_DURABILITY={self.mode} needs a Redis that confirms AOF fsyncs "
            f"(WAITAOF: Redis >= 7.2 with appendonly yes); this one answered: {error} "
            "(set NEWSFEED_DURABILITY=none to run without)"
        )


async def check_server(redis: Commands, durability: Durability) -> None:
    """Stop start-up (ConfigError, one line) if Redis cannot do the mode.

    A replica that is not connected yet is only worth a warning (writes
    answer 503 until one is): it may be re-syncing after a restart.
    """
    if not durability.waits:
        return
    async with translated():
        for target in await each_master(redis):  # each master of a cluster
            await _check_one(redis, durability, target)


async def _check_one(redis: Commands, durability: Durability, target: dict[str, Any]) -> None:
    reply, error = await try_command(redis, "WAITAOF", 1, 0, 1000, **target)
    if error is not None:
        raise durability.refusal(error)
    if int(reply[0]) < 1:
        raise durability.refusal("no local fsync confirmed within 1 s")
    config, _ = await try_command(redis, "CONFIG", "GET", "appendfsync", **target)
    if config and as_str(config[-1]) == "everysec":
        log.warning(
            "Redis runs appendfsync everysec: with NEWSFEED_DURABILITY=%s each "
            "editorial write waits for the next fsync (up to a second); "
            "appendfsync always confirms within the same event-loop turn",
            durability.mode,
        )
    if durability.mode == "replica":
        info = await redis.info("replication", **target)
        if not int(info.get("connected_slaves", 0)):
            log.warning(
                "NEWSFEED_DURABILITY=replica but the Redis primary has no replica "
                "connected: editorial writes answer 503 until one is"
            )


async def settle(redis: Commands, durability: Durability) -> None:
    """Wait until this connection's writes so far are durable (the CLI's last step).

    ``redis`` must be a single-connection client: WAITAOF covers the
    writes of the connection it is sent on.
    """
    async with translated():
        for target in await each_master(redis):  # a cluster: one connection per master
            replies = []
            for command in durability.commands():
                replies.append(await redis.execute_command(*command, **target))
            durability.check(replies)
