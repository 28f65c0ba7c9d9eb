"""Partner webhooks: registrations, signatures, the retry rule, dead letters.

The contract (README, "Webhooks"): every public live-stream message of a
feed (publish, update, retract) is POSTed to each of its webhooks as
``{"type", "feed", "cursor", "entry"}`` (the live protocol's message plus
the feed) with the headers

    Content-Type: application/json
    X-Newsfeed-Delivery: <webhook id>.<live stream id>   (same on every retry)
    X-Newsfeed-Event: publish | update | retract
    X-Newsfeed-Timestamp: <unix seconds of this attempt>
    X-Newsfeed-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

A 2xx answer is a success; anything else (another status, a timeout, a
connection error) is retried after ``backoff_delay`` (exponential, full
jitter) until the delivery is ``max_age`` old, then it goes to the feed's
dead-letter list (newest first, the last ``DEAD_MAX`` kept).

Pure parts (``sign``, ``backoff_delay``, ``check_url``, ``event_body``) do
no I/O; ``WebhookStore`` is the Redis adapter, keys from ``feed.keys``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import ipaddress
import random
import re
import secrets
import socket
from typing import Any
from urllib.parse import urlsplit

import orjson

from feed import keys, scripts
from feed.cursor import format_stream_id
from feed.errors import Conflict, InvalidInput, NotFound
from feed.livestream import LiveMessage, live_message
from feed.model import now_ms
from feed.redis_io import Client, Commands, as_str, register, translated

URL_MAX = 2000
SECRET_MIN, SECRET_MAX = 16, 200
SECRET_PREFIX = "whsec_"
WEBHOOKS_MAX = 20
"""Webhooks per feed."""
DEAD_MAX = 1000
"""Dead letters kept per feed (the newest)."""
DESCRIPTION_MAX = 200
ID_RE = re.compile(r"^wh_[0-9a-f]{16}$")


@dataclasses.dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    feed: str
    url: str
    secret: str
    description: str
    created_at: int
    """Epoch ms; the webhook gets the messages appended from then on."""

    def to_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "feed": self.feed,
            "url": self.url,
            "description": self.description,
            "created_at": self.created_at,
        }
        if with_secret:
            out["secret"] = self.secret
        return out

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_json(with_secret=True))

    @classmethod
    def loads(cls, raw: bytes | str) -> Webhook:
        d = orjson.loads(raw)
        return cls(
            d["id"], d["feed"], d["url"], d["secret"], d.get("description", ""), d["created_at"]
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """One (webhook, live message) pair: the payload of one arq job."""

    feed: str
    webhook_id: str
    delivery_id: str
    event: str
    body: str
    created_at: int
    """Epoch ms of the first enqueue: the age limit counts from here."""
    attempt: int = 1

    def to_args(self) -> list[Any]:
        return [
            self.feed,
            self.webhook_id,
            self.delivery_id,
            self.event,
            self.body,
            self.created_at,
            self.attempt,
        ]

    @property
    def job_id(self) -> str:
        """The arq job id: enqueuing the same attempt twice is a no-op."""
        return f"nf:wh:{self.delivery_id}:{self.attempt}"

    def next_attempt(self) -> Delivery:
        return dataclasses.replace(self, attempt=self.attempt + 1)


# -- pure -------------------------------------------------------------------
def is_public_address(ip: str) -> bool:
    """A globally routable unicast address (not loopback, private, link-local...)."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    return addr.is_global and not addr.is_multicast


