"""Hand-crafted statistics of one RGB image, the numeric input of the fidelity report.

Every function takes an (H, W, 3) uint8 sRGB image and returns plain floats. Values are computed on
the gamma-encoded values divided by 255 (so "luma", not linear luminance) unless a docstring says
otherwise. `image_statistics` and `feature_vector` first shrink the image to at most
`MAX_SIDE_PX` on its long side, so that cost per image is bounded and photos of different
resolutions are compared at a similar scale; the single-statistic functions use the image as given.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from scipy import ndimage
from skimage.color import rgb2hsv
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern
from skimage.transform import resize

log = logging.getLogger(__name__)

MAX_SIDE_PX = 512

# Rec. 709 / sRGB primaries, applied to gamma-encoded values (luma Y').
LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])

# Mid-frequency band, cycles per pixel, over which the log-log spectrum slope is fitted: above the
# few lowest bins (dominated by image layout) and below the band where demosaicing, JPEG and
# resampling change the spectrum more than the scene does.
SLOPE_BAND_CPP = (0.03, 0.25)
# Power above this radial frequency (cycles per pixel) counts as "high frequency".
HIGH_FREQ_CPP = 0.25

GLCM_LEVELS = 32

# Above this many images feature_matrix spreads the work over processes; below it, starting them
# (each imports numpy, scipy and scikit-image, about a second) costs more than it saves.
PARALLEL_MIN_IMAGES = 50

FEATURE_GROUPS: dict[str, list[str]] = {
    "colour": [
        "colourfulness",
        "saturation_mean",
        "mean_r",
        "mean_g",
        "mean_b",
        "std_r",
        "std_g",
        "std_b",
    ],
    "luminance": ["brightness", "contrast", "entropy"],
    "sharpness_noise": ["sharpness", "noise_sigma"],
    "spectrum": ["spectrum_slope", "high_freq_fraction"],
    "texture": ["glcm_contrast", "glcm_homogeneity", "lbp_entropy"],
}
FEATURE_NAMES: list[str] = [name for names in FEATURE_GROUPS.values() for name in names]


def group_columns(group: str) -> list[int]:
    """Column indices of one FEATURE_GROUPS group in a `feature_vector`."""
    return [FEATURE_NAMES.index(name) for name in FEATURE_GROUPS[group]]


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    return rgb


def bounded(rgb: np.ndarray, max_side_px: int = MAX_SIDE_PX) -> np.ndarray:
    """(h, w, 3) uint8 copy of rgb shrunk (anti-aliased) to at most max_side_px on its long side."""
    rgb = _check_rgb(rgb)
    h, w = rgb.shape[:2]
    scale = max_side_px / max(h, w)
    if scale >= 1.0:
        return rgb
    shape = (max(1, round(h * scale)), max(1, round(w * scale)), 3)
    small = resize(rgb, shape, order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.round(small), 0, 255).astype(np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float64 Rec. 709 luma in [0, 1] of the gamma-encoded sRGB values."""
    return (_check_rgb(rgb) / 255.0) @ LUMA_WEIGHTS


def brightness(rgb: np.ndarray) -> float:
    """Mean luma, in [0, 1]."""
    return float(luma(rgb).mean())


def contrast(rgb: np.ndarray) -> float:
    """RMS contrast: standard deviation of luma, in [0, 0.5]."""
    return float(luma(rgb).std())


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of luma (scipy.ndimage.laplace, mirrored edges)."""
    # scipy's 'reflect' mode repeats the edge pixel, so flat borders add no false edges.
    return float(ndimage.laplace(luma(rgb), mode="reflect").var())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness M3 on 0-255 sRGB values (0 for grey images)."""
    r, g, b = np.moveaxis(_check_rgb(rgb).astype(np.float64), 2, 0)
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = np.hypot(rg.std(), yb.std())
    offset = np.hypot(rg.mean(), yb.mean())
    return float(spread + 0.3 * offset)


def entropy(rgb: np.ndarray) -> float:
    """Shannon entropy, bits, of the 256-bin histogram of 8-bit luma (round(255 * luma))."""
    levels = np.round(luma(rgb) * 255.0).astype(np.int64)
    p = np.bincount(levels.ravel(), minlength=256) / levels.size
    p = p[p > 0]
    return max(0.0, float(-(p * np.log2(p)).sum()))


