"""What the reader pages show, computed without I/O.

Times are shown in the feed's IANA time zone and language as a news site
would, in CLDR's formats through Babel (``feed.i18n``): "5:44 PM" in English,
"17:44" in Ukrainian. The zone is named once in the column's header ("Times
in Eastern European Summer Time"), and an item repeats it, as a GMT offset
("GMT+02:00"), only when its own offset differs from the header's (across a
daylight-saving change). Items from another day than today (in the feed's
zone) also show their date ("Nov 26", "26 лист.").

JSON-LD is serialised with ``<``, ``>`` and ``&`` escaped as ``\\u003c`` ...
so nothing an editor wrote can close the ``<script type="application/ld+json">``
element it sits in.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import orjson

from feed.i18n import Language, language
from feed.model import Embed, Entry, Photo, to_rfc3339

ENGLISH = language("en")


def local(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone)


def clock(dt: datetime, lang: Language = ENGLISH) -> str:
    """The language's short clock: ``5:44 PM`` (en), ``17:44`` (uk)."""
    return lang.time(dt)


def day(dt: datetime, lang: Language = ENGLISH) -> str:
    return lang.day(dt)


def full_time(ms: int, timezone: str, lang: Language = ENGLISH) -> str:
    """A moment in full, in the feed's zone and language: ``Nov 26, 2026, 5:44 PM GMT+2``."""
    dt = local(ms, ZoneInfo(timezone))
    return f"{lang.full_day(dt)}, {clock(dt, lang)} {lang.zone_mark(dt)}"


def zone_label(zone: ZoneInfo, now_ms: int, lang: Language = ENGLISH) -> str:
    """The header's zone: its long name now, in the language."""
    return lang.zone_name(local(now_ms, zone))


def is_web_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def permalink(feed: str, entry_id: str) -> str:
    return f"/feeds/{quote(feed, safe='')}/entries/{quote(entry_id, safe='')}"


@dataclasses.dataclass(frozen=True, slots=True)
class Item:
    """One entry, as the News Feed column shows it."""

    id: str
    version: int
    key: str
    """The timeline member: the column's sort key (pinned first, newest first)."""
    headline: str
    body: str
    """Sanitised HTML from the store: the only markup the column inserts."""
    href: str
    permalink: str
    pinned: bool
    published_iso: str
    time: str
    date: str | None
    zone: str | None
    title: str
    """The full date, time and zone, for a tooltip."""
    updated_iso: str | None
    updated: str | None
    key_event: bool = False
    key_label: str | None = None
    corrected_iso: str | None = None
    corrected: str | None = None
    correction_note: str | None = None
    """Plain text: the page escapes it."""
    byline: str = ""
    """``By Olena Kovalenko and Taras Shevchenko`` ('' without authors)."""
    photo: Photo | None = None
    avatars: tuple[str, ...] = ()
    """The authors' avatar URLs, in byline order (decorative: the names are the text)."""
    embed: Embed | None = None
    """An embedded post: a card when ``ready``, else a plain link (never provider HTML)."""

    @property
    def card_srcset_webp(self) -> str:
        thumb = self.embed.thumbnail if self.embed else None
        return srcset(thumb, "webp") if thumb else ""

    @property
    def card_srcset_jpeg(self) -> str:
        thumb = self.embed.thumbnail if self.embed else None
        return srcset(thumb, "jpeg") if thumb else ""

    @property
    def srcset_webp(self) -> str:
        return srcset(self.photo, "webp") if self.photo else ""

    @property
    def srcset_jpeg(self) -> str:
        return srcset(self.photo, "jpeg") if self.photo else ""

    @property
    def shows_updated(self) -> bool:
        """The "Updated" mark, unless the latest mark is the correction itself."""
        return self.updated is not None and self.updated_iso != self.corrected_iso


def item(entry: Entry, zone: ZoneInfo, now_ms: int, lang: Language = ENGLISH) -> Item:
    published = local(entry.published_at, zone)
    today = local(now_ms, zone)
    mark = lang.zone_mark(published)
    updated = None if entry.updated_at is None else local(entry.updated_at, zone)
    link = permalink(entry.feed, entry.id)
    return Item(
        id=entry.id,
        version=entry.version,
        key=entry.timeline_member(),
        headline=entry.headline,
        body=entry.body,
        href=entry.url if is_web_url(entry.url) and entry.url else link,
        permalink=link,
        pinned=entry.pinned,
        published_iso=to_rfc3339(entry.published_at),
        time=clock(published, lang),
        date=None if published.date() == today.date() else day(published, lang),
        zone=None if published.utcoffset() == today.utcoffset() else mark,
        title=f"{lang.full_day(published)}, {clock(published, lang)} {mark}",
        updated_iso=None if entry.updated_at is None else to_rfc3339(entry.updated_at),
        updated=None if updated is None else clock(updated, lang),
        key_event=entry.key_event,
        key_label=entry.key_label,
        corrected_iso=None if entry.corrected_at is None else to_rfc3339(entry.corrected_at),
        corrected=None
        if entry.corrected_at is None
        else clock(local(entry.corrected_at, zone), lang),
        correction_note=entry.correction_note,
        byline=lang.byline([a.name for a in entry.authors]),
        photo=entry.photo,
        avatars=tuple(a.avatar for a in entry.authors if a.avatar),
        embed=entry.embed,
    )


