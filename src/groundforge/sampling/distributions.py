"""Draws from the distributions a scene file may give for any value."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A float drawn uniformly from [low, high]."""
    return float(rng.uniform(low, high)) if high > low else float(low)


def normal(rng: np.random.Generator, mean: float, std: float) -> float:
    """A float drawn from N(mean, std^2)."""
    return float(rng.normal(mean, std)) if std > 0 else float(mean)


def truncated_normal(
    rng: np.random.Generator, mean: float, std: float, low: float, high: float
) -> float:
    """A float drawn from N(mean, std^2) restricted to [low, high], by inverting the CDF."""
    if std <= 0:
        return float(np.clip(mean, low, high))
    normal_dist = NormalDist(mean, std)
    p_low, p_high = normal_dist.cdf(low), normal_dist.cdf(high)
    if not p_high > p_low:  # the whole range lies far out in one tail
        return float(low if abs(low - mean) < abs(high - mean) else high)
    p = float(rng.uniform(p_low, p_high))
    if not 0.0 < p < 1.0:
        return float(low if p <= 0.0 else high)
    return float(np.clip(normal_dist.inv_cdf(p), low, high))


def integer(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer drawn uniformly from low..high, both included."""
    return int(rng.integers(low, high, endpoint=True))


def weighted_index(rng: np.random.Generator, weights: Sequence[float] | None, n: int) -> int:
    """An index in 0..n-1, drawn with the given relative weights (equal when None)."""
    if weights is None:
        return int(rng.integers(n))
    p = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(n, p=p / p.sum()))
