"""`cifar10`: the official "python version" of CIFAR-10, read in place.

Looked for in the data directory as the folder cifar-10-batches-py/
(data_batch_1..5, test_batch, batches.meta) or the archive
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
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{name}: 'data' must be a uint8 array of shape (N, 3072)")
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if labels.shape != (data.shape[0],):
        raise DataError(f"{name}: {data.shape[0]} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{name}: labels must be in 0..9, found {labels.min()}..{labels.max()}")
    # rows are 1,024 red, then green, then blue values: channel-first
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def load_cifar10(root: Path, quiet: bool = False) -> Dataset:
    folder, archive = root / FOLDER, root / ARCHIVE
    if folder.is_dir():
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
    train = [batch_arrays(read_batch(reader(b), b), b) for b in TRAIN_BATCHES]
    test = batch_arrays(read_batch(reader("test_batch"), "test_batch"), "test_batch")
    splits = {
        "train": (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])),
        "test": test,
    }
    return Dataset("cifar10", CLASS_NAMES, splits)


def _folder_reader(folder: Path) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        path = folder / name
        if not path.is_file():
            raise DataError(f"CIFAR-10 batch {path} is missing")
        return path.read_bytes()

    return read


def _archive_reader(archive: Path) -> Callable[[str], bytes]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive} is not a readable CIFAR-10 archive ({e})") from None

    def read(name: str) -> bytes:
        if name not in members:
            raise DataError(f"{archive} has no member {name}")
        return members[name]

    return read
