"""Embedded posts: the provider allow-list, pasted URLs, sanitised cards. No I/O.

An editor pastes the URL of a Telegram post, an X post or a YouTube video
(``"embed": {"url": ...}``). Only URLs that match an allow-listed
provider's scheme are accepted (https, the provider's own hosts and path
shapes); the entry is saved at once with ``status: pending`` and readers see
a plain link. A worker (``workers.embeds``) then fetches the provider's
description and fills in a card through the normal edit path (silently).

What a provider answers is never trusted: ``card_from_oembed`` and
``card_from_page`` keep only a title, an author name, an https author URL
and an https (or, for a test provider, same-origin) thumbnail URL, as plain
one-line texts; the provider's ``html`` (its script, its iframe) is never
kept. X's oEmbed has no title: the text of the post is read as plain text
out of the ``<p>`` of its blockquote (``html.parser``, text only). Telegram
has no oEmbed endpoint: the public post page is read for its Open Graph
tags (``og:title``, ``og:description``, ``og:image``), with the same limits.

The allow-list is ``PROVIDERS``; ``NEWSFEED_OEMBED_EXTRA`` (tests and
development only) adds providers from JSON:
``[{"id", "name", "pattern", "endpoint", "kind"}]`` where ``pattern`` is a
regular expression the whole pasted URL must match (https is required in
any case), ``endpoint`` a URL template with ``{url}`` (the pasted URL,
percent-encoded) or ``{path}`` (its path), and ``kind`` ``oembed`` or
``opengraph``.
"""

from __future__ import annotations

import dataclasses
import functools
import html.parser
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit

import orjson

from feed.errors import InvalidInput
from feed.model import Embed, Entry, Event, Photo

Kind = Literal["oembed", "opengraph"]

URL_MAX = 2000
TITLE_MAX = 300
AUTHOR_MAX = 120
BODY_LIMIT = 256 * 1024
"""Bytes read of an oEmbed answer or a post page; more is refused."""
THUMBNAIL_LIMIT = 5 * 1024 * 1024
"""Bytes read of a thumbnail; more is refused (then the card has none)."""
MAX_REDIRECTS = 3
"""Redirect hops followed, each to the same host and re-checked."""


@dataclasses.dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str
    pattern: re.Pattern[str]
    endpoint: str
    kind: Kind = "oembed"

    def matches(self, url: str) -> bool:
        return self.pattern.fullmatch(url) is not None

    def fetch_url(self, url: str) -> str:
        """What the worker GETs for a pasted URL."""
        return self.endpoint.replace("{url}", quote(url, safe="")).replace(
            "{path}", urlsplit(url).path
        )


_QUERY = r"(?:\?[A-Za-z0-9_.~=&%+-]{0,500})?"
PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "youtube",
        "YouTube",
        re.compile(
            r"https://(?:(?:www|m)\.youtube\.com/(?:watch\?v=[A-Za-z0-9_-]{11}"
            r"(?:&[A-Za-z0-9_.~=&%+-]{0,500})?|(?:shorts|live|embed)/[A-Za-z0-9_-]{11}"
            + _QUERY
            + r")|youtu\.be/[A-Za-z0-9_-]{11}"
            + _QUERY
            + r")"
        ),
        "https://www.youtube.com/oembed?format=json&url={url}",
    ),
    Provider(
        "x",
        "X",
        re.compile(
            r"https://(?:www\.|mobile\.)?(?:x|twitter)\.com/[A-Za-z0-9_]{1,15}/status/\d{1,20}"
            + _QUERY
        ),
        "https://publish.twitter.com/oembed?omit_script=true&dnt=true&url={url}",
    ),
    Provider(
        "telegram",
        "Telegram",
        re.compile(r"https://t\.me/(?:s/)?[A-Za-z][A-Za-z0-9_]{3,31}/\d{1,12}" + _QUERY),
        "https://t.me{path}",
        "opengraph",
    ),
)


@functools.cache
def extra_providers(raw: str) -> tuple[Provider, ...]:
    """Providers from ``NEWSFEED_OEMBED_EXTRA`` (tests and development only)."""
    if not raw.strip():
        return ()
    try:
        items = orjson.loads(raw)
        out = []
        for item in items:
            kind = item.get("kind", "oembed")
            endpoint = str(item["endpoint"])
            if kind not in ("oembed", "opengraph") or urlsplit(endpoint).scheme not in (
                "http",
                "https",
            ):
                raise ValueError(kind)
            out.append(
                Provider(
                    str(item["id"]),
                    str(item.get("name") or item["id"]),
                    re.compile(str(item["pattern"])),
                    endpoint,
                    kind,
                )
            )
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError, re.error) as exc:
        raise ValueError(
            'NEWSFEED_OEMBED_EXTRA must be [{"id", "name", "pattern", "endpoint", "kind"}]: '
            f"{exc}"
        ) from None
    return tuple(out)


def providers(extra: str = "") -> tuple[Provider, ...]:
    return PROVIDERS + extra_providers(extra)


def provider(provider_id: str, extra: str = "") -> Provider | None:
    return next((p for p in providers(extra) if p.id == provider_id), None)


def match(url: Any, extra: str = "") -> Embed:
    """The pending embed of a pasted URL, or InvalidInput naming ``embed``."""
    if not isinstance(url, str) or not url.strip() or len(url.strip()) > URL_MAX:
        raise InvalidInput(
            f'embed must be {{"url": "<link to the post>"}}, at most {URL_MAX} characters',
            field="embed",
        )
    url = url.strip()
    names = ", ".join(p.name for p in PROVIDERS)
    if urlsplit(url).scheme != "https" or any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidInput(f"embed.url must be an https link to a post on {names}", field="embed")
    for p in providers(extra):
        if p.matches(url):
            return Embed(url=url, provider=p.id, provider_name=p.name)
    raise InvalidInput(
        f"embed.url is not a post of a provider we embed ({names}); link to it with url instead",
        field="embed",
    )


