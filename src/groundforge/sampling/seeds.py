"""The seed tree: every random draw is keyed by (batch seed, shot index, purpose).

A generator for one key does not depend on how many other keys were drawn before, so shot k
of a batch is the same whether the batch has 10 shots or 10,000, in one process or many.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _purpose_words(purpose: str) -> tuple[int, ...]:
    digest = hashlib.blake2b(purpose.encode("utf-8"), digest_size=16).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


def rng_for(seed: int, shot: int, purpose: str) -> np.random.Generator:
    """A generator determined only by (seed, shot, purpose)."""
    if seed < 0 or shot < 0:
        raise ValueError(f"seed and shot must be non-negative, got seed={seed} shot={shot}")
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(shot, *_purpose_words(purpose)))
    return np.random.Generator(np.random.PCG64(sequence))
