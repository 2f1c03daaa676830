"""Which array module (NumPy or CuPy) a computation runs on.

One code path serves both: functions ask `array_module(x)` for the module
that owns their input instead of importing numpy functions directly.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def array_module(x: Any) -> ModuleType:
    """numpy for NumPy arrays and scalars, cupy for CuPy arrays."""
    if type(x).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np
