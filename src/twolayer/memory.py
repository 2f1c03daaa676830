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
    """Memory this process can be given: the least that any of its limits
    leaves (`room`); None where none can be read."""
    rooms = room()
    return min(rooms) if rooms else None


def room() -> dict[int, str]:
    """What each limit on this process's memory leaves, in bytes, and the
    words for it: what the system can give without swapping (Linux's
    MemAvailable, else the physical memory), its control group's limit (a
    container's `--memory`, a systemd or Kubernetes limit: cgroup_left),
    and its address-space limit (`ulimit -v`, address_space_left)."""
    rooms = {}
    system = _system_bytes()
    if system is not None:
        rooms[system] = f"this machine has {describe(system)} available"
    group = cgroup_left()
    if group is not None:
        left, limit = group
        rooms[left] = (f"this process's control group (a container's memory limit) has {describe(left)} left of its "
                       f"limit of {describe(limit)}")
    left = address_space_left()
    if left is not None:
        rooms[left] = (f"this process may take {describe(left)} more under its limit of "
                       f"{describe(address_space_limit() or 0)} (ulimit -v)")
    return rooms


CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_OF_PROCESS = "/proc/self/cgroup"
NO_LIMIT = 2**62  # cgroup v1 writes "no limit" as the largest page-aligned number (9223372036854771712)


def cgroup_left() -> tuple[int, int] | None:
    """(bytes left, limit) of this process's memory control group, cgroup v2
    (memory.max, memory.current) or v1 (memory.limit_in_bytes,
    memory.usage_in_bytes), usage less the page cache the kernel can drop
    (inactive_file in memory.stat); None where there is no limit or none can
    be read. MemAvailable does not see these limits: a network too wide for
    a container of 2 GB on a machine of 64 GB met the kernel's OOM killer."""
    try:
        with open(CGROUP_OF_PROCESS, "rb") as f:  # a group's name is any bytes: as a path, not UTF-8 text
            lines = [os.fsdecode(line.rstrip(b"\n")).split(":", 2) for line in f]
    except OSError:
        return None
    for hierarchy, controllers, path in (line for line in lines if len(line) == 3):
        if hierarchy == "0" and controllers == "":
            names, base = ("memory.max", "memory.current", "inactive_file"), CGROUP_ROOT
        elif "memory" in controllers.split(","):
            names, base = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"), \
                f"{CGROUP_ROOT}/memory"
        else:
            continue
        if ".." in path.split("/"):  # a group outside this cgroup namespace's view: neither folder is its own
            continue
        # the group's own folder and each above it, whose limits bind it too (a systemd slice's); inside a
        # container its own group is mounted as the root
        parts = [part for part in path.split("/") if part]
        folders = [base + "".join(f"/{part}" for part in parts[:n]) for n in range(len(parts), -1, -1)]
        found = [left for folder in folders if (left := _group_left(folder, *names)) is not None]
        if found:
            return min(found)
    return None


def _group_left(folder: str, limit_name: str, usage_name: str, cache_name: str) -> tuple[int, int] | None:
    try:
        with open(f"{folder}/{limit_name}") as f:
            text = f.read().strip()
        if text == "max" or int(text) >= NO_LIMIT:
            return None
        limit = int(text)
        with open(f"{folder}/{usage_name}") as f:
            usage = int(f.read().strip())
    except (OSError, ValueError):
        return None
    cache = 0
    try:
        with open(f"{folder}/memory.stat") as f:
            cache = next((int(line.split()[1]) for line in f if line.split()[:1] == [cache_name]), 0)
    except (OSError, ValueError, IndexError):
        pass
    return max(limit - max(usage - cache, 0), 0), limit


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
    limit = room().get(available, f"this machine has {describe(available)} available")  # the limit that binds
    return f"needs about {describe(needed)} of memory {doing}; {limit}"