def _windowed_power(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(power, radius_cpp): (H, W) each, Hann-windowed power spectrum (DC zeroed), cycles/pixel."""
    h, w = gray.shape
    # A Hann window stops the image borders from acting as edges, which would add a 1/f^2 leak.
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2((gray - gray.mean()) * window)) ** 2
    power[0, 0] = 0.0
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    return power, radius


def radial_power_spectrum(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(freqs_cpp, power): radially averaged power spectrum of an (H, W) image, DC excluded."""
    power, radius = _windowed_power(gray)
    bin_width = 1.0 / min(gray.shape)
    bins = np.round(radius / bin_width).astype(np.int64).ravel()
    counts = np.bincount(bins)
    sums = np.bincount(bins, weights=power.ravel())
    index = np.arange(counts.size)
    keep = (counts > 0) & (index > 0) & (index * bin_width <= 0.5)
    return index[keep] * bin_width, sums[keep] / counts[keep]


def spectrum_features(rgb: np.ndarray) -> tuple[float, float]:
    """(slope, high_freq_fraction) of the luma power spectrum.

    slope: least-squares slope of log power against log frequency over SLOPE_BAND_CPP (about -2
    for natural photographs, 0 for white noise). high_freq_fraction: share of the non-DC power at
    radial frequencies above HIGH_FREQ_CPP cycles per pixel. Both are 0 for a constant image.
    """
    gray = luma(rgb)
    # Rounding noise of a constant image (~1e-16) would otherwise yield a meaningless slope.
    if min(gray.shape) < 2 or np.ptp(gray) < 1e-9:
        return 0.0, 0.0
    freqs, power = radial_power_spectrum(gray)

    band = (freqs >= SLOPE_BAND_CPP[0]) & (freqs <= SLOPE_BAND_CPP[1])
    if band.sum() < 2:
        band = np.ones_like(freqs, dtype=bool)
    # Bins with exactly zero power (a flat image quantised to one level) would give log(0).
    tiny = np.finfo(np.float64).tiny
    slope = np.polyfit(np.log(freqs[band]), np.log(np.maximum(power[band], tiny)), 1)[0]

    # The fraction is taken over the 2D power, not the radial average, so it weighs by area.
    power_2d, radius = _windowed_power(gray)
    high = power_2d[radius > HIGH_FREQ_CPP].sum() / power_2d.sum()
    return float(slope), float(high)


def noise_sigma(rgb: np.ndarray) -> float:
    """Gaussian noise standard deviation of luma, [0, 1] units (Haar wavelet MAD estimate)."""
    # Donoho & Johnstone's estimator, as in skimage.restoration.estimate_sigma, but on the
    # orthonormal Haar diagonal subband so that PyWavelets is not needed.
    gray = luma(rgb)
    h, w = (gray.shape[0] // 2) * 2, (gray.shape[1] // 2) * 2
    if h == 0 or w == 0:
        return 0.0
    g = gray[:h, :w]
    diagonal = (g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2.0
    return float(np.median(np.abs(diagonal)) / 0.6744897501960817)


def channel_stats(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(means, stds): (3,) float64 each, of R, G, B in [0, 1]."""
    values = _check_rgb(rgb).reshape(-1, 3) / 255.0
    return values.mean(axis=0), values.std(axis=0)


def saturation_mean(rgb: np.ndarray) -> float:
    """Mean HSV saturation, in [0, 1]."""
    return float(rgb2hsv(_check_rgb(rgb))[..., 1].mean())


def glcm_features(rgb: np.ndarray) -> tuple[float, float]:
    """(contrast, homogeneity) of the grey-level co-occurrence matrix of luma.

    Luma is quantised to GLCM_LEVELS levels; pixel pairs at distance 1 horizontally and vertically,
    symmetric and normalised, the two directions averaged.
    """
    levels = np.minimum((luma(rgb) * GLCM_LEVELS).astype(np.uint8), GLCM_LEVELS - 1)
    glcm = graycomatrix(
        levels,
        distances=[1],
        angles=[0.0, np.pi / 2],
        levels=GLCM_LEVELS,
        symmetric=True,
        normed=True,
    )
    return (
        float(graycoprops(glcm, "contrast").mean()),
        float(graycoprops(glcm, "homogeneity").mean()),
    )


def lbp_entropy(rgb: np.ndarray) -> float:
    """Entropy, bits, of the histogram of uniform local binary patterns (8 neighbours, radius 1)."""
    gray_u8 = np.round(luma(rgb) * 255.0).astype(np.uint8)
    codes = local_binary_pattern(gray_u8, P=8, R=1, method="uniform").astype(np.int64)
    # 'uniform' with P=8 yields codes 0..9: nine rotation-invariant uniform patterns and "other".
    p = np.bincount(codes.ravel(), minlength=10) / codes.size
    p = p[p > 0]
    return max(0.0, float(-(p * np.log2(p)).sum()))


def image_statistics(rgb: np.ndarray) -> dict[str, float]:
    """{name: value} for every name in FEATURE_NAMES, on rgb shrunk to MAX_SIDE_PX."""
    rgb = bounded(rgb)
    means, stds = channel_stats(rgb)
    slope, high = spectrum_features(rgb)
    glcm_contrast, glcm_homogeneity = glcm_features(rgb)
    stats = {
        "colourfulness": colourfulness(rgb),
        "saturation_mean": saturation_mean(rgb),
        "mean_r": float(means[0]),
        "mean_g": float(means[1]),
        "mean_b": float(means[2]),
        "std_r": float(stds[0]),
        "std_g": float(stds[1]),
        "std_b": float(stds[2]),
        "brightness": brightness(rgb),
        "contrast": contrast(rgb),
        "entropy": entropy(rgb),
        "sharpness": sharpness(rgb),
        "noise_sigma": noise_sigma(rgb),
        "spectrum_slope": slope,
        "high_freq_fraction": high,
        "glcm_contrast": glcm_contrast,
        "glcm_homogeneity": glcm_homogeneity,
        "lbp_entropy": lbp_entropy(rgb),
    }
    return {name: stats[name] for name in FEATURE_NAMES}


def feature_vector(rgb: np.ndarray) -> np.ndarray:
    """(D,) float64 statistics in FEATURE_NAMES order (D = len(FEATURE_NAMES) = 18)."""
    stats = image_statistics(rgb)
    return np.array([stats[name] for name in FEATURE_NAMES], dtype=np.float64)


def _vector_of(image) -> np.ndarray:
    """feature_vector of an image, or of what a zero-argument loader returns."""
    return feature_vector(image() if callable(image) else image)


def feature_matrix(images: list, workers: int | None = None) -> np.ndarray:
    """(n, D) float64 feature vectors of n (H, W, 3) uint8 images, in input order. Items may
    also be picklable zero-argument loaders of images, which the workers then call, so the
    images are never all in memory at once.

    With more than PARALLEL_MIN_IMAGES images and workers > 1 (default: the CPU count) the
    images are spread over that many processes, started with "spawn" so that no parent state
    (GPU contexts, threads) is copied into them. A script that calls this needs the
    `if __name__ == "__main__":` guard, as for any spawned process; without it the workers fail
    and the images are done here, one after the other.
    """
    if not images:
        return np.zeros((0, len(FEATURE_NAMES)))
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 2 or len(images) <= PARALLEL_MIN_IMAGES:
        return np.stack([_vector_of(rgb) for rgb in images])
    chunk = max(1, len(images) // (4 * workers))
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            return np.stack(list(pool.map(_vector_of, images, chunksize=chunk)))
    except BrokenProcessPool:
        log.warning("feature worker processes failed to start; computing features serially")
        return np.stack([_vector_of(rgb) for rgb in images])


def image_spectrum(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(freqs_cpp, power): radial power spectrum of the luma of rgb shrunk to MAX_SIDE_PX,
    divided by its pixel count so that images of different sizes compare.

    For white noise of variance s² the power is s² times the mean square of the Hann window
    (about 9/64) at every frequency.
    """
    gray = luma(bounded(rgb))
    freqs, power = radial_power_spectrum(gray)
    return freqs, power / gray.size


def spectrum_grid(images: list[np.ndarray], points: int = 40) -> np.ndarray:
    """(points,) log-spaced frequencies, cycles per pixel, from the lowest that every image's
    spectrum reaches (one cycle across its shorter side, after MAX_SIDE_PX) to 0.5."""
    return grid_from_shortest(min(min(bounded(rgb).shape[:2]) for rgb in images), points)


def grid_from_shortest(shortest_px: int, points: int = 40) -> np.ndarray:
    """spectrum_grid of images whose shortest side (after MAX_SIDE_PX) is shortest_px."""
    return np.geomspace(1.0 / shortest_px, 0.5, points)


def mean_power_spectrum(images: list[np.ndarray], freqs_cpp: np.ndarray) -> np.ndarray:
    """(F,) mean over images of image_spectrum, each interpolated (log-log) at freqs_cpp."""
    return mean_of_spectra([image_spectrum(rgb) for rgb in images], freqs_cpp)


def mean_of_spectra(spectra: list[tuple[np.ndarray, np.ndarray]], freqs_cpp) -> np.ndarray:
    """(F,) mean of (freqs, power) spectra, each interpolated (log-log) at freqs_cpp."""
    tiny = np.finfo(np.float64).tiny
    total = np.zeros(len(freqs_cpp))
    for freqs, power in spectra:
        log_power = np.interp(np.log(freqs_cpp), np.log(freqs), np.log(np.maximum(power, tiny)))
        total += np.exp(log_power)
    return total / max(1, len(spectra))
