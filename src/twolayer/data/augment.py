"""Augmentation on the fly, per batch, vectorized: random horizontal flips
and random crops of a reflect-padded image.

It works on a batch of preprocessed rows (B, D) seen as images (B, H, W, C).
No padded copy is made: the padding's reflection is done on the pixel
indices, then one gather copies each output pixel from where it comes from.
"""

from __future__ import annotations

from typing import Any

from twolayer.backend import array_module, take_rows


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


def flip_and_crop(batch: Any, image_shape: tuple[int, int, int], rng: Any, flip: bool = True,
                  pad: int = 0, out: Any = None) -> Any:
    """A (B, D) batch: each image flipped left-right with probability 1/2
    (if flip) and cut back to H x W at a random offset from the image padded
    by `pad` pixels on every side (reflect padding). rng: a
    twolayer.noise.Noise or a numpy.random.Generator. out: a (B, D) array to
    write into (a new one if None); it must not be `batch`."""
    xp = array_module(batch)
    h, w, c = image_shape
    n = batch.shape[0]
    # 1. each image's crop offset (0 .. 2 * pad, so pad is the centre) and flip
    top = xp.asarray(rng.integers(0, 2 * pad + 1, size=n))
    left = xp.asarray(rng.integers(0, 2 * pad + 1, size=n))
    cols = xp.arange(w)[None, :]  # (1, W)
    if flip:
        flipped = xp.asarray(rng.random(n) < 0.5)[:, None]
        cols = xp.where(flipped, w - 1 - cols, cols)  # (B, W): a flip reverses the columns
    # 2. the row and column in the original image of each output pixel:
    # output (i, j) is padded pixel (top + i, left + j), original (top + i - pad, ...) reflected
    rows = reflect(top[:, None] + xp.arange(h)[None, :] - pad, h)  # (B, H)
    cols = reflect(left[:, None] + cols - pad, w)  # (B, W)
    # 3. one gather of whole pixels (C values each): out[b, i, j] = image b's pixel (rows[b, i], cols[b, j])
    pixels = (xp.arange(n)[:, None, None] * h + rows[:, :, None]) * w + cols[:, None, :]  # (B, H, W)
    if out is None:
        out = xp.empty_like(batch)
    take_rows(batch.reshape(n * h * w, c), pixels.reshape(-1), out.reshape(n * h * w, c))
    return out
