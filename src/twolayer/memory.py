"""How much memory a training run needs, checked before it is allocated.

A hidden layer too wide for the machine should be one line that says how
much it would need, not a MemoryError (or the kernel's OOM killer) halfway
through allocating the weights.
"""

from __future__ import annotations

import os
from decimal import Decimal

# per weight, the copies a run keeps: the parameters, their gradients, the
# best epoch's copy, and the optimizer's state (velocity; Adam's two moments)
STATE_COPIES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2}


def available_bytes() -> int | None:
    """Memory the system can give without swapping (Linux's MemAvailable),
    else the physical memory; None where neither can be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def training_bytes(inputs: int, hidden: int, classes: int, itemsize: int, optimizer: str, batch: int) -> int:
    """About what training a D x H x C network holds at once: the weights,
    gradients, best copy and optimizer state, plus one batch's activations
    and the hidden activations of an evaluation chunk (model.chunk_rows)."""
    weights = inputs * hidden + hidden + hidden * classes + classes
    copies = 3 + STATE_COPIES.get(optimizer, 2)
    activations = batch * (inputs + 4 * hidden + 3 * classes) + 2**24
    return itemsize * (weights * copies + activations)


def describe(nbytes: float) -> str:
    """A byte count as bytes, kB, MB, GB or TB, of any size."""
    if nbytes >= 10**18:  # a million TB and more: --hidden-size 1e400's bytes overflowed a float
        return f"{Decimal(nbytes) / 10**12:.2g} TB"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.1f} TB"


def shortfall(needed: int, doing: str = "to train") -> str | None:
    """None when `needed` bytes fit in the memory available, else a phrase
    saying how much is needed (`doing` what) and how much there is."""
    available = available_bytes()
    if available is None or needed <= available:
        return None
    return f"needs about {describe(needed)} of memory {doing}; this machine has {describe(available)} available"
