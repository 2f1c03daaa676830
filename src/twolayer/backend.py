"""Which array module (NumPy or CuPy) a computation runs on.

One code path serves both devices: functions ask `array_module(x)` for the
module that owns their input instead of importing numpy functions directly,
and the trainer moves its data to the device once (`to_device`) and its
results back once (`to_numpy`).
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from twolayer.errors import ConfigError, first_line

DEVICES = ("cpu", "cuda")  # NumPy on the CPU, CuPy on an NVIDIA GPU
CUPY_HINT = "pip install cupy-cuda12x (or cupy-cuda13x, to match the CUDA driver)"


def array_module(x: Any) -> ModuleType:
    """The module whose `ndarray` type x is (cupy for CuPy arrays); numpy
    for NumPy arrays, NumPy scalars and plain Python numbers."""
    root = type(x).__module__.partition(".")[0]
    module = sys.modules.get(root)
    if module is not None and module is not np and isinstance(x, getattr(module, "ndarray", ())):
        return module
    return np


def device_module(device: str) -> ModuleType:
    """The array module for a device name; a one-line ConfigError when the
    device can't be used here (CuPy missing, no GPU, a broken driver)."""
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "cpu":
        return np
    try:
        import cupy
    except ImportError:
        raise ConfigError(f"--device cuda needs CuPy, which is not installed: {CUPY_HINT}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError and friends: no driver, no device
        raise ConfigError(f"--device cuda: no usable CUDA GPU ({first_line(e)})") from None
    if count < 1:
        raise ConfigError("--device cuda: CuPy sees no CUDA GPU")
    return cupy


def to_device(x: Any, xp: ModuleType) -> Any:
    """x as an array of module xp (a no-op when it already is one; to NumPy
    it is `to_numpy`); dicts are converted value by value."""
    if isinstance(x, dict):
        return {k: to_device(v, xp) for k, v in x.items()}
    if array_module(x) is xp:
        return x
    return to_numpy(x) if xp is np else xp.asarray(x)


def to_numpy(x: Any) -> Any:
    """x as a NumPy array (copied from the device when it lives there); dicts
    are converted value by value."""
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    xp = array_module(x)
    return x if xp is np else xp.asnumpy(x)


def take_rows(X: Any, rows: Any, out: Any) -> Any:
    """out[i] = X[rows[i]], written straight into `out` (rows must be valid)."""
    xp = array_module(X)
    if xp is np:
        # mode="clip" lets take write straight into `out` (the default
        # "raise" buffers the whole gather first).
        return np.take(X, rows, axis=0, out=out, mode="clip")
    return xp.take(X, rows, axis=0, out=out)  # CuPy's take has no mode and no such buffer


# On the CPU, smaller parameters take the optimizer's NumPy reference (the same
# numbers): for them a pass costs less than its call, and a small run need not wait
# about half a second for numba to load its kernels.
FUSED_MIN_SIZE = 2**16


def fused_update(rule: str, p: Any, *arrays: Any) -> Callable | None:
    """The one-pass kernel of update rule `rule` (optim.py) for parameter p
    and its gradient and state arrays, on their device: numba on the CPU
    (fused_cpu.py), elementwise kernels on CuPy (fused_cuda.py). Called as
    kernel(p, grad, states, scalars), it updates p and the states in place
    and returns sum_squares of the new p (a bias's may be None: only the
    weight matrices' sums are used). None where there is none: arrays
    of mixed dtypes or layouts, or a module without CuPy's kernels (the test
    stand-in, tests/fakecupy.py), NumPy arrays where numba can't be imported,
    and NumPy parameters under FUSED_MIN_SIZE numbers; the optimizer then runs its
    reference (the same numbers)."""
    xp = array_module(p)
    if p.dtype not in (np.float32, np.float64) or not all(
            a.dtype == p.dtype and a.shape == p.shape and a.flags.c_contiguous for a in (p, *arrays)):
        return None
    if xp is np:
        fused_cpu = compiled_cpu() if p.size >= FUSED_MIN_SIZE else None
        return None if fused_cpu is None else functools.partial(fused_cpu.update, rule)
    if hasattr(xp, "ElementwiseKernel"):
        from twolayer import fused_cuda

        return functools.partial(fused_cuda.update, rule)
    return None


@functools.cache
def compiled_cpu() -> ModuleType | None:
    """twolayer.fused_cpu (the numba loops: update rules, flips and crops),
    imported on first use (numba takes a moment to load); None without numba
    (a dependency, but a machine may lack it), or where numba refuses its
    environment (NUMBA_NUM_THREADS=0 is a ValueError as numba loads: the
    run ended in its traceback). The NumPy reference then gives the same
    numbers."""
    try:
        return importlib.import_module("twolayer.fused_cpu")
    except Exception:  # noqa: BLE001 -- whatever stops numba loading, the reference runs
        return None
