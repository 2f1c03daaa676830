"""`cifar10`: CIFAR-10's official files, read in place, in either version:

    python  cifar-10-batches-py/   data_batch_1..5, test_batch, batches.meta (pickles)
    binary  cifar-10-batches-bin/  data_batch_1..5.bin, test_batch.bin, batches.meta.txt

Looked for in the data directory: one of those folders, the data directory
itself when it is one (it holds test_batch or test_batch.bin), or the archive
cifar-10-python.tar.gz or cifar-10-binary.tar.gz; when none is there, the
python archive is downloaded from the official address and checked against
its MD5. A folder with the test batch and no training batches is a test
split alone: a model can be evaluated on it, not trained.

The python batch files are pickles. They are read with a restricted unpickler that
admits only what they hold (dicts, lists, bytes, strings, numbers and NumPy
arrays), so a crafted file fails with a clear error and never runs code. The
binary files are fixed-size records (a label byte, then 3,072 pixel bytes),
read as bytes and nothing else; batches.meta.txt is the class names, one a line.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twolayer.data import Dataset
from twolayer.data.download import fetch
from twolayer.errors import DataError
from twolayer.files import read_small
from twolayer.memory import describe
from twolayer.streams import shell_word

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
# a batch file holds 31 MB; this much more is not a batch (nor read whole)
BATCH_LIMIT = 256 * 2**20
ARCHIVE_LIMIT = 2**30
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# The only globals a CIFAR-10 batch refers to: NumPy's array reconstruction
# (_frombuffer in files pickled at protocol 5, the default of Python 3.14),
# and (in files re-pickled by Python 3 at protocol 2) the codec that turns
# latin-1 text back into bytes.
ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
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
    return channels_last(data), labels


def channels_last(rows: np.ndarray) -> np.ndarray:
    """uint8 (N, 32, 32, 3) images from CIFAR-10's rows of 1,024 red, then
    green, then blue values (channel-first), in both versions."""
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


RECORD = 1 + 3072  # a binary batch's record: the label byte, then the pixels


def binary_arrays(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels (N,)) from one binary batch file's bytes."""
    if not data or len(data) % RECORD:
        raise DataError(f"{name} is not a CIFAR-10 binary batch: {len(data)} bytes is not a whole number of "
                        f"{RECORD}-byte records (a label byte, then 3,072 pixel bytes)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{name}: labels must be in 0..9, found {labels.max()} in record {int(labels.argmax())}")
    return channels_last(records[:, 1:]), labels


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


def text_class_names(meta: bytes | None, name: str) -> list[str]:
    """The class names of the binary version's batches.meta.txt (one a line,
    blank lines skipped), or the standard ten without one."""
    if meta is None:
        return list(CLASS_NAMES)
    try:
        names = [line.strip() for line in meta.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise DataError(f"{name} is not UTF-8 text") from None
    if len(names) != 10:
        raise DataError(f"{name} must name 10 classes, one a line; it names {len(names)}")
    return names


@dataclass(frozen=True)
class Version:
    """One of the official versions: where its files are and how to read them."""

    folder: str
    archive: str
    suffix: str  # of the batch files' names
    meta: str
    arrays: Callable[[bytes, str], tuple[np.ndarray, np.ndarray]]
    names: Callable[[bytes | None, str], list[str]]


PYTHON = Version(FOLDER, ARCHIVE, "", "batches.meta", lambda data, name: batch_arrays(read_batch(data, name), name),
                 lambda meta, name: class_names(None if meta is None else read_batch(meta, name), name))
BINARY = Version("cifar-10-batches-bin", "cifar-10-binary.tar.gz", ".bin", "batches.meta.txt", binary_arrays,
                 text_class_names)
VERSIONS = (PYTHON, BINARY)


def load_cifar10(root: Path, quiet: bool = False) -> Dataset:
    if root.exists() and not root.is_dir():
        raise DataError(f"{root} is not a folder: the data directory holds {PYTHON.folder}/ or {BINARY.folder}/ "
                        "(or is one)" + (f"; give the folder that holds it: --data-dir {shell_word(root.parent)}"
                                         if batches_folder(root) else ""))
    found = _find(root)
    if found is None:
        archive = root / ARCHIVE
        try:
            fetch(URL, archive, MD5, quiet=quiet)
        except DataError as e:
            raise DataError(
                f"CIFAR-10 not found (looked for {root / FOLDER} and {archive}, and the binary version's "
                f"{BINARY.folder} and {BINARY.archive}) and {e}; put {ARCHIVE} in {root}, or pass --data-dir"
            ) from None
        found = PYTHON, _Archive(archive)
    version, files = found

    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        name += version.suffix
        if not files.has(name):
            raise DataError(f"CIFAR-10 batch {files.where(name)} is missing")
        return version.arrays(files.read(name), files.where(name))

    test = batch("test_batch")
    splits = {"test": test}
    if any(files.has(b + version.suffix) for b in TRAIN_BATCHES):  # none: a test split alone, to evaluate on
        train = [batch(b) for b in TRAIN_BATCHES]
        splits = {"train": (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])),
                  "test": test}
    meta = files.read(version.meta) if files.has(version.meta) else None
    return Dataset("cifar10", version.names(meta, files.where(version.meta)), splits)


