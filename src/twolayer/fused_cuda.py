"""The update rules as one-pass CuPy elementwise kernels, for --device cuda.

The same per-number arithmetic as fused_cpu.py (and as each rule's `step`
in optim.py), in CUDA C: one read and one write of every array instead of
several CuPy operations, each a pass over the weights. Compiled without
fused multiply-add (--fmad=false), so that every product is rounded as the
reference's separate operations round it. The sum of the new weights'
squares is layers.sum_squares itself, a few CuPy reductions (for weight
matrices only).

Only imported where CuPy is; tests/test_gpu.py compares these kernels with
the reference on a real GPU.
"""

from __future__ import annotations

import functools
from typing import Any

import cupy

from twolayer.layers import decays, sum_squares

# each kernel: (state arrays, scalars in the order of its rule's `scalars`, the body per number);
# Nesterov is the momentum kernel with its `nesterov` scalar set
KERNELS = {"sgd": "sgd", "momentum": "momentum", "nesterov": "momentum", "adam": "adam"}
RULES = {
    "sgd": ((), ("shrink", "lr"), "p = p * shrink - g * lr;"),
    "momentum": (("v",), ("l2", "decay", "mu", "lr", "nesterov"), """
        T grad = l2 != 0 ? g + l2 * p : g;
        T step = grad * lr;
        v = v * mu - step;
        p = nesterov != 0 ? (p * decay - step) + mu * v : p * decay + v;"""),
    "adam": (("m", "s"), ("l2", "decay", "beta1", "one_minus_beta1", "beta2", "one_minus_beta2", "step_size",
                          "correction2", "eps"), """
        T grad = l2 != 0 ? g + l2 * p : g;
        m = m * beta1 + one_minus_beta1 * grad;
        s = s * beta2 + one_minus_beta2 * (grad * grad);
        p = p * decay - step_size * m / (sqrt(s / correction2) + eps);"""),
}


@functools.cache
def kernel(name: str) -> Any:
    states, scalars, body = RULES[name]
    return cupy.ElementwiseKernel(
        ", ".join(["T g", *(f"T {scalar}" for scalar in scalars)]),
        ", ".join(["T p", *(f"T {state}" for state in states)]),  # updated in place
        body, f"twolayer_{name}", options=("--fmad=false",))


def update(rule: str, p: Any, grad: Any, states: list[Any], scalars: list[Any]) -> Any:
    """Run rule's kernel on p in place; return sum_squares of the new p, for a
    weight matrix (None for a bias: the L2 term leaves biases, and on a GPU
    each of the sum's reductions is a kernel launch)."""
    kernel(KERNELS[rule])(grad, *scalars, p, *states)
    return sum_squares(p) if decays(p) else None
