"""Writes the fixtures of tests/io/image_decode_test.cc and image_resize_test.cc.

Decoding: small edge-case images and, for each decodable one, <name>.rgb.npy = what
transformers' load_image gives (PIL.ImageOps.exif_transpose, then convert("RGB")), uint8 [h, w, 3].
Resizing: resize_source.png and resize_<w>x<h>_pillow13.npy = Image.resize((w, h), BICUBIC) by
this Pillow 13, and resize_<w>x<h>_pillow12.npy = the same with the horizontal pass first (one
horizontal-only then one vertical-only resize, which is what Pillow <= 12 does in one call).

Run with the reference environment: /opt/glimpse-venv/bin/python tests/io/images/make_fixtures.py
Deterministic (seeded); Pillow 13.0.0.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

OUT = Path(__file__).resolve().parent
RNG = np.random.default_rng(1234)


def gradient(width: int, height: int, channels: int, maximum: int = 255) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    planes = [(xs * 7 + ys * 3 + c * 40) % (maximum + 1) for c in range(channels)]
    noise = RNG.integers(0, 3, (height, width, channels))
    return np.clip(np.stack(planes, axis=-1) + noise, 0, maximum)


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: list[bytes]) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data)
            + png_chunk(b"IEND", b""))


def save(name: str, data: bytes, expect: bool = True) -> None:
    (OUT / name).write_bytes(data)
    if expect:
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        np.save(OUT / f"{name}.rgb.npy", np.asarray(image.convert("RGB"), dtype=np.uint8))


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


RESIZE_SIZES = [(37, 20), (30, 8), (21, 9), (64, 50), (20, 45), (39, 31), (40, 29)]


def write_resize_fixtures() -> None:
    pixels = gradient(40, 31, 3).astype(np.uint8) ^ RNG.integers(0, 64, (31, 40, 3), dtype=np.uint8)
    source = Image.fromarray(pixels, "RGB")
    source.save(OUT / "resize_source.png")
    for width, height in RESIZE_SIZES:
        pillow13 = source.resize((width, height), Image.Resampling.BICUBIC)
        pillow12 = source.resize((width, source.height), Image.Resampling.BICUBIC).resize(
            (width, height), Image.Resampling.BICUBIC)
        np.save(OUT / f"resize_{width}x{height}_pillow13.npy", np.asarray(pillow13))
        np.save(OUT / f"resize_{width}x{height}_pillow12.npy", np.asarray(pillow12))


def main() -> None:
    write_resize_fixtures()
    rgb = Image.fromarray(gradient(23, 17, 3).astype(np.uint8), "RGB")
    rgba = Image.fromarray(gradient(19, 13, 4).astype(np.uint8), "RGBA")

    # PNG layouts PIL converts differently: 16-bit grey clamps, other 16-bit keep the high byte.
    gray16 = gradient(21, 11, 1, 65535)[..., 0].astype(">u2")
    save("gray16.png", raw_png(21, 11, 16, 0, [row.tobytes() for row in gray16]))
    rgb16 = gradient(15, 9, 3, 65535).astype(">u2")
    save("rgb16.png", raw_png(15, 9, 16, 2, [row.tobytes() for row in rgb16]))
    rgba16 = gradient(15, 9, 4, 65535).astype(">u2")
    save("rgba16.png", raw_png(15, 9, 16, 6, [row.tobytes() for row in rgba16]))
    la8 = gradient(14, 10, 2).astype(np.uint8)
    save("gray_alpha.png", raw_png(14, 10, 8, 4, [row.tobytes() for row in la8]))
    bits = np.packbits(gradient(30, 8, 1)[..., 0] % 2 == 1, axis=1)
    save("gray1.png", raw_png(30, 8, 1, 0, [row.tobytes() for row in bits]))
    save("rgba.png", encoded(rgba, "PNG"))
    palette = rgb.quantize(colors=8, dither=Image.Dither.NONE)
    save("palette_trns.png", encoded(palette, "PNG", transparency=3))
    save("exif_rot8.png", encoded(rgb, "PNG", exif=exif_with_orientation(8)))

    save("photo.jpg", encoded(rgb, "JPEG", quality=85, subsampling="4:2:0"))
    save("gray.jpg", encoded(rgb.convert("L"), "JPEG", quality=90))
    save("cmyk.jpg", encoded(rgb.convert("CMYK"), "JPEG", quality=95))
    save("progressive.jpg", encoded(rgb, "JPEG", quality=80, progressive=True))
    for orientation in (2, 3, 4, 5, 6, 7):
        save(f"exif_rot{orientation}.jpg",
             encoded(rgb, "JPEG", quality=90, exif=exif_with_orientation(orientation)))

    save("lossless_alpha.webp", encoded(rgba, "WEBP", lossless=True))
    save("lossy.webp", encoded(rgb, "WEBP", quality=80))
    save("exif_rot6.webp", encoded(rgb, "WEBP", lossless=True, exif=exif_with_orientation(6)))

    # Refused inputs (no expectation file): truncated, damaged, unknown, oversized headers.
    photo = (OUT / "photo.jpg").read_bytes()
    save("truncated.jpg", photo[: len(photo) // 2], expect=False)
    png = (OUT / "rgba.png").read_bytes()
    save("truncated.png", png[: len(png) - 30], expect=False)
    damaged = bytearray(png)
    damaged[40] ^= 0xFF  # inside IDAT: CRC mismatch
    save("bad_crc.png", bytes(damaged), expect=False)
    webp = (OUT / "lossy.webp").read_bytes()
    save("truncated.webp", webp[: len(webp) // 2], expect=False)
    save("bomb.png", raw_png(100_000, 100_000, 8, 2, [])[:33] + png_chunk(b"IEND", b""), expect=False)
    save("not_an_image.bin", b"GIF89a" + bytes(32), expect=False)


if __name__ == "__main__":
    main()
