"""The sensor model, step by step, against the formulas written out independently."""

from __future__ import annotations

import numpy as np
import pytest

from groundforge.render.sensor import (
    add_noise,
    apply_blur,
    apply_exposure,
    apply_sensor,
    apply_vignetting,
    apply_white_balance,
    jpeg_round_trip,
    quantize_u8,
    srgb_encode,
    tone_map_aces,
    vignetting_falloff,
)
from groundforge.world.state import Sensor


def flat(value: float, shape=(48, 64, 3)) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def textured(seed: int = 0) -> np.ndarray:
    """(48, 64, 3) linear radiance with edges and gradients, as renders have."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:48, :64] / 64.0
    base = np.stack([x, y, 0.5 * (x + y)], axis=2)
    base[10:30, 20:40] += 0.6
    return (base + 0.1 * rng.random((48, 64, 3))).astype(np.float32)


@pytest.mark.parametrize("value", [0.0, 0.001, 0.0031308, 0.01, 0.18, 0.5, 1.0])
def test_srgb_encode_matches_iec_61966_2_1(value):
    expected = 12.92 * value if value <= 0.0031308 else 1.055 * value ** (1 / 2.4) - 0.055
    assert srgb_encode(np.array([value], np.float32))[0] == pytest.approx(expected, abs=1e-6)


def test_srgb_encode_clips_outside_unit_range():
    np.testing.assert_allclose(srgb_encode(np.array([-0.5, 2.0], np.float32)), [0.0, 1.0])


def test_exposure_doubles_linear_values_per_stop():
    x = textured()
    np.testing.assert_allclose(apply_exposure(x, 1.0), 2 * x, rtol=1e-6)
    np.testing.assert_allclose(apply_exposure(x, -2.0), x / 4, rtol=1e-6)
    np.testing.assert_array_equal(apply_exposure(x, 0.0), x)


def test_blur_preserves_a_flat_image():
    np.testing.assert_allclose(apply_blur(flat(0.3), 2.5), 0.3, rtol=1e-5)


def test_blur_spreads_an_impulse_with_the_given_sigma():
    image = np.zeros((81, 81, 3), np.float32)
    image[40, 40] = 1.0
    blurred = apply_blur(image, 3.0)[..., 1]
    assert blurred.sum() == pytest.approx(1.0, rel=1e-4)
    offsets = np.arange(81) - 40
    variance_x = (blurred.sum(axis=0) * offsets**2).sum()
    variance_y = (blurred.sum(axis=1) * offsets**2).sum()
    assert variance_x == pytest.approx(9.0, rel=0.02)
    assert variance_y == pytest.approx(9.0, rel=0.02)


def test_no_blur_at_zero_sigma():
    x = textured()
    np.testing.assert_array_equal(apply_blur(x, 0.0), x)


def test_vignetting_reaches_its_value_at_the_corners():
    falloff = vignetting_falloff(48, 64, 0.3)
    for row, col in [(0, 0), (0, 63), (47, 0), (47, 63)]:
        assert falloff[row, col] == pytest.approx(0.7, abs=1e-6)
    # Half way to a corner the quadratic fall-off has lost a quarter of it.
    assert falloff[12, 16] == pytest.approx(1 - 0.3 * ((15.5**2 + 11.5**2) / (31.5**2 + 23.5**2)))
    out = apply_vignetting(flat(0.5), 0.3)
    assert out[0, 0, 0] == pytest.approx(0.35) and out[24, 32, 0] > 0.499


def test_white_balance_scales_each_channel():
    out = apply_white_balance(flat(0.4), (1.5, 1.0, 0.5))
    np.testing.assert_allclose(out[0, 0], [0.6, 0.4, 0.2], rtol=1e-6)


def test_noise_std_matches_shot_and_read_noise():
    value, shot, read = 0.25, 0.01, 0.02
    noisy = add_noise(flat(value, (200, 200, 3)), shot, read, np.random.default_rng(3))
    assert noisy.std() == pytest.approx(np.sqrt(shot * value + read**2), rel=0.02)
    assert noisy.mean() == pytest.approx(value, abs=1e-3)


def test_noise_grows_with_signal():
    rng = np.random.default_rng(4)
    dark = add_noise(flat(0.01, (100, 100, 3)), 0.02, 0.0, rng).std()
    bright = add_noise(flat(0.64, (100, 100, 3)), 0.02, 0.0, rng).std()
    assert bright / dark == pytest.approx(8.0, rel=0.05)  # sqrt(0.64 / 0.01)


def test_no_noise_draws_nothing():
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    x = textured()
    np.testing.assert_array_equal(add_noise(x, 0.0, 0.0, rng), x)
    assert rng.bit_generator.state == before


def test_tone_map_is_narkowicz_aces_fit():
    x = np.array([0.0, 0.05, 0.18, 1.0, 4.0, 100.0], np.float32)
    expected = np.clip((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0, 1)
    np.testing.assert_allclose(tone_map_aces(x), expected, rtol=1e-5)
    assert tone_map_aces(np.array([-1.0], np.float32))[0] == 0


def test_quantize_rounds_to_nearest_level():
    values = np.array([0.0, 0.4 / 255, 0.6 / 255, 127.5 / 255, 1.0, 1.5], np.float32)
    np.testing.assert_array_equal(quantize_u8(values), [0, 0, 1, 128, 255, 255])


def test_jpeg_round_trip_changes_pixels_at_low_quality():
    image = quantize_u8(srgb_encode(tone_map_aces(textured())))
    decoded = jpeg_round_trip(image, 10)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    low = np.abs(decoded.astype(int) - image).mean()
    assert low > 1.0
    # A higher quality stays closer (chroma subsampling alone keeps it from exact).
    assert np.abs(jpeg_round_trip(image, 90).astype(int) - image).mean() < 0.7 * low


def test_apply_sensor_chains_the_steps_in_order():
    sensor = Sensor(exposure_ev=1.0, white_balance=(1.0, 0.5, 2.0))
    out = apply_sensor(flat(0.1), sensor, np.random.default_rng(0))
    linear = np.array([0.2, 0.1, 0.4])  # exposure, then white balance
    mapped = (linear * (2.51 * linear + 0.03)) / (linear * (2.43 * linear + 0.59) + 0.14)
    encoded = 1.055 * mapped ** (1 / 2.4) - 0.055
    np.testing.assert_array_equal(out[5, 5], np.floor(encoded * 255 + 0.5).astype(np.uint8))
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8


def test_same_seed_same_image_other_seed_other_image():
    sensor = Sensor(shot_noise=0.01, read_noise=0.01, blur_sigma_px=0.8, vignetting=0.2)
    x = textured()
    a = apply_sensor(x, sensor, np.random.default_rng(11))
    b = apply_sensor(x, sensor, np.random.default_rng(11))
    c = apply_sensor(x, sensor, np.random.default_rng(12))
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.2


def test_jpeg_quality_in_the_sensor_changes_the_image():
    x = textured()
    plain = apply_sensor(x, Sensor(), np.random.default_rng(0))
    jpeg = apply_sensor(x, Sensor(jpeg_quality=15), np.random.default_rng(0))
    assert np.abs(plain.astype(int) - jpeg).mean() > 1.0
