"""Procedural textures and colour conversions."""

import math

import numpy as np
import pytest

from groundforge.assets.textures import (
    checker_texture,
    kelvin_to_rgb,
    label_texture,
    linear_to_srgb,
    noise_texture,
    parse_color,
    srgb_to_linear,
    stripes_texture,
)

RED = (1.0, 0.0, 0.0)
BLUE = (0.0, 0.0, 1.0)


def rising_edges(row: np.ndarray) -> np.ndarray:
    """Pixel positions where a row of (W, 3) pixels turns from red to blue."""
    is_b = row[:, 2] > 127
    return np.flatnonzero(~is_b[:-1] & is_b[1:]) + 1


def test_stripes_vertical_period_counted_along_a_row():
    img = stripes_texture((4, 160), RED, BLUE, period_px=16, angle_deg=0)
    edges = rising_edges(img[0])
    assert len(edges) == 10
    assert np.all(np.diff(edges) == 16)
    # First half of each period is colour a.
    assert tuple(img[0, 0]) == (255, 0, 0) and tuple(img[0, 8]) == (0, 0, 255)
    assert np.all(img == img[:1])  # every row the same


def test_stripes_at_90_degrees_are_horizontal():
    img = stripes_texture((64, 32), RED, BLUE, period_px=8, angle_deg=90)
    assert np.all(img == img[:, :1])
    col = img[:, 0]
    changes = np.flatnonzero(np.any(col[1:] != col[:-1], axis=1))
    assert np.all(np.diff(changes) == 4)


def test_stripes_angle_measured_from_edge_shift_between_rows():
    period, angle, rows = 16.0, 30.0, 40
    img = stripes_texture((rows + 1, 400), RED, BLUE, period_px=period, angle_deg=angle)
    spacing = period / math.cos(math.radians(angle))
    e0, e1 = rising_edges(img[0]), rising_edges(img[rows])
    assert np.allclose(np.diff(e0), spacing, atol=1.0)
    # Counter-clockwise on screen: going down the image, the edges move right by tan(angle).
    shift = rows * math.tan(math.radians(angle))
    measured = (e1[5] - e0[5] - shift) % spacing
    assert min(measured, spacing - measured) < 1.5


def test_checker_cells_across_width():
    img = checker_texture((32, 64), RED, BLUE, cells=8)
    assert tuple(img[0, 0]) == (255, 0, 0)
    assert tuple(img[0, 8]) == (0, 0, 255)
    assert tuple(img[8, 8]) == (255, 0, 0)
    assert tuple(img[8, 7]) == (0, 0, 255)
    assert np.all(img[:8, :8] == img[0, 0])


def test_noise_same_seed_same_image_other_seed_differs():
    a = noise_texture(np.random.default_rng(7), (64, 96), RED, BLUE, 4, 3)
    b = noise_texture(np.random.default_rng(7), (64, 96), RED, BLUE, 4, 3)
    c = noise_texture(np.random.default_rng(8), (64, 96), RED, BLUE, 4, 3)
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_noise_spans_both_colours_and_only_blends_them():
    img = noise_texture(np.random.default_rng(1), 64, RED, BLUE, 4, 4).astype(int)
    assert tuple(img.reshape(-1, 3)[img[..., 2].argmin()]) == (255, 0, 0)
    assert tuple(img.reshape(-1, 3)[img[..., 2].argmax()]) == (0, 0, 255)
    assert np.all(img[..., 1] == 0)
    assert np.all(np.abs(img[..., 0] + img[..., 2] - 255) <= 1)


def test_noise_tiles_across_its_edges():
    img = noise_texture(np.random.default_rng(3), 128, (0, 0, 0), (1, 1, 1), 4, 1)[..., 0]
    img = img.astype(float)
    seam = np.abs(img[:, 0] - img[:, -1]).mean()
    inside = np.abs(np.diff(img, axis=1)).mean()
    far = np.abs(img[:, 0] - img[:, 64]).mean()
    assert seam < 3 * inside + 1
    assert far > 5 * seam


