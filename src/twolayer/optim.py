"""Update rules, kept apart from the model and the trainer.

An optimizer updates a dict of parameters in place from a dict of gradients
of the same keys, keeping whatever it needs per parameter in `self.state`
(arrays only, so a checkpoint can save and restore it).

Which parameters decay is decided by the parameter itself, as nanoGPT does:
weight matrices (2 or more dimensions) decay, biases (1 dimension) never do.
Two kinds of weight penalty reach every rule:
- `l2` (per call): the slope of an L2 term, 2 * reg for reg * sum(W**2)
  (layers.l2_penalty); it is added to the weights' gradients (for plain SGD,
  folded into the step).
- `weight_decay` (per optimizer): decoupled decay, p <- p * (1 - lr * wd),
  applied to the weights before the step whatever the rule (as in AdamW).

Each rule's `step` below is the readable reference, written with NumPy
operators. Where the backend has a one-pass kernel for the arrays' device
(numba on the CPU, an elementwise kernel on CuPy: backend.fused_update), the
update runs that instead: the same arithmetic in the same order, one read
and one write of each array, nothing weight-sized allocated; it gives the
reference's numbers bit for bit (tests/test_fused.py). The reference
consumes the gradients: it scales them in place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twolayer.backend import array_module, fused_update
from twolayer.errors import ConfigError
from twolayer.layers import decays, sum_squares


class Optimizer:
    """What every rule shares: its settings, its state, the two penalties and
    the choice between the fused kernel and the reference."""

    name = ""
    # what `state` holds once the rule has run (checked when a checkpoint is read):
    slots: tuple[str, ...] = ()  # arrays shaped like each parameter ("v", or "m" and "s"), keyed "<slot>.<param>"
    counters: tuple[str, ...] = ()  # integer scalars

    def __init__(self, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.state: dict[str, Any] = {}

    def update(self, params: dict[str, Any], grads: dict[str, Any], lr: float, l2: float = 0.0,
               fused: bool = True) -> dict[str, Any]:
        """One step for every parameter in `grads`, in place.

        Returns sum(p**2) of each updated weight matrix, by key (as
        layers.sum_squares computes it): the next step's L2 term, which the
        fused kernel computes in the same pass. fused=False runs the reference.
        """
        sums = {}
        for key, grad in grads.items():
            p = params[key]
            # biases take neither penalty
            l2_p, wd = (l2, self.weight_decay) if decays(p) else (0.0, 0.0)
            states = [self._zeros(f"{slot}.{key}", p) for slot in self.slots]
            kernel = fused_update(self.name, p, grad, *states) if fused else None
            if kernel is None:
                self.step(p, grad, states, lr, l2_p, wd)
                total = sum_squares(p) if decays(p) else None
            else:
                total = kernel(p, grad, states, [p.dtype.type(s) for s in self.scalars(lr, l2_p, wd)])
            if decays(p):
                sums[key] = total
        return sums

    def options(self) -> dict[str, Any]:
        """The TrainConfig options this optimizer stands for (momentum only where the rule uses it): what a
        continued run must keep."""
        made = {"optimizer": self.name, "weight_decay": self.weight_decay}
        if self.name in ("momentum", "nesterov"):
            made["momentum"] = self.momentum
        return made

    def step(self, p: Any, grad: Any, states: list[Any], lr: float, l2: float, wd: float) -> None:
        """The reference update of one parameter, in place (l2 and wd are 0 for biases)."""
        raise NotImplementedError

    def scalars(self, lr: float, l2: float, wd: float) -> tuple[float, ...]:
        """The numbers the rule's fused kernel takes after the arrays, in its order."""
        raise NotImplementedError

    def _zeros(self, key: str, like: Any) -> Any:
        """The state array `key` (created as zeros shaped like `like` the first time)."""
        if key not in self.state:  # not setdefault: it would build (and drop) a weight-sized array every step
            self.state[key] = array_module(like).zeros_like(like)
        return self.state[key]


class SGD(Optimizer):
    """Plain stochastic gradient descent: p <- p - lr * grad."""

    name = "sgd"

    def step(self, p, grad, states, lr, l2, wd) -> None:
        shrink = 1.0 - lr * (l2 + wd)
        if shrink != 1.0:
            p *= shrink  # p - lr * l2 * p, and the decoupled decay, in one pass
        grad *= lr
        p -= grad

    def scalars(self, lr, l2, wd):
        return 1.0 - lr * (l2 + wd), lr


class Momentum(Optimizer):
    """v <- mu * v - lr * grad;  p <- p + v."""

    name = "momentum"
    slots = ("v",)
    nesterov = False

    def step(self, p, grad, states, lr, l2, wd) -> None:
        (v,) = states
        if l2:
            grad += l2 * p
        if wd:
            p *= 1.0 - lr * wd
        v *= self.momentum
        grad *= lr
        v -= grad
        p += v

    def scalars(self, lr, l2, wd):
        return l2, 1.0 - lr * wd, self.momentum, lr, float(self.nesterov)


class Nesterov(Momentum):
    """Nesterov momentum: v' = mu * v - lr * grad;  p <- p + mu * v' - lr * grad
    (the same step as the course's p - mu * v + (1 + mu) * v')."""

    name = "nesterov"
    nesterov = True  # the fused kernel is momentum's, told to take this step

    def step(self, p, grad, states, lr, l2, wd) -> None:
        (v,) = states
        mu = self.momentum
        if l2:
            grad += l2 * p
        if wd:
            p *= 1.0 - lr * wd
        grad *= lr
        v *= mu
        v -= grad
        p -= grad
        p += mu * v


class Adam(Optimizer):
    """m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;  with bias
    correction, p <- p - lr * m_hat / (sqrt(s_hat) + eps)."""

    name = "adam"
    slots = ("m", "s")
    counters = ("t",)
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def update(self, params, grads, lr, l2=0.0, fused=True):
        self.state["t"] = np.array(int(self.state.get("t", 0)) + 1)  # the step count, for the bias correction
        return super().update(params, grads, lr, l2, fused)

    def _corrections(self) -> tuple[float, float]:
        t = int(self.state["t"])
        return 1 - self.beta1**t, 1 - self.beta2**t

    def step(self, p, grad, states, lr, l2, wd) -> None:
        m, s = states
        correction1, correction2 = self._corrections()
        if l2:
            grad += l2 * p
        if wd:
            p *= 1.0 - lr * wd
        m *= self.beta1
        m += (1 - self.beta1) * grad
        s *= self.beta2
        grad *= grad
        s += (1 - self.beta2) * grad
        p -= (lr / correction1) * m / (array_module(s).sqrt(s / correction2) + self.eps)

    def scalars(self, lr, l2, wd):
        correction1, correction2 = self._corrections()
        return (l2, 1.0 - lr * wd, self.beta1, 1 - self.beta1, self.beta2, 1 - self.beta2, lr / correction1,
                correction2, self.eps)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam}


def make_optimizer(name: str, momentum: float = 0.9, weight_decay: float = 0.0) -> Optimizer:
    try:
        return OPTIMIZERS[name](momentum=momentum, weight_decay=weight_decay)
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}") from None
