"""Generated digit datasets for offline demos: ``synthetic-digits`` and ``synthetic-house-numbers``.

These are deterministic stand-ins shaped like MNIST and SVHN, rendered from
the fonts that ship with matplotlib, and are always named as generated data:
they never replace a real dataset silently.

- ``synthetic-digits``: grey 28x28, a white digit on black, with a random
  affine distortion (rotation, shear, scale, shift), stroke width and noise.
- ``synthetic-house-numbers``: colour 32x32, a centred digit flanked by
  neighbouring distractor digits, on a coloured, shaded background, with
  blur and noise. The label is the centred digit.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage.filters import gaussian
from skimage.morphology import dilation, disk, erosion
from skimage.transform import AffineTransform, resize, warp

from featviz.progress import bar

FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "cmss10.ttf",
)
GLYPH = 64  # side of the square on which each digit template is rendered


@functools.cache
def glyphs(size: int = 32) -> np.ndarray:
    """Digit templates as a ``(fonts, 10, size, size)`` float array in [0, 1].

    Each digit is drawn at a fixed height, centred on its ink, and reduced
    with anti-aliasing so that later warps do not alias.
    """
    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    out = np.zeros((len(FONTS), 10, size, size), dtype=np.float32)
    for f, font_name in enumerate(FONTS):
        font = ImageFont.truetype(str(font_dir / font_name), size=GLYPH * 3 // 4)
        for d in range(10):
            canvas = Image.new("L", (GLYPH * 2, GLYPH * 2), 0)
            ImageDraw.Draw(canvas).text((GLYPH // 2, GLYPH // 4), str(d), fill=255, font=font)
            ink = np.asarray(canvas, dtype=np.float32) / 255.0
            rows, cols = np.nonzero(ink > 0.1)
            top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
            h, w = bottom - top, right - left
            side = max(h, w)
            square = np.zeros((side, side), dtype=np.float32)
            square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = (
                ink[top:bottom, left:right]
            )
            pad = side // 6  # the digit's height fills 3/4 of the template
            square = np.pad(square, pad)
            out[f, d] = resize(square, (size, size), anti_aliasing=True, order=1)
    return np.clip(out, 0.0, 1.0)


def _affine(
    rng: np.random.Generator,
    out_size: int,
    src_size: int,
    scale: float,
    shift: tuple[float, float],
    max_rotation: float,
    max_shear: float,
) -> AffineTransform:
    """Inverse map from output pixels to template pixels for one random distortion."""
    rotation = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    shear = rng.uniform(-max_shear, max_shear)
    to_origin = AffineTransform(
        translation=(-(out_size - 1) / 2 - shift[0], -(out_size - 1) / 2 - shift[1])
    )
    distort = AffineTransform(scale=(1 / scale, 1 / scale), rotation=rotation, shear=shear)
    to_template = AffineTransform(translation=((src_size - 1) / 2, (src_size - 1) / 2))
    return AffineTransform(matrix=to_template.params @ distort.params @ to_origin.params)


def _digit_mask(
    rng: np.random.Generator,
    template: np.ndarray,
    out_size: int,
    height: float,
    shift: tuple[float, float],
    max_rotation: float,
    max_shear: float,
) -> np.ndarray:
    # The template's digit is 3/4 of its side tall; scale it to `height` output pixels.
    scale = height / (0.75 * template.shape[0])
    tf = _affine(rng, out_size, template.shape[0], scale, shift, max_rotation, max_shear)
    return warp(template, tf, output_shape=(out_size, out_size), order=1, mode="constant", cval=0.0)


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` grey 28x28 digits as ``(n, 28, 28, 1) uint8`` images and ``(n,) uint8`` labels."""
    rng = np.random.default_rng(seed)
    templates = glyphs()
    images = np.empty((n, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    with bar(n, desc="synthetic-digits", unit="img") as progress:
        for i in range(n):
            template = templates[rng.integers(len(FONTS)), labels[i]]
            shift = (rng.uniform(-2, 2), rng.uniform(-2, 2))
            mask = _digit_mask(rng, template, 28, rng.uniform(17, 22), shift, 15.0, 0.3)
            stroke = rng.integers(-1, 2)
            if stroke > 0:
                mask = dilation(mask, disk(1))
            elif stroke < 0:
                mask = np.maximum(erosion(mask, disk(1)), 0.5 * mask)
            mask = mask + rng.normal(0.0, rng.uniform(0.0, 0.12), size=mask.shape)
            images[i, ..., 0] = np.round(np.clip(mask, 0, 1) * 255).astype(np.uint8)
            progress.update()
    return images, labels


def synthetic_house_numbers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` colour 32x32 house numbers as ``(n, 32, 32, 3) uint8`` images and labels."""
    rng = np.random.default_rng(seed)
    templates = glyphs()
    images = np.empty((n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    with bar(n, desc="synthetic-house-numbers", unit="img") as progress:
        for i in range(n):
            font = rng.integers(len(FONTS))
            height = rng.uniform(17, 25)
            spacing = height * rng.uniform(0.55, 0.8)
            dy = rng.uniform(-1.5, 1.5)
            mask = _digit_mask(
                rng, templates[font, labels[i]], 32, height, (rng.uniform(-1.5, 1.5), dy), 8.0, 0.15
            )
            # Neighbours share the centre digit's font, size and baseline, as on a house plate.
            for side in (-1, 1):
                if rng.random() < 0.8:
                    neighbour = templates[font, rng.integers(10)]
                    mask = np.maximum(
                        mask,
                        _digit_mask(rng, neighbour, 32, height, (side * spacing, dy), 8.0, 0.15),
                    )
            background = rng.uniform(0, 1, size=3)
            foreground = rng.uniform(0, 1, size=3)
            # Keep enough luminance contrast between digit and background to be legible.
            lum = np.array([0.299, 0.587, 0.114])
            while abs((foreground - background) @ lum) < 0.3:
                foreground = rng.uniform(0, 1, size=3)
            gx, gy = rng.uniform(-0.25, 0.25, size=2)
            shade = (gx * (xx - 0.5) + gy * (yy - 0.5))[..., None]
            image = background + shade + mask[..., None] * (foreground - background)
            image = gaussian(image, sigma=rng.uniform(0.3, 1.0), channel_axis=-1)
            image = image + rng.normal(0.0, rng.uniform(0.0, 0.06), size=image.shape)
            images[i] = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
            progress.update()
    return images, labels


GENERATORS = {
    "synthetic-digits": synthetic_digits,
    "synthetic-house-numbers": synthetic_house_numbers,
}


def generate(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` examples of the synthetic dataset ``kind`` from ``seed``."""
    if kind not in GENERATORS:
        raise ValueError(f"Unknown synthetic dataset '{kind}'. Known: {', '.join(GENERATORS)}.")
    return GENERATORS[kind](n, seed)
