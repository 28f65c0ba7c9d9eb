"""The embed allow-list and the card sanitising: pure, no I/O."""

from __future__ import annotations

import orjson
import pytest

from feed import embeds, validate
from feed.errors import InvalidInput
from feed.model import Embed, Entry

GOOD = {
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ": "youtube",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s": "youtube",
    "https://youtu.be/dQw4w9WgXcQ": "youtube",
    "https://m.youtube.com/shorts/dQw4w9WgXcQ": "youtube",
    "https://x.com/ZelenskyyUa/status/1790000000000000000": "x",
    "https://twitter.com/ZelenskyyUa/status/1790000000000000000?s=20": "x",
    "https://t.me/ukrpravda_news/123456": "telegram",
    "https://t.me/s/ukrpravda_news/123456": "telegram",
}
BAD = [
    "http://www.youtube.com/watch?v=dQw4w9WgXcQ",  # https only
    "https://www.youtube.com.evil.test/watch?v=dQw4w9WgXcQ",
    "https://evil.test/https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ#<script>",
    "https://user@x.com/a/status/1",
    "https://x.com/a/status/1/../../../admin",
    "https://t.me/joinchat/AAAA",
    "https://t.me/ukrpravda_news",
    "javascript:alert(1)",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ\n",
    "",
]


def test_only_the_allow_listed_url_schemes_match() -> None:
    for url, provider in GOOD.items():
        assert embeds.match(url).provider == provider, url
    for url in BAD:
        if url.endswith("\n"):  # pasted with a trailing newline: trimmed, fine
            assert embeds.match(url).url == url.strip()
            continue
        with pytest.raises(InvalidInput) as caught:
            embeds.match(url)
        assert caught.value.field == "embed", url


def test_a_request_is_exactly_a_url_or_null() -> None:
    assert embeds.requested(None) is None
    bads: list[object] = ["https://youtu.be/dQw4w9WgXcQ", {"url": 1}, {"url": "x", "t": "t"}, []]
    for bad in bads:
        with pytest.raises(InvalidInput):
            embeds.requested(bad)
    # the validator only takes what the web layer resolved: never a card from a client
    with pytest.raises(InvalidInput):
        embeds.checked({"url": "https://youtu.be/dQw4w9WgXcQ", "status": "ready"})
    ready = Embed("https://youtu.be/dQw4w9WgXcQ", "youtube", "YouTube", "ready", "t")
    with pytest.raises(InvalidInput):
        embeds.checked(ready)


def test_extra_providers_are_added_from_json_and_checked() -> None:
    extra = orjson.dumps(
        [{"id": "t", "pattern": r"https://v\.test/\d+", "endpoint": "http://127.0.0.1:1/o?u={url}"}]
    ).decode()
    assert embeds.match("https://v.test/1", extra).provider == "t"
    with pytest.raises(InvalidInput):
        embeds.match("https://v.test/1")  # not without the setting
    with pytest.raises(InvalidInput):
        embeds.match("http://v.test/1", r"[{}]".replace("{}", extra[1:-1]))  # https still
    for bad in ("{", "[{}]", '[{"id":"a","pattern":"(","endpoint":"http://h/"}]'):
        with pytest.raises(ValueError):
            embeds.extra_providers(bad)
    p = embeds.provider("t", extra)
    assert p is not None and p.fetch_url("https://v.test/1?a=b") == (
        "http://127.0.0.1:1/o?u=https%3A%2F%2Fv.test%2F1%3Fa%3Db"
    )


