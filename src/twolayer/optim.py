"""Update rules, kept apart from the model and the trainer.

An optimizer updates a dict of parameters in place from a dict of gradients
of the same keys, keeping whatever state it needs per parameter name in
`self.state` (so that a checkpoint can save and restore it).
"""

from __future__ import annotations

from typing import Any

from twolayer.errors import ConfigError


class SGD:
    """Plain stochastic gradient descent: p <- p - lr * grad."""

    name = "sgd"

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def update(self, params: dict[str, Any], grads: dict[str, Any], lr: float,
               decay: dict[str, float] | None = None) -> None:
        """p <- p - lr * (grad + decay * p), in place. `decay` folds an L2
        term's gradient into the step: L2 reg * sum(W**2) has gradient
        2 * reg * W, so pass decay=2 * reg for W. The grads are consumed
        (scaled in place), so the step allocates no (D, H) temporary."""
        for key, grad in grads.items():
            p = params[key]
            d = decay.get(key, 0.0) if decay else 0.0
            if d:
                p *= 1.0 - lr * d
            grad *= lr
            p -= grad


OPTIMIZERS = {"sgd": SGD}


def make_optimizer(name: str) -> SGD:
    try:
        return OPTIMIZERS[name]()
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}") from None
