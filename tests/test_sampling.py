"""The seed tree and the distributions a scene file can name."""

import numpy as np
from pydantic import TypeAdapter

from groundforge.sampling.seeds import rng_for
from groundforge.spec.fields import Color, Integer, Real


def test_same_key_same_draws_and_independent_of_other_keys():
    a = rng_for(7, 42, "placement").random(5)
    for shot in range(100):  # drawing other keys first changes nothing
        rng_for(7, shot, "placement").random(3)
    assert np.array_equal(a, rng_for(7, 42, "placement").random(5))


def test_different_shot_seed_or_purpose_differ():
    base = rng_for(7, 42, "placement").random(4)
    assert not np.array_equal(base, rng_for(7, 43, "placement").random(4))
    assert not np.array_equal(base, rng_for(8, 42, "placement").random(4))
    assert not np.array_equal(base, rng_for(7, 42, "lights").random(4))


def test_uniform_stays_in_range_and_covers_it():
    dist = TypeAdapter(Real(gt=0)).validate_python({"dist": "uniform", "min": 2, "max": 3})
    rng = np.random.default_rng(0)
    x = np.array([dist.sample(rng) for _ in range(4000)])
    assert x.min() >= 2 and x.max() <= 3
    assert abs(x.mean() - 2.5) < 0.02
    assert abs(x.var() - 1 / 12) < 0.01


def test_truncated_normal_respects_bounds_and_mean():
    dist = TypeAdapter(Real(ge=0)).validate_python(
        {"dist": "truncnormal", "mean": 1.0, "std": 0.5, "min": 0.5, "max": 1.5}
    )
    rng = np.random.default_rng(1)
    x = np.array([dist.sample(rng) for _ in range(4000)])
    assert x.min() >= 0.5 and x.max() <= 1.5
    assert abs(x.mean() - 1.0) < 0.02  # symmetric truncation keeps the mean
    # Truncated at one sigma either side: variance = std^2 (1 - 2 phi(1) / (2 Phi(1) - 1)).
    phi1, big_phi1 = np.exp(-0.5) / np.sqrt(2 * np.pi), 0.8413447460685429
    assert abs(x.var() - 0.25 * (1 - 2 * phi1 / (2 * big_phi1 - 1))) < 0.004


def test_one_sided_truncation_has_the_half_normal_mean():
    dist = TypeAdapter(Real(ge=0)).validate_python(
        {"dist": "truncnormal", "mean": 0.0, "std": 2.0, "min": 0.0, "max": 1000.0}
    )
    rng = np.random.default_rng(4)
    x = np.array([dist.sample(rng) for _ in range(6000)])
    assert x.min() >= 0
    assert abs(x.mean() - 2.0 * np.sqrt(2 / np.pi)) < 0.05


def test_weighted_choice_frequencies():
    dist = TypeAdapter(Real()).validate_python(
        {"dist": "choice", "values": [1, 2, 3], "weights": [1, 2, 7]}
    )
    rng = np.random.default_rng(2)
    x = np.array([dist.sample(rng) for _ in range(10000)])
    freq = [(x == v).mean() for v in (1, 2, 3)]
    assert np.allclose(freq, [0.1, 0.2, 0.7], atol=0.015)


def test_randint_includes_both_ends():
    dist = TypeAdapter(Integer(ge=0)).validate_python({"dist": "randint", "min": 2, "max": 4})
    rng = np.random.default_rng(3)
    assert {dist.sample(rng) for _ in range(300)} == {2, 3, 4}


def test_plain_number_is_a_constant():
    dist = TypeAdapter(Real()).validate_python(0.25)
    assert dist.sample(np.random.default_rng(0)) == 0.25


def test_hex_colour_parses_to_srgb_triple():
    c = TypeAdapter(Color).validate_python("#ff8000")
    assert c.sample(np.random.default_rng(0)) == (1.0, 128 / 255, 0.0)
