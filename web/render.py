"""What the reader pages show, computed without I/O.

Times are shown in the feed's IANA time zone as a news site would ("5:44 PM");
the zone is named once in the column's header ("Times in EET"), and an item
repeats it only when its own abbreviation differs from the header's (across a
daylight-saving change). Items from another day than today (in the feed's
zone) also show their date ("Nov 26").

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

from feed.model import Entry, to_rfc3339

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone)


def clock(dt: datetime) -> str:
    """``5:44 PM``: the 12-hour clock news sites use."""
    hour = dt.hour % 12 or 12
    return f"{hour}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


def day(dt: datetime) -> str:
    return f"{MONTHS[dt.month - 1]} {dt.day}"


def full_time(ms: int, timezone: str) -> str:
    """``Nov 26, 2026, 5:44 PM EET``: a moment in full, in the feed's zone."""
    dt = local(ms, ZoneInfo(timezone))
    return f"{day(dt)}, {dt.year}, {clock(dt)} {dt.tzname()}"


def zone_label(zone: ZoneInfo, now_ms: int) -> str:
    return local(now_ms, zone).tzname() or str(zone)


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

    @property
    def shows_updated(self) -> bool:
        """The "Updated" mark, unless the latest mark is the correction itself."""
        return self.updated is not None and self.updated_iso != self.corrected_iso


def item(entry: Entry, zone: ZoneInfo, now_ms: int) -> Item:
    published = local(entry.published_at, zone)
    today = local(now_ms, zone)
    header_zone = today.tzname()
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
        time=clock(published),
        date=None if published.date() == today.date() else day(published),
        zone=None if published.tzname() == header_zone else published.tzname(),
        title=f"{day(published)}, {published.year}, {clock(published)} {published.tzname()}",
        updated_iso=None if entry.updated_at is None else to_rfc3339(entry.updated_at),
        updated=None if updated is None else clock(updated),
        key_event=entry.key_event,
        key_label=entry.key_label,
        corrected_iso=None if entry.corrected_at is None else to_rfc3339(entry.corrected_at),
        corrected=None if entry.corrected_at is None else clock(local(entry.corrected_at, zone)),
        correction_note=entry.correction_note,
    )


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


def key_events(entries: list[Entry], zone: ZoneInfo) -> list[KeyEvent]:
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
                time=clock(local(entry.published_at, zone)),
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
    *, base: str, feed: str, title: str, entries: list[Entry], now_ms: int
) -> dict[str, Any]:
    """schema.org ``LiveBlogPosting`` for a feed page, each update a ``BlogPosting``."""
    page_url = f"{base}/feeds/{quote(feed, safe='')}"
    updates = []
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
    times = [e.published_at for e in entries]
    modified_all = [e.updated_at or e.published_at for e in entries]
    doc = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "@id": page_url,
        "url": page_url,
        "headline": title,
        "coverageStartTime": to_rfc3339(min(times)) if times else None,
        "dateModified": to_rfc3339(max(modified_all) if modified_all else now_ms),
        "liveBlogUpdate": updates,
    }
    return {k: v for k, v in doc.items() if v is not None}
