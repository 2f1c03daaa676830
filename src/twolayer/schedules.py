"""Learning rate as a pure function of progress through training.

Each schedule maps (iteration, base_lr, iters_per_epoch, total_iters, decay,
warmup) to the learning rate used by that iteration, counting from 0.
`warmup` is the fraction of the run spent warming up (cosine, onecycle).
"""

from __future__ import annotations

import math
from collections.abc import Callable


def step_decay(iteration: int, base_lr: float, iters_per_epoch: int, total_iters: int, decay: float,
               warmup: float = 0.0) -> float:
    """The classic recipe: multiply the rate by `decay` after every epoch."""
    # 1. epochs completed before this iteration
    epochs_done = iteration // iters_per_epoch
    # 2. one factor of `decay` per completed epoch
    return base_lr * decay**epochs_done


def constant(iteration: int, base_lr: float, iters_per_epoch: int, total_iters: int, decay: float,
             warmup: float = 0.0) -> float:
    """The same rate throughout."""
    return base_lr


def cosine(iteration: int, base_lr: float, iters_per_epoch: int, total_iters: int, decay: float,
           warmup: float = 0.0) -> float:
    """A linear warm-up from 0 over `warmup` of the run, then half a cosine
    from base_lr down to 0."""
    # 1. where the warm-up ends
    warm = int(warmup * total_iters)
    # 2. during the warm-up, rise linearly to base_lr
    if iteration < warm:
        return base_lr * (iteration + 1) / warm
    # 3. after it, fall along a half cosine to 0 at the last iteration
    progress = (iteration - warm) / max(total_iters - warm, 1)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def onecycle(iteration: int, base_lr: float, iters_per_epoch: int, total_iters: int, decay: float,
             warmup: float = 0.3) -> float:
    """One cycle: rise linearly from base_lr / 25 to base_lr over `warmup` of
    the run (0.3 when not given), then fall along a half cosine to
    base_lr / 1e4."""
    # 1. where the peak is
    peak = max(int((warmup or 0.3) * total_iters), 1)
    start, end = base_lr / 25, base_lr / 1e4
    # 2. the rise
    if iteration < peak:
        return start + (base_lr - start) * iteration / peak
    # 3. the fall
    progress = (iteration - peak) / max(total_iters - peak, 1)
    return end + (base_lr - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


Schedule = Callable[[int, float, int, int, float, float], float]

SCHEDULES: dict[str, Schedule] = {"step": step_decay, "constant": constant, "cosine": cosine, "onecycle": onecycle}