def shared_content(embed: Embed, base: str) -> dict[str, Any]:
    """JSON-LD of an embedded post: what the update shares (plain texts only)."""
    out: dict[str, Any] = {
        "@type": "VideoObject" if embed.provider == "youtube" else "SocialMediaPosting",
        "url": embed.url,
    }
    if embed.title:
        out["name" if embed.provider == "youtube" else "headline"] = embed.title
    if embed.author_name:
        out["author"] = {
            "@type": "Person",
            "name": embed.author_name,
            **({"url": embed.author_url} if embed.author_url else {}),
        }
    if embed.thumbnail is not None:
        out["thumbnailUrl"] = base + embed.thumbnail.largest.jpeg
    return out


PHOTO_SIZES = "(min-width: 720px) 640px, 100vw"
"""The ``sizes`` of a column photo: the column is at most about 640 CSS px wide."""


def srcset(photo: Photo, kind: str) -> str:
    return ", ".join(f"{s.webp if kind == 'webp' else s.jpeg} {s.width}w" for s in photo.sizes)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyEvent:
    """One line of the "Key events" list above the column."""

    id: str
    version: int
    key: str
    label: str
    permalink: str
    published_iso: str
    time: str


def key_events(entries: list[Entry], zone: ZoneInfo, lang: Language = ENGLISH) -> list[KeyEvent]:
    """The key events, newest first (the list is chronological, pins aside)."""
    out = []
    for entry in sorted(entries, key=lambda e: (e.published_at, e.id), reverse=True):
        if not entry.key_event or not entry.visible:
            continue
        out.append(
            KeyEvent(
                id=entry.id,
                version=entry.version,
                key=f"{entry.published_at:013d}:{entry.id}",
                label=entry.key_label or entry.headline,
                permalink=permalink(entry.feed, entry.id),
                published_iso=to_rfc3339(entry.published_at),
                time=clock(local(entry.published_at, zone), lang),
            )
        )
    return out


def script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>`` breakout."""
    text = orjson.dumps(data).decode()
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def live_blog(
    *,
    base: str,
    feed: str,
    title: str,
    entries: list[Entry],
    now_ms: int,
    language: str = "en",
) -> dict[str, Any]:
    """schema.org ``LiveBlogPosting`` for a feed page, each update a ``BlogPosting``."""
    page_url = f"{base}/feeds/{quote(feed, safe='')}"
    updates: list[dict[str, Any]] = []
    for entry in entries:
        modified = entry.updated_at if entry.updated_at is not None else entry.published_at
        updates.append(
            {
                "@type": "BlogPosting",
                "@id": base + permalink(feed, entry.id),
                "headline": entry.headline,
                "datePublished": to_rfc3339(entry.published_at),
                "dateModified": to_rfc3339(modified),
                "url": base + permalink(feed, entry.id),
                "inLanguage": language,
            }
        )
        if entry.correction_note and entry.corrected_at is not None:
            updates[-1]["correction"] = {
                "@type": "CorrectionComment",
                "text": entry.correction_note,
                "datePublished": to_rfc3339(entry.corrected_at),
            }
        if entry.key_event:
            updates[-1]["keywords"] = "key event"
        if entry.photo is not None:
            big = entry.photo.largest
            updates[-1]["image"] = {
                "@type": "ImageObject",
                "url": base + big.jpeg,
                "width": big.width,
                "height": big.height,
                **({"caption": entry.photo.caption} if entry.photo.caption else {}),
                **({"creditText": entry.photo.credit} if entry.photo.credit else {}),
            }
        if entry.embed is not None:
            updates[-1]["sharedContent"] = shared_content(entry.embed, base)
        if entry.authors:
            updates[-1]["author"] = [
                {
                    "@type": "Person",
                    "name": a.name,
                    **({"image": base + a.avatar} if a.avatar else {}),
                }
                for a in entry.authors
            ]
    times = [e.published_at for e in entries]
    modified_all = [e.updated_at or e.published_at for e in entries]
    doc = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "@id": page_url,
        "url": page_url,
        "headline": title,
        "inLanguage": language,
        "coverageStartTime": to_rfc3339(min(times)) if times else None,
        "dateModified": to_rfc3339(max(modified_all) if modified_all else now_ms),
        "liveBlogUpdate": updates,
    }
    return {k: v for k, v in doc.items() if v is not None}


def script_messages(lang: Language) -> dict[str, Any]:
    """Every string ``live.js`` shows, in the feed's language.

    The reader page and the iframe carry it in ``data-nf-messages``; the
    script embed gets it from ``GET /api/v1/feeds/{feed}``. ``new_updates``
    maps each CLDR plural category to its form (``Intl.PluralRules`` picks
    one in the browser); ``{n}``, ``{time}``, ``{zone}`` and ``{title}`` are
    filled in by the script.
    """
    return {
        "lang": lang.tag,
        "live": lang.gettext("Live"),
        "live_slow": lang.gettext("Live (slow connection)"),
        "connecting": lang.gettext("Connecting…"),
        "reconnecting": lang.gettext("Reconnecting…"),
        "updated": lang.gettext("Updated: {time}"),
        "more": lang.gettext("More news"),
        "pinned": lang.gettext("Pinned"),
        "key_events": lang.gettext("Key events"),
        "key_event": lang.gettext("Key event"),
        "correction": lang.gettext("Correction"),
        "what_changed": lang.gettext("What changed"),
        "by": lang.gettext("By {names}"),
        "photo_credit": lang.gettext("Photo: {credit}"),
        "news_feed": lang.gettext("News Feed"),
        "empty": lang.gettext("No updates yet. New ones appear here as they are posted."),
        "open_feed": lang.gettext("Open the full feed"),
        "live_page": lang.gettext("{title} · live page ↗"),
        "times_in": lang.gettext("Times in {zone}"),
        "no_feed": lang.gettext("This feed does not exist."),
        "loading": lang.gettext("Loading…"),
        "new_updates": lang.plural_forms("{n} new update", "{n} new updates"),
    }
