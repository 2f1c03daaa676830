"""One-pass loops compiled by numba for the CPU: the update rules, and the
gather of flipped and cropped images (data/augment.py's index arithmetic,
written per pixel).

Each kernel is its rule's `step` in optim.py, written per number: the same
operations in the same order and precision, so it gives the reference's
weights bit for bit (no fused multiply-add: numba leaves a * b + c as two
roundings unless fastmath is asked for). It reads each array once and writes
it once where the NumPy reference makes up to six passes and two
weight-sized temporaries, and it sums the squares of the new weights on the
way, in layers.sum_squares's order: that sum is the next step's L2 term.

Arrays come as as_rows views (rows, columns); the scalars in the weights'
dtype, in the order of the rule's `scalars`. `part` (the current block's
column sums, in the weights' dtype) and `acc` (float64) start as zeros.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from twolayer.layers import SUM_BLOCK, as_rows


def jit(function):
    """numba's compiled `function`, its machine code kept on disk (compiled
    once per machine, not per process); compiled in each process instead
    where numba finds no folder to keep it in (a read-only install, and a
    HOME and NUMBA_CACHE_DIR it cannot write: RuntimeError `no locator
    available`, which left the whole module unloaded and every update to
    the NumPy reference)."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:
        return numba.njit(nogil=True)(function)


@numba.njit(inline="always")
def _end_of_row(i, rows, part, acc, block):
    """After row i: at the end of a block (or of the array), add the block's
    column sums into acc in float64 and start the next block."""
    if (i + 1) % block == 0 or i + 1 == rows:
        for j in range(part.size):
            acc[j] += part[j]
            part[j] = 0


@jit
def sgd(p, g, shrink, lr, part, acc, block):
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            w = p[i, j] * shrink - g[i, j] * lr
            p[i, j] = w
            part[j] += w * w
        _end_of_row(i, p.shape[0], part, acc, block)


@jit
def momentum(p, g, v, l2, decay, mu, lr, nesterov, part, acc, block):
    """Momentum, or Nesterov momentum where `nesterov` is not 0: they differ in the step."""
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            w, grad = p[i, j], g[i, j]
            if l2 != 0:
                grad = grad + l2 * w
            step = grad * lr
            v[i, j] = v[i, j] * mu - step
            if nesterov != 0:
                w = (w * decay - step) + mu * v[i, j]
            else:
                w = w * decay + v[i, j]
            p[i, j] = w
            part[j] += w * w
        _end_of_row(i, p.shape[0], part, acc, block)


@jit
def adam(p, g, m, s, l2, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, correction2, eps,
         part, acc, block):
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            w, grad = p[i, j], g[i, j]
            if l2 != 0:
                grad = grad + l2 * w
            m[i, j] = m[i, j] * beta1 + one_minus_beta1 * grad
            s[i, j] = s[i, j] * beta2 + one_minus_beta2 * (grad * grad)
            w = w * decay - step_size * m[i, j] / (np.sqrt(s[i, j] / correction2) + eps)
            p[i, j] = w
            part[j] += w * w
        _end_of_row(i, p.shape[0], part, acc, block)


@numba.njit(inline="always")
def _reflect(i, n):
    """augment.reflect for one index."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i = i % period  # Python's modulo, as in numba: never negative
    return i if i < n else period - i


@jit
def flip_and_crop(images, rows, top, left, flipped, pad, h, w, c, out):
    """out[b] = image rows[b] of `images` (rows of h * w * c values), flipped
    left-right where flipped[b], cut at (top[b], left[b]) from its copy padded
    by reflection by `pad` pixels."""
    row_length = w * c
    source_at = np.empty(row_length, dtype=np.int64)  # where each value of an output image row comes from
    for b in range(rows.shape[0]):
        source, target = images[rows[b]], out[b]
        for j in range(w):
            col = w - 1 - j if flipped[b] else j  # a flip reverses the columns
            start = _reflect(left[b] + col - pad, w) * c
            for k in range(c):
                source_at[j * c + k] = start + k
        for i in range(h):
            row_start, at = _reflect(top[b] + i - pad, h) * row_length, i * row_length
            for e in range(row_length):
                target[at + e] = source[row_start + source_at[e]]


KERNELS = {"sgd": sgd, "momentum": momentum, "nesterov": momentum, "adam": adam}


def update(rule: str, p: np.ndarray, grad: np.ndarray, states: list[np.ndarray], scalars: list[Any]) -> Any:
    """Run rule's kernel on p in place; return sum_squares of the new p."""
    rows = as_rows(p)
    part, acc = np.zeros(rows.shape[1], dtype=p.dtype), np.zeros(rows.shape[1])
    KERNELS[rule](rows, as_rows(grad), *[as_rows(s) for s in states], *scalars, part, acc, SUM_BLOCK)
    return acc.sum()
