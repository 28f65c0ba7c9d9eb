"""Languages: the shipped catalogues are complete and the tags are checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from feed import i18n
from feed.errors import InvalidInput

LOCALES = Path(i18n.__file__).resolve().parent / "locales"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)s")


def catalogue(lang: str) -> object:
    with (LOCALES / lang / "LC_MESSAGES" / "newsfeed.po").open("rb") as f:
        return read_po(f, locale=lang)


def template_ids() -> set[object]:
    with (LOCALES / "newsfeed.pot").open("rb") as f:
        return {m.id for m in read_po(f) if m.id}


def test_english_and_ukrainian_ship() -> None:
    assert set(i18n.available()) >= {"en", "uk"}


@pytest.mark.parametrize("lang", i18n.available())
def test_every_catalogue_has_every_message_of_the_template(lang: str) -> None:
    cat = catalogue(lang)
    ids = {m.id for m in cat if m.id}  # type: ignore[attr-defined]
    assert ids == template_ids(), "run pybabel update (README, Languages)"


@pytest.mark.parametrize("lang", [t for t in i18n.available() if t != "en"])
def test_translations_are_complete_and_keep_their_placeholders(lang: str) -> None:
    cat = catalogue(lang)
    for m in cat:  # type: ignore[attr-defined]
        if not m.id:
            continue
        assert not m.fuzzy, m.id
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(strings), f"{lang}: {m.id!r} is not translated"
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for s in strings:
            assert set(PLACEHOLDER.findall(s)) == wanted, (m.id, s)


def test_the_template_covers_every_message_the_code_uses() -> None:
    """Extraction is not forgotten: each msgid the reader JS gets is in the template."""
    from web.render import script_messages

    en = script_messages(i18n.language("en"))
    ids = template_ids()
    for key, value in en.items():
        if key == "lang":
            continue
        if key == "new_updates":
            assert ("{n} new update", "{n} new updates") in ids
        else:
            assert value in ids, key


def test_language_tags() -> None:
    assert i18n.check_language("uk") == "uk"
    assert i18n.check_language("EN") == "en"
    assert i18n.check_language("en-gb") == "en-GB"
    assert i18n.check_language("uk-UA") == "uk-UA"
    for bad in ("", "english", "u", "en_GB", "en-", "x" * 40, "de", "zz"):
        with pytest.raises(InvalidInput) as exc:
            i18n.check_language(bad)
        assert exc.value.field == "language"


def test_a_regional_tag_uses_its_base_catalogue_and_its_own_formats() -> None:
    from datetime import UTC, datetime

    gb = i18n.language("en-GB")
    dt = datetime(2026, 5, 16, 17, 44, tzinfo=UTC)
    assert gb.gettext("More news") == "More news"
    assert (gb.time(dt), gb.day(dt)) == ("17:44", "16 May")
    assert i18n.language("en").time(dt) == "5:44 PM"
    assert i18n.language(None).tag == "en"
