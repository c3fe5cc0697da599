"""Deterministic test images: odd sizes, tiny, very wide, RGBA, grayscale, palette, JPEG.

Content is smooth gradients plus shapes and a little seeded noise, so resizing and
normalisation errors show up as real differences rather than hiding in flat colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def _rgb_canvas(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 255 * xs / max(width - 1, 1)
    green = 255 * ys / max(height - 1, 1)
    blue = 127.5 + 127.5 * np.sin((xs + 2 * ys) / 9.0)
    pixels = np.stack([red, green, blue], axis=-1) + rng.normal(0, 12, (height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _with_shapes(image: Image.Image, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed + 1000)
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(2, max(3, width // 3))), y0 + int(rng.integers(2, max(3, height // 3)))
        colour = tuple(int(c) for c in rng.integers(0, 256, len(image.getbands())))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    return image


def _rgb(width: int, height: int, seed: int) -> Image.Image:
    return _with_shapes(Image.fromarray(_rgb_canvas(width, height, seed), "RGB"), seed)


def _rgba(width: int, height: int, seed: int) -> Image.Image:
    rgb = _rgb_canvas(width, height, seed)
    ys, xs = np.mgrid[0:height, 0:width]
    alpha = (255 * xs / (width - 1)).astype(np.uint8)
    alpha[: height // 4] = 0  # a fully transparent band, with colour data still present under it
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


def _gray(width: int, height: int, seed: int) -> Image.Image:
    return _with_shapes(Image.fromarray(_rgb_canvas(width, height, seed)[..., 1], "L"), seed)


def _palette(width: int, height: int, seed: int) -> Image.Image:
    return _rgb(width, height, seed).quantize(colors=16, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


# file name -> (maker, width, height, seed)
IMAGES = {
    "odd_333x517.png": (_rgb, 333, 517, 1),
    "tiny_20x24.png": (_rgb, 20, 24, 2),
    "wide_1500x40.png": (_rgb, 1500, 40, 3),
    "rgba_200x150.png": (_rgba, 200, 150, 4),
    "gray_121x97.png": (_gray, 121, 97, 5),
    "palette_90x64.png": (_palette, 90, 64, 6),
    "photo_256x171.jpg": (_rgb, 256, 171, 7),
}


def write_images(out_dir: Path) -> dict[str, Path]:
    """Write every image in IMAGES under out_dir; returns {file name: path}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, (maker, width, height, seed) in IMAGES.items():
        image = maker(width, height, seed)
        path = out_dir / name
        if name.endswith(".jpg"):
            image.save(path, format="JPEG", quality=90, subsampling="4:2:0", optimize=False)
        else:
            image.save(path, format="PNG", optimize=False, compress_level=9)
        written[name] = path
    return written
