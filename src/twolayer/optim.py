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

    def update(self, params: dict[str, Any], grads: dict[str, Any], lr: float) -> None:
        for key, grad in grads.items():
            # In place, so no new (D, H) array is allocated each step.
            params[key] -= lr * grad


OPTIMIZERS = {"sgd": SGD}


def make_optimizer(name: str) -> SGD:
    try:
        return OPTIMIZERS[name]()
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}") from None
