"""Paired feeds: two desks that translate each other, and linked updates.

Two feeds of different languages can be declared translations of each
other (``FeedMeta.pair``: each names the other); an update of one can then
be linked to its translation in the other (``nf:{F}:translations``: entry id
-> the other feed's entry id, on both sides). The two feeds live in two hash
slots (Redis Cluster), so each side is written on its own; a link counts
only when both sides name each other, so a crash between the two writes
leaves no half link that readers could see, and repeating the command
completes it.
"""

from __future__ import annotations

from feed import keys
from feed.editorial import Editorial
from feed.errors import Conflict, InvalidInput, NotFound
from feed.redis_io import Client, Commands, as_str, translated
from feed.registry import FeedMeta, FeedRegistry


class Pairing:
    def __init__(self, redis: Client, registry: FeedRegistry, editorial: Editorial) -> None:
        self.redis: Commands = redis
        self.registry = registry
        self.editorial = editorial

    # -- feeds -----------------------------------------------------------------
    async def pair(self, a: str, b: str) -> tuple[FeedMeta, FeedMeta]:
        """Declare ``a`` and ``b`` translations of each other."""
        if a == b:
            raise InvalidInput("a feed cannot be its own translation", field="pair")
        ma, mb = await self.registry.get_feed(a), await self.registry.get_feed(b)
        if ma.language == mb.language:
            raise InvalidInput(
                f"both feeds are in {ma.language!r}: a translation is in another language",
                field="pair",
            )
        for m, other in ((ma, b), (mb, a)):
            if m.pair and m.pair != other:
                raise Conflict(f"feed {m.slug!r} is already paired with {m.pair!r}")
        async with translated():
            await self.redis.hset(keys.meta(a), "pair", b)
            await self.redis.hset(keys.meta(b), "pair", a)
        return await self.registry.get_feed(a), await self.registry.get_feed(b)

    async def unpair(self, a: str) -> None:
        meta = await self.registry.get_feed(a)
        async with translated():
            if meta.pair:
                other = as_str(await self.redis.hget(keys.meta(meta.pair), "pair"))
                if other == a:
                    await self.redis.hdel(keys.meta(meta.pair), "pair")
            await self.redis.hdel(keys.meta(a), "pair")

    async def partner(self, meta: FeedMeta) -> FeedMeta | None:
        """The paired feed, if the pairing holds on both sides."""
        if not meta.pair:
            return None
        try:
            other = await self.registry.get_feed(meta.pair)
        except NotFound:
            return None
        return other if other.pair == meta.slug else None

    # -- updates -----------------------------------------------------------------
    async def link(self, feed: str, entry_id: str, other_entry_id: str) -> None:
        """Link an update to its translation in the paired feed (both must exist)."""
        meta = await self.registry.get_feed(feed)
        other = await self.partner(meta)
        if other is None:
            raise InvalidInput("this feed has no paired feed", field="translation")
        await self.editorial.get_entry(feed, entry_id)
        try:
            await self.editorial.get_entry(other.slug, other_entry_id)
        except NotFound:
            raise InvalidInput(
                f"there is no update {other_entry_id!r} in {other.slug!r}", field="translation"
            ) from None
        async with translated():
            await self.redis.hset(keys.translations(feed), entry_id, other_entry_id)
            await self.redis.hset(keys.translations(other.slug), other_entry_id, entry_id)

    async def unlink(self, feed: str, entry_id: str) -> None:
        meta = await self.registry.get_feed(feed)
        async with translated():
            raw = await self.redis.hget(keys.translations(feed), entry_id)
            await self.redis.hdel(keys.translations(feed), entry_id)
            if raw is not None and meta.pair:
                mirror = keys.translations(meta.pair)
                if as_str(await self.redis.hget(mirror, as_str(raw))) == entry_id:
                    await self.redis.hdel(mirror, as_str(raw))

    async def translations(self, meta: FeedMeta, entry_ids: list[str]) -> dict[str, str]:
        """{entry id: its translation's id in the paired feed}, links that hold both ways."""
        other = await self.partner(meta)
        if other is None or not entry_ids:
            return {}
        async with translated():
            there = await self.redis.hmget(keys.translations(meta.slug), entry_ids)
            pairs = {e: as_str(t) for e, t in zip(entry_ids, there, strict=True) if t is not None}
            if not pairs:
                return {}
            back = await self.redis.hmget(keys.translations(other.slug), list(pairs.values()))
        return {e: t for (e, t), b in zip(pairs.items(), back, strict=True) if as_str(b) == e}
