"""Draws from the distributions a scene file may give for any value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import truncnorm


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A float drawn uniformly from [low, high]."""
    return float(rng.uniform(low, high)) if high > low else float(low)


def normal(rng: np.random.Generator, mean: float, std: float) -> float:
    """A float drawn from N(mean, std^2)."""
    return float(rng.normal(mean, std)) if std > 0 else float(mean)


def truncated_normal(
    rng: np.random.Generator, mean: float, std: float, low: float, high: float
) -> float:
    """A float drawn from N(mean, std^2) restricted to [low, high]."""
    if std <= 0:
        return float(np.clip(mean, low, high))
    a, b = (low - mean) / std, (high - mean) / std
    return float(truncnorm.rvs(a, b, loc=mean, scale=std, random_state=rng))


def integer(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer drawn uniformly from low..high, both included."""
    return int(rng.integers(low, high, endpoint=True))


def weighted_index(rng: np.random.Generator, weights: Sequence[float] | None, n: int) -> int:
    """An index in 0..n-1, drawn with the given relative weights (equal when None)."""
    if weights is None:
        return int(rng.integers(n))
    p = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(n, p=p / p.sum()))