def _literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def check_url(value: Any, *, allow_private: bool = False) -> str:
    """A webhook URL: absolute http(s); unless ``allow_private``, not a
    loopback, private or link-local address (the worker re-checks what the
    name resolves to before each request, see ``private_destination``)."""
    if not isinstance(value, str) or not value or len(value) > URL_MAX:
        raise InvalidInput(f"url must be a URL of at most {URL_MAX} characters", field="url")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InvalidInput("url is not a valid URL", field="url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput("url must be an absolute http:// or https:// URL", field="url")
    if any(c.isspace() for c in value):
        raise InvalidInput("url must not contain spaces", field="url")
    if not allow_private:
        ip = _literal_ip(host)
        if host == "localhost" or host.endswith(".localhost") or (ip and not is_public_address(ip)):
            raise InvalidInput(
                "url must not point at a loopback, private or link-local address "
                "(NEWSFEED_WEBHOOK_ALLOW_PRIVATE allows it)",
                field="url",
            )
    return value


async def private_destination(url: str) -> str | None:
    """Why the URL's host must not be called (it resolves to a non-public
    address), or None. Checked by the worker before each request."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None  # let the request fail (and be retried) as a connection error
    for info in infos:
        ip = str(info[4][0])
        if not is_public_address(ip):
            return f"blocked: {host} resolves to the non-public address {ip}"
    return None


def check_secret(value: Any) -> str:
    if value is None:
        return SECRET_PREFIX + secrets.token_urlsafe(32)
    if (
        not isinstance(value, str)
        or not SECRET_MIN <= len(value) <= SECRET_MAX
        or not value.isprintable()
    ):
        raise InvalidInput(
            f"secret must be {SECRET_MIN}-{SECRET_MAX} printable characters (or omitted)",
            field="secret",
        )
    return value


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Newsfeed-Signature`` value for one attempt."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a partner does (constant-time); also used by the tests."""
    if not timestamp.isdigit():
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the ``attempt``-th failure (1-based): full jitter."""
    ceiling = min(cap, base * 2 ** min(attempt - 1, 60))
    return (rng or random).uniform(0, ceiling)


def headers(delivery: Delivery, secret: str, timestamp: int) -> dict[str, str]:
    body = delivery.body.encode()
    return {
        "Content-Type": "application/json",
        "User-Agent": "newsfeed-webhooks/1",
        "X-Newsfeed-Delivery": delivery.delivery_id,
        "X-Newsfeed-Event": delivery.event,
        "X-Newsfeed-Timestamp": str(timestamp),
        "X-Newsfeed-Signature": sign(secret, timestamp, body),
    }


def event_body(feed: str, epoch: str, message: LiveMessage) -> str:
    return orjson.dumps(
        {
            "type": message.type,
            "feed": feed,
            "cursor": f"{epoch}.{format_stream_id(message.position)}",
            "entry": orjson.loads(message.data),
        }
    ).decode()


def deliveries(
    feed: str, epoch: str, hooks: list[Webhook], messages: list[LiveMessage], now: int
) -> list[Delivery]:
    """The deliveries a batch of live messages makes: each to every webhook
    that existed when the message was appended, in stream order."""
    out = []
    for m in messages:
        body = event_body(feed, epoch, m)
        sid = format_stream_id(m.position)
        for h in hooks:
            if m.position[0] >= h.created_at:
                out.append(Delivery(feed, h.id, f"{h.id}.{sid}", m.type, body, now))
    return out


# -- Redis --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """What the dispatcher read: the position it read from and what follows."""

    pos: str
    last: str
    """The position to move to once ``messages`` are enqueued."""
    messages: list[LiveMessage]
    hooks: list[Webhook]
    epoch: str


class WebhookStore:
    def __init__(self, redis: Client, *, allow_private: bool = False) -> None:
        self.redis: Commands = redis
        self.allow_private = allow_private
        self._advance = register(redis, scripts.COMPARE_AND_SET)
        self._push_capped = register(redis, scripts.PUSH_CAPPED)

    async def add(self, feed: str, url: Any, secret: Any = None, description: Any = "") -> Webhook:
        url = check_url(url, allow_private=self.allow_private)
        secret = check_secret(secret)
        if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
            raise InvalidInput(
                f"description must be text of at most {DESCRIPTION_MAX} characters",
                field="description",
            )
        hook = Webhook(
            "wh_" + secrets.token_hex(8), feed, url, secret, " ".join(description.split()), now_ms()
        )
        async with translated():
            if await self.redis.hlen(keys.webhooks(feed)) >= WEBHOOKS_MAX:
                raise Conflict(f"a feed has at most {WEBHOOKS_MAX} webhooks")
            await self.redis.hset(keys.webhooks(feed), hook.id, hook.dumps())
        return hook

    async def all(self, feed: str) -> list[Webhook]:
        async with translated():
            raws = await self.redis.hvals(keys.webhooks(feed))
        return sorted((Webhook.loads(r) for r in raws), key=lambda h: (h.created_at, h.id))

    async def get(self, feed: str, hook_id: str) -> Webhook | None:
        if not ID_RE.match(hook_id):
            return None
        async with translated():
            raw = await self.redis.hget(keys.webhooks(feed), hook_id)
        return None if raw is None else Webhook.loads(raw)

    async def delete(self, feed: str, hook_id: str) -> None:
        removed = 0
        if ID_RE.match(hook_id):
            async with translated():
                removed = await self.redis.hdel(keys.webhooks(feed), hook_id)
        if not removed:
            raise NotFound(f"no webhook {hook_id!r} in feed {feed!r}")

    # -- dead letters ---------------------------------------------------------
    async def add_dead(self, feed: str, record: dict[str, Any]) -> None:
        async with translated():
            await self._push_capped(
                keys=[keys.webhook_dead(feed)], args=[orjson.dumps(record), DEAD_MAX]
            )

    async def list_dead(self, feed: str, limit: int = 100) -> list[dict[str, Any]]:
        """The feed's dead-lettered deliveries, newest first.

        Each is ``{delivery_id, webhook_id, url, event, body, attempts,
        first_attempt_at, last_attempt_at, last_error}`` (times RFC 3339).
        """
        async with translated():
            raws = await self.redis.lrange(keys.webhook_dead(feed), 0, max(0, limit - 1))
        return [orjson.loads(r) for r in raws]

    async def count_dead(self, feed: str) -> int:
        async with translated():
            return int(await self.redis.llen(keys.webhook_dead(feed)))

    # -- dispatch (live stream -> delivery jobs) -------------------------------
    async def pending(self, feed: str, batch: int = 200) -> Pending:
        """Live messages after the dispatch position, and the feed's webhooks.

        With no webhooks there is no position (it is cleared: two cheap
        reads per batch, no write); with no position, reading starts at the
        oldest webhook's creation.
        """
        async with translated():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(keys.webhook_pos(feed))
                pipe.hvals(keys.webhooks(feed))
                raw_pos, raw_hooks = await pipe.execute()
            pos = as_str(raw_pos)
            hooks = sorted((Webhook.loads(r) for r in raw_hooks), key=lambda h: h.created_at)
            if not hooks:
                return Pending(pos, "", [], hooks, "")
            start = f"({pos}" if pos else f"{hooks[0].created_at}-0"
            rows = await self.redis.xrange(keys.live(feed), start, "+", count=batch)
            epoch = as_str(await self.redis.get(keys.epoch(feed))) if rows else ""
        messages = [live_message(sid, f) for sid, f in rows]
        last = format_stream_id(messages[-1].position) if messages else pos
        return Pending(pos, last, messages, hooks, epoch)

    async def advance(self, feed: str, old: str, new: str) -> bool:
        """Move the dispatch position from ``old`` to ``new`` if nobody else did."""
        async with translated():
            return bool(await self._advance(keys=[keys.webhook_pos(feed)], args=[old, new]))
