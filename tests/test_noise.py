"""The counter-based noise generator: deterministic, uniform, independent
from step to step and from draw to draw."""

import numpy as np
import pytest

from twolayer.noise import Noise, splitmix64


def test_same_seed_and_iteration_give_the_same_draws():
    a, b = Noise(np, 7, 123), Noise(np, 7, 123)
    np.testing.assert_array_equal(a.random((50, 40)), b.random((50, 40)))
    np.testing.assert_array_equal(a.integers(0, 9, 30), b.integers(0, 9, 30))


def test_iterations_seeds_and_draws_give_different_streams():
    base = Noise(np, 0, 0).bits(10_000)
    others = [Noise(np, 0, 1).bits(10_000), Noise(np, 1, 0).bits(10_000)]
    second_draw = Noise(np, 0, 0)
    second_draw.bits(10_000)
    others.append(second_draw.bits(10_000))
    for other in others:
        assert (other == base).mean() < 0.001
        # not a shifted copy either: no common run of values at any offset
        assert len(np.intersect1d(base, other)) < 10


def test_floats_are_uniform_on_zero_one():
    x = Noise(np, 3, 5).random(200_000, dtype=np.float32)
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() < 1
    counts = np.histogram(x, bins=20, range=(0, 1))[0]
    expected = len(x) / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 45  # 19 degrees of freedom: exceeded with probability about 1e-3


def test_neighbouring_elements_and_steps_are_uncorrelated():
    x = Noise(np, 0, 0).random(100_000)
    y = Noise(np, 0, 1).random(100_000)
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.02
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.02


def test_integers_cover_their_range_evenly():
    x = Noise(np, 1, 2).integers(3, 12, 90_000)
    assert x.min() == 3 and x.max() == 11
    counts = np.bincount(x - 3)
    assert np.all(np.abs(counts - 10_000) < 500)
    with pytest.raises(ValueError, match="high - low"):
        Noise(np, 0, 0).integers(0, 0, 3)


def test_dropout_keeps_the_expected_fraction():
    keep = Noise(np, 4, 4).random((256, 3072), dtype=np.float32) >= 0.3
    assert keep.mean() == pytest.approx(0.7, abs=0.003)


def test_splitmix64_is_the_published_sequence():
    # splitmix64 seeded with 0 gives 0xE220A8397B1DCDAF first (Vigna's reference code)
    assert splitmix64(0) == 0xE220A8397B1DCDAF
