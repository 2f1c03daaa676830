"""Pure layer functions: each forward returns (out, cache), each backward
takes (dout, cache) and returns the gradients of its inputs.

No state and no I/O, so that every function can be checked on its own by a
numerical gradient (see tests/test_layers.py). Shapes use N (batch), D
(input), H (hidden) and C (classes).

The functions only use array methods and operators, so they run unchanged on
NumPy and CuPy arrays.
"""

from __future__ import annotations

import functools
import operator
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


def relu_forward(x: Array, out: Array = None) -> tuple[Array, Array]:
    """out = max(x, 0). The cache is the output itself: out > 0 is the mask.
    Pass out (x itself, say) to have the result written there."""
    out = array_module(x).maximum(x, 0, out=out)
    return out, out


def relu_backward(dout: Array, cache: Array, out: Array = None) -> Array:
    """dx = dout where the unit was active, else 0 (written into out if given)."""
    return array_module(dout).multiply(dout, cache > 0, out=out)


def dropout_forward(x: Array, p: float, rng: Any) -> tuple[Array, Array]:
    """Inverted dropout: zero each unit with probability p and scale the
    survivors by 1 / (1 - p), so the expected output equals x and nothing
    changes at evaluation time (where no dropout is applied). rng: anything
    with numpy.random.Generator's random(shape, dtype) that returns arrays
    of x's module (the trainer passes a twolayer.noise.Noise)."""
    keep = rng.random(x.shape, dtype=x.dtype) >= p
    mask = keep * x.dtype.type(1 / (1 - p))
    return x * mask, mask


def dropout_backward(dout: Array, mask: Array) -> Array:
    return dout * mask


def softmax_loss_forward(scores: Array, y: Array, smoothing: float = 0.0) -> tuple[Array, tuple]:
    """Mean softmax cross-entropy of scores (N, C) against labels y (N,).

    The loss comes back as a 0-d array of the scores' module (float(loss)
    reads it; on a GPU that waits for the device, so the trainer reads it
    only now and then).

    With label smoothing e, the target is (1 - e) on the label and e / C on
    every class: loss = (1 - e) * -log p(y) + e * mean over classes of -log p.
    """
    xp = array_module(scores)
    rows = xp.arange(scores.shape[0])
    shifted, exp, sum_exp = _exponentials(scores)
    # log p(c) = shifted[i, c] - log(sum_j exp(shifted[i, j]))
    log_sum = xp.log(sum_exp[:, 0])
    loss = (log_sum - shifted[rows, y]).mean()
    if smoothing:
        uniform = (log_sum - shifted.mean(axis=1)).mean()
        loss = (1 - smoothing) * loss + smoothing * uniform
    probs = exp / sum_exp
    return loss, (probs, y, smoothing)


def softmax(scores: Array) -> Array:
    """Class probabilities (N, C) from scores (N, C)."""
    _, exp, sum_exp = _exponentials(scores)
    return exp / sum_exp


def log_softmax(scores: Array) -> Array:
    """The logarithms of softmax's probabilities (N, C), from the shifted
    scores: finite where a probability rounds to 0 (log(softmax) is -inf there)."""
    shifted, _, sum_exp = _exponentials(scores)
    return shifted - array_module(scores).log(sum_exp)


def _exponentials(scores: Array) -> tuple[Array, Array, Array]:
    """(shifted, exp(shifted), row sums of exp): shifted is scores minus each
    row's max, which keeps exp() from overflowing and leaves the softmax
    unchanged."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = array_module(scores).exp(shifted)
    return shifted, exp, exp.sum(axis=1, keepdims=True)


def softmax_loss_backward(dloss: float, cache: tuple) -> Array:
    """d(loss)/d(scores) = (probs - target) / N, times dloss; the target is
    onehot(y), smoothed toward uniform by the smoothing factor."""
    probs, y, smoothing = cache
    n, c = probs.shape
    dscores = probs - smoothing / c if smoothing else probs.copy()
    dscores[array_module(probs).arange(n), y] -= 1 - smoothing
    dscores *= dloss / n
    return dscores


def softmax_loss(scores: Array, y: Array, smoothing: float = 0.0) -> tuple[Array, Array]:
    """The loss and its gradient in one call: (loss, dscores)."""
    loss, cache = softmax_loss_forward(scores, y, smoothing)
    return loss, softmax_loss_backward(1.0, cache)


def decays(p: Array) -> bool:
    """Whether L2 and weight decay act on parameter p: weight matrices do,
    bias vectors do not (told by the parameter's shape, as nanoGPT does)."""
    return p.ndim >= 2


# sum_squares adds up this many rows at a time in the weights' own precision
SUM_BLOCK = 32
# as_rows merges the rows of a narrower matrix: a one-pass update vectorizes
# along a row, and a row of 50 numbers is mostly its vector loop's remainder
MIN_ROW = 256


def as_rows(a: Array) -> Array:
    """a as a 2-D view (rows, columns), the layout sum_squares and the fused
    updates walk: a matrix as it is, a vector as one row. A contiguous matrix
    narrower than MIN_ROW is seen with pairs of its rows merged until its rows
    are that long (or its row count is odd): a (3072, 50) W1 as (384, 400).
    A single column is seen as one row too: NumPy sums a block down a lone
    column pairwise, not in order, and the fused kernels could not follow."""
    if a.ndim != 2 or a.shape[1] == 1:
        return a.reshape(1, -1)
    n, m = a.shape
    if a.flags.c_contiguous:  # reshaping anything else would copy, and the updates write in place
        while m < MIN_ROW and n % 2 == 0:
            n, m = n // 2, m * 2
    return a.reshape(n, m)


def sum_squares(W: Array) -> Array:
    """sum(W**2) as a 0-d float64 array, in an order that a one-pass update
    can follow row by row (the fused kernels in backend.fused_update give
    this very number, bit for bit): in the rows of as_rows(W), the squares of
    each block of SUM_BLOCK rows are summed down each column in W's
    precision, the blocks' sums are added up in float64, then the columns.
    In float32 that is within about 2e-6 of the exact sum (relative), and
    closer than a float32 dot product of the whole matrix."""
    xp = array_module(W)
    rows = as_rows(W)
    n, width = rows.shape
    blocks = -(-n // SUM_BLOCK)
    squares = rows * rows
    if n % SUM_BLOCK:  # zero rows pad the last block: + 0 is exact
        padded = xp.zeros((blocks * SUM_BLOCK, width), dtype=W.dtype)
        padded[:n] = squares
        squares = padded
    block_sums = squares.reshape(blocks, SUM_BLOCK, width).sum(axis=1)
    return block_sums.sum(axis=0, dtype=xp.float64).sum()


def l2_penalty(weights: list[Array], reg: float, sums: list[Array] | None = None) -> tuple[Array, float]:
    """The L2 term reg * sum(W**2) over the weight matrices (in their dtype),
    and its slope: the term's gradient with respect to each W is slope * W,
    slope = 2 * reg. `sums`: each W's sum_squares where already known (the
    optimizer's update returns them for the weights it leaves).

    The only place the formula lives: the model adds slope * W to its
    gradients; the trainer passes the slope to the optimizer, which folds it
    into the update instead (no weight-sized temporary)."""
    if sums is None:
        sums = [sum_squares(W) for W in weights]
    total = functools.reduce(operator.add, sums)  # not sum(): its 0 + ... is one more operation on a GPU
    reg = float(reg)  # a NumPy scalar of a narrow type (loss(X, y, reg=np.float16(6e4))) overflowed in 2 * reg
    return reg * total.astype(weights[0].dtype), 2 * reg
