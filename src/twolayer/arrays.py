"""What the Python API takes as data, checked where it enters: rows of
numbers and integer labels that fit the network. Each fault is one
ConfigError (a ValueError) naming the argument, never an error from deep
inside NumPy or a silently wrong result (text parsed as numbers, a label
of -1 read as the last class, a complex part dropped).

Arrays of another library (CuPy's) are checked for shape only: reading
their values would copy them to the host.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from twolayer.backend import array_module
from twolayer.config import TrainConfig
from twolayer.errors import ConfigError

NUMBER_KINDS = "biuf"  # bool, integers, floats: what converts to a float without parsing or loss


def rows(X: Any, width: int | None = None, name: str = "X", finite: bool = False) -> Any:
    """X as a 2-D array of real numbers (N, width); a list becomes an array."""
    X = _as_array(X, name)
    if X.ndim != 2:
        raise ConfigError(f"{name} must be a 2-D array of rows (N, features), got shape {X.shape}")
    if X.dtype.kind not in NUMBER_KINDS:
        raise ConfigError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if width is not None and X.shape[1] != width:
        raise ConfigError(f"{name} has {X.shape[1]} values per row but the network takes {width}")
    if finite and isinstance(X, np.ndarray) and X.dtype.kind == "f" and not _all_finite(X):
        bad = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise ConfigError(f"{name} holds NaN or infinity (row {bad})")
    return X


def pixels(images: Any, name: str = "images") -> np.ndarray:
    """Raw images as the uint8 pixels 0..255 a model takes, from an array of
    any number type that holds whole numbers in that range (uint8 as it
    is). Images scaled to 0..1 (matplotlib's imread gives PNGs so), values
    beyond 0..255, NaN or text were scored as given, silently wrong."""
    images = _as_array(images, name)
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind not in "iuf":
        raise ConfigError(f"{name} must hold pixel values 0..255 (uint8), got dtype {images.dtype}")
    if images.size == 0:
        return images.astype(np.uint8)
    values = images.astype(np.float64, copy=False)
    if not _all_finite(values):
        raise ConfigError(f"{name} must hold pixel values 0..255 (uint8), but some are NaN or infinite")
    low, high = values.min(), values.max()
    whole = images.dtype.kind != "f" or np.array_equal(values, np.round(values))
    if low >= 0 and high <= 255 and whole:
        return images.astype(np.uint8)
    what = f"{images.dtype} values in {low:g}..{high:g}" + ("" if whole else ", not whole numbers")
    hint = "; images scaled to 0..1 are (images * 255).round().astype(np.uint8)" if low >= 0 and high <= 1 else ""
    raise ConfigError(f"{name} must hold pixel values 0..255 (uint8), as read_image gives them; got {what}{hint}")


def _all_finite(X: np.ndarray) -> bool:
    """Whether every value is finite: one sum, without a temporary array the
    size of X; only a sum that overflows is checked value by value."""
    with np.errstate(all="ignore"):
        return bool(np.isfinite(X.sum()) or np.isfinite(X).all())


def labels(y: Any, n: int, classes: int, name: str = "y", rows_name: str = "X") -> Any:
    """y as a 1-D array of n integer labels in 0..classes-1."""
    y = _as_array(y, name)
    if y.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ConfigError(f"{name} must hold integer class labels 0..{classes - 1}, got dtype {y.dtype}")
    if len(y) != n:
        raise ConfigError(f"{rows_name} has {n} rows but {name} has {len(y)} labels")
    if isinstance(y, np.ndarray) and len(y) and (y.min() < 0 or y.max() >= classes):
        raise ConfigError(f"{name} must hold labels 0..{classes - 1} (the network has {classes} outputs), found "
                          f"{y.min()}..{y.max()}")
    return y


def training_config(config: Any) -> Any:
    """fit's config: a TrainConfig (validated), or None for the defaults."""
    if config is None:
        return TrainConfig().validate()
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}; TrainConfig(**options) "
                          "makes one")
    return config.validate()


def training_arrays(net: Any, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> tuple[Any, Any, Any, Any]:
    """fit's data checked against the net: rows that fit its input, at least
    one, finite; labels it has outputs for; validation rows likewise (y_val
    without X_val is no validation data)."""
    if isinstance(X_val, TrainConfig) or isinstance(y_val, TrainConfig):  # fit(net, X, y, config)
        raise ConfigError("a TrainConfig was given in the validation data's place: fit takes (net, X, y, X_val, "
                          "y_val, config); without validation data give it as config=...")
    width, classes = net.params["W1"].shape[0], net.params["W2"].shape[1]
    X = rows(X, width, finite=True)
    if len(X) == 0:
        raise ConfigError("X has no rows: there is nothing to train on")
    y = labels(y, len(X), classes)
    if X_val is not None and y_val is None:
        raise ConfigError("X_val needs its labels, y_val")
    if X_val is not None:
        X_val = rows(X_val, width, "X_val", finite=True)
        y_val = labels(y_val, len(X_val), classes, "y_val", "X_val")
    return X, y, X_val, y_val


def _as_array(value: Any, name: str) -> Any:
    """NumPy's and CuPy's arrays as they are; anything else (lists, pandas'
    Series and DataFrames, nullable integer columns) as a NumPy array."""
    if isinstance(value, np.ndarray) or array_module(value) is not np:
        return value
    if isinstance(value, (str, bytes, os.PathLike)):  # NumPy made a 0-d array of it: "got shape ()"
        raise ConfigError(f"{name} must be an array of numbers, got the path or text {str(value)!r}; "
                          "twolayer.data.load_dataset('folder:PATH') reads a folder of images")
    try:
        if hasattr(value, "to_numpy"):  # pandas: the values, not the index (a Series' take is by label)
            value = value.to_numpy()
        return np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged lists and the like
        raise ConfigError(f"{name} cannot be read as an array: {' '.join(str(e).split())}") from None
