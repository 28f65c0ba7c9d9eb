"""Partner webhooks: registrations, URLs, the retry rule, per-webhook queues.

The contract (README, "Webhooks"): every public live-stream message of a
feed (publish, update, retract) is POSTed to each of its webhooks as
``{"type", "feed", "cursor", "entry"}`` (the live protocol's message plus
the feed), signed per Standard Webhooks (``feed.webhook_signing``).

A 2xx answer is a success; anything else (another status, a timeout, a
connection error) is retried after ``backoff_delay`` (exponential, full
jitter) until the delivery is ``max_age`` old, then it goes to the feed's
dead-letter list (newest first, the last ``DEAD_MAX`` kept). A delivery
that cannot be attempted at all goes there at once, with the reason.

Each webhook has its own queue (``feed.keys.webhook_queue``): the dispatcher
fills the queues from the live stream in fenced batches (``dispatch_batch``)
and the workers' delivery loop takes from each queue in turn
(``feed.delivery_queue``), so a partner's backlog is only its own.

Pure parts (``check_url``, ``backoff_delay``, ``event_body``,
``deliveries``) do no I/O; ``WebhookStore`` is the Redis adapter.
"""

from __future__ import annotations

import dataclasses
import random
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import httpx
import idna
import orjson

from feed import keys, scripts
from feed.cursor import format_stream_id
from feed.errors import Conflict, InvalidInput, NotFound
from feed.livestream import LiveMessage, live_message
from feed.model import now_ms
from feed.netguard import is_public_address, literal_ip
from feed.redis_io import Client, Commands, as_str, register, translated
from feed.webhook_signing import new_secret, standard_key

URL_MAX = 2000
WEBHOOKS_MAX = 20
"""Webhooks per feed."""
DEAD_MAX = 1000
"""Dead letters kept per feed (the newest)."""
DESCRIPTION_MAX = 200
ID_RE = re.compile(r"^wh_[0-9a-f]{16}$")
LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
"""A DNS label as HTTP clients resolve it (letters, digits, hyphens inside;
underscores, which some real names carry)."""


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
    """One (webhook, live message) pair, as it waits in the webhook's queue."""

    feed: str
    webhook_id: str
    delivery_id: str
    """``<webhook id>.<live stream id>``: the ``webhook-id`` header, the same
    on every attempt (partners deduplicate on it)."""
    event: str
    body: str
    created_at: int
    """Epoch ms of the dispatch: the age limit counts from here."""
    attempt: int = 1
    """The attempt this record is waiting for (1-based)."""
    last_error: str = ""
    """Why the previous attempt failed ("" before the first)."""

    def dumps(self) -> bytes:
        return orjson.dumps(
            {
                "e": self.event,
                "b": self.body,
                "c": self.created_at,
                "a": self.attempt,
                "l": self.last_error,
            }
        )

    @classmethod
    def loads(cls, feed: str, webhook_id: str, delivery_id: str, raw: bytes | str) -> Delivery:
        d = orjson.loads(raw)
        return cls(feed, webhook_id, delivery_id, d["e"], d["b"], d["c"], d["a"], d.get("l", ""))

    def next_attempt(self, error: str = "") -> Delivery:
        """The record waiting for the next attempt, after one that failed with ``error``."""
        return dataclasses.replace(self, attempt=self.attempt + 1, last_error=error)


