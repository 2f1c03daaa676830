"""Checks of what a model bundle or a checkpoint holds, once it is read,
and of the values of the records runs and searches write (record_fault).

A checksum proves that the bytes are the ones that were written, not that
they make sense: a file can be written by hand, by another program or by a
buggy version, and still carry a valid checksum. So every loader checks a
schema as well: the keys it needs, each array's dtype and shape, and that
the parts agree with each other. Inside the package, code then trusts what
crossed this boundary.

Each check raises `Invalid` with a short phrase saying what is wrong; the
loader turns it into one BundleError line that names the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from twolayer.model import PARAM_NAMES

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # the dtypes the package computes in


class Invalid(ValueError):
    """One thing wrong with a file's contents (the loader adds the file's name)."""


def shown(value: Any) -> str:
    """A value as the message shows it: its repr, cut short (a hostile file
    can hold a megabyte where a number belongs)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def require(condition: Any, message: str) -> None:
    if not condition:
        raise Invalid(message)


def exact_keys(arrays: Mapping[str, Any], required: Iterable[str], optional: Iterable[str] = ()) -> None:
    """Every required array present, and nothing the format does not know."""
    required = list(required)
    missing = [k for k in required if k not in arrays]
    require(not missing, f"array {missing[0] if missing else ''} is missing")
    unknown = sorted(set(arrays) - set(required) - set(optional))
    require(not unknown, f"it holds an unexpected array {unknown[0] if unknown else ''}")


def kind(dtype: np.dtype) -> str:
    """A dtype in words, for messages."""
    return {"U": "text", "S": "bytes", "O": "objects", "V": "raw records", "c": "complex numbers",
            "b": "booleans", "M": "dates", "m": "time spans"}.get(dtype.kind, str(dtype))


def float_array(arrays: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...], finite: bool = True) -> None:
    a = arrays[key]
    require(a.dtype in FLOATS, f"{key} holds {kind(a.dtype)}, not float32 or float64")
    require(a.shape == shape, f"{key} has shape {a.shape}, expected {shape}")
    require(not finite or np.isfinite(a).all(), f"{key} holds NaN or infinite values")


def index_array(arrays: Mapping[str, np.ndarray], key: str) -> None:
    """A 1-D array of row numbers (>= 0; the upper bound needs the data)."""
    a = arrays[key]
    require(a.dtype.kind in "iu", f"{key} holds {kind(a.dtype)}, not row numbers")
    require(a.ndim == 1, f"{key} has shape {a.shape}, expected one dimension")
    require(a.size == 0 or a.min() >= 0, f"{key} holds a negative row number ({a.min() if a.size else 0})")


def number_list(arrays: Mapping[str, np.ndarray], key: str) -> int:
    """A 1-D array of real numbers; its length."""
    a = arrays[key]
    require(a.dtype.kind in "iuf", f"{key} holds {kind(a.dtype)}, not numbers")
    require(a.ndim == 1, f"{key} has shape {a.shape}, expected one dimension")
    return len(a)


def params(arrays: Mapping[str, np.ndarray], prefix: str = "param.", finite: bool = True) -> tuple[int, int, int]:
    """(D, H, C) of the four arrays W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)
    stored under `prefix`: one float dtype, shapes that fit, finite values
    (unless not `finite`)."""
    w1, w2 = arrays[prefix + "W1"], arrays[prefix + "W2"]
    for key, a in ((prefix + "W1", w1), (prefix + "W2", w2)):
        require(a.ndim == 2, f"{key} has {a.ndim} dimensions, expected 2")
    (d, h), c = w1.shape, w2.shape[1]
    require(min(d, h, c) >= 1, f"{prefix}W1 {w1.shape} and {prefix}W2 {w2.shape} leave a layer with no units")
    require(w2.shape[0] == h, f"{prefix}W2 has {w2.shape[0]} rows but {prefix}W1 has {h} columns")
    expected = {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}
    for name in PARAM_NAMES:
        float_array(arrays, prefix + name, expected[name], finite)
        require(arrays[prefix + name].dtype == w1.dtype,
                f"{prefix}{name} is {arrays[prefix + name].dtype} but {prefix}W1 is {w1.dtype}")
    return d, h, c


def meta_int(meta: Mapping[str, Any], key: str, minimum: int | None = None, optional: bool = False) -> int | None:
    value = meta.get(key)
    if value is None and optional:
        return None
    require(isinstance(value, int) and not isinstance(value, bool), f"{key} is {shown(value)}, not an integer")
    require(minimum is None or value >= minimum, f"{key} is {value}, expected >= {minimum}")
    return value


def meta_number(meta: Mapping[str, Any], key: str, minimum: float | None = None, optional: bool = False,
                finite: bool = True) -> float | None:
    value = meta.get(key)
    if value is None and optional:
        return None
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and (math.isfinite(value) or not finite),
            f"{key} is {shown(value)}, not a {'finite ' if finite else ''}number")
    require(minimum is None or value >= minimum, f"{key} is {value}, expected >= {minimum}")
    return value


def meta_text(meta: Mapping[str, Any], key: str, optional: bool = False) -> str | None:
    value = meta.get(key)
    require((value is None and optional) or isinstance(value, str), f"{key} is {shown(value)}, not text")
    return value


# what a value of a record (metrics.json, tune.json, a row of trials.csv) is, as twolayer writes it
TEXT, FLAG = "text", "true or false"
COUNT, ACCURACY, AMOUNT = "a whole number >= 0", "a number in 0..1", "a number >= 0"


def record_fault(record: Mapping[str, Any], kinds: Mapping[str, str | tuple[str, ...]], writer: str) -> str | None:
    """"KEY is VALUE, where `writer` writes KIND" for the first of `kinds`
    whose value in `record` is not of its kind (a tuple: one of those
    words; null is allowed: a value a run or trial does not have, or a file
    of an earlier version); None if each is. Keys not named: shown as read."""
    for key, kind in kinds.items():
        value = record.get(key)
        if value is not None and not _of_kind(kind, value):
            return f"{key} is {shown(value)}, where {writer} writes " + (kind if isinstance(kind, str) else
                                                                       "one of " + ", ".join(kind))
    return None


def _of_kind(kind: str | tuple[str, ...], value: Any) -> bool:
    if isinstance(kind, tuple):
        return value in kind
    if kind in (TEXT, FLAG):
        return isinstance(value, str if kind == TEXT else bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if kind == COUNT:
        return isinstance(value, int) and value >= 0
    if kind == ACCURACY:
        return 0 <= value <= 1
    return value >= 0 or value != value  # AMOUNT; NaN: the loss of a run that diverged
