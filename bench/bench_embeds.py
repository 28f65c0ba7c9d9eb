"""Benchmark: one embedded post's card, fetched and made, in-process.

Starts the tests' local oEmbed provider on 127.0.0.1 (an oEmbed JSON answer and
a 640x360 JPEG thumbnail with GPS EXIF) and runs ``workers.embeds.Fetcher.card``
``--rounds`` times: the oEmbed GET, the sanitising, the thumbnail GET and its
trip through the photo path (Pillow decode, re-encode to WebP and JPEG in two
widths, written to a temporary media directory). Prints p50 / p90 / max
milliseconds per card, and the same for a refused answer (1 MiB body: the size
limit) to show a bad provider costs little. Loopback only; no time is asserted.

    PYTHONPATH=. .venv/bin/python bench/bench_embeds.py --rounds 30   # reuses the tests' provider
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from feed.media import FilesystemMediaStore
from feed.model import Embed
from feed.settings import Settings
from tests.workers.oembed_provider import OEmbedProvider
from workers.embeds import Failure, Fetcher, http_client


def row(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return (
        f"{name:<28} p50 {statistics.median(ms):7.1f} ms  p90 {p90:7.1f} ms  max {ms[-1]:7.1f} ms"
    )


async def main(rounds: int) -> None:
    async with OEmbedProvider().running() as provider:
        settings = Settings(oembed_extra=provider.extra(), oembed_allow_private=True)
        with tempfile.TemporaryDirectory() as media_dir:
            async with http_client(settings) as client:
                fetcher = Fetcher(settings, client, FilesystemMediaStore(Path(media_dir)))
                cards: list[float] = []
                refused: list[float] = []
                for _ in range(rounds):
                    url = f"https://video.test/v/ok-{uuid.uuid4().hex[:8]}"
                    t = time.perf_counter()
                    card = await fetcher.card(Embed(url, "testvideo", "TestVideo"))
                    cards.append((time.perf_counter() - t) * 1000)
                    assert card.status == "ready" and card.thumbnail is not None
                    url = f"https://video.test/v/huge-{uuid.uuid4().hex[:8]}"
                    t = time.perf_counter()
                    try:
                        await fetcher.card(Embed(url, "testvideo", "TestVideo"))
                    except Failure:
                        refused.append((time.perf_counter() - t) * 1000)
    print(f"embedded-post cards, {rounds} rounds, loopback provider, one worker process")
    print(row("card (oEmbed + thumbnail)", cards))
    print(row("refused (1 MiB answer)", refused))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    asyncio.run(main(parser.parse_args().rounds))