# -- pure -------------------------------------------------------------------
def check_url(value: Any, *, allow_private: bool = False) -> str:
    """A webhook URL the worker can send to: absolute http(s), a host that
    resolves as DNS names do (valid IDNA, labels of 1-63 characters), a port
    from 1 to 65535, no credentials, no spaces or control characters; and,
    unless ``allow_private``, not a loopback, private or link-local address
    (the worker re-checks what the name resolves to before each request,
    see ``private_destination``). Anything else is refused here, so no
    delivery is ever queued to a URL that cannot be attempted."""
    if not isinstance(value, str) or not value or len(value) > URL_MAX:
        raise InvalidInput(f"url must be a URL of at most {URL_MAX} characters", field="url")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise InvalidInput("url must not contain spaces or control characters", field="url")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise InvalidInput("url is not a valid URL", field="url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput("url must be an absolute http:// or https:// URL", field="url")
    if port == 0:
        raise InvalidInput("url's port must be from 1 to 65535", field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "url must not carry credentials (the signature authenticates us)", field="url"
        )
    ip = literal_ip(host)
    if ip is None:
        _check_hostname(host)
    try:
        httpx.Request("POST", value)
    except (httpx.InvalidURL, ValueError) as exc:  # idna.IDNAError is a ValueError
        raise InvalidInput(f"url cannot be sent to: {exc}", field="url") from None
    local = host == "localhost" or host.endswith(".localhost")
    if not allow_private and (local or (ip and not is_public_address(ip))):
        raise InvalidInput(
            "url must not point at a loopback, private or link-local address "
            "(NEWSFEED_WEBHOOK_ALLOW_PRIVATE allows it)",
            field="url",
        )
    return value


def _check_hostname(host: str) -> None:
    name = host[:-1] if host.endswith(".") else host
    try:
        ascii_name = name if name.isascii() else idna.encode(name, uts46=True).decode()
        for label in ascii_name.split("."):
            if label.startswith("xn--"):
                idna.decode(label)
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidInput(f"url's host is not a valid name: {exc}", field="url") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(LABEL_RE.match(label) for label in labels):
        raise InvalidInput(
            "url's host is not a valid name (labels of 1-63 letters, digits and hyphens)",
            field="url",
        )


def check_secret(value: Any) -> str:
    """A Standard Webhooks secret: generated when omitted, else ``whsec_``
    and the base64 of 24-64 random bytes (so every partner's verifier
    decodes it the same way)."""
    if value is None:
        return new_secret()
    if not isinstance(value, str) or standard_key(value) is None:
        raise InvalidInput(
            "secret must be whsec_ followed by the base64 of 24 to 64 random bytes "
            "(or omitted: one is generated)",
            field="secret",
        )
    return value


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the ``attempt``-th failure (1-based): full jitter."""
    ceiling = min(cap, base * 2 ** min(attempt - 1, 60))
    return (rng or random).uniform(0, ceiling)


def event_body(feed: str, epoch: str, message: LiveMessage) -> str:
    return orjson.dumps(
        {
            "type": message.type,
            "feed": feed,
            "cursor": f"{epoch}.{format_stream_id(message.position)}",
            "entry": orjson.loads(message.data),
        }
    ).decode()


def reset_body(feed: str, epoch: str, previous: str) -> str:
    return orjson.dumps(
        {"type": "reset", "feed": feed, "epoch": epoch, "previous_epoch": previous}
    ).decode()


def deliveries(
    feed: str,
    epoch: str,
    hooks: list[Webhook],
    messages: list[LiveMessage],
    now: int,
    *,
    reset_from: str = "",
) -> list[Delivery]:
    """The deliveries a batch of live messages makes: each to every webhook
    that existed when the message was appended, in stream order.

    ``reset_from``: the epoch of the batches queued before, when the stream
    has another one now (a rollback: what partners were sent may have been
    lost, and (id, version) pairs may come again with other content). Every
    webhook then gets a ``reset`` first, queued a millisecond ahead of the
    batch, with the delivery id ``<webhook id>.reset.<epoch>``.
    """
    out = []
    if reset_from and reset_from != epoch:
        body = reset_body(feed, epoch, reset_from)
        for h in hooks:
            out.append(Delivery(feed, h.id, f"{h.id}.reset.{epoch}", "reset", body, now - 1))
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
    dispatched_epoch: str = ""
    """The epoch the batches before were read in ('' before the first)."""


class WebhookStore:
    def __init__(self, redis: Client, *, allow_private: bool = False) -> None:
        self.redis: Commands = redis
        self.allow_private = allow_private
        self._add = register(redis, scripts.ADD_WEBHOOK)
        self._delete = register(redis, scripts.DELETE_WEBHOOK)
        self._dispatch = register(redis, scripts.DISPATCH)
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
            added = await self._add(
                keys=[
                    keys.webhooks(feed),
                    keys.webhook_pos(feed),
                    keys.webhook_lag(feed),
                    keys.live(feed),
                ],
                args=[WEBHOOKS_MAX, hook.id, hook.dumps()],
            )
        if not added:
            raise Conflict(f"a feed has at most {WEBHOOKS_MAX} webhooks")
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
                removed = await self._delete(
                    keys=[
                        keys.webhooks(feed),
                        keys.webhook_queue(feed, hook_id),
                        keys.webhook_items(feed, hook_id),
                        keys.webhook_pos(feed),
                        keys.webhook_lag(feed),
                        keys.webhook_epoch(feed),
                    ],
                    args=[hook_id],
                )
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

    # -- dispatch (live stream -> the webhooks' queues) -----------------------
    async def pending(self, feed: str, batch: int = 100) -> Pending:
        """Live messages after the dispatch position, and the feed's webhooks.

        With no webhooks there is nothing to read (deleting the last one
        removed the position); with no position (a webhook registered before
        positions started with the first webhook), reading starts at the
        oldest webhook's creation.
        """
        async with translated():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(keys.webhook_pos(feed))
                pipe.hvals(keys.webhooks(feed))
                pipe.get(keys.webhook_epoch(feed))
                raw_pos, raw_hooks, raw_epoch = await pipe.execute()
            pos = as_str(raw_pos)
            hooks = sorted((Webhook.loads(r) for r in raw_hooks), key=lambda h: h.created_at)
            if not hooks:
                return Pending(pos, pos, [], hooks, "")
            start = f"({pos}" if pos else f"{hooks[0].created_at}-0"
            rows = await self.redis.xrange(keys.live(feed), start, "+", count=batch)
            epoch = as_str(await self.redis.get(keys.epoch(feed))) if rows else ""
        messages = [live_message(sid, f) for sid, f in rows]
        last = format_stream_id(messages[-1].position) if messages else pos
        return Pending(pos, last, messages, hooks, epoch, as_str(raw_epoch))

    async def dispatch_batch(self, feed: str, pending: Pending, batch: list[Delivery]) -> bool:
        """Queue ``batch`` (the deliveries of ``pending``) on the webhooks'
        queues and move the dispatch position to ``pending.last``, in one
        step, unless another dispatcher moved it first (then nothing)."""
        index = {h.id: i for i, h in enumerate(pending.hooks, start=1)}
        hook_keys: list[str] = []
        for h in pending.hooks:
            hook_keys += [keys.webhook_queue(feed, h.id), keys.webhook_items(feed, h.id)]
        args: list[Any] = [
            pending.pos,
            pending.last,
            len(pending.messages),
            len(pending.hooks),
            pending.epoch,
        ]
        args += [h.id for h in pending.hooks]
        for d in batch:
            args += [index[d.webhook_id], d.delivery_id, d.created_at, d.dumps()]
        async with translated():
            return bool(
                await self._dispatch(
                    keys=[
                        keys.webhook_pos(feed),
                        keys.webhook_lag(feed),
                        keys.webhooks(feed),
                        *hook_keys,
                        keys.webhook_epoch(feed),
                    ],
                    args=args,
                )
            )
