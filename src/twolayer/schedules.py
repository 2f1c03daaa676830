"""Learning rate as a pure function of progress through training.

Each schedule maps (iteration, base_lr, iters_per_epoch, total_iters, decay)
to the learning rate used by that iteration, counting iterations from 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def step_decay(iteration: int, base_lr: float, iters_per_epoch: int, total_iters: int, decay: float) -> float:
    """The classic recipe: multiply the rate by `decay` after every epoch."""
    # 1. epochs completed before this iteration
    epochs_done = iteration // iters_per_epoch
    # 2. one factor of `decay` per completed epoch
    return base_lr * decay**epochs_done


def constant(iteration: int, base_lr: float, iters_per_epoch: int, total_iters: int, decay: float) -> float:
    """The same rate throughout."""
    return base_lr


def cosine(iteration: int, base_lr: float, iters_per_epoch: int, total_iters: int, decay: float) -> float:
    """Half a cosine from base_lr down to 0 over the whole run."""
    progress = iteration / max(total_iters, 1)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


Schedule = Callable[[int, float, int, int, float], float]

SCHEDULES: dict[str, Schedule] = {"step": step_decay, "constant": constant, "cosine": cosine}
