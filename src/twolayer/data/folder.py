"""`folder:PATH`: one sub-folder of images per class.

    PATH/train/<class>/*.jpg and PATH/test/<class>/*.png  -> those splits
    PATH/<class>/*.jpg                                      -> one split

Images are decoded with Pillow into uint8 (N, H, W, C): C is 1 when the
first image is grayscale, else 3 (RGB). All images must share one size.
Decoded arrays are cached in the data directory under a key made from every
file's path, size and modification time, so a changed folder is read again;
nothing is ever written into PATH.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from twolayer.data import Dataset
from twolayer.data.cache import cache_path, load_cached, save_cached
from twolayer.data.images import IMAGE_SUFFIXES, pillow_mode
from twolayer.errors import DataError
from twolayer.progress import Progress

SPLIT_NAMES = ("train", "test")

Listing = list[tuple[str, int, int, int]]  # (path, label, size, mtime_ns)


def load_folder(path: str | Path, cache_root: Path, quiet: bool = False) -> Dataset:
    root = Path(path).expanduser().resolve()  # one cache key however the path is spelled
    if not root.is_dir():
        raise DataError(f"no image folder at {root}: give folder:PATH with one sub-folder of images per class")
    split_dirs = {s: root / s for s in SPLIT_NAMES if (root / s).is_dir()}
    if not split_dirs:
        split_dirs = {"train": root}
    class_names = sorted({d.name for folder in split_dirs.values() for d in _subdirs(folder)})
    if not class_names:
        raise DataError(f"{root} holds no class folders: expected {root}/<class>/<image files>")

    splits = {}
    for split, folder in split_dirs.items():
        listing = _list(folder, class_names)
        key = _key(folder, listing)
        cached = load_cached(cache_path(cache_root, "folder", key))
        if cached is None:
            images, labels = _decode(listing, f"decode {folder.name or folder}", quiet)
            save_cached(cache_path(cache_root, "folder", key), {"images": images, "labels": labels})
        else:
            images, labels = cached["images"], cached["labels"]
        splits[split] = (images, labels)
    return Dataset(f"folder:{root}", class_names, splits)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _list(folder: Path, class_names: list[str]) -> Listing:
    listing: Listing = []
    for label, name in enumerate(class_names):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        files = []
        with os.scandir(class_dir) as entries:
            for entry in entries:
                if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES):
                    st = entry.stat()
                    files.append((entry.path, label, st.st_size, st.st_mtime_ns))
        if not files:
            raise DataError(f"class folder {class_dir} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        listing.extend(sorted(files))
    if not listing:
        raise DataError(f"{folder} holds no images")
    return listing


def _key(folder: Path, listing: Listing) -> str:
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for path, label, size, mtime in listing:
        digest.update(f"{path}|{label}|{size}|{mtime}\n".encode())
    return digest.hexdigest()


def _decode(listing: Listing, desc: str, quiet: bool) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    first = _open(listing[0][0], Image)
    mode = pillow_mode(first)
    shape = (first.size[1], first.size[0], 1 if mode == "L" else 3)
    images = np.empty((len(listing), *shape), dtype=np.uint8)
    labels = np.array([label for _, label, _, _ in listing], dtype=np.int64)
    bar = Progress(len(listing), desc, enabled=not quiet)
    for i, (path, _, _, _) in enumerate(listing):
        img = first if i == 0 else _open(path, Image)
        if img.size != (shape[1], shape[0]):
            raise DataError(
                f"{path} is {img.size[0]}x{img.size[1]} but the folder's images are {shape[1]}x{shape[0]}; "
                "all images must share one size"
            )
        try:
            images[i] = np.asarray(img.convert(mode)).reshape(shape)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot decode image {path}: {e}") from None
        if i % 500 == 0 or i == len(listing) - 1:
            bar.update(i + 1)
    bar.close()
    return images, labels


def _open(path: str, Image):
    try:
        img = Image.open(path)
        img.load()
        return img
    except Exception as e:  # Pillow raises many types for a bad file
        raise DataError(f"cannot read image {path}: {e}") from None
