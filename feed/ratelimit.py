"""API limits: how many requests one token or one client address may make.

Counted in Redis with the ``limits`` library (moving windows; its async
Redis or Redis Cluster storage on redis-py, from the same URL as the rest),
so every web process of a deployment shares the same counts. Four budgets, each a ``limits`` rate
string (``"300/minute"``, ``"20/second;600/minute"``) or ``off``:

    writes per token    POST/PUT/PATCH/DELETE carrying a bearer token
    writes per client   every write, by client address
    reads per client    public reads (pages, the API, feed documents)
    live per client     live connections opened (WebSocket and SSE)

A client address is the peer's IP (uvicorn applies ``X-Forwarded-For`` only
from the proxies it trusts); an IPv6 client counts by its /64, which one
host can fill. A token counts by the SHA-256 of the bearer string, valid or
not. When Redis cannot be reached the limits let the request through (it
fails or succeeds on its own): a limit never turns a Redis blip into an
outage of its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import logging
import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from feed import keys
from feed.errors import ConfigError, RateLimited

log = logging.getLogger("newsfeed.limits")

KINDS = ("writes_token", "writes_client", "reads_client", "live_client")
WHAT = {
    "writes_token": "writes with this token",
    "writes_client": "writes from this address",
    "reads_client": "reads from this address",
    "live_client": "live connections from this address",
}


def parse_rates(var: str, raw: str) -> list[RateLimitItem]:
    """A budget from its setting: ``off`` (or empty) is none."""
    if raw.strip().lower() in ("", "off", "none", "0"):
        return []
    try:
        return list(parse_many(raw))
    except ValueError:
        raise ConfigError(
            f"{var}={raw!r} is not a rate like '300/minute' or '10/second;600/hour' (or 'off')"
        ) from None


def client_key(address: str) -> str:
    """The identity an address counts under: the IP, an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def token_key(bearer: str) -> str:
    return hashlib.sha256(bearer.encode()).hexdigest()[:32]


@dataclasses.dataclass(frozen=True, slots=True)
class Budgets:
    writes_token: list[RateLimitItem]
    writes_client: list[RateLimitItem]
    reads_client: list[RateLimitItem]
    live_client: list[RateLimitItem]

    @classmethod
    def from_settings(
        cls, writes_token: str, writes_client: str, reads_client: str, live_client: str
    ) -> Budgets:
        return cls(
            parse_rates("NEWSFEED_LIMIT_WRITES_PER_TOKEN", writes_token),
            parse_rates("NEWSFEED_LIMIT_WRITES_PER_CLIENT", writes_client),
            parse_rates("NEWSFEED_LIMIT_READS_PER_CLIENT", reads_client),
            parse_rates("NEWSFEED_LIMIT_LIVE_PER_CLIENT", live_client),
        )

    def of(self, kind: str) -> list[RateLimitItem]:
        items: list[RateLimitItem] = getattr(self, kind)
        return items


class RateLimits:
    """The limiter of one web process; its counts are in Redis."""

    def __init__(self, redis_url: str, budgets: Budgets) -> None:
        self.budgets = budgets
        # async+redis://, async+rediss://, async+redis+cluster://seed,seed ...
        self.storage = storage_from_string(
            "async+" + redis_url,
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix=keys.RATE_LIMITS,
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        self.limiter = MovingWindowRateLimiter(self.storage)
        self._next_warning = 0.0

    async def hit(self, kind: str, who: str) -> None:
        """Count one request; raises ``RateLimited`` when over a budget (the
        request over it is not counted)."""
        for item in self.budgets.of(kind):
            try:
                if await self.limiter.hit(item, kind, who):
                    continue
                stats = await self.limiter.get_window_stats(item, kind, who)
            except StorageError as exc:
                self._warn(exc)
                return
            retry = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(
                f"too many {WHAT[kind]}: at most {item}; retry in {retry} s",
                retry_after=retry,
            )

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now >= self._next_warning:
            self._next_warning = now + 10
            log.warning("rate limits not applied, Redis unavailable: %s", exc)
