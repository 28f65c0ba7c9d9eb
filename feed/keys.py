"""Every Redis key newsfeed uses, spelled in this one module.

Keys of one feed carry the hash tag ``{slug}`` so the whole feed lives in one
Redis Cluster slot and every multi-key script runs unchanged on a cluster.
Global keys (the feed registry, users, API tokens, the workers' wake-up
streams) hold no per-feed data and are never mixed with feed keys in one
command, nor with each other: on a cluster every command touches one slot.
"""

from __future__ import annotations

import zlib

PREFIX = "nf"

# -- global -----------------------------------------------------------------
FEEDS = f"{PREFIX}:feeds"
"""Set of feed slugs."""
USERS = f"{PREFIX}:users"
"""Set of user names."""
RATE_LIMITS = f"{PREFIX}:limits"
"""Key prefix of the API limits' counters (the ``limits`` library's keys)."""
WAKE_SHARDS = 16
"""Wake-up streams on a cluster (one on a single Redis): each feed's hints go
to one of them, so no one slot carries every feed's hints."""


def wake(shard: int) -> str:
    """Stream of feed slugs with new editorial events (a hint for workers).

    Shard 0 of 1 is ``nf:wake``; shard ``i`` of many has its own hash tag
    (``nf:wake:{w3}``), so the shards spread over the cluster's slots.
    """
    return f"{PREFIX}:wake" if shard == 0 else f"{PREFIX}:wake:{{w{shard}}}"


def wake_shard(feed: str, shards: int) -> int:
    """The wake-up stream of a feed: always the same one, so a feed's hints stay in order."""
    return 0 if shards <= 1 else zlib.crc32(feed.encode()) % shards


def wake_keys(shards: int) -> list[str]:
    return [wake(i) for i in range(max(1, shards))]


ARQ_QUEUE = f"{PREFIX}:arq:queue"
"""The arq job queue (feed rebuilds; webhook deliveries have their own
queues, ``webhook_queue``), on the queue Redis
(``Settings.queue_url``), with arq's own ``arq:job:*`` / ``arq:result:*`` keys."""


def user(name: str) -> str:
    """Hash: password_hash, role, feeds (JSON list), created_at."""
    return f"{PREFIX}:user:{name}"


def token(token_hash: str) -> str:
    """Hash of one API token, by the SHA-256 of the token: feed, name, id, created_at."""
    return f"{PREFIX}:token:{token_hash}"


def login_throttle(kind: str, who: str) -> str:
    return f"{PREFIX}:throttle:{kind}:{who}"


AUDIT = f"{PREFIX}:audit"
"""Stream: administration that belongs to no one feed (users, roles, sign-ins)."""


def admin_session(sid: str) -> str:
    """String with a TTL: '<user name>|<issued ms>' of one admin page session."""
    return f"{PREFIX}:session:{sid}"


def admin_session_floor(user: str) -> str:
    """String: ms; the user's admin sessions issued before it are void."""
    return f"{PREFIX}:session-floor:{user}"


# -- per feed -----------------------------------------------------------------
def _f(feed: str, name: str) -> str:
    return f"{PREFIX}:{{{feed}}}:{name}"


def meta(feed: str) -> str:
    """Hash: title, timezone, language, pair (the paired feed), created_at."""
    return _f(feed, "meta")


def epoch(feed: str) -> str:
    """String: a random token naming this feed's live stream on this Redis."""
    return _f(feed, "epoch")


def log(feed: str) -> str:
    """Stream: the editorial events, the system of record (field ``ev``)."""
    return _f(feed, "log")


def entries(feed: str) -> str:
    """Hash: entry id -> current editorial state (JSON), every status."""
    return _f(feed, "entries")


def versions(feed: str) -> str:
    """Hash: entry id -> current version (what If-Match is checked against)."""
    return _f(feed, "versions")


def editorial(feed: str) -> str:
    """Sorted set: entry id -> published_at (ms), every status (the admin's list)."""
    return _f(feed, "editorial")


def history(feed: str, entry_id: str) -> str:
    """List: every event of one entry, oldest first."""
    return _f(feed, f"history:{entry_id}")


def idempotency(feed: str, key: str) -> str:
    """String: '<request fingerprint>|<entry id>', expires after the retention window."""
    return _f(feed, f"idem:{key}")


