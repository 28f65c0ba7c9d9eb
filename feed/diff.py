"""Word-level differences between two published versions: pure, no I/O.

Readers see what a public correction changed: the headline and the text,
word by word. Bodies are compared as the text readers read (tags dropped,
entities decoded), so a changed link target alone shows no difference in the
text (the version list still says the version changed). Each segment is
plain text; the page escapes it like any other text.
"""

from __future__ import annotations

import difflib
import re
from html.parser import HTMLParser
from typing import Literal

Op = Literal["same", "del", "ins"]
Segment = tuple[Op, str]

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
MAX_TOKENS = 5_000
"""Beyond this many tokens a side is shown whole (removed, then added)."""

_BLOCKS = {"p", "br", "li", "blockquote", "ul", "ol"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_of(html: str) -> str:
    """The text of sanitised HTML, whitespace collapsed."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())


def words(old: str, new: str) -> list[Segment]:
    """Segments that turn ``old`` into ``new``: kept, removed and added runs."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS:
        return _merge([("del", old), ("ins", new)])
    out: list[Segment] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.append(("same", "".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            out.append(("del", "".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            out.append(("ins", "".join(b[j1:j2])))
    return _merge(out)


def _merge(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for op, text in segments:
        if not text:
            continue
        if merged and merged[-1][0] == op:
            merged[-1] = (op, merged[-1][1] + text)
        else:
            merged.append((op, text))
    return merged


def changed(segments: list[Segment]) -> bool:
    return any(op != "same" for op, _ in segments)
