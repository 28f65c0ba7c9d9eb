"""The image path on real files made here: what is refused, what is kept, what is stripped."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from feed import images
from feed.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

GPS = {1: "N", 2: (50.0, 27.0, 1.5), 3: "E", 4: (30.0, 31.0, 2.5)}


def jpeg_with_gps(size: tuple[int, int] = (1600, 900), orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (180, 40, 40))
    for x in range(0, size[0], 50):  # some structure, so encoders have work
        image.paste((20, 20, 200), (x, 0, x + 10, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS R5 serial 1234567"  # Model
    exif[0x8825] = GPS  # the GPS IFD: where the reporter stood
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"shot at 50.45N 30.52E")
    return out.getvalue()


def png_with_alpha(size: tuple[int, int] = (500, 300)) -> bytes:
    image = Image.new("RGBA", size, (0, 128, 0, 0))
    image.paste((0, 128, 0, 255), (100, 100, 200, 200))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=None)
    return out.getvalue()


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG whose header claims 2.5 gigapixels: a few hundred bytes on the wire."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


def test_gps_and_every_other_metadata_are_gone() -> None:
    data = jpeg_with_gps()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825) == GPS  # the input has it
    out = images.process(data)
    assert [(r.width, r.content_type) for r in out.renditions] == [
        (320, "image/webp"), (320, "image/jpeg"), (640, "image/webp"), (640, "image/jpeg"),
        (1280, "image/webp"), (1280, "image/jpeg"),
    ]  # fmt: skip
    for r in out.renditions:
        assert b"Canon" not in r.data and b"EOS R5" not in r.data and b"50.45N" not in r.data
        assert b"Exif\x00\x00" not in r.data and b"GPS" not in r.data
        decoded = Image.open(io.BytesIO(r.data))
        assert len(decoded.getexif()) == 0 and "icc_profile" not in decoded.info
        assert decoded.size == (r.width, r.height)
        assert r.name.split(".")[0] == __import__("hashlib").sha256(r.data).hexdigest()
    assert (out.width, out.height) == (1280, 720)
    manifest = out.manifest()
    assert manifest["id"] == out.id and len(manifest["sizes"]) == 3
    assert manifest["sizes"][0] == {
        "width": 320,
        "height": 180,
        "webp": out.renditions[0].name,
        "jpeg": out.renditions[1].name,
    }


def test_the_orientation_is_applied_then_dropped() -> None:
    out = images.process(jpeg_with_gps((800, 400), orientation=6))  # rotate 90 degrees
    assert (out.width, out.height) == (400, 800)


def test_a_png_with_transparency_is_flattened_and_small_images_are_not_upscaled() -> None:
    out = images.process(png_with_alpha())
    assert [r.width for r in out.renditions] == [320, 320, 500, 500]
    corner = Image.open(io.BytesIO(out.renditions[-1].data)).convert("RGB").getpixel((5, 5))
    assert isinstance(corner, tuple) and min(corner) > 240  # white, not black


def test_the_same_upload_gives_the_same_names() -> None:
    data = png_with_alpha()
    assert images.process(data).manifest() == images.process(data).manifest()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (jpeg_with_gps()[:4000], InvalidInput),  # truncated
        (png_bomb(), PayloadTooLarge),  # 50,000 x 50,000
        (png_bomb(8000, 6000), PayloadTooLarge),  # 48 MP: over our bound, under Pillow's
        (SVG, UnsupportedMediaType),
        (b"<svg onload=alert(1)></svg>", UnsupportedMediaType),
        (b"%PDF-1.4 this is not a photo, only named photo.jpg", UnsupportedMediaType),
        (b"GIF89a" + b"\x00" * 64, UnsupportedMediaType),  # not one of ours
        (b"", InvalidInput),
        (b"\xff\xd8\xff" + b"\x00" * (images.MAX_BYTES + 1), PayloadTooLarge),
    ],
)
def test_bad_uploads_are_refused_with_the_right_error(
    data: bytes, error: type[InvalidInput]
) -> None:
    with pytest.raises(error) as exc:
        images.process(data)
    assert type(exc.value) is error and exc.value.field == "file"