def scheduled(feed: str) -> str:
    """Sorted set: scheduled entry id -> publish time (ms)."""
    return _f(feed, "scheduled")


def checkpoint(feed: str) -> str:
    """Hash: entry id -> state folded from log events trimmed away."""
    return _f(feed, "checkpoint")


def checkpoint_pos(feed: str) -> str:
    """String: the log id up to which ``checkpoint`` has folded the log."""
    return _f(feed, "checkpoint:pos")


def public_pos(feed: str) -> str:
    """String: the log id up to which the public view has been projected."""
    return _f(feed, "public:pos")


def public(feed: str) -> str:
    """Hash: entry id -> public JSON of each visible entry."""
    return _f(feed, "public")


def timeline(feed: str) -> str:
    """Sorted set (all scores 0): timeline members, see Entry.timeline_member."""
    return _f(feed, "timeline")


def photos(feed: str) -> str:
    """Hash: photo id -> JSON manifest (sizes and content-hashed file names)."""
    return _f(feed, "photos")


def key_timeline(feed: str) -> str:
    """Sorted set (all scores 0): the timeline members of the public key events."""
    return _f(feed, "keyline")


def live(feed: str) -> str:
    """Stream: the public live stream; its ids are readers' cursors."""
    return _f(feed, "live")


def readers(feed: str) -> str:
    """Hash: web process id -> "<readers>:<valid until, ms>" (``feed.readers``)."""
    return _f(feed, "readers")


def audit(feed: str) -> str:
    """Stream: who did what in the feed's administration."""
    return _f(feed, "audit")


def tokens(feed: str) -> str:
    """Set: hashes of the feed's API tokens."""
    return _f(feed, "tokens")


def webhooks(feed: str) -> str:
    """Hash: webhook id -> JSON (id, feed, url, secret, description, created_at)."""
    return _f(feed, "webhooks")


def webhook_dead(feed: str) -> str:
    """List: dead-lettered webhook deliveries (JSON), newest first, capped."""
    return _f(feed, "webhooks:dead")


def webhook_epoch(feed: str) -> str:
    """String: the live-stream epoch of the last messages queued for webhooks.

    Another epoch when the dispatcher next reads means the stream was
    replaced (a rollback): every webhook gets a ``reset`` event first.
    """
    return _f(feed, "webhooks:epoch")


def webhook_pos(feed: str) -> str:
    """String: the live-stream id up to which webhook deliveries were queued."""
    return _f(feed, "webhooks:pos")


def webhook_lag(feed: str) -> str:
    """String: live messages appended after ``webhook_pos`` (the projection
    adds, the dispatcher subtracts); while it reaches the live retention the
    projection trims the live stream no further than ``webhook_pos``."""
    return _f(feed, "webhooks:lag")


def webhook_queue(feed: str, hook_id: str) -> str:
    """Sorted set: one webhook's queued delivery ids, scored by when each is
    due (epoch ms); a claimed one is scored at the end of its lease."""
    return _f(feed, f"webhooks:queue:{hook_id}")


def webhook_items(feed: str, hook_id: str) -> str:
    """Hash: delivery id -> JSON (event, body, created_at, attempt) of the
    deliveries in ``webhook_queue``."""
    return _f(feed, f"webhooks:items:{hook_id}")


def translations(feed: str) -> str:
    """Hash: entry id -> the id of its translation in the paired feed (feed.pairing)."""
    return _f(feed, "translations")


def presence(feed: str) -> str:
    """Sorted set: 'user<TAB>entry<TAB>tab' -> last beat (ms) of an open admin page."""
    return _f(feed, "presence")


def documents(feed: str) -> str:
    """Hash: 'atom'|'rss'|'json' -> cached feed document; plus '<fmt>:etag',
    'modified' (ms), 'pos' (the live-stream id it was rendered at), 'title'."""
    return _f(feed, "documents")


def embed_queue(feed: str) -> str:
    """Sorted set: entry id -> epoch ms its card is due to be fetched (a
    claimed one: when its lease ends). Filled with the append (feed.embed_queue)."""
    return _f(feed, "embeds")


def embed_tries(feed: str) -> str:
    """Hash: entry id -> fetch attempts made for its current embed URL."""
    return _f(feed, "embedtries")
