"""Benchmark: the photo path's cost per upload, in-process (no I/O but Pillow).

Makes camera-like JPEGs (with EXIF and GPS) of a few sizes and runs
``feed.images.process`` on each ``--rounds`` times, then prints per size:
input bytes, output bytes (all renditions), and p50 / max milliseconds per
upload; plus the time to refuse a 50,000 x 50,000 bomb header. One core;
the web process runs at most two of these at once (web.uploads).

    .venv/bin/python bench/bench_images.py --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import struct
import time
import zlib

from PIL import Image

from feed import images
from feed.errors import PayloadTooLarge

SIZES = [(1280, 720), (4000, 3000), (6000, 4000)]


def camera_jpeg(size: tuple[int, int]) -> bytes:
    image = Image.effect_noise(size, 40).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x8825] = {1: "N", 2: (50.0, 27.0, 1.5), 3: "E", 4: (30.0, 31.0, 2.5)}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def bomb() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'input':>11} {'bytes in':>10} {'bytes out':>10} {'p50 ms':>8} {'max ms':>8}")
    for size in SIZES:
        data = camera_jpeg(size)
        times, out = [], 0
        for _ in range(args.rounds):
            start = time.perf_counter()
            done = images.process(data)
            times.append((time.perf_counter() - start) * 1000)
            out = sum(len(r.data) for r in done.renditions)
        label = f"{size[0]}x{size[1]}"
        p50, worst = statistics.median(times), max(times)
        print(f"{label:>11} {len(data):>10} {out:>10} {p50:>8.1f} {worst:>8.1f}")
    start = time.perf_counter()
    with contextlib.suppress(PayloadTooLarge):
        images.process(bomb())
    print(f"bomb 50000x50000 refused in {(time.perf_counter() - start) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