def test_an_oembed_card_keeps_plain_texts_and_never_the_html() -> None:
    card = embeds.card_from_oembed(
        {
            "title": "  Line\none\u0000 <b>bold</b>  ",
            "author_name": "x" * 500,
            "author_url": "javascript:alert(1)",
            "thumbnail_url": "http://i.ytimg.com/vi/a/hq.jpg",
            "html": "<script>alert(1)</script><iframe src=x></iframe>",
        },
        "https://www.youtube.com/oembed?url=x",
    )
    assert card.title == "Line one <b>bold</b>"  # plain text: escaped when shown
    assert card.author_name is not None and len(card.author_name) == embeds.AUTHOR_MAX
    assert card.author_url is None  # not https
    assert card.thumbnail_url is None  # http, not the endpoint's origin
    assert "script" not in repr(card) and "iframe" not in repr(card)
    with pytest.raises(ValueError):
        embeds.card_from_oembed(["not", "an", "object"], "https://e/")


def test_an_x_post_gives_its_text_out_of_the_blockquote() -> None:
    html = (
        '<blockquote class="twitter-tweet"><p lang="uk" dir="ltr">Air raid alert in '
        '<a href="https://t.co/x">Kyiv</a>.<br>Go to shelters &amp; stay.</p>&mdash; '
        'Official (@official) <a href="https://twitter.com/o/status/1">May 1</a></blockquote>'
        '<script async src="https://platform.twitter.com/widgets.js"></script>'
    )
    card = embeds.card_from_oembed(
        {"author_name": "Official", "author_url": "https://twitter.com/official", "html": html},
        "https://publish.twitter.com/oembed?url=x",
    )
    assert card.title == "Air raid alert in Kyiv. Go to shelters & stay."
    assert card.author_url == "https://twitter.com/official"


def test_a_telegram_page_gives_its_open_graph_tags() -> None:
    page = (
        "<html><head>"
        '<meta property="og:title" content="Ukrainska Pravda">'
        '<meta property="og:description" content="Explosions heard in Odesa &lt;3">'
        '<meta property="og:image" content="https://cdn4.telesco.pe/file/abc.jpg">'
        "</head><body><script>evil()</script></body></html>"
    )
    card = embeds.card_from_page(
        page, "https://t.me/ukrpravda_news/1", "https://t.me/ukrpravda_news/1"
    )
    assert card.title == "Explosions heard in Odesa <3"
    assert card.author_name == "Ukrainska Pravda"
    assert card.author_url == "https://t.me/ukrpravda_news"
    assert card.thumbnail_url == "https://cdn4.telesco.pe/file/abc.jpg"


def entry(**over: object) -> Entry:
    ev = validate.new_entry(
        {"headline": "h", **over}, feed="f", entry_id="e1", actor="ed", now=1_764_000_000_000
    )
    return ev.entry


def test_the_same_url_keeps_its_card_another_starts_over() -> None:
    pending = embeds.match("https://youtu.be/dQw4w9WgXcQ")
    current = entry(embed=pending)
    assert current.embed == pending
    ready = embeds.filled(pending, embeds.Card("T", "A", None, None), None)
    filled = embeds.fill_event(current, ready, actor="embeds", now=1).entry
    assert filled.version == 2 and filled.embed is not None and filled.embed.status == "ready"
    with pytest.raises(InvalidInput):  # the same URL again: no change
        validate.edit_entry(filled, {"embed": pending}, actor="ed", now=2)
    other = embeds.match("https://x.com/a/status/1")
    moved = validate.edit_entry(filled, {"embed": other}, actor="ed", now=2)
    assert moved.entry.embed == other and embeds.needs_fetch(moved)
    removed = validate.edit_entry(filled, {"embed": None}, actor="ed", now=2)
    assert removed.entry.embed is None and not embeds.needs_fetch(removed)
    failed = embeds.fill_event(current, embeds.filled(pending, None, None), actor="e", now=1)
    again = validate.edit_entry(failed.entry, {"embed": pending}, actor="ed", now=3)
    assert again.entry.embed == pending and embeds.needs_fetch(again)
    # an edit that does not touch the embed does not fetch it again
    assert not embeds.needs_fetch(validate.edit_entry(current, {"headline": "x"}, actor="e", now=4))
    assert Entry.loads(filled.dumps()) == filled
