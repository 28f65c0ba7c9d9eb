"""Languages: gettext message catalogues and CLDR date formats (Babel).

A feed's language is a BCP 47 tag (``en``, ``uk``, ``en-GB``). Its
*messages* come from the gettext catalogue of the tag (``en_GB``) or of its
base language (``en``), under ``feed/locales/<lang>/LC_MESSAGES/newsfeed.po``;
its *formats* (the clock, month names, plural rules, zone names) come from
CLDR through Babel, for the full tag. A tag whose base language has no
catalogue is refused: a page must never be half in one language and half in
another.

The ``.po`` files are the only form a catalogue takes in the repository and
the package: each process compiles them in memory the first time a language
is used (``read_po`` then ``write_mo`` into a buffer, a few milliseconds), so
a fresh ``pip install`` has nothing to build and a translator's edit needs no
extra step. Adding a language is adding one ``.po`` file (README, "Languages").

English ships as a catalogue too (its ``msgstr`` are empty, so gettext falls
back to the ``msgid``): it is the template translators start from.

Times: the short time format (``format_time(..., "short")``: "5:44 PM",
"08:05"), the ``MMMd`` skeleton for a day ("Nov 26", "26 лист."), the medium
date for a tooltip ("Nov 26, 2026"), the long localised GMT offset
for an item whose zone differs from the header's ("GMT+02:00"), and the
long zone name for the header ("Eastern European Summer Time", "за
східноєвропейським літнім часом"). These are the same CLDR patterns the
browser's ``Intl.DateTimeFormat`` uses for ``timeStyle: "short"``,
``{month: "short", day: "numeric"}``, ``dateStyle: "medium"`` and
``timeZoneName: "longOffset"`` (both read CLDR), so what
``live.js`` inserts matches what the server rendered. CLDR writes a narrow
no-break space before AM/PM; it is shown as a plain space, as Chromium's
``Intl`` does.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import (
    format_date,
    format_skeleton,
    format_time,
    get_timezone_gmt,
    get_timezone_name,
)
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from feed.errors import InvalidInput

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "newsfeed"
DEFAULT = "en"
TAG_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|\d{3}))?$")


def available() -> tuple[str, ...]:
    """The catalogues shipped: directory names under ``feed/locales``."""
    return tuple(
        sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    )


def _catalogue_of(tag: str) -> str | None:
    names = set(available())
    parts = tag.split("-")
    for candidate in ("_".join(parts), parts[0]):
        if candidate in names:
            return candidate
    return None


def check_language(tag: str) -> str:
    """A supported BCP 47 tag, normalised (``uk``, ``en-GB``); InvalidInput otherwise."""
    if not isinstance(tag, str) or not TAG_RE.match(tag.strip()):
        raise InvalidInput("a language is a BCP 47 tag such as en, uk or en-GB", field="language")
    parts = tag.strip().split("-")
    parts[0] = parts[0].lower()
    for i, part in enumerate(parts[1:], 1):
        parts[i] = part.title() if len(part) == 4 else part.upper()
    norm = "-".join(parts)
    try:
        Locale.parse(norm, sep="-")
    except (UnknownLocaleError, ValueError):
        raise InvalidInput(f"unknown language {tag!r}", field="language") from None
    if _catalogue_of(norm) is None:
        raise InvalidInput(
            f"no translation for {tag!r}; available: {', '.join(available())}",
            field="language",
        )
    return norm


@functools.cache
def _translations(catalogue: str) -> Translations:
    path = LOCALES_DIR / catalogue / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=catalogue, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def N_(message: str) -> str:
    """Marks a message for extraction (``pybabel extract -k N_``); translated later."""
    return message


def _plain(text: str) -> str:
    return text.replace("\u202f", " ")


class Language:
    """One language: its messages and its date formats."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        catalogue = _catalogue_of(tag) or DEFAULT
        self.locale = Locale.parse(tag, sep="-")
        self.translations = _translations(catalogue)

    # -- messages --------------------------------------------------------------
    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def plural_forms(self, singular: str, plural: str) -> dict[str, str]:
        """``{CLDR plural category: message}``, for the browser's ``Intl.PluralRules``.

        Each category gets the catalogue's form for the smallest number in it,
        so a language's gettext Plural-Forms and CLDR's rules meet here.
        """
        out: dict[str, str] = {}
        for n in range(0, 200):
            category = self.locale.plural_form(n)
            if category not in out:
                out[category] = self.ngettext(singular, plural, n)
        return out

    # -- formats ---------------------------------------------------------------
    def names(self, names: Sequence[str]) -> str:
        """``A, B and C`` (en), ``A, B і C`` (uk): CLDR's list pattern."""
        return format_list(list(names), style="standard", locale=self.locale) if names else ""

    def byline(self, names: Sequence[str]) -> str:
        """``By A and B``; '' for no names."""
        return self.gettext("By {names}").replace("{names}", self.names(names)) if names else ""

    def time(self, dt: datetime) -> str:
        """The short clock: ``5:44 PM`` (en), ``17:44`` (uk)."""
        return _plain(format_time(dt, "short", tzinfo=dt.tzinfo, locale=self.locale))

    def day(self, dt: datetime) -> str:
        """Month and day: ``Nov 26`` (en), ``26 лист.`` (uk)."""
        return _plain(format_skeleton("MMMd", dt, tzinfo=dt.tzinfo, locale=self.locale))

    def month(self, dt: datetime) -> str:
        """The abbreviated month on its own: ``Dec`` (en), ``груд.`` (uk)."""
        return _plain(format_date(dt, "LLL", locale=self.locale))

    def full_day(self, dt: datetime) -> str:
        """The medium date: ``Nov 26, 2026`` (en), ``26 лист. 2026 р.`` (uk)."""
        return _plain(format_date(dt, "medium", locale=self.locale))

    def zone_mark(self, dt: datetime) -> str:
        """The zone of one time as a localised GMT offset: ``GMT+03:00``."""
        return _plain(get_timezone_gmt(dt, "long", locale=self.locale))

    def zone_name(self, dt: datetime) -> str:
        """The zone's long name at that time: ``Eastern European Summer Time``."""
        return _plain(get_timezone_name(dt, "long", locale=self.locale))

    @property
    def display_name(self) -> str:
        name = str(self.locale.get_display_name(self.locale) or self.tag)
        return name[:1].upper() + name[1:]


@functools.cache
def language(tag: str | None) -> Language:
    """The Language of a stored tag; an unknown or empty one falls back to English."""
    try:
        return Language(check_language(tag or DEFAULT))
    except InvalidInput:
        return Language(DEFAULT)


def choices() -> Iterable[tuple[str, str]]:
    """(tag, its name in itself) for every shipped catalogue, for forms."""
    for tag in available():
        yield tag.replace("_", "-"), language(tag.replace("_", "-")).display_name
