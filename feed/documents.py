"""Feed documents: Atom 1.0, RSS 2.0 and JSON Feed 1.1. Pure renderers, no I/O.

Each renderer takes the feed's metadata, its latest public entries and the
base URL readers use, and returns the document's bytes. Retracted entries are
never in the input (only public entries are); an edit marked as an update
shows as the entry's ``updated`` / ``atom:updated`` / ``date_modified``. A
public correction is a closing "Correction: ..." paragraph of the content
(escaped text); a key event is a category (Atom, RSS) or tag (JSON Feed); the
JSON Feed ``_newsfeed`` extension carries both as fields. An embedded post
is a link paragraph (our card's escaped texts, never the provider's markup);
the extension has its ``embed``.

Safety: XML is built with ``xml.etree.ElementTree`` (every text node and
attribute escaped by the serialiser, never by string concatenation), after
removing the characters XML 1.0 cannot carry at all; bodies are sanitised
HTML (sanitised again here, so a document is safe whatever the store holds)
and travel as escaped text (Atom ``type="html"``, RSS ``description``), and
JSON Feed is serialised by orjson.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal

import orjson

from feed.i18n import language
from feed.model import Entry, to_rfc3339
from feed.validate import sanitize_body

Format = Literal["atom", "rss", "json"]
FORMATS: tuple[Format, ...] = ("atom", "rss", "json")
CONTENT_TYPES: dict[Format, str] = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
DOCUMENT_ENTRIES = 50
"""How many of the latest public entries a document carries."""

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "newsfeed"
# Characters XML 1.0 forbids anywhere (C0 controls but tab/LF/CR, surrogates,
# U+FFFE/U+FFFF): ElementTree would write them and produce a broken document.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclasses.dataclass(frozen=True, slots=True)
class FeedInfo:
    slug: str
    title: str
    base_url: str
    """Where readers reach the web app, without a trailing slash."""
    created_at: int
    """Epoch ms: the feed's ``updated`` when it has no entries yet."""
    language: str = "en"
    """BCP 47: Atom ``xml:lang``, RSS ``language``, JSON Feed ``language``."""

    def description(self) -> str:
        return (
            language(self.language)
            .gettext("Live updates from {title}")
            .replace("{title}", self.title)
        )

    def key_event_label(self) -> str:
        return language(self.language).gettext("Key event")

    @property
    def page_url(self) -> str:
        return f"{self.base_url}/feeds/{self.slug}"

    def document_url(self, fmt: Format) -> str:
        return f"{self.page_url}.{fmt}"

    def permalink(self, entry: Entry) -> str:
        return f"{self.page_url}/entries/{entry.id}"

    def entry_link(self, entry: Entry) -> str:
        """Where the entry's headline points: its own url, else its permalink."""
        return entry.url or self.permalink(entry)


@dataclasses.dataclass(frozen=True, slots=True)
class Document:
    format: Format
    body: bytes
    etag: str
    """A strong ETag, quoted."""
    modified: int
    """Epoch ms for Last-Modified."""

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def xml_text(text: str) -> str:
    return _XML_BAD.sub("", text)


def modified_at(entry: Entry) -> int:
    return entry.updated_at if entry.updated_at is not None else entry.published_at


def ordered(entries: Sequence[Entry], limit: int = DOCUMENT_ENTRIES) -> list[Entry]:
    """The visible entries, newest first (feed readers sort by date, not pins)."""
    visible = [e for e in entries if e.visible]
    visible.sort(key=lambda e: (e.published_at, e.id), reverse=True)
    return visible[:limit]


def feed_updated(info: FeedInfo, entries: Sequence[Entry]) -> int:
    return max((modified_at(e) for e in entries), default=info.created_at)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        el.text = xml_text(text)
    return el


def _xml(root: ET.Element) -> bytes:
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


Bodies = Mapping[str, str]
"""Entry id -> sanitised body, computed once for all formats."""


def correction_html(entry: Entry, lang: str = "en") -> str:
    """The public correction as a paragraph of escaped text ('' when none)."""
    if not entry.correction_note:
        return ""
    label = html.escape(language(lang).gettext("Correction"), quote=False)
    return (
        f'<p class="correction"><strong>{label}:</strong> '
        f"{html.escape(entry.correction_note, quote=False)}</p>"
    )


