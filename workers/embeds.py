"""Embedded posts: fetch each pending card and fill it in, in the background.

``EmbedLoop`` takes the due entries of every feed's embed queue
(``feed.embed_queue``; woken by the projection when a feed's log moved, and
a sweep every second for retries), at most ``CONCURRENCY`` fetches at once
per worker, each in the loop's own task group. ``Fetcher`` makes the card:

- the provider must still be allow-listed (``feed.embeds``); the request goes
  to its endpoint only (the pasted URL is never fetched for oEmbed providers);
- before every request, and every redirect hop, the host's addresses pass the
  same private-address rule as webhooks (``feed.netguard``) unless
  ``NEWSFEED_OEMBED_ALLOW_PRIVATE`` (tests, dev); a redirect to another host
  (or from https to http) is refused, at most ``MAX_REDIRECTS`` hops;
- one request takes at most ``oembed_timeout_seconds`` in all (connecting at
  most 3 s of it); bodies are read in chunks and refused past ``BODY_LIMIT``
  (oEmbed: JSON only; a post page: HTML only) or ``THUMBNAIL_LIMIT``;
- the thumbnail goes through the photo path (``feed.images``: decoded,
  bounded, metadata stripped, re-encoded in a few sizes into the media store).

A connection error, a timeout, a 429 or a 5xx is retried after a full-jitter
backoff, at most ``oembed_attempts`` fetches; anything else (a 4xx, not
JSON, too large, a private address, a redirect elsewhere) fails at once. The
result goes into the entry through ``Editorial.fill_embed``: a silent edit
(no "Updated" mark), compare-and-set on the URL and the version, so a late
fetch of a URL the editor has replaced or removed changes nothing. A card
whose thumbnail cannot be had is kept without one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from feed import embeds, images
from feed.embed_queue import Claim, EmbedQueue
from feed.embeds import BODY_LIMIT, MAX_REDIRECTS, THUMBNAIL_LIMIT
from feed.errors import FeedError, NotFound, StoreUnavailable
from feed.media import MediaStore
from feed.model import Embed, Photo, PhotoSize, now_ms
from feed.netguard import private_destination
from feed.settings import Settings
from feed.stores import Stores
from feed.webhooks import backoff_delay
from workers import metrics
from workers.signals import Dirty

log = logging.getLogger("newsfeed.embeds")

CONCURRENCY = 8
"""Card fetches in flight per worker process."""
SWEEP_SECONDS = 1.0
MAX_DELAY_SECONDS = 600.0
ACTOR = "embeds"
"""The actor of the silent edits that fill cards, in the entry's history."""
JSON_TYPES = ("application/json", "text/json", "application/json+oembed")
HTML_TYPES = ("text/html", "application/xhtml+xml")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
USER_AGENT = "newsfeed-embeds/1 (+oEmbed card fetcher)"


