"""Procedural textures and colour conversions.

Every texture is a pure function returning an (H, W, 3) uint8 sRGB image, row 0 at the top.
Colour arguments of the texture functions are sRGB triples in 0-1 (what a colour picker shows) or
'#rrggbb' strings; `parse_color` is the one entry point that returns linear RGB, for materials.
Randomness only ever comes from an explicit `np.random.Generator`.
"""

from __future__ import annotations

import functools
import logging
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

Size = int | tuple[int, int]
ColorLike = str | Sequence[float]
ArrayLikeFloat = float | Sequence[float] | np.ndarray

# CIE XYZ (D65 white) to linear sRGB, IEC 61966-2-1.
_XYZ_TO_LINEAR_SRGB = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ]
)


def srgb_to_linear(rgb: ArrayLikeFloat) -> np.ndarray:
    """Linear values (float64, same shape) of sRGB-encoded values in 0-1."""
    c = np.asarray(rgb, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(rgb: ArrayLikeFloat) -> np.ndarray:
    """sRGB-encoded values (float64, same shape) of linear values in 0-1."""
    c = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1.0 / 2.4) - 0.055)


def _srgb_triple(value: ColorLike) -> tuple[float, float, float]:
    """The sRGB 0-1 triple of '#rrggbb', '#rgb' or an sRGB 0-1 triple."""
    if isinstance(value, str):
        s = value.strip().lstrip("#")
        if len(s) == 3:
            s = "".join(ch * 2 for ch in s)
        if len(s) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in s):
            raise ValueError(f"colour {value!r} is not '#rrggbb' hex; write e.g. '#ff8800'")
        return tuple(int(s[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]
    try:
        c = [float(x) for x in value]
    except (TypeError, ValueError):
        raise ValueError(
            f"colour {value!r} is neither '#rrggbb' nor three numbers in 0-1"
        ) from None
    if len(c) != 3 or not all(math.isfinite(x) for x in c):
        raise ValueError(f"colour {value!r} must have exactly three finite components")
    if min(c) < 0.0 or max(c) > 1.0:
        raise ValueError(
            f"colour {value!r} is outside 0-1; give sRGB components as fractions "
            "(255 -> 1.0) or use '#rrggbb'"
        )
    return (c[0], c[1], c[2])


def parse_color(value: ColorLike) -> tuple[float, float, float]:
    """Linear RGB 0-1 of '#rrggbb' / '#rgb' hex or an sRGB 0-1 triple (as a picker shows it)."""
    lin = srgb_to_linear(_srgb_triple(value))
    return (float(lin[0]), float(lin[1]), float(lin[2]))


def _srgb8(value: ColorLike) -> np.ndarray:
    """(3,) uint8 of an sRGB 0-1 triple or hex string."""
    return np.round(np.asarray(_srgb_triple(value)) * 255.0).astype(np.uint8)


def _hw(size: Size) -> tuple[int, int]:
    """(height, width) in pixels from an int (square) or an (H, W) pair."""
    h, w = (size, size) if isinstance(size, int | np.integer) else size
    h, w = int(h), int(w)
    if h < 1 or w < 1:
        raise ValueError(f"texture size {size!r} must be positive (H, W) pixels")
    return h, w


def _blend(t: np.ndarray, color_a: ColorLike, color_b: ColorLike) -> np.ndarray:
    """(H, W, 3) uint8 mixing sRGB colour a (t=0) into b (t=1), mixed in sRGB like paint."""
    a = np.asarray(_srgb_triple(color_a))
    b = np.asarray(_srgb_triple(color_b))
    out = a + (b - a) * t[..., None]
    return np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Patterns


def _value_noise(rng: np.random.Generator, h: int, w: int, cell_px: float) -> np.ndarray:
    """(H, W) float64 in 0-1: smooth value noise on a lattice that wraps, so the image tiles."""
    ny = max(1, round(h / cell_px))
    nx = max(1, round(w / cell_px))
    lattice = rng.random((ny, nx))
    y = (np.arange(h) + 0.5) * ny / h
    x = (np.arange(w) + 0.5) * nx / w
    y0 = np.floor(y).astype(np.int64)
    x0 = np.floor(x).astype(np.int64)
    fy = y - y0
    fx = x - x0
    # Smoothstep weights hide the lattice's grid lines that plain bilinear shows.
    fy = fy * fy * (3.0 - 2.0 * fy)
    fx = fx * fx * (3.0 - 2.0 * fx)
    ya, yb = y0 % ny, (y0 + 1) % ny
    xa, xb = x0 % nx, (x0 + 1) % nx
    top = lattice[np.ix_(ya, xa)] * (1 - fx) + lattice[np.ix_(ya, xb)] * fx
    bottom = lattice[np.ix_(yb, xa)] * (1 - fx) + lattice[np.ix_(yb, xb)] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


def noise_texture(
    rng: np.random.Generator,
    size: Size = 256,
    color_a: ColorLike = (0.2, 0.2, 0.2),
    color_b: ColorLike = (0.8, 0.8, 0.8),
    scale: float = 8.0,
    octaves: int = 4,
    persistence: float = 0.5,
) -> np.ndarray:
    """(H, W, 3) uint8 sRGB fractal value noise blending colour a into b; tiles seamlessly.

    scale: how many features of the coarsest octave span the width; each further octave has
    twice as many at `persistence` times the weight. The sum is stretched to span a..b fully.
    """
    h, w = _hw(size)
    if scale <= 0 or octaves < 1:
        raise ValueError(f"noise needs scale > 0 and octaves >= 1, got {scale}, {octaves}")
    total = np.zeros((h, w))
    amp = 1.0
    for k in range(int(octaves)):
        total += amp * _value_noise(rng, h, w, max(w / (scale * 2**k), 1.0))
        amp *= persistence
    lo, hi = total.min(), total.max()
    t = (total - lo) / (hi - lo) if hi > lo else np.zeros_like(total)
    return _blend(t, color_a, color_b)


def stripes_texture(
    size: Size = 256,
    color_a: ColorLike = (1.0, 1.0, 1.0),
    color_b: ColorLike = (0.0, 0.0, 0.0),
    period_px: float = 32.0,
    angle_deg: float = 0.0,
    duty: float = 0.5,
) -> np.ndarray:
    """(H, W, 3) uint8 sRGB hard-edged stripes, colour a for the first `duty` of each period.

    angle_deg: direction across the stripes, counter-clockwise from the image's +x (rightwards)
    as displayed; 0 gives vertical stripes (colour changes along a row), 90 horizontal ones.
    period_px is measured across the stripes.
    """
    h, w = _hw(size)
    if period_px <= 0 or not 0.0 < duty < 1.0:
        raise ValueError(f"stripes need period_px > 0 and 0 < duty < 1, got {period_px}, {duty}")
    a = math.radians(angle_deg)
    x = np.arange(w) + 0.5
    # Image rows grow downwards, so "counter-clockwise as displayed" subtracts the row term.
    y = np.arange(h) + 0.5
    along = x[None, :] * math.cos(a) - y[:, None] * math.sin(a)
    phase = np.mod(along / period_px, 1.0)
    return _blend((phase >= duty).astype(np.float64), color_a, color_b)


def checker_texture(
    size: Size = 256,
    color_a: ColorLike = (1.0, 1.0, 1.0),
    color_b: ColorLike = (0.0, 0.0, 0.0),
    cells: float = 8.0,
) -> np.ndarray:
    """(H, W, 3) uint8 sRGB checkerboard, `cells` squares across the width, a at the top left.

    Squares are W / cells pixels on a side (not rounded), so the pattern tiles across the width
    when cells is a whole number.
    """
    h, w = _hw(size)
    if cells <= 0:
        raise ValueError(f"checker needs cells > 0, got {cells}")
    cell_px = w / float(cells)
    iy = np.floor((np.arange(h) + 0.5) / cell_px).astype(np.int64)
    ix = np.floor((np.arange(w) + 0.5) / cell_px).astype(np.int64)
    t = ((iy[:, None] + ix[None, :]) % 2).astype(np.float64)
    return _blend(t, color_a, color_b)


# ---------------------------------------------------------------------------------------------
# Labels


@functools.lru_cache(maxsize=64)
def _font(size_px: int, font_path: str | None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font of size_px pixels: the given file, else Pillow's bundled default (no downloads)."""
    if font_path is not None:
        try:
            return ImageFont.truetype(font_path, size_px)
        except OSError as exc:
            raise ValueError(
                f"font file {font_path!r} could not be read ({exc}); give a .ttf/.otf path "
                "or leave it out for the built-in font"
            ) from exc
    try:
        return ImageFont.load_default(size=size_px)
    except (TypeError, ImportError, OSError):
        # Pillow without FreeType only has the fixed-size bitmap font.
        log.debug("FreeType unavailable; label text uses the fixed bitmap font")
        return ImageFont.load_default()


def _fit_font(
    draw: ImageDraw.ImageDraw, text: str, box_w: int, box_h: int, font_path: str | None
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest font (binary search on pixel size) whose rendering of text fits the box."""
    lo, hi = 4, max(5, box_h)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        left, top, right, bottom = draw.multiline_textbbox(
            (0, 0), text, font=_font(mid, font_path), align="center"
        )
        if right - left <= box_w and bottom - top <= box_h:
            lo = mid
        else:
            hi = mid - 1
    return _font(lo, font_path)


def _barcode(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """(h, w) bool, True where a bar is: random 1-4 module bars with quiet zones."""
    out = np.zeros((h, w), dtype=bool)
    module = max(1, w // 95)
    quiet = 4 * module
    x = quiet
    bar = True
    while x < w - quiet:
        width = int(rng.integers(1, 5)) * module
        if bar:
            out[:, x : min(x + width, w - quiet)] = True
        x += width
        bar = not bar
    return out


def label_texture(
    size: Size = (256, 512),
    background: ColorLike = (1.0, 1.0, 1.0),
    text: str = "",
    text_color: ColorLike = (0.0, 0.0, 0.0),
    font_size: int | None = None,
    logo: np.ndarray | None = None,
    barcode: bool = False,
    rng: np.random.Generator | None = None,
    font_path: str | Path | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8 sRGB printed label: background, centred text, optional logo and barcode.

    Layout: with a barcode the right 28% holds it (white box, black bars, vertically centred)
    and the rest is the main column; in the main column the logo, when given, fills the top 40%
    (scaled to fit, aspect kept, alpha respected for (h, w, 4) images) and the text is centred in
    what is left. font_size: pixels; None picks the largest size that fits. Text may contain
    newlines. rng: bar widths; None derives a fixed generator from the text, so the same label
    always gets the same bars.
    """
    h, w = _hw(size)
    img = Image.new("RGB", (w, h), tuple(int(c) for c in _srgb8(background)))
    draw = ImageDraw.Draw(img)
    font_file = None if font_path is None else str(font_path)

    main_w = int(round(w * 0.72)) if barcode else w
    if barcode:
        if rng is None:
            rng = np.random.default_rng(zlib.crc32(text.encode()))
        bw, bh = int(w * 0.24), int(h * 0.5)
        bx, by = main_w + (w - main_w - bw) // 2, (h - bh) // 2
        bars = _barcode(rng, bw, bh)
        patch = np.where(bars[..., None], np.uint8(0), np.uint8(255)).repeat(3, axis=2)
        img.paste(Image.fromarray(patch, "RGB"), (bx, by))

    text_top = 0
    if logo is not None:
        text_top = _paste_logo(img, logo, (0, 0, main_w, int(h * 0.4)))

    if text:
        box_w = int(main_w * 0.9)
        box_h = int((h - text_top) * 0.8)
        if font_size is None:
            font = _fit_font(draw, text, box_w, box_h, font_file)
        else:
            font = _font(int(font_size), font_file)
        centre = (main_w / 2.0, (text_top + h) / 2.0)
        draw.multiline_text(
            centre,
            text,
            fill=tuple(int(c) for c in _srgb8(text_color)),
            font=font,
            anchor="mm",
            align="center",
        )
    return np.asarray(img, dtype=np.uint8).copy()


def _paste_logo(img: Image.Image, logo: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """Paste logo ((h, w, 3|4) uint8) scaled into box (x0, y0, x1, y1), centred; its bottom y."""
    arr = np.asarray(logo)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        raise ValueError(f"logo must be an (h, w, 3|4) uint8 image, got {arr.shape} {arr.dtype}")
    x0, y0, x1, y1 = box
    margin = 0.1
    avail_w = (x1 - x0) * (1 - 2 * margin)
    avail_h = (y1 - y0) * (1 - 2 * margin)
    s = min(avail_w / arr.shape[1], avail_h / arr.shape[0])
    lw, lh = max(1, int(arr.shape[1] * s)), max(1, int(arr.shape[0] * s))
    pic = Image.fromarray(arr).resize((lw, lh), Image.Resampling.LANCZOS)
    pos = (x0 + (x1 - x0 - lw) // 2, y0 + (y1 - y0 - lh) // 2)
    if arr.shape[2] == 4:
        img.paste(pic.convert("RGB"), pos, pic.getchannel("A"))
    else:
        img.paste(pic, pos)
    return y1


# ---------------------------------------------------------------------------------------------
# Colour temperature


def _cie1931_cmf(lam_nm: np.ndarray) -> np.ndarray:
    """(N, 3) CIE 1931 2-degree colour matching functions, the Wyman-Sloan-Shirley (2013) fit."""

    def g(mu: float, s_lo: float, s_hi: float) -> np.ndarray:
        s = np.where(lam_nm < mu, s_lo, s_hi)
        return np.exp(-0.5 * ((lam_nm - mu) / s) ** 2)

    x = 1.056 * g(599.8, 37.9, 31.0) + 0.362 * g(442.0, 16.0, 26.7) - 0.065 * g(501.1, 20.4, 26.2)
    y = 0.821 * g(568.8, 46.9, 40.5) + 0.286 * g(530.9, 16.3, 31.1)
    z = 1.217 * g(437.0, 11.8, 36.0) + 0.681 * g(459.0, 26.0, 13.8)
    return np.stack([x, y, z], axis=1)


_LAMBDA_NM = np.arange(360.0, 831.0, 5.0)
_CMF = _cie1931_cmf(_LAMBDA_NM)


def kelvin_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Linear sRGB (max channel 1) of a black body at `kelvin` (1000-40000 K).

    Planck's law integrated against the CIE 1931 observer (analytic fit, no data files), taken
    to linear sRGB; out-of-gamut negative channels (deep red below ~1900 K) clip to 0. sRGB's
    white is D65, so 6500 K comes out close to, not exactly, (1, 1, 1).
    """
    k = float(kelvin)
    if not 1000.0 <= k <= 40000.0:
        raise ValueError(f"colour temperature {kelvin} K is outside 1000-40000 K")
    lam_m = _LAMBDA_NM * 1e-9
    c2 = 1.4387769e-2  # second radiation constant, m K
    spectrum = 1.0 / (lam_m**5 * np.expm1(c2 / (lam_m * k)))
    xyz = spectrum @ _CMF
    rgb = np.clip(_XYZ_TO_LINEAR_SRGB @ xyz, 0.0, None)
    rgb = rgb / rgb.max()
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))