def batches_folder(path: str | Path) -> Path | None:
    """The data directory that reads CIFAR-10 when `path`, given where
    images or a dataset spec belong, is its files: a batch file or an
    archive (its folder), or a folder holding batches, a version's folder
    or an archive (itself); None otherwise."""
    names = {f"{b}{v.suffix}" for v in VERSIONS for b in ("test_batch", *TRAIN_BATCHES)} | {v.archive for v in VERSIONS}
    try:
        path = Path(path).expanduser()
        if path.is_dir():
            return path if _find(path) else None
        return path.parent if path.name in names and path.is_file() else None
    except (OSError, RuntimeError):  # a name too long, a folder that cannot be read, ~nosuchuser: no hint
        return None


def _find(root: Path) -> tuple[Version, _Folder | _Archive] | None:
    """The version and files in the data directory: a version's folder, the
    directory itself holding a version's batches, or an archive; None."""
    for version in VERSIONS:
        if (root / version.folder).is_dir():
            return version, _Folder(root / version.folder)
        if any((root / f"{b}{version.suffix}").is_file() for b in ("test_batch", *TRAIN_BATCHES)):
            return version, _Folder(root)
    for version in VERSIONS:
        if (root / version.archive).is_file():
            return version, _Archive(root / version.archive)
    return None


class _Folder:
    """A folder of batch files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def has(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def read(self, name: str) -> bytes:
        try:
            return read_small(self.folder / name, "a CIFAR-10 batch", BATCH_LIMIT)
        except OSError as e:
            raise DataError(f"cannot read {self.where(name)}: {e.strerror or e}") from None

    def where(self, name: str) -> str:  # how messages name a file
        return str(self.folder / name)


class _Archive:
    """The batch files of a .tar.gz archive, read in memory (nothing
    extracted, nothing else read: the official archives hold 180 MB, and
    one that holds more than ARCHIVE_LIMIT is refused, not read through)."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.members: dict[str, bytes] = {}
        wanted = {b + v.suffix for v in VERSIONS for b in ("test_batch", *TRAIN_BATCHES)} | {v.meta for v in VERSIONS}
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:  # one at a time: the next is found by reading past this one
                    if member.offset_data + member.size > ARCHIVE_LIMIT:
                        raise DataError(f"{archive} is not a CIFAR-10 archive: it holds more than "
                                        f"{describe(ARCHIVE_LIMIT)}")
                    name = Path(member.name).name
                    if member.isfile() and name in wanted:
                        self.members[name] = tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{archive} is not a readable CIFAR-10 archive ({e})") from None

    def has(self, name: str) -> bool:
        return name in self.members

    def read(self, name: str) -> bytes:
        return self.members[name]

    def where(self, name: str) -> str:
        return f"{self.archive} ({name})"
