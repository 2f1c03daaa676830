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

The gradients are consumed: rules scale them in place to avoid allocating a
weight-sized temporary every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twolayer.backend import array_module
from twolayer.errors import ConfigError
from twolayer.layers import decays


class Optimizer:
    """What every rule shares: its settings, its state and the two penalties."""

    name = ""
    # what `state` holds once the rule has run (checked when a checkpoint is read):
    per_param: tuple[str, ...] = ()  # arrays shaped like each parameter, keyed "<slot>.<param>"
    counters: tuple[str, ...] = ()  # integer scalars

    def __init__(self, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.state: dict[str, Any] = {}

    def update(self, params: dict[str, Any], grads: dict[str, Any], lr: float, l2: float = 0.0) -> None:
        raise NotImplementedError

    def _decay(self, p: Any, lr: float) -> None:
        """Decoupled weight decay, in place."""
        if self.weight_decay and decays(p):
            p *= 1.0 - lr * self.weight_decay

    @staticmethod
    def _with_l2(grad: Any, p: Any, l2: float) -> Any:
        """grad + l2 * p for weights, in place."""
        if l2 and decays(p):
            grad += l2 * p
        return grad

    def _zeros(self, key: str, like: Any) -> Any:
        """The state array `key` (created as zeros shaped like `like`)."""
        return self.state.setdefault(key, array_module(like).zeros_like(like))


class SGD(Optimizer):
    """Plain stochastic gradient descent: p <- p - lr * grad."""

    name = "sgd"

    def update(self, params, grads, lr, l2=0.0) -> None:
        for key, grad in grads.items():
            p = params[key]
            shrink = 1.0 - lr * ((l2 + self.weight_decay) if decays(p) else 0.0)
            if shrink != 1.0:
                p *= shrink  # p - lr * l2 * p, and the decoupled decay, in one pass
            grad *= lr
            p -= grad


class Momentum(Optimizer):
    """v <- mu * v - lr * grad;  p <- p + v."""

    name = "momentum"
    per_param = ("v",)

    def update(self, params, grads, lr, l2=0.0) -> None:
        for key, grad in grads.items():
            p = params[key]
            grad = self._with_l2(grad, p, l2)
            self._decay(p, lr)
            v = self._zeros(f"v.{key}", grad)
            v *= self.momentum
            grad *= lr
            v -= grad
            p += v


class Nesterov(Optimizer):
    """Nesterov momentum: v' = mu * v - lr * grad;  p <- p + mu * v' - lr * grad
    (the same step as the course's p - mu * v + (1 + mu) * v')."""

    name = "nesterov"
    per_param = ("v",)

    def update(self, params, grads, lr, l2=0.0) -> None:
        mu = self.momentum
        for key, grad in grads.items():
            p = params[key]
            grad = self._with_l2(grad, p, l2)
            self._decay(p, lr)
            v = self._zeros(f"v.{key}", grad)
            grad *= lr
            v *= mu
            v -= grad
            p -= grad
            p += mu * v


class Adam(Optimizer):
    """m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;  with bias
    correction, p <- p - lr * m_hat / (sqrt(s_hat) + eps)."""

    name = "adam"
    per_param = ("m", "s")
    counters = ("t",)
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def update(self, params, grads, lr, l2=0.0) -> None:
        t = int(self.state.get("t", 0)) + 1
        self.state["t"] = np.array(t)
        correction1 = 1 - self.beta1**t
        correction2 = 1 - self.beta2**t
        for key, grad in grads.items():
            p = params[key]
            grad = self._with_l2(grad, p, l2)
            self._decay(p, lr)
            m = self._zeros(f"m.{key}", grad)
            s = self._zeros(f"s.{key}", grad)
            m *= self.beta1
            m += (1 - self.beta1) * grad
            s *= self.beta2
            grad *= grad
            s += (1 - self.beta2) * grad
            p -= (lr / correction1) * m / (array_module(s).sqrt(s / correction2) + self.eps)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam}


def make_optimizer(name: str, momentum: float = 0.9, weight_decay: float = 0.0) -> Optimizer:
    try:
        return OPTIMIZERS[name](momentum=momentum, weight_decay=weight_decay)
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}") from None
