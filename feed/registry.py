"""The feed registry: which feeds exist, their title, time zone and language."""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feed import keys, scripts
from feed.errors import Conflict, InvalidInput, NotFound
from feed.i18n import DEFAULT as DEFAULT_LANGUAGE
from feed.i18n import check_language
from feed.model import now_ms
from feed.redis_io import Client, Commands, as_str, register, translated

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


@dataclasses.dataclass(frozen=True, slots=True)
class FeedMeta:
    slug: str
    title: str
    timezone: str
    created_at: int
    language: str = DEFAULT_LANGUAGE
    """BCP 47: what the reader pages, embed and feed documents speak."""
    pair: str = ""
    """The feed that translates this one ('' if none; feed.pairing)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "title": self.title,
            "timezone": self.timezone,
            "language": self.language,
            "pair": self.pair or None,
        }


def is_slug(slug: object) -> bool:
    """Could this name a feed? (No Redis: a malformed one is a 404 at once.)"""
    return isinstance(slug, str) and SLUG_RE.match(slug) is not None


def check_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise InvalidInput(
            "a feed slug is 1-64 lowercase letters, digits and inner hyphens", field="slug"
        )
    return slug


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown IANA time zone {name!r}", field="timezone") from None
    return name


class FeedRegistry:
    """Feeds: create, describe, list."""

    def __init__(self, redis: Client) -> None:
        # redis-py's annotations mix its sync and async return types; the
        # adapters treat replies as the RESP2 bytes they are.
        self.redis: Commands = redis
        self._create = register(redis, scripts.CREATE_FEED)

    async def create_feed(
        self, slug: str, title: str, timezone: str = "UTC", language: str = DEFAULT_LANGUAGE
    ) -> FeedMeta:
        check_slug(slug)
        check_timezone(timezone)
        language = check_language(language)
        title = " ".join(str(title).split())[:200] or slug
        created = now_ms()
        # Two slots on a cluster (the registry set, the feed's own keys), so
        # two steps, each safe to crash after: the registry first, then the
        # feed's meta and epoch in one script. A slug registered without
        # meta (a crash in between) is not a feed yet: ``get_feed`` says
        # so, listings skip it, and creating it again completes it. Of two
        # concurrent creations the script lets exactly one win.
        async with translated():
            added = await self.redis.sadd(keys.FEEDS, slug)
            if not added and await self.redis.exists(keys.meta(slug)):
                raise Conflict(f"feed {slug!r} already exists")
            won = await self._create(
                keys=[keys.meta(slug), keys.epoch(slug)],
                args=[title, timezone, created, secrets.token_hex(4), language],
            )
        if not won:
            raise Conflict(f"feed {slug!r} already exists")
        return FeedMeta(slug, title, timezone, created, language)

    async def update_feed(
        self,
        slug: str,
        *,
        title: str | None,
        timezone: str | None,
        language: str | None = None,
    ) -> FeedMeta:
        await self.get_feed(slug)
        fields: dict[str, str] = {}
        if title is not None:
            fields["title"] = " ".join(title.split())[:200] or slug
        if timezone is not None:
            fields["timezone"] = check_timezone(timezone)
        if language is not None:
            fields["language"] = check_language(language)
        if fields:
            async with translated():
                await self.redis.hset(keys.meta(slug), mapping=fields)
        return await self.get_feed(slug)

    async def get_feed(self, slug: str) -> FeedMeta:
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            raise NotFound(f"no feed {slug!r}")
        async with translated():
            raw = await self.redis.hgetall(keys.meta(slug))
        if not raw:
            raise NotFound(f"no feed {slug!r}")
        return FeedMeta(
            slug,
            as_str(raw.get(b"title")),
            as_str(raw.get(b"timezone")) or "UTC",
            int(raw.get(b"created_at") or 0),
            as_str(raw.get(b"language")) or DEFAULT_LANGUAGE,
            as_str(raw.get(b"pair")),
        )

    async def describe_feeds(self, slugs: list[str] | None = None) -> list[FeedMeta]:
        """The feeds (all, or these), skipping any whose creation never completed."""
        metas = []
        for slug in await self.list_feeds() if slugs is None else slugs:
            try:
                metas.append(await self.get_feed(slug))
            except NotFound:
                continue
        return metas

    async def list_feeds(self) -> list[str]:
        async with translated():
            return sorted(as_str(s) for s in await self.redis.smembers(keys.FEEDS))
