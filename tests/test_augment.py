"""Flips and crops done on indices (data/augment.py) against the obvious
way, kept here as the reference: pad the batch by reflection, then gather
each crop from the padded copy. Same draws, so the same images exactly."""

import numpy as np
import pytest

from twolayer.data import augment
from twolayer.data.augment import flip_and_crop, reflect
from twolayer.noise import Noise


def padded_gather(batch, image_shape, rng, flip=True, pad=0):
    """The implementation before index arithmetic: np.pad, then one fancy-index gather."""
    h, w, c = image_shape
    n = batch.shape[0]
    images = batch.reshape(n, h, w, c)
    if pad:
        images = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    top = rng.integers(0, 2 * pad + 1, size=n)
    left = rng.integers(0, 2 * pad + 1, size=n)
    rows = top[:, None] + np.arange(h)[None, :]
    cols = np.arange(w)[None, :]
    if flip:
        flipped = (rng.random(n) < 0.5)[:, None]
        cols = np.where(flipped, w - 1 - cols, cols)
    cols = cols + left[:, None]
    out = images[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(n, h * w * c)


def test_reflect_is_numpys_reflect_padding():
    for n in range(1, 7):
        for pad in range(0, 15):  # pads wider than the axis mirror the mirror
            expected = np.pad(np.arange(n), pad, mode="reflect")
            np.testing.assert_array_equal(reflect(np.arange(-pad, n + pad), n), expected)


@pytest.mark.parametrize("flip", [False, True])
def test_index_arithmetic_equals_pad_and_gather(flip):
    rng = np.random.default_rng(0)
    for h in range(1, 6):
        for w in range(1, 6):
            for c in (1, 3):
                for pad in (0, 1, 2, 4, 7):
                    batch = rng.normal(size=(9, h * w * c)).astype(np.float32)
                    expected = padded_gather(batch, (h, w, c), Noise(np, 3, pad), flip, pad)
                    got = flip_and_crop(batch, (h, w, c), Noise(np, 3, pad), flip, pad)
                    np.testing.assert_array_equal(got, expected, err_msg=f"{(h, w, c)} pad {pad}")


def test_cifar_sized_batches_and_an_output_buffer():
    batch = np.random.default_rng(1).normal(size=(200, 32 * 32 * 3)).astype(np.float32)
    out = np.full_like(batch, np.nan)
    for seed in range(3):
        expected = padded_gather(batch, (32, 32, 3), np.random.default_rng(seed), True, 4)
        assert flip_and_crop(batch, (32, 32, 3), np.random.default_rng(seed), True, 4, out=out) is out
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("flip", [False, True])
def test_the_compiled_loop_equals_the_index_arithmetic(flip, monkeypatch):
    """On the CPU flips and crops run as one numba loop that also picks the
    batch's rows; the index arithmetic (what a GPU runs) is its reference."""
    rng = np.random.default_rng(2)
    for h, w, c, pad in [(1, 1, 1, 3), (1, 5, 2, 2), (4, 1, 3, 5), (5, 6, 3, 0), (5, 6, 3, 4), (3, 3, 1, 9)]:
        images = rng.normal(size=(20, h * w * c)).astype(np.float32)
        rows = rng.permutation(20)[:7]
        compiled = flip_and_crop(images, (h, w, c), Noise(np, 5, pad), flip, pad, rows=rows)
        with monkeypatch.context() as m:
            m.setattr(augment, "compiled_cpu", lambda: None)
            reference = flip_and_crop(images, (h, w, c), Noise(np, 5, pad), flip, pad, rows=rows)
        picked_first = flip_and_crop(images[rows], (h, w, c), Noise(np, 5, pad), flip, pad)
        np.testing.assert_array_equal(compiled, reference, err_msg=f"{(h, w, c)} pad {pad}")
        np.testing.assert_array_equal(compiled, picked_first)


@pytest.mark.parametrize("dtype", [np.float16, ">f4", np.float64])
def test_any_float_rows_are_flipped_and_cropped(dtype):
    """numba's loop takes native float32 and float64; other rows (float16,
    big-endian, as np.load can give) take the index arithmetic."""
    images = np.random.default_rng(3).normal(size=(6, 4 * 5 * 3)).astype(dtype)
    got = flip_and_crop(images, (4, 5, 3), Noise(np, 1, 2), True, 2, rows=[4, 0, 2])
    expected = padded_gather(images[[4, 0, 2]], (4, 5, 3), Noise(np, 1, 2), True, 2)
    np.testing.assert_array_equal(got, expected)
