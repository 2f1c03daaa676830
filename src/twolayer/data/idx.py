"""`mnist` and `fashion-mnist`: the original IDX files, gzipped or not.

Looked for in <data dir>/<name>/ and, for Fashion-MNIST, where Debian's
dataset-fashion-mnist package installs them (/usr/share/datasets/
fashion-mnist/); downloaded (and MD5-checked) when missing.

An IDX file: two zero bytes, a type byte (0x08: unsigned bytes), the number
of dimensions, each dimension as a big-endian uint32, then the data.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from twolayer import memory
from twolayer.data import Dataset
from twolayer.data.cache import NO_HOME
from twolayer.data.download import fetch
from twolayer.errors import DataError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

SOURCES = {
    "mnist": {
        "url": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "system_dirs": [],
        "classes": [str(i) for i in range(10)],
        "md5": {
            "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
            "test_images": "9fb629c4189551a2d022fa330f9573f3",
            "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    },
    "fashion-mnist": {
        "url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "system_dirs": [Path("/usr/share/datasets/fashion-mnist")],
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot"],
        "md5": {
            "train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
            "test_images": "bef4ecab320f06d8554ea6380940ec79",
            "test_labels": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    },
}


def parse_idx(data: bytes, name: str, ndim: int) -> np.ndarray:
    """The array in an IDX file's bytes; DataError naming `name` if malformed."""
    return read_idx_stream(io.BytesIO(data), name, ndim)


def read_idx_stream(f: BinaryIO, name: str, ndim: int) -> np.ndarray:
    """The array of the IDX file read from f; DataError naming `name` if
    malformed. Never more than the header declares is read into memory, and
    never more than the memory available: a few MB of gzip can hold
    terabytes of zeros."""
    head = f.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise DataError(f"{name} is not an IDX file (bad magic number)")
    if head[2] != 0x08:
        raise DataError(f"{name}: unsupported IDX type 0x{head[2]:02x} (expected unsigned bytes, 0x08)")
    if head[3] != ndim:
        raise DataError(f"{name}: expected {ndim} dimensions, the header says {head[3]}")
    sizes = f.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{name} is truncated (incomplete header)")
    dims = tuple(int(d) for d in np.frombuffer(sizes, dtype=">u4"))
    expected = math.prod(dims)  # Python's integers: three dimensions near 2**32 overflow NumPy's int64
    shape = f"{'x'.join(map(str, dims))} = {expected}"
    room = memory.available_bytes()
    if room is not None and expected > room:
        held = _skip(f, room + 1)
        if held > room:
            raise DataError(f"{name}: the header's dimensions {shape} bytes need more memory than this machine has "
                            f"available ({memory.describe(room)})")
        raise DataError(f"{name} is truncated or padded: {held} data bytes, header says {shape}")
    data = np.empty(expected, dtype=np.uint8)
    held = _read_into(f, data)
    if held < expected:
        raise DataError(f"{name} is truncated or padded: {held} data bytes, header says {shape}")
    if f.read(1):
        raise DataError(f"{name} is truncated or padded: more data bytes than the header's {shape}")
    if math.prod(d or 1 for d in dims) > np.iinfo(np.intp).max:  # no data, but a shape NumPy refuses
        raise DataError(f"{name}: the header's dimensions {'x'.join(map(str, dims))} are larger than an array can be")
    return data.reshape(dims)


CHUNK = 2**24


def _read_into(f: BinaryIO, out: np.ndarray) -> int:
    """Fill `out` (bytes) from f; how many bytes there were (fewer at the end of f)."""
    view, held = memoryview(out), 0
    while held < len(view):
        n = f.readinto(view[held : held + CHUNK])
        if not n:
            break
        held += n
    return held


def _skip(f: BinaryIO, most: int) -> int:
    """Read and drop up to `most` bytes of f; how many there were."""
    held = 0
    while held < most:
        n = len(f.read(min(CHUNK, most - held)))
        if not n:
            break
        held += n
    return held


def read_idx(path: Path, ndim: int) -> np.ndarray:
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            return read_idx_stream(gzip.GzipFile(fileobj=raw) if gzipped else raw, str(path), ndim)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read {path}: {e}") from None


def find_file(name: str, base: str, dirs: list[Path]) -> Path | None:
    for folder in dirs:
        for candidate in (folder / (base + ".gz"), folder / base):
            if candidate.is_file():
                return candidate
    return None


def load_idx_dataset(name: str, root: Path | None, quiet: bool = False) -> Dataset:
    """`root`: the data directory, None where there is none (no home
    directory): the system's copy is read then, if there is one."""
    source = SOURCES[name]
    dirs = ([] if root is None else [root / name]) + source["system_dirs"]
    paths = {}
    for key, base in FILES.items():
        path = find_file(name, base, dirs)
        if path is None and root is None:
            raise DataError(f"{name}: {NO_HOME}")
        if path is None:
            path = root / name / (base + ".gz")
            try:
                fetch(source["url"] + base + ".gz", path, source["md5"][key], quiet=quiet)
            except DataError as e:
                searched = ", ".join(str(d) for d in dirs)
                hint = " (or: apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""
                raise DataError(f"{name} file {base} not found in {searched} and {e}{hint}") from None
        paths[key] = path
    splits = {}
    for split in ("train", "test"):
        images_file, labels_file = paths[f"{split}_images"], paths[f"{split}_labels"]
        images, labels = read_idx(images_file, 3), read_idx(labels_file, 1)
        if len(images) != len(labels):
            raise DataError(f"{images_file} holds {len(images)} images but {labels_file} {len(labels)} labels")
        if labels.size and labels.max() >= len(source["classes"]):
            raise DataError(f"{labels_file}: labels must be in 0..{len(source['classes']) - 1}, found "
                            f"{labels.max()}")
        if split == "test" and images.shape[1:] != splits["train"][0].shape[1:3]:
            raise DataError(f"{images_file} holds {images.shape[1]}x{images.shape[2]} images but "
                            f"{paths['train_images']} {splits['train'][0].shape[1]}x{splits['train'][0].shape[2]}")
        splits[split] = (images[..., None].copy(), labels.astype(np.int64))
    return Dataset(name, list(source["classes"]), splits)
