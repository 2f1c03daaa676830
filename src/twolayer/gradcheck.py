"""Numerical gradients by central differences, and the relative error used
to compare them with analytic ones. Use float64 arrays: float32 rounding
swamps the differences.

What would give a silently wrong check is a ValueError instead: an integer
x (its perturbations were rounded away), arrays of different shapes to
compare (a (1, H) gradient was broadcast against an (H,) one and passed),
a dout of another shape than f(x)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f(x) / dx for a scalar f, perturbing x in place one entry at a time
    (and restoring it): (f(x + h) - f(x - h)) / 2h."""
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise ValueError(f"x must be a NumPy float array (float64 for a precise check), perturbed in place; got "
                         f"{type(x).__name__ if not isinstance(x, np.ndarray) else x.dtype}")
    if not x.flags.writeable:
        raise ValueError("x is read-only: it is perturbed in place; give a writable copy, x.copy()")
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h!r}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = _scalar(f(x))
        x[i] = old - h
        minus = _scalar(f(x))
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], Any], x: np.ndarray, dout: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of sum(f(x) * dout) with respect to x, for an array-valued f:
    what a layer's backward must return given the upstream gradient dout."""
    dout = np.asarray(dout)

    def weighted(v: np.ndarray) -> float:
        out = np.asarray(f(v))
        if out.shape != dout.shape:  # a broadcast sum is the gradient of something else
            raise ValueError(f"dout has shape {dout.shape} but f(x) has shape {out.shape}: give dout shaped like f(x)")
        return float(np.sum(out * dout))

    return numerical_gradient(weighted, x, h)


def rel_error(a: Any, b: Any) -> float:
    """max |a - b| / max(|a| + |b|, 1e-8), elementwise, as in the assignment."""
    a, b = _same_shape(a, b)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def scaled_error(a: Any, b: Any) -> float:
    """max |a - b| / max(|a| + |b|): the largest difference against the
    largest gradient. Unlike rel_error, one entry near zero can't blow it up
    (a numerical gradient next to a ReLU's kink is off by a little)."""
    a, b = _same_shape(a, b)
    if a.size == 0:
        return 0.0
    return float(np.abs(a - b).max() / max(float((np.abs(a) + np.abs(b)).max()), 1e-8))


def _same_shape(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """a and b as arrays of one shape; ValueError otherwise (NumPy would
    broadcast them, and a wrong-shaped gradient could pass)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}: a gradient must have its "
                         "parameter's shape")
    return a, b


def _scalar(value: Any) -> float:
    """f's value as a float; ValueError naming what f returned otherwise."""
    try:
        return float(value)
    except (TypeError, ValueError):
        shape = getattr(value, "shape", None)
        raise ValueError(f"f must return a number (the loss), got {type(value).__name__}"
                         + (f" of shape {shape}" if shape is not None else "")
                         + "; for an array-valued f use numerical_gradient_array") from None
