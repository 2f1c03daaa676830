"""Pure layer functions: each forward returns (out, cache), each backward
takes (dout, cache) and returns the gradients of its inputs.

No state and no I/O, so that every function can be checked on its own by a
numerical gradient (see tests/test_layers.py). Shapes use N (batch), D
(input), H (hidden) and C (classes).

The functions only use array methods and operators, so they run unchanged on
NumPy and CuPy arrays.
"""

from __future__ import annotations

from typing import Any

from twolayer.backend import array_module

Array = Any  # a numpy.ndarray (or cupy.ndarray) -- kept loose on purpose


def affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, tuple]:
    """out = x @ w + b.

    x: (N, D), w: (D, M), b: (M,) -> out: (N, M).
    """
    out = x @ w
    out += b
    return out, (x, w)


def affine_backward(dout: Array, cache: tuple) -> tuple[Array, Array, Array]:
    """Gradients of affine_forward.

    dout: (N, M) -> dx: (N, D), dw: (D, M), db: (M,).
    """
    _, w = cache
    dw, db = affine_backward_params(dout, cache)
    return dout @ w.T, dw, db


def affine_backward_params(dout: Array, cache: tuple, dw: Array = None, db: Array = None) -> tuple[Array, Array]:
    """Only (dw, db): the first layer needs no dx, which would cost a whole
    (N, M) x (M, D) matrix product. Pass dw and db to have the results
    written into those arrays instead of new ones."""
    x, _ = cache
    xp = array_module(dout)
    return xp.matmul(x.T, dout, out=dw), xp.sum(dout, axis=0, out=db)


def relu_forward(x: Array) -> tuple[Array, Array]:
    """out = max(x, 0). The cache is the output itself: out > 0 is the mask."""
    out = array_module(x).maximum(x, 0)
    return out, out


def relu_backward(dout: Array, cache: Array) -> Array:
    """dx = dout where the unit was active, else 0."""
    return dout * (cache > 0)


def softmax_loss_forward(scores: Array, y: Array) -> tuple[float, tuple]:
    """Mean softmax cross-entropy of scores (N, C) against labels y (N,).

    Subtracting each row's max before exp keeps exp() from overflowing and
    leaves the softmax unchanged.
    """
    xp = array_module(scores)
    rows = xp.arange(scores.shape[0])
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    # log p(y_i) = shifted[i, y_i] - log(sum_j exp(shifted[i, j]))
    loss = (xp.log(sum_exp[:, 0]) - shifted[rows, y]).mean()
    probs = exp / sum_exp
    return float(loss), (probs, y)


def softmax_loss_backward(dloss: float, cache: tuple) -> Array:
    """d(mean cross-entropy)/d(scores) = (probs - onehot(y)) / N, times dloss."""
    probs, y = cache
    n = probs.shape[0]
    dscores = probs.copy()
    dscores[array_module(probs).arange(n), y] -= 1
    dscores *= dloss / n
    return dscores


def softmax_loss(scores: Array, y: Array) -> tuple[float, Array]:
    """The loss and its gradient in one call: (loss, dscores)."""
    loss, cache = softmax_loss_forward(scores, y)
    return loss, softmax_loss_backward(1.0, cache)

