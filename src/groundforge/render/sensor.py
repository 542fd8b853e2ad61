"""The camera sensor model: linear radiance in, the 8-bit sRGB image a real camera would write.

The steps run in the order light meets them in a camera: exposure, lens blur, vignetting, white
balance, sensor noise, then the camera's processing (tone curve, sRGB encoding, quantisation and
optionally JPEG). Each is a small pure function over (H, W, 3) arrays; only `add_noise` draws
random numbers, and only from the generator it is given.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image
from scipy import ndimage

from groundforge.world.state import Sensor

# Narkowicz's least-squares fit of the ACES RRT+ODT curve (2016), applied as is (without his
# optional 0.6 pre-scale): exposure is the job of `exposure_ev`.
_ACES_A, _ACES_B, _ACES_C, _ACES_D, _ACES_E = 2.51, 0.03, 2.43, 0.59, 0.14


def apply_exposure(linear: np.ndarray, exposure_ev: float) -> np.ndarray:
    """(H, W, 3) float32: `linear` times 2**exposure_ev."""
    return linear * np.float32(2.0**exposure_ev)


def apply_blur(linear: np.ndarray, sigma_px: float) -> np.ndarray:
    """(H, W, 3) float32: each channel blurred by a Gaussian of `sigma_px` pixels (none at 0)."""
    if sigma_px <= 0:
        return linear
    # Sigma 0 along the channel axis: each channel is filtered on its own, in one call.
    return ndimage.gaussian_filter(linear, sigma=(sigma_px, sigma_px, 0), mode="nearest")


@functools.lru_cache(maxsize=8)
def vignetting_falloff(height: int, width: int, vignetting: float) -> np.ndarray:
    """(H, W) float32, read-only: 1 at the optical centre, falling quadratically in radius to
    1 - vignetting at the pixel centres of the corners."""
    y = np.arange(height, dtype=np.float32) + 0.5 - height / 2
    x = np.arange(width, dtype=np.float32) + 0.5 - width / 2
    r2_corner = float(x[0] ** 2 + y[0] ** 2) or 1.0
    r2 = (y[:, None] ** 2 + x[None, :] ** 2) / np.float32(r2_corner)
    falloff = np.float32(1.0) - np.float32(vignetting) * r2
    falloff.flags.writeable = False  # shared by every caller through the cache
    return falloff


def apply_vignetting(linear: np.ndarray, vignetting: float) -> np.ndarray:
    """(H, W, 3) float32: `linear` darkened towards the corners by `vignetting_falloff`."""
    if vignetting == 0:
        return linear
    falloff = vignetting_falloff(linear.shape[0], linear.shape[1], vignetting)
    return linear * falloff[..., None]


def apply_white_balance(linear: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    """(H, W, 3) float32: each channel of `linear` times its gain."""
    if tuple(gains) == (1.0, 1.0, 1.0):
        return linear
    return linear * np.asarray(gains, dtype=np.float32)


def add_noise(
    linear: np.ndarray, shot_noise: float, read_noise: float, rng: np.random.Generator
) -> np.ndarray:
    """(H, W, 3) float32: `linear` plus Gaussian noise of variance shot_noise * value +
    read_noise**2 per pixel and channel (negative values count as 0 for the shot term)."""
    if shot_noise == 0 and read_noise == 0:
        return linear
    sigma = np.maximum(linear, 0)
    sigma *= np.float32(shot_noise)
    sigma += np.float32(read_noise**2)
    np.sqrt(sigma, out=sigma)
    noise = rng.standard_normal(linear.shape, dtype=np.float32)
    noise *= sigma
    noise += linear
    return noise


def tone_map_aces(linear: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 in 0-1: the ACES filmic curve (Narkowicz's fit) of `linear`, which is
    clipped at 0 first."""
    x = np.maximum(linear, 0).astype(np.float32, copy=False)
    numerator = x * np.float32(_ACES_A)
    numerator += np.float32(_ACES_B)
    numerator *= x
    denominator = x * np.float32(_ACES_C)
    denominator += np.float32(_ACES_D)
    denominator *= x
    denominator += np.float32(_ACES_E)
    numerator /= denominator
    return np.clip(numerator, 0, 1, out=numerator)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """float32 of the same shape: the IEC 61966-2-1 sRGB transfer function of `linear` in 0-1."""
    x = np.clip(linear, 0, 1).astype(np.float32, copy=False)
    encoded = np.power(x, np.float32(1 / 2.4))
    encoded *= np.float32(1.055)
    encoded -= np.float32(0.055)
    return np.where(x <= np.float32(0.0031308), x * np.float32(12.92), encoded)


def quantize_u8(encoded: np.ndarray) -> np.ndarray:
    """uint8 of the same shape: `encoded` in 0-1 scaled to 0-255 and rounded half up."""
    scaled = np.clip(encoded, 0, 1) * np.float32(255)
    scaled += np.float32(0.5)
    return scaled.astype(np.uint8)  # truncation is floor here: every value is non-negative


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) uint8: `image` encoded as JPEG at `quality` (1-95) and decoded again."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.array(decoded.convert("RGB"))


def apply_sensor(radiance: np.ndarray, sensor: Sensor, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 sRGB: what a camera with `sensor` records of (H, W, 3) linear `radiance`."""
    blurred = apply_blur(np.asarray(radiance, dtype=np.float32), sensor.blur_sigma_px)
    # Exposure and white balance scale each channel by a constant, so they commute with the
    # blur; applied with the vignetting as one multiply after it, they save two passes.
    gains = np.float32(2.0**sensor.exposure_ev) * np.asarray(sensor.white_balance, np.float32)
    if sensor.vignetting:
        falloff = vignetting_falloff(blurred.shape[0], blurred.shape[1], sensor.vignetting)
        linear = blurred * (falloff[..., None] * gains)
    else:
        linear = blurred * gains
    linear = add_noise(linear, sensor.shot_noise, sensor.read_noise, rng)

    image = quantize_u8(srgb_encode(tone_map_aces(linear)))
    if sensor.jpeg_quality is not None:
        image = jpeg_round_trip(image, sensor.jpeg_quality)
    return image