def photo_html(entry: Entry, base_url: str) -> str:
    """The photo as an ``<img>`` (alt, size) and its caption, escaped text."""
    if entry.photo is None:
        return ""
    ph, esc = entry.photo, html.escape
    big = ph.largest
    out = (
        f'<figure><img src="{esc(base_url + big.jpeg)}" width="{big.width}" '
        f'height="{big.height}" alt="{esc(ph.alt)}">'
    )
    texts = " ".join(t for t in (ph.caption, ph.credit) if t)
    if texts:
        out += f"<figcaption>{esc(texts, quote=False)}</figcaption>"
    return out + "</figure>"


def embed_html(entry: Entry, base_url: str) -> str:
    """An embedded post as a link paragraph of escaped text (and its thumbnail).

    Feed readers get our card, never the provider's markup: a plain link while
    the card is pending or failed."""
    em, esc = entry.embed, html.escape
    if em is None:
        return ""
    label = " · ".join(t for t in (em.provider_name, em.author_name) if t)
    text = f"{label}: {em.title}" if em.status == "ready" and em.title else f"{label}: {em.url}"
    thumb = ""
    if em.status == "ready" and em.thumbnail is not None:
        t = em.thumbnail.largest
        thumb = (
            f'<img src="{esc(base_url + t.jpeg)}" width="{t.width}" height="{t.height}" alt=""><br>'
        )
    return (
        f'<p class="embed">{thumb}<a href="{esc(em.url)}" rel="noopener noreferrer nofollow">'
        f"{esc(text, quote=False)}</a></p>"
    )


def sanitised(entries: Sequence[Entry], lang: str = "en", base_url: str = "") -> dict[str, str]:
    """Each entry's content: its photo, its sanitised body, its embedded post,
    then its public correction."""
    return {
        e.id: photo_html(e, base_url)
        + (sanitize_body(e.body) if e.body else "")
        + embed_html(e, base_url)
        + correction_html(e, lang)
        for e in entries
    }


KEY_EVENT_TERM = "key-event"


def extension(entry: Entry) -> dict[str, object]:
    """The JSON Feed ``_newsfeed`` extension: key event and correction fields."""
    return {
        "key_event": entry.key_event,
        "key_label": entry.key_label,
        "corrected_at": None if entry.corrected_at is None else to_rfc3339(entry.corrected_at),
        "correction_note": entry.correction_note,
        "embed": None if entry.embed is None else entry.embed.to_json(),
    }


def render_atom(info: FeedInfo, entries: Sequence[Entry], bodies: Bodies | None = None) -> bytes:
    items = ordered(entries)
    bodies = sanitised(items, info.language, info.base_url) if bodies is None else bodies
    ET.register_namespace("", ATOM_NS)
    q = f"{{{ATOM_NS}}}"
    root = ET.Element(f"{q}feed", {"{http://www.w3.org/XML/1998/namespace}lang": info.language})
    _sub(root, f"{q}id", info.page_url)
    _sub(root, f"{q}title", info.title)
    _sub(root, f"{q}updated", to_rfc3339(feed_updated(info, items)))
    _sub(root, f"{q}link", rel="alternate", type="text/html", href=info.page_url)
    _sub(root, f"{q}link", rel="self", type="application/atom+xml", href=info.document_url("atom"))
    _sub(root, f"{q}generator", GENERATOR)
    author = _sub(root, f"{q}author")
    _sub(author, f"{q}name", info.title)
    for e in items:
        el = _sub(root, f"{q}entry")
        _sub(el, f"{q}id", info.permalink(e))
        _sub(el, f"{q}title", e.headline, type="text")
        _sub(el, f"{q}published", to_rfc3339(e.published_at))
        for a in e.authors:
            _sub(_sub(el, f"{q}author"), f"{q}name", a.name)
        _sub(el, f"{q}updated", to_rfc3339(modified_at(e)))
        _sub(el, f"{q}link", rel="alternate", type="text/html", href=info.entry_link(e))
        if e.key_event:
            label = e.key_label or info.key_event_label()
            _sub(el, f"{q}category", term=KEY_EVENT_TERM, label=label)
        if e.photo is not None:
            big = e.photo.largest
            href = info.base_url + big.jpeg
            _sub(el, f"{q}link", rel="enclosure", type="image/jpeg", href=href, title=e.photo.alt)
        if bodies[e.id]:
            _sub(el, f"{q}content", bodies[e.id], type="html")
    return _xml(root)


