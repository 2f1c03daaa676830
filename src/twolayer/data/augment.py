"""Augmentation on the fly, per batch, vectorized: random horizontal flips
and random crops of a reflect-padded image.

It works on a batch of preprocessed rows (B, D) seen as images (B, H, W, C):
one padded copy of the batch, then one gather whose row and column indices
carry each image's crop offset and, for flipped images, reversed columns.
"""

from __future__ import annotations

from typing import Any

from twolayer.backend import array_module


def flip_and_crop(batch: Any, image_shape: tuple[int, int, int], rng: Any, flip: bool = True,
                  pad: int = 0) -> Any:
    """A new (B, D) batch: each image flipped left-right with probability
    1/2 (if flip) and cut back to H x W at a random offset from the image
    padded by `pad` pixels on every side (reflect padding). rng: a
    twolayer.noise.Noise or a numpy.random.Generator."""
    xp = array_module(batch)
    h, w, c = image_shape
    n = batch.shape[0]
    images = batch.reshape(n, h, w, c)
    if pad:
        images = xp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    # 1. each image's crop offset (0 .. 2 * pad, so pad is the centre) and flip
    top = xp.asarray(rng.integers(0, 2 * pad + 1, size=n))
    left = xp.asarray(rng.integers(0, 2 * pad + 1, size=n))
    # 2. row and column indices into the padded images; a flip reverses the columns
    rows = top[:, None] + xp.arange(h)[None, :]  # (B, H)
    cols = xp.arange(w)[None, :]  # (1, W)
    if flip:
        flipped = xp.asarray(rng.random(n) < 0.5)[:, None]
        cols = xp.where(flipped, w - 1 - cols, cols)  # (B, W)
    cols = cols + left[:, None]
    # 3. one gather: out[b, i, j] = images[b, rows[b, i], cols[b, j]]
    out = images[xp.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(n, h * w * c)
