"""How much memory a training run needs, checked before it is allocated.

A hidden layer too wide for the machine should be one line that says how
much it would need, not a MemoryError (or the kernel's OOM killer) halfway
through allocating the weights.
"""

from __future__ import annotations

import os

# per weight, the copies a run keeps: the parameters, their gradients, the
# best epoch's copy, and the optimizer's state (velocity; Adam's two moments)
STATE_COPIES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2}


def available_bytes() -> int | None:
    """Memory this process can be given: what the system can give without
    swapping (Linux's MemAvailable, else the physical memory), and no more
    than its address-space limit leaves (`ulimit -v`, address_space_left);
    None where neither can be read."""
    system = _system_bytes()
    left = address_space_left()
    return system if left is None else left if system is None else min(system, left)


def _system_bytes() -> int | None:
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


def address_space_limit() -> int | None:
    """The process's address-space limit in bytes (`ulimit -v`, RLIMIT_AS), or None for none."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, AttributeError, ValueError, OSError):  # resource is Unix's
        return None
    return None if limit == resource.RLIM_INFINITY else limit


def address_space_left() -> int | None:
    """What the process may still map under `ulimit -v` (its limit less its
    VmSize: libraries and thread stacks count, not only the arrays), or None
    without a limit. Under `ulimit -v 800000` a hidden layer of 400,000
    units passed the check of the machine's memory and failed as a
    MemoryError while it was allocated."""
    limit = address_space_limit()
    if limit is None:
        return None
    try:
        with open("/proc/self/status") as f:
            used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, ValueError, IndexError, StopIteration):
        return limit
    return max(limit - used, 0)


def training_bytes(inputs: int, hidden: int, classes: int, itemsize: int, optimizer: str, batch: int) -> int:
    """About what training a D x H x C network holds at once: the weights,
    gradients, best copy and optimizer state, plus one batch's activations
    and the hidden activations of an evaluation chunk (model.chunk_rows)."""
    weights = inputs * hidden + hidden + hidden * classes + classes
    copies = 3 + STATE_COPIES.get(optimizer, 2)
    activations = batch * (inputs + 4 * hidden + 3 * classes) + 2**24
    return itemsize * (weights * copies + activations)


def describe(nbytes: float) -> str:
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
    if available == address_space_left():
        return (f"needs about {describe(needed)} of memory {doing}; this process may take {describe(available)} "
                f"more under its limit of {describe(address_space_limit() or 0)} (ulimit -v)")
    return f"needs about {describe(needed)} of memory {doing}; this machine has {describe(available)} available"