def _rfc822(ms: int) -> str:
    return format_datetime(datetime.fromtimestamp(ms / 1000, tz=UTC), usegmt=True)


def render_rss(info: FeedInfo, entries: Sequence[Entry], bodies: Bodies | None = None) -> bytes:
    items = ordered(entries)
    bodies = sanitised(items, info.language, info.base_url) if bodies is None else bodies
    ET.register_namespace("atom", ATOM_NS)
    ET.register_namespace("dc", DC_NS)
    root = ET.Element("rss", {"version": "2.0"})
    channel = _sub(root, "channel")
    _sub(channel, "title", info.title)
    _sub(channel, "link", info.page_url)
    _sub(channel, "description", info.description())
    _sub(channel, "language", info.language)
    _sub(channel, "lastBuildDate", _rfc822(feed_updated(info, items)))
    _sub(channel, "generator", GENERATOR)
    _sub(
        channel,
        f"{{{ATOM_NS}}}link",
        rel="self",
        type="application/rss+xml",
        href=info.document_url("rss"),
    )
    for e in items:
        item = _sub(channel, "item")
        _sub(item, "title", e.headline)
        _sub(item, "link", info.entry_link(e))
        _sub(item, "guid", info.permalink(e), isPermaLink="true")
        _sub(item, "pubDate", _rfc822(e.published_at))
        # RSS 2.0 has no modification date; the Atom namespace's carries it.
        _sub(item, f"{{{ATOM_NS}}}updated", to_rfc3339(modified_at(e)))
        for a in e.authors:
            _sub(item, f"{{{DC_NS}}}creator", a.name)
        if e.photo is not None:
            # RSS requires a length; the exact size is not in the entry, and
            # RSS Best Practices allow 0 when it is unknown.
            _sub(item, "enclosure", url=info.base_url + e.photo.largest.jpeg, length="0",
                 type="image/jpeg")  # fmt: skip
        if e.key_event:
            _sub(item, "category", e.key_label or info.key_event_label(), domain=KEY_EVENT_TERM)
        if bodies[e.id]:
            _sub(item, "description", bodies[e.id])
    return _xml(root)


def render_json(info: FeedInfo, entries: Sequence[Entry], bodies: Bodies | None = None) -> bytes:
    items = ordered(entries)
    bodies = sanitised(items, info.language, info.base_url) if bodies is None else bodies
    return orjson.dumps(
        {
            "version": JSONFEED_VERSION,
            "title": info.title,
            "home_page_url": info.page_url,
            "feed_url": info.document_url("json"),
            "description": info.description(),
            "language": info.language,
            "items": [
                {
                    "id": info.permalink(e),
                    "url": info.entry_link(e),
                    "title": e.headline,
                    "content_html": bodies[e.id],
                    "date_published": to_rfc3339(e.published_at),
                    "date_modified": to_rfc3339(modified_at(e)),
                    **({"authors": [{"name": a.name} for a in e.authors]} if e.authors else {}),
                    **({"tags": [info.key_event_label()]} if e.key_event else {}),
                    **(
                        {"image": info.base_url + e.photo.largest.jpeg}
                        if e.photo is not None
                        else {}
                    ),
                    "_newsfeed": extension(e),
                }
                for e in items
            ],
        }
    )


RENDERERS = {"atom": render_atom, "rss": render_rss, "json": render_json}


def render_all(info: FeedInfo, entries: Sequence[Entry], modified: int) -> list[Document]:
    """Every format of the feed's document; ``modified`` is the Last-Modified (ms)."""
    items = ordered(entries)
    bodies = sanitised(items, info.language, info.base_url)
    out = []
    for fmt in FORMATS:
        body = RENDERERS[fmt](info, items, bodies)
        out.append(Document(fmt, body, etag_of(body), modified))
    return out


def http_date(ms: int) -> str:
    return _rfc822(ms)
