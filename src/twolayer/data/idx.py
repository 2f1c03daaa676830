"""`mnist` and `fashion-mnist`: the original IDX files, gzipped or not.

Looked for in <data dir>/<name>/ and, for Fashion-MNIST, where Debian's
dataset-fashion-mnist package installs them (/usr/share/datasets/
fashion-mnist/); downloaded (and MD5-checked) when missing.

An IDX file: two zero bytes, a type byte (0x08: unsigned bytes), the number
of dimensions, each dimension as a big-endian uint32, then the data.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from twolayer.data import Dataset
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
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{name} is not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise DataError(f"{name}: unsupported IDX type 0x{data[2]:02x} (expected unsigned bytes, 0x08)")
    if data[3] != ndim:
        raise DataError(f"{name}: expected {ndim} dimensions, the header says {data[3]}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name} is truncated (incomplete header)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(dims)  # Python's integers: three dimensions near 2**32 overflow NumPy's int64
    if len(data) - header != expected:
        raise DataError(f"{name} is truncated or padded: {len(data) - header} data bytes, header says "
                        f"{'x'.join(map(str, dims))} = {expected}")
    if math.prod(d or 1 for d in dims) > np.iinfo(np.intp).max:  # no data, but a shape NumPy refuses
        raise DataError(f"{name}: the header's dimensions {'x'.join(map(str, dims))} are larger than an array can be")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    return parse_idx(raw, str(path), ndim)


def find_file(name: str, base: str, dirs: list[Path]) -> Path | None:
    for folder in dirs:
        for candidate in (folder / (base + ".gz"), folder / base):
            if candidate.is_file():
                return candidate
    return None


def load_idx_dataset(name: str, root: Path, quiet: bool = False) -> Dataset:
    source = SOURCES[name]
    dirs = [root / name, *source["system_dirs"]]
    paths = {}
    for key, base in FILES.items():
        path = find_file(name, base, dirs)
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