def test_label_text_draws_text_colour_near_the_centre():
    img = label_texture((128, 256), (1, 1, 1), "HELLO", RED, font_size=40)
    red = np.all(img == (255, 0, 0), axis=2)
    assert red.sum() > 200
    ys, xs = np.nonzero(red)
    assert abs((xs.min() + xs.max()) / 2 - 128) < 8
    assert abs((ys.min() + ys.max()) / 2 - 64) < 10
    blank = label_texture((128, 256), (1, 1, 1), "", RED)
    assert np.all(blank == 255)


def test_label_font_size_none_fits_and_larger_font_inks_more():
    small = label_texture((128, 256), (1, 1, 1), "AB", RED, font_size=16)
    large = label_texture((128, 256), (1, 1, 1), "AB", RED, font_size=48)
    fitted = label_texture((128, 256), (1, 1, 1), "AB", RED)
    ink = [np.any(im != 255, axis=2).sum() for im in (small, large, fitted)]
    assert ink[0] < ink[1] < ink[2]
    cols = np.flatnonzero(np.any(np.any(fitted != 255, axis=2), axis=0))
    assert cols.min() > 0 and cols.max() < 255  # fitted text stays inside the label


def test_label_barcode_and_logo_are_pasted():
    logo = np.zeros((10, 20, 3), np.uint8)
    logo[..., 1] = 255
    rng = np.random.default_rng(0)
    img = label_texture((100, 200), (1, 1, 1), "X", RED, 20, logo, True, rng)
    green = np.all(img == (0, 255, 0), axis=2)
    ys, xs = np.nonzero(green)
    assert len(ys) > 100 and ys.max() < 40  # logo in the top 40%
    black = np.all(img == 0, axis=2)
    assert black[:, 144:].sum() > 300 and black[:, :144].sum() == 0  # bars in the right column
    again = label_texture((100, 200), (1, 1, 1), "X", RED, 20, logo, True, np.random.default_rng(0))
    assert np.array_equal(img, again)


def test_srgb_half_is_0214_linear_and_back():
    assert srgb_to_linear(0.5) == pytest.approx(((0.5 + 0.055) / 1.055) ** 2.4)
    assert srgb_to_linear(0.5) == pytest.approx(0.214, abs=5e-4)
    assert srgb_to_linear(0.02) == pytest.approx(0.02 / 12.92)
    x = np.linspace(0, 1, 11)
    assert np.allclose(linear_to_srgb(srgb_to_linear(x)), x)


def test_parse_color_hex_and_triples():
    assert parse_color("#ff0000") == (1.0, 0.0, 0.0)
    assert parse_color("#FFF") == (1.0, 1.0, 1.0)
    assert parse_color((0.5, 0.5, 0.5)) == pytest.approx((0.21404,) * 3, abs=1e-5)
    assert parse_color("#808080") == pytest.approx((0.215861,) * 3, abs=1e-5)
    for bad in ("#12345", "red", (255, 0, 0), (0.1, 0.2), "#gg0000"):
        with pytest.raises(ValueError):
            parse_color(bad)


def planck_srgb(x: float, y: float) -> np.ndarray:
    """Linear sRGB, max 1, of CIE xy chromaticity (published Planckian locus values)."""
    xyz = np.array([x / y, 1.0, (1 - x - y) / y])
    m = np.array(
        [
            [3.2404542, -1.5371385, -0.4985314],
            [-0.9692660, 1.8760108, 0.0415560],
            [0.0556434, -0.2040259, 1.0572252],
        ]
    )
    rgb = np.clip(m @ xyz, 0, None)
    return rgb / rgb.max()


def test_kelvin_6500_is_near_neutral_and_on_the_planckian_locus():
    rgb = np.array(kelvin_to_rgb(6500))
    assert rgb.max() == pytest.approx(1.0)
    assert np.all(rgb > 0.93)
    assert np.allclose(rgb, planck_srgb(0.3135, 0.3237), atol=0.01)


def test_kelvin_2000_reddish_10000_bluish():
    warm = kelvin_to_rgb(2000)
    assert warm[0] > warm[1] > warm[2]
    assert np.allclose(warm, planck_srgb(0.5267, 0.4133), atol=0.02)
    cold = kelvin_to_rgb(10000)
    assert cold[2] > cold[1] > cold[0]
    with pytest.raises(ValueError):
        kelvin_to_rgb(500)
