"""Augmentation on the fly, per batch, vectorized: random horizontal flips
and random crops of a reflect-padded image.

It works on a batch of preprocessed rows (B, D) seen as images (B, H, W, C).
No padded copy is made: the padding's reflection is done on the pixel
indices, then one gather copies each output pixel from where it comes from.
On the CPU that gather is one compiled loop (fused_cpu.flip_and_crop), which
also picks the batch's rows out of the whole training set on the way; the
index arithmetic below is its reference and what runs on a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twolayer.backend import array_module, compiled_cpu, take_rows


def reflect(i: Any, n: int) -> Any:
    """Where index i of an axis of length n, padded by reflection on both
    sides (NumPy's mode "reflect": the edge is not repeated), reads from:
    the padding mirrors the axis, then mirrors the mirror, with period
    2 (n - 1). i may be negative or >= n."""
    if n == 1:
        return i * 0  # one pixel: every padded index reads it
    period = 2 * (n - 1)
    i = i % period
    return array_module(i).where(i < n, i, period - i)


def flip_and_crop(images: Any, image_shape: tuple[int, int, int], rng: Any, flip: bool = True,
                  pad: int = 0, out: Any = None, rows: Any = None) -> Any:
    """A (B, D) batch: each image flipped left-right with probability 1/2
    (if flip) and cut back to H x W at a random offset from the image padded
    by `pad` pixels on every side (reflect padding). rng: a
    twolayer.noise.Noise or a numpy.random.Generator. rows: which rows of
    `images` make the batch (None: all of them, in order). out: a (B, D)
    array to write into (a new one if None); it must not be `images`."""
    xp = array_module(images)
    h, w, c = image_shape
    n = images.shape[0] if rows is None else len(rows)
    # 1. each image's crop offset (0 .. 2 * pad, so pad is the centre) and flip
    top = xp.asarray(rng.integers(0, 2 * pad + 1, size=n))
    left = xp.asarray(rng.integers(0, 2 * pad + 1, size=n))
    flipped = xp.asarray(rng.random(n) < 0.5) if flip else xp.zeros(n, dtype=bool)
    if out is None:
        out = xp.empty((n, images.shape[1]), dtype=images.dtype)
    # numba's loop takes native float32 and float64 (not float16, not big-endian)
    kernels = compiled_cpu() if xp is np and images.dtype in (np.float32, np.float64) else None
    if kernels is not None:
        which = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
        kernels.flip_and_crop(images, which, top, left, flipped, pad, h, w, c, out)
        return out
    if rows is not None:
        images = take_rows(images, rows, xp.empty_like(out))
    # 2. the row and column in the original image of each output pixel:
    # output (i, j) is padded pixel (top + i, left + j), original (top + i - pad, ...) reflected;
    # a flip reverses the columns
    cols = xp.where(flipped[:, None], w - 1 - xp.arange(w)[None, :], xp.arange(w)[None, :])  # (B, W)
    pixel_rows = reflect(top[:, None] + xp.arange(h)[None, :] - pad, h)  # (B, H)
    pixel_cols = reflect(left[:, None] + cols - pad, w)  # (B, W)
    # 3. one gather of whole pixels (C values each): out[b, i, j] = image b's pixel (rows[b, i], cols[b, j])
    pixels = (xp.arange(n)[:, None, None] * h + pixel_rows[:, :, None]) * w + pixel_cols[:, None, :]  # (B, H, W)
    take_rows(images.reshape(n * h * w, c), pixels.reshape(-1), out.reshape(n * h * w, c))
    return out
