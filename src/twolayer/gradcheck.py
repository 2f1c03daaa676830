"""Numerical gradients by central differences, and the relative error used
to compare them with analytic ones. Use float64 arrays: float32 rounding
swamps the differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f(x) / dx for a scalar f, perturbing x in place one entry at a time
    (and restoring it): (f(x + h) - f(x - h)) / 2h."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = f(x)
        x[i] = old - h
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], Any], x: np.ndarray, dout: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of sum(f(x) * dout) with respect to x, for an array-valued f:
    what a layer's backward must return given the upstream gradient dout."""
    return numerical_gradient(lambda v: float(np.sum(f(v) * dout)), x, h)


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|, 1e-8), elementwise, as in the assignment."""
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def scaled_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|): the largest difference against the
    largest gradient. Unlike rel_error, one entry near zero can't blow it up
    (a numerical gradient next to a ReLU's kink is off by a little)."""
    return float(np.abs(a - b).max() / max(float((np.abs(a) + np.abs(b)).max()), 1e-8))
