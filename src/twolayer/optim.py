"""Update rules, kept apart from the model and the trainer.

An optimizer updates a dict of parameters in place from a dict of gradients
of the same keys, keeping whatever it needs per parameter name in
`self.state` (arrays only, so a checkpoint can save and restore it).

Two kinds of weight penalty reach every rule:
- `decay` (per call, per parameter): an L2 term's gradient. L2 reg *
  sum(W**2) has gradient 2 * reg * W, so the trainer passes 2 * reg for the
  weights; it is added to the gradient (for plain SGD, folded into the step).
- `weight_decay` (per optimizer): decoupled decay, p <- p * (1 - lr * wd),
  applied to the weights before the step whatever the rule (as in AdamW).

The gradients are consumed: rules scale them in place to avoid allocating a
weight-sized temporary every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twolayer.backend import array_module
from twolayer.errors import ConfigError

WEIGHTS = ("W1", "W2")  # what decays; biases never do


class SGD:
    """Plain stochastic gradient descent: p <- p - lr * grad."""

    name = "sgd"

    def __init__(self, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.state: dict[str, Any] = {}

    def update(self, params: dict[str, Any], grads: dict[str, Any], lr: float,
               decay: dict[str, float] | None = None) -> None:
        for key, grad in grads.items():
            p = params[key]
            shrink = 1.0 - lr * (_l2(decay, key) + (self.weight_decay if key in WEIGHTS else 0.0))
            if shrink != 1.0:
                p *= shrink  # p - lr * d * p, and the decoupled decay, in one pass
            grad *= lr
            p -= grad

    def _decay(self, params: dict[str, Any], key: str, lr: float) -> None:
        if self.weight_decay and key in WEIGHTS:
            params[key] *= 1.0 - lr * self.weight_decay

    @staticmethod
    def _with_l2(grad: Any, p: Any, decay: dict[str, float] | None, key: str) -> Any:
        d = _l2(decay, key)
        if d:
            grad += d * p
        return grad


class Momentum(SGD):
    """v <- mu * v - lr * grad;  p <- p + v."""

    name = "momentum"

    def update(self, params, grads, lr, decay=None) -> None:
        for key, grad in grads.items():
            grad = self._with_l2(grad, params[key], decay, key)
            self._decay(params, key, lr)
            v = self.state.setdefault(f"v.{key}", array_module(grad).zeros_like(grad))
            v *= self.momentum
            grad *= lr
            v -= grad
            params[key] += v


class Nesterov(SGD):
    """Nesterov momentum: v' = mu * v - lr * grad;  p <- p + mu * v' - lr * grad
    (the same step as the course's p - mu * v + (1 + mu) * v')."""

    name = "nesterov"

    def update(self, params, grads, lr, decay=None) -> None:
        mu = self.momentum
        for key, grad in grads.items():
            grad = self._with_l2(grad, params[key], decay, key)
            self._decay(params, key, lr)
            v = self.state.setdefault(f"v.{key}", array_module(grad).zeros_like(grad))
            grad *= lr
            v *= mu
            v -= grad
            params[key] -= grad
            params[key] += mu * v


class Adam(SGD):
    """m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;  with bias
    correction, p <- p - lr * m_hat / (sqrt(s_hat) + eps)."""

    name = "adam"
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def update(self, params, grads, lr, decay=None) -> None:
        t = int(self.state.get("t", 0)) + 1
        self.state["t"] = np.array(t)
        correction1 = 1 - self.beta1**t
        correction2 = 1 - self.beta2**t
        for key, grad in grads.items():
            grad = self._with_l2(grad, params[key], decay, key)
            self._decay(params, key, lr)
            m = self.state.setdefault(f"m.{key}", array_module(grad).zeros_like(grad))
            s = self.state.setdefault(f"s.{key}", array_module(grad).zeros_like(grad))
            m *= self.beta1
            m += (1 - self.beta1) * grad
            s *= self.beta2
            grad *= grad
            s += (1 - self.beta2) * grad
            params[key] -= (lr / correction1) * m / (array_module(s).sqrt(s / correction2) + self.eps)


def _l2(decay: dict[str, float] | None, key: str) -> float:
    """The L2 gradient factor `decay` gives parameter `key` (0 when none)."""
    return decay.get(key, 0.0) if decay else 0.0


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam}


def make_optimizer(name: str, momentum: float = 0.9, weight_decay: float = 0.0) -> SGD:
    try:
        return OPTIMIZERS[name](momentum=momentum, weight_decay=weight_decay)
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}") from None