def requested(value: Any, extra: str = "") -> Embed | None:
    """An API request's ``embed``: ``{"url": ...}`` or null (remove)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"url"}:
        raise InvalidInput('embed must be {"url": "<link to the post>"} or null', field="embed")
    return match(value["url"], extra)


def checked(value: Any) -> Embed | None:
    """The validator's check of a resolved embed (``web.embed_refs``): pending only."""
    if value is None:
        return None
    if isinstance(value, Embed) and value.status == "pending":
        return value
    raise InvalidInput('embed must be {"url": "<link to the post>"} or null', field="embed")


def merged(current: Embed | None, new: Embed | None) -> Embed | None:
    """What an edit's embed makes: the same URL keeps its card (a failed
    one is fetched again); another URL starts over as pending."""
    if new is not None and current is not None and new.url == current.url:
        return current if current.status != "failed" else new
    return new


def needs_fetch(event: Event) -> bool:
    """Whether this event leaves a card to fetch (the worker's queue gets it)."""
    e = event.entry.embed
    return e is not None and e.status == "pending" and "embed" in event.changes


# -- what a provider says, sanitised ---------------------------------------------
def plain(value: Any, limit: int) -> str | None:
    """One line of plain text (control characters dropped), cut at ``limit``."""
    if not isinstance(value, str):
        return None
    text = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def https_url(value: Any, base: str | None = None) -> str | None:
    """An absolute https URL (resolved against ``base``), else None."""
    if not isinstance(value, str) or not value or len(value) > URL_MAX:
        return None
    url = urljoin(base, value.strip()) if base else value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return None
    if any(c.isspace() or not c.isprintable() for c in url):
        return None
    return url


def fetchable(url: Any, endpoint: str, base: str | None = None) -> str | None:
    """A URL the worker may fetch for a card: https, or the same origin as
    the provider's endpoint (a test provider on http://127.0.0.1)."""
    good = https_url(url, base)
    if good is not None:
        return good
    if not isinstance(url, str) or len(url) > URL_MAX:
        return None
    full = urljoin(base, url.strip()) if base else url.strip()
    try:
        a, b = urlsplit(full), urlsplit(endpoint)
        same = (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
    except ValueError:
        return None
    return full if same and not any(c.isspace() for c in full) else None


@dataclasses.dataclass(frozen=True, slots=True)
class Card:
    """A sanitised card before its thumbnail is fetched."""

    title: str | None
    author_name: str | None
    author_url: str | None
    thumbnail_url: str | None


class _Text(html.parser.HTMLParser):
    """Text of the first ``<p>`` (X's blockquote) and the page's meta tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.para: list[str] = []
        self._in_p = 0
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            a = {k: v or "" for k, v in attrs}
            key = a.get("property") or a.get("name") or ""
            if key.startswith(("og:", "twitter:")) and key not in self.meta:
                self.meta[key] = a.get("content", "")
        elif tag == "p" and not self._done:
            self._in_p += 1
        elif tag == "br" and self._in_p:
            self.para.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._in_p:
            self._in_p -= 1
            self._done = self._done or not self._in_p

    def handle_data(self, data: str) -> None:
        if self._in_p and not self._done:
            self.para.append(data)


def _parse(text: str) -> _Text:
    parser = _Text()
    parser.feed(text[:BODY_LIMIT])
    parser.close()
    return parser


def card_from_oembed(data: Any, endpoint: str) -> Card:
    """The card of an oEmbed answer (a JSON object); ValueError if it is none."""
    if not isinstance(data, Mapping):
        raise ValueError("the oEmbed answer is not a JSON object")
    title = plain(data.get("title"), TITLE_MAX)
    if title is None and isinstance(data.get("html"), str):
        # X: the post's text, as plain text, out of its blockquote; the
        # HTML itself is dropped here and never stored.
        title = plain("".join(_parse(data["html"]).para), TITLE_MAX)
    return Card(
        title=title,
        author_name=plain(data.get("author_name"), AUTHOR_MAX),
        author_url=https_url(data.get("author_url")),
        thumbnail_url=fetchable(data.get("thumbnail_url"), endpoint),
    )


def card_from_page(page: str, page_url: str, pasted: str) -> Card:
    """The card of a public post page (Telegram): its Open Graph tags."""
    meta = _parse(page).meta
    author = plain(meta.get("og:title") or meta.get("twitter:title"), AUTHOR_MAX)
    text = plain(meta.get("og:description") or meta.get("twitter:description"), TITLE_MAX)
    channel = urlsplit(pasted).path.removeprefix("/s/").strip("/").split("/")[0]
    image = meta.get("og:image") or meta.get("twitter:image")
    return Card(
        title=text or author,
        author_name=author,
        author_url=https_url(f"https://{urlsplit(pasted).hostname}/{channel}"),
        thumbnail_url=fetchable(image, page_url, base=page_url) if image else None,
    )


def filled(embed: Embed, card: Card | None, thumbnail: Photo | None) -> Embed:
    """The embed once fetched (``card``) or finally failed (None)."""
    if card is None:
        return dataclasses.replace(embed, status="failed")
    return dataclasses.replace(
        embed,
        status="ready",
        title=card.title,
        author_name=card.author_name,
        author_url=card.author_url,
        thumbnail=thumbnail,
    )


def fill_event(current: Entry, embed: Embed, *, actor: str, now: int) -> Event:
    """The silent edit that puts a fetched card (or the failure) in the entry."""
    entry = dataclasses.replace(current, version=current.version + 1, embed=embed)
    return Event("edit", entry, actor, now, ("embed",))
