"""Photos: every upload decoded, bounded, stripped and re-encoded. No I/O.

``process`` takes the bytes someone uploaded and returns new files made from
the decoded pixels alone: no byte of the upload is served, so no metadata
(EXIF, GPS, XMP, ICC, comments) and no polyglot payload survives. The checks,
in order, each a 4xx that stores nothing:

- more than ``MAX_BYTES``: PayloadTooLarge (413);
- what Pillow can open, whatever the file is called: JPEG, PNG or WebP, else
  UnsupportedMediaType (415; SVG is named: it is a document, not pixels);
- the header's pixel count is checked before any pixel is decoded: more than
  ``MAX_PIXELS`` (a decompression bomb) is PayloadTooLarge (413);
- a file that does not decode completely (truncated, corrupt) is
  InvalidInput (422).

The orientation EXIF asks for is applied first; the image is then encoded
at a few widths (never upscaled) as WebP and JPEG, each named by the SHA-256
of its bytes, so every URL is immutable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import warnings
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from feed.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

MAX_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000
"""40 megapixels: more than any camera a reporter carries, far below a bomb."""
WIDTHS = (320, 640, 1280)
FORMATS = {"JPEG", "PNG", "WEBP"}
QUALITY = 82
TYPES = {"webp": "image/webp", "jpg": "image/jpeg"}


@dataclasses.dataclass(frozen=True, slots=True)
class Rendition:
    name: str
    """``<sha256>.<ext>``: the content-hashed file name."""
    width: int
    height: int
    content_type: str
    data: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Processed:
    id: str
    """``ph_`` and 24 hex digits of the SHA-256 of the largest JPEG rendition."""
    width: int
    height: int
    renditions: tuple[Rendition, ...]

    def manifest(self) -> dict[str, Any]:
        """What the API returns and an entry's ``photo`` carries (no bytes)."""
        sizes: dict[int, dict[str, Any]] = {}
        for r in self.renditions:
            size = sizes.setdefault(r.width, {"width": r.width, "height": r.height})
            size["webp" if r.content_type == "image/webp" else "jpeg"] = r.name
        return {
            "id": self.id,
            "width": self.width,
            "height": self.height,
            "sizes": [sizes[w] for w in sorted(sizes)],
        }


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096])


def _open(data: bytes) -> Image.Image:
    if not data:
        raise InvalidInput("the upload is empty", field="file")
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(
            f"a photo may be at most {MAX_BYTES // (1024 * 1024)} MB", field="file"
        )
    if _looks_like_svg(data):
        raise UnsupportedMediaType(
            "SVG is not accepted (a document that can carry script); upload JPEG, PNG or WebP",
            field="file",
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own bound and raises above twice that;
            # ours is lower and checked on the header below.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(FORMATS))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise PayloadTooLarge(
            f"the image has more than {MAX_PIXELS:,} pixels", field="file"
        ) from None
    except UnidentifiedImageError:
        raise UnsupportedMediaType(
            "the file is not a JPEG, PNG or WebP image", field="file"
        ) from None
    except (OSError, ValueError, SyntaxError):
        raise InvalidInput("the image is damaged and cannot be read", field="file") from None
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise PayloadTooLarge(f"the image has more than {MAX_PIXELS:,} pixels", field="file")
    return image


def _decode(image: Image.Image) -> Image.Image:
    """Fully decoded pixels in a fresh image: RGB (alpha flattened on white)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning):
        raise InvalidInput(
            "the image is incomplete or damaged (a truncated upload?)", field="file"
        ) from None
    if upright.mode in ("RGBA", "LA") or (upright.mode == "P" and "transparency" in upright.info):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    clean = Image.new("RGB", upright.size)
    clean.paste(upright.convert("RGB"))
    return clean


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, "WEBP", quality=QUALITY, method=4)
    else:
        image.save(out, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def widths_for(width: int) -> list[int]:
    """The rendition widths: the standard ones below the original, and the original
    capped at the largest."""
    out = [w for w in WIDTHS if w < width]
    out.append(min(width, WIDTHS[-1]))
    return sorted(set(out))


AVATAR_SIZE = 192
"""Avatars are square, 192 px (sharp at 96 CSS px on a 2x screen)."""


def process_avatar(data: bytes) -> Processed:
    """An avatar: the same checks, then the centre square at ``AVATAR_SIZE``."""
    image = _decode(_open(data))
    side = min(image.width, image.height, AVATAR_SIZE)
    square = ImageOps.fit(image, (side, side), Image.Resampling.LANCZOS)
    return _renditions(square, [side])


def process(data: bytes) -> Processed:
    """Check and re-encode one upload (see the module docstring)."""
    image = _decode(_open(data))
    return _renditions(image, widths_for(image.width))


def _renditions(image: Image.Image, widths: list[int]) -> Processed:
    renditions: list[Rendition] = []
    for width in widths:
        height = max(1, round(image.height * width / image.width))
        sized = image
        if width != image.width:
            sized = image.resize((width, height), Image.Resampling.LANCZOS)
        for ext in ("webp", "jpg"):
            body = _encode(sized, ext)
            name = f"{hashlib.sha256(body).hexdigest()}.{ext}"
            renditions.append(Rendition(name, width, height, TYPES[ext], body))
    largest = renditions[-1]  # the JPEG of the largest width
    return Processed(
        id="ph_" + largest.name.split(".")[0][:24],
        width=largest.width,
        height=largest.height,
        renditions=tuple(renditions),
    )
