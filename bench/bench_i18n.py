"""What a feed's language costs: compiling a catalogue, rendering a column.

    .venv/bin/python bench/bench_i18n.py [--items 20] [--rounds 500]

Prints the one-off cost of compiling each shipped ``.po`` catalogue in
memory (what a process pays the first time a feed uses the language), and
the CPU time to turn N entries into column items (Babel's CLDR formats)
per language. Pure CPU, no Redis, no network.
"""

from __future__ import annotations

import argparse
import statistics
import time
from zoneinfo import ZoneInfo

from feed import i18n
from feed.model import Entry, now_ms
from web import render


def entries(n: int) -> list[Entry]:
    now = now_ms()
    return [
        Entry(f"e{i:04d}", "news", 1, f"Update {i}", "<p>x</p>", None, now - i * 600_000,
              now - i * 300_000 if i % 3 == 0 else None, "published", False)
        for i in range(n)
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    zone = ZoneInfo("Europe/Kyiv")
    for tag in i18n.available():
        t0 = time.perf_counter()
        i18n._translations.cache_clear()  # our own cache: time a cold load
        i18n.Language(tag)
        print(f"compile {tag}.po in memory: {(time.perf_counter() - t0) * 1000:.2f} ms")
    items = entries(args.items)
    now = now_ms()
    for tag in i18n.available():
        lang = i18n.language(tag)
        samples = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            for e in items:
                render.item(e, zone, now, lang)
            render.zone_label(zone, now, lang)
            samples.append((time.perf_counter() - t0) * 1e6)
        samples.sort()
        p50, p99 = statistics.median(samples), samples[int(len(samples) * 0.99) - 1]
        print(
            f"{tag}: a column of {args.items} items: p50 {p50:.0f} us, p99 {p99:.0f} us "
            f"({p50 / args.items:.1f} us per item)"
        )


if __name__ == "__main__":
    main()