class Failure(Exception):
    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def http_client(settings: Settings) -> httpx.AsyncClient:
    total = settings.oembed_timeout_seconds
    return httpx.AsyncClient(
        timeout=httpx.Timeout(total, connect=min(3.0, total)),
        limits=httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


class Fetcher:
    """One card from a provider, within the limits (see the module docstring)."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient, media: MediaStore) -> None:
        self.settings = settings
        self.client = client
        self.media = media

    async def card(self, embed: Embed) -> Embed:
        provider = embeds.provider(embed.provider, self.settings.oembed_extra)
        if provider is None or not provider.matches(embed.url):
            raise Failure(f"{embed.provider!r} is not an allowed provider", transient=False)
        endpoint = provider.fetch_url(embed.url)
        if provider.kind == "oembed":
            _, body = await self.get(endpoint, BODY_LIMIT, JSON_TYPES)
            try:
                card = embeds.card_from_oembed(orjson.loads(body), endpoint)
            except (orjson.JSONDecodeError, ValueError) as exc:
                raise Failure(f"not an oEmbed answer: {exc}", transient=False) from None
        else:
            final, body = await self.get(endpoint, BODY_LIMIT, HTML_TYPES)
            card = embeds.card_from_page(body.decode("utf-8", "replace"), final, embed.url)
        thumbnail = None
        if card.thumbnail_url:
            alt = f"{embed.provider_name}: {card.title}" if card.title else embed.provider_name
            try:
                thumbnail = await self.thumbnail(card.thumbnail_url, alt[:300])
            except (Failure, FeedError) as exc:
                log.info("card of %s kept without its thumbnail: %s", embed.url, exc)
        return embeds.filled(embed, card, thumbnail)

    async def thumbnail(self, url: str, alt: str) -> Photo:
        _, data = await self.get(url, THUMBNAIL_LIMIT, IMAGE_TYPES)
        processed = await asyncio.to_thread(images.process, data)
        for r in processed.renditions:
            await asyncio.to_thread(self.media.put, r.name, r.data)
        manifest = processed.manifest()
        return Photo(
            id=manifest["id"],
            width=manifest["width"],
            height=manifest["height"],
            sizes=tuple(
                PhotoSize(s["width"], s["height"], f"/media/{s['webp']}", f"/media/{s['jpeg']}")
                for s in manifest["sizes"]
            ),
            alt=alt,
        )

    async def get(self, url: str, limit: int, types: tuple[str, ...]) -> tuple[str, bytes]:
        """GET ``url`` (the URL answered, its body); Failure otherwise."""
        start = urlsplit(url)
        for _ in range(MAX_REDIRECTS + 1):
            if not self.settings.oembed_allow_private:
                blocked = await private_destination(url)
                if blocked is not None:
                    raise Failure(blocked, transient=False)
            try:
                async with asyncio.timeout(self.settings.oembed_timeout_seconds):
                    nxt, body = await self._once(url, limit, types, start.hostname or "")
            except TimeoutError:
                raise Failure(f"{start.hostname} did not answer in time", transient=True) from None
            except httpx.TransportError as exc:
                raise Failure(f"{start.hostname} unreachable: {exc!r}", transient=True) from None
            except (httpx.InvalidURL, ValueError) as exc:
                raise Failure(f"cannot fetch {url[:200]!r}: {exc}", transient=False) from None
            if body is not None:
                return url, body
            if urlsplit(url).scheme == "https" and urlsplit(nxt).scheme != "https":
                raise Failure("redirected from https to http", transient=False)
            url = nxt
        raise Failure(f"more than {MAX_REDIRECTS} redirects", transient=False)

    async def _once(
        self, url: str, limit: int, types: tuple[str, ...], host: str
    ) -> tuple[str, bytes | None]:
        accept = ", ".join(types)
        async with self.client.stream("GET", url, headers={"Accept": accept}) as resp:
            if resp.is_redirect:
                location = urljoin(url, resp.headers.get("location", ""))
                parts = urlsplit(location)
                if parts.hostname != host or parts.scheme not in ("http", "https"):
                    raise Failure(f"redirected to another host ({parts.hostname})", transient=False)
                return location, None
            if resp.status_code == 429 or resp.status_code >= 500:
                raise Failure(f"{host} answered {resp.status_code}", transient=True)
            if resp.status_code != 200:
                raise Failure(f"{host} answered {resp.status_code}", transient=False)
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype not in types:
                raise Failure(
                    f"{host} answered {ctype or 'no type'}, not {accept}", transient=False
                )
            length = resp.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise Failure(f"{host} answered more than {limit} bytes", transient=False)
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise Failure(f"{host} answered more than {limit} bytes", transient=False)
            return url, bytes(body)


class EmbedLoop:
    """One worker's card fetches: claims due entries, fills their cards."""

    def __init__(
        self,
        store: Stores,
        settings: Settings,
        client: httpx.AsyncClient,
        media: MediaStore,
        dirty: Dirty,
    ) -> None:
        self.store = store
        self.settings = settings
        self.fetcher = Fetcher(settings, client, media)
        self.queue = EmbedQueue(store.redis)
        self.dirty = dirty
        self._free = CONCURRENCY
        self._next_sweep = 0.0

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            while True:
                try:
                    await self._round(tg)
                except StoreUnavailable as exc:
                    log.warning("embed fetches: redis unavailable: %s", exc)
                    metrics.REDIS_ERRORS.inc()
                    await asyncio.sleep(random.uniform(0.5, 1.5))
                except Exception:
                    log.exception("embed fetches failed; retrying")
                    await asyncio.sleep(1.0)

    async def _round(self, tg: asyncio.TaskGroup) -> None:
        feeds = await self.dirty.wait(max(0.01, self._next_sweep - time.monotonic()))
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            feeds.update(await self.store.registry.list_feeds())
        for feed in sorted(feeds):
            claims = await self.queue.claim(feed, now_ms(), self._free)
            for claim in claims:
                self._free -= 1
                tg.create_task(self._one(claim), name=f"embed {feed}/{claim.entry_id}")

    async def _one(self, claim: Claim) -> None:
        try:
            await self.fetch(claim)
        except StoreUnavailable as exc:
            log.warning("embed %s/%s: redis unavailable: %s", claim.feed, claim.entry_id, exc)
        except Exception:  # its lease ends and it is claimed again (counted)
            log.exception("embed %s/%s failed", claim.feed, claim.entry_id)
        finally:
            self._free += 1
            self.dirty.add(claim.feed)  # a slot is free: look at the feed's queue again

    async def fetch(self, claim: Claim) -> str:
        """One attempt for one claimed entry; returns the outcome."""
        try:
            entry = await self.store.editorial.get_entry(claim.feed, claim.entry_id)
        except NotFound:
            entry = None
        embed = entry.embed if entry is not None else None
        if (
            embed is None
            or embed.status != "pending"
            or entry is None
            or entry.status == "retracted"
        ):
            await self.queue.done(claim)
            return self._outcome("stale")
        try:
            result = await self.fetcher.card(embed)
        except Failure as exc:
            if exc.transient and claim.attempt < self.settings.oembed_attempts:
                delay = backoff_delay(
                    claim.attempt, base=self.settings.oembed_retry_seconds, cap=MAX_DELAY_SECONDS
                )
                await self.queue.retry(claim, now_ms() + int(delay * 1000))
                log.info(
                    "card of %s: attempt %d failed (%s); again in %.1fs",
                    embed.url,
                    claim.attempt,
                    exc.reason,
                    delay,
                )
                return self._outcome("retry")
            log.warning("card of %s failed after %d attempts: %s", embed.url, claim.attempt, exc)
            result = embeds.filled(embed, None, None)
        filled = await self.store.editorial.fill_embed(
            claim.feed, claim.entry_id, result, actor=ACTOR
        )
        await self.queue.done(claim)
        return self._outcome(result.status if filled else "stale")

    @staticmethod
    def _outcome(outcome: str) -> str:
        metrics.EMBED_FETCHES.labels(outcome).inc()
        return outcome
