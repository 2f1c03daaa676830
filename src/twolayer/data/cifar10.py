"""`cifar10`: the official "python version" of CIFAR-10, read in place.

Looked for in the data directory as the folder cifar-10-batches-py/
(data_batch_1..5, test_batch, and batches.meta for the class names) or the archive
cifar-10-python.tar.gz; when neither is there, the archive is downloaded
from the official address and checked against its MD5.

The batch files are pickles. They are read with a restricted unpickler that
admits only what they hold (dicts, lists, bytes, strings, numbers and NumPy
arrays), so a crafted file fails with a clear error and never runs code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from twolayer.data import Dataset
from twolayer.data.download import fetch
from twolayer.errors import DataError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# The only globals a CIFAR-10 batch refers to: NumPy's array reconstruction,
# and (in files re-pickled by Python 3 at protocol 2) the codec that turns
# latin-1 text back into bytes.
ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class Refused(pickle.UnpicklingError):
    """The pickle asked for something a CIFAR-10 batch never holds."""


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise Refused(f"refused to load {module}.{name}: not part of a CIFAR-10 batch")


def read_batch(data: bytes, name: str) -> dict:
    """Unpickle one batch file's bytes safely; DataError naming `name`."""
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Refused as e:
        raise DataError(f"{name}: {e}") from None
    except Exception as e:  # truncated or garbled: EOFError, ValueError, ...
        raise DataError(f"{name} is not a readable CIFAR-10 batch ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{name} is not a CIFAR-10 batch (holds a {type(obj).__name__}, not a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def batch_arrays(batch: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels (N,)) from one batch dict."""
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{name}: 'data' must be a uint8 array of shape (N, 3072), got {got}")
    labels = _labels(batch.get("labels"), name)
    if len(labels) != data.shape[0]:
        raise DataError(f"{name}: {data.shape[0]} images but {len(labels)} labels")
    # rows are 1,024 red, then green, then blue values: channel-first
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def _labels(labels: Any, name: str) -> np.ndarray:
    """A batch's 'labels' (a list of ints, or a 1-D integer array), each in
    0..9, as int64; DataError for anything else: floats or text are never
    rounded or parsed."""
    if isinstance(labels, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        values = labels
    elif isinstance(labels, np.ndarray) and labels.dtype.kind in "iu" and labels.ndim == 1:
        values = labels.tolist()
    else:
        got = (f"an array of {labels.dtype} {labels.shape}" if isinstance(labels, np.ndarray)
               else "a list holding " + ", ".join(sorted({type(v).__name__ for v in labels}))
               if isinstance(labels, list) else type(labels).__name__)
        raise DataError(f"{name}: 'labels' must be a list of integers, got {got}")
    wrong = [v for v in values if not 0 <= v <= 9]
    if wrong:  # a pickled int can have more digits than Python will print
        found = wrong[0] if abs(wrong[0]) < 10**12 else "a number of 12 digits or more"
        raise DataError(f"{name}: labels must be in 0..9, found {found}")
    return np.array(values, dtype=np.int64)


def class_names(meta: dict | None, name: str) -> list[str]:
    """The label names of batches.meta (its `label_names`), or the standard ten without one."""
    if meta is None:
        return list(CLASS_NAMES)
    names = meta.get("label_names")
    if not (isinstance(names, list) and len(names) == 10 and all(isinstance(n, (bytes, str)) for n in names)):
        raise DataError(f"{name}: 'label_names' must be a list of 10 names")
    try:
        return [n.decode() if isinstance(n, bytes) else n for n in names]
    except UnicodeDecodeError:
        raise DataError(f"{name}: 'label_names' are not UTF-8 text") from None


def load_cifar10(root: Path, quiet: bool = False) -> Dataset:
    folder, archive = root / FOLDER, root / ARCHIVE
    in_folder = folder.is_dir()
    if in_folder:
        reader = _folder_reader(folder)
    else:
        if not archive.is_file():
            try:
                fetch(URL, archive, MD5, quiet=quiet)
            except DataError as e:
                raise DataError(
                    f"CIFAR-10 not found (looked for {folder} and {archive}) and {e}; "
                    f"put {ARCHIVE} in {root}, or pass --data-dir"
                ) from None
        reader = _archive_reader(archive)

    def where(name: str) -> str:  # how messages name a member
        return str(folder / name) if in_folder else f"{archive} ({name})"

    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        return batch_arrays(read_batch(reader(name), where(name)), where(name))

    train = [batch(b) for b in TRAIN_BATCHES]
    test = batch("test_batch")
    meta = reader("batches.meta", optional=True)
    names = class_names(None if meta is None else read_batch(meta, where("batches.meta")), where("batches.meta"))
    splits = {
        "train": (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])),
        "test": test,
    }
    return Dataset("cifar10", names, splits)


def _folder_reader(folder: Path) -> Callable[..., bytes | None]:
    def read(name: str, optional: bool = False) -> bytes | None:
        path = folder / name
        if not path.is_file():
            if optional:
                return None
            raise DataError(f"CIFAR-10 batch {path} is missing")
        return path.read_bytes()

    return read


def _archive_reader(archive: Path) -> Callable[..., bytes | None]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive} is not a readable CIFAR-10 archive ({e})") from None

    def read(name: str, optional: bool = False) -> bytes | None:
        if name not in members:
            if optional:
                return None
            raise DataError(f"{archive} has no member {name}")
        return members[name]

    return read
