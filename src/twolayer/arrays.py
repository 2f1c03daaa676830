"""What the Python API takes as data, checked where it enters: rows of
numbers and integer labels that fit the network. Each fault is one
ConfigError (a ValueError) naming the argument, never an error from deep
inside NumPy or a silently wrong result (text parsed as numbers, a label
of -1 read as the last class, a complex part dropped).

Arrays of another library (CuPy's) are checked for shape only: reading
their values would copy them to the host.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from twolayer.backend import array_module
from twolayer.config import TrainConfig, check_crop, is_number
from twolayer.errors import ConfigError

NUMBER_KINDS = "biuf"  # bool, integers, floats: what converts to a float without parsing or loss


def rows(X: Any, width: int | None = None, name: str = "X", finite: bool = False, dtype: Any = None) -> Any:
    """X as a 2-D array of real numbers (N, width); a list becomes an array.
    finite: NaN and infinity are refused, and so are values beyond the range
    of `dtype` (the network's float type), which its arithmetic would make
    infinite (1e300 in a float32 network: a row labeled 0, the argmax of NaN)."""
    if dtype is not None and np.dtype(dtype).kind != "f":  # set by hand: net.params[...] = an integer array
        raise ConfigError(f"the network's weights are {np.dtype(dtype)}, not floating point: give them as float32 or "
                          "float64 (W.astype(numpy.float32))")
    X = as_array(X, name)
    if X.dtype.names:  # a structured array: one record per row, "got shape (N,)"
        raise ConfigError(f"{name} is a structured array (fields {', '.join(X.dtype.names)}): "
                          f"numpy.lib.recfunctions.structured_to_unstructured({name}) gives its rows")
    if X.ndim != 2:
        raise ConfigError(f"{name} must be a 2-D array of rows (N, features), got shape {X.shape}"
                          + _rows_hint(X, name, width))
    if X.dtype.kind not in NUMBER_KINDS:
        raise ConfigError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if width is not None and X.shape[1] != width:
        raise ConfigError(f"{name} has {X.shape[1]} values per row but the network takes {width}")
    if finite and isinstance(X, np.ndarray):
        if X.dtype.kind == "f" and not _all_finite(X):
            raise ConfigError(f"{name} holds NaN or infinity (row {_first_row(~np.isfinite(X))})")
        if dtype is not None:
            _check_range(X, np.dtype(dtype), name)
    return X


def _rows_hint(X: Any, name: str, width: int | None) -> str:
    """How to make rows of an array of another shape: images flattened, a vector as one row or one column."""
    if X.ndim >= 3:
        return f"; images (N, H, W, C) as rows: {name}.reshape(len({name}), -1)"
    if X.ndim != 1:
        return ""
    one_row, one_feature = f"one row: {name}.reshape(1, -1)", f"one feature: {name}.reshape(-1, 1)"
    if width == 1:
        return f"; {one_feature}"
    return f"; {one_row}" if len(X) == width else f"; {one_row}, or {one_feature}"


def _check_range(X: np.ndarray, dtype: np.dtype, name: str) -> None:
    """ConfigError where X holds a value beyond float type `dtype`'s range;
    read only where X's type can hold one (float64 rows for a float32
    network, int32 ones for a float16 network: int16's are all within it)."""
    limit = float(np.finfo(dtype).max)
    if X.size == 0 or X.dtype.kind == "b":
        return
    if float((np.finfo if X.dtype.kind == "f" else np.iinfo)(X.dtype).max) <= limit:  # nothing there to refuse
        return
    if max(-float(X.min()), float(X.max())) > limit:
        row = _first_row(np.abs(X) > limit)
        raise ConfigError(f"{name} holds values too large for the network's {dtype} (row {row}: "
                          f"{X[row][np.argmax(np.abs(X[row]))]:.3g}; {dtype} holds at most {limit:.3g}): scale "
                          "them down")


def _all_finite(X: np.ndarray) -> bool:
    """Whether every value is finite: one sum, without a temporary array the
    size of X; only a sum that overflows is checked value by value."""
    with np.errstate(all="ignore"):
        return bool(np.isfinite(X.sum()) or np.isfinite(X).all())


def labels(y: Any, n: int, classes: int, name: str = "y", rows_name: str = "X") -> Any:
    """y as a 1-D array of n integer labels in 0..classes-1."""
    y = as_array(y, name)
    if y.ndim != 1:
        column = f"; a column of labels: {name}.ravel()" if y.ndim == 2 and 1 in y.shape else ""
        raise ConfigError(f"{name} must be a 1-D array of labels, got shape {y.shape}{column}")
    if y.dtype.kind not in "iu":
        raise ConfigError(f"{name} must hold integer class labels 0..{classes - 1}, got dtype {y.dtype}")
    if len(y) != n:
        raise ConfigError(f"{rows_name} has {n} rows but {name} has {len(y)} labels")
    if isinstance(y, np.ndarray) and len(y) and (y.min() < 0 or y.max() >= classes):
        raise ConfigError(f"{name} must hold labels 0..{classes - 1} (the network has {classes} outputs), found "
                          f"{y.min()}..{y.max()}")
    return y


def pixels(images: np.ndarray, name: str = "images") -> np.ndarray:
    """images (N, H, W, C) checked to hold pixel values 0..255, the scale
    every model's preprocessing was fitted on (digits too, rescaled from
    0..16). Images scaled to [0, 1], standardized ones or values beyond a
    byte were scored silently wrong; uint8 needs no check."""
    if images.dtype.kind not in "iuf":  # booleans are 0 and 1, not black and white
        raise ConfigError(f"{name} must hold pixel values 0..255, got dtype {images.dtype}")
    if images.dtype == np.uint8 or images.size == 0:
        return images
    if images.dtype.kind == "f" and not _all_finite(images):
        raise ConfigError(f"{name} hold NaN or infinity (image {_first_row(~np.isfinite(images))})")
    low, high = images.min(), images.max()
    if low < 0 or high > 255:
        raise ConfigError(f"{name} must hold pixel values 0..255, as the images the model was trained on, found "
                          f"{low:g}..{high:g}; give the raw images, not preprocessed or 16-bit ones")
    if images.dtype.kind == "f" and 0 < high <= 1:
        raise ConfigError(f"{name} look scaled to [0, 1] (the largest value is {high:g}), but the model takes pixel "
                          "values 0..255: multiply them by 255 (images that really are this dark: give them as uint8)")
    return images


def checked_image_shape(shape: Any, width: int, needed: bool, where: str = "fit(..., image_shape=...)",
                        crop: int = 0) -> tuple | None:
    """fit's image_shape: None, or the (H, W, C) of positive integers that
    each row of `width` values flattens; ConfigError otherwise, or when
    flips or crops (`needed`) lack one, or when a `crop` is too wide for
    it (config.check_crop). A shape of two numbers, of text or of
    negatives was an error from deep inside the augmentation."""
    if shape is None:
        if needed:
            raise ConfigError(f"flip and crop need image_shape=(H, W, C), the image each row of X flattens: {where}")
        return None
    given = shape.tolist() if isinstance(shape, np.ndarray) else shape  # np.ndim(((8,), 8, 1)) raised NumPy's error
    if not (isinstance(given, (tuple, list)) and len(given) == 3 and all(is_number(s, int) and s >= 1 for s in given)):
        raise ConfigError(f"image_shape must be (H, W, C), three positive integers, got {given!r}")
    shape = tuple(int(s) for s in given)
    if math.prod(shape) != width:  # np.prod wraps: 2**40 cubed held 0 values
        raise ConfigError(f"image_shape {shape} holds {math.prod(shape)} values, but X has {width} features")
    check_crop(crop, shape, f"image_shape {shape}")
    return shape


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
    params = getattr(net, "params", None)
    if not (isinstance(params, Mapping) and {"W1", "W2"} <= set(params)):
        raise ConfigError(f"net must be a TwoLayerNet (a network with params W1, b1, W2, b2), got "
                          f"{type(net).__name__}; fit takes (net, X, y, X_val, y_val, config)")
    width, classes = params["W1"].shape[0], params["W2"].shape[1]
    dtype = getattr(params["W1"], "dtype", None)
    X = rows(X, width, finite=True, dtype=dtype)
    if len(X) == 0:
        raise ConfigError("X has no rows: there is nothing to train on")
    y = labels(y, len(X), classes)
    if X_val is not None and y_val is None:
        raise ConfigError("X_val needs its labels, y_val")
    if X_val is not None:
        X_val = rows(X_val, width, "X_val", finite=True, dtype=dtype)
        y_val = labels(y_val, len(X_val), classes, "y_val", "X_val")
    return X, y, X_val, y_val


FOLDER_HINT = "twolayer.data.load_dataset('folder:PATH') reads a folder of images"


def as_array(value: Any, name: str, path_hint: str = FOLDER_HINT, ragged_hint: str = "") -> Any:
    """NumPy's and CuPy's arrays as they are; anything else (lists, pandas'
    Series and DataFrames, nullable integer columns) as a NumPy array. What
    NumPy would read wrong is refused: a masked array's hidden values (its
    mask was dropped), missing values in pandas, a sparse matrix or an
    iterator ("got shape ()"); a path, saying what reads one (`path_hint`);
    a ragged list, with `ragged_hint` if given."""
    if array_module(value) is not np:
        return value
    if isinstance(value, np.ma.MaskedArray):
        masked = np.ma.getmaskarray(value)
        if masked.any():
            raise ConfigError(f"{name} has masked values (row {_first_row(masked)}): fill them ({name}.filled(...)) "
                              "or drop those rows")
    if isinstance(value, np.ndarray):
        return np.asarray(value)  # np.matrix and other subclasses as a plain array: a matrix's rows stay 2-D
    if isinstance(value, (str, bytes, os.PathLike)):  # NumPy made a 0-d array of it: "got shape ()"
        shown = repr(value if isinstance(value, (str, bytes)) else os.fspath(value))
        raise ConfigError(f"{name} must be an array of numbers, got the path or text "
                          f"{shown if len(shown) <= 80 else shown[:76] + '...'}; {path_hint}")
    if isinstance(value, Mapping):  # np.load of an .npz, a dict: NumPy made text of its keys ("got text of shape (2,)")
        keys = [str(k) for k in value]
        held = f" holding {', '.join(map(repr, keys[:6]))}{', ...' if len(keys) > 6 else ''}" if keys else ""
        raise ConfigError(f"{name} must be an array of numbers, got a {type(value).__name__}{held}: give one of "
                          "its arrays" + (f", such as its [{keys[0]!r}]" if keys else ""))
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(value):
        raise ConfigError(f"{name} is a sparse matrix; the network takes dense rows: {name}.toarray()")
    try:
        if hasattr(value, "to_numpy"):  # pandas: the values, not the index (a Series' take is by label)
            value = _from_pandas(value, name)
        array = np.asarray(value)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:  # ragged lists and the like
        raise ConfigError(f"{name} cannot be read as an array: {' '.join(str(e).split()).rstrip('.')}"
                          + (f"; {ragged_hint}" if ragged_hint else "")) from None
    if array.ndim == 0 and array.dtype == object:  # None, a generator, a set...: NumPy wraps it whole
        what = "None" if value is None else f"a {type(value).__name__}"
        hint = f"; make a list of it first: list({name})" if isinstance(value, Iterator) else ""
        raise ConfigError(f"{name} must be an array of numbers, got {what}{hint}")
    return array


def _from_pandas(value: Any, name: str) -> np.ndarray:
    """A pandas Series or DataFrame's values; a missing value (NA, None,
    NaN) is named by its row, and nullable numbers (Int64, Float64,
    boolean) become NumPy numbers (a DataFrame of them gave objects)."""
    if hasattr(value, "isna"):
        missing = np.asarray(value.isna())
        if missing.any():
            raise ConfigError(f"{name} has a missing value (NA) in row {_first_row(missing)}: fill or drop it")
    array = value.to_numpy()
    if array.dtype == object:
        dtypes = value.dtypes if getattr(value, "ndim", 1) == 2 else [value.dtype]
        try:
            kind = np.result_type(*[getattr(d, "numpy_dtype", d) for d in dtypes])
        except TypeError:  # text, categories: left as objects, refused by what reads them
            return array
        array = value.to_numpy(dtype=kind)
    return array


def _first_row(flags: np.ndarray) -> int:
    """The first row (along axis 0) holding a true flag."""
    flags = np.atleast_1d(flags)
    return int(np.flatnonzero(flags.reshape(len(flags), -1).any(axis=1))[0])
