"""Datasets by spec string, as uint8 images (N, H, W, C) with int labels.

    digits          scikit-learn's 8x8 digits (built in, the default)
    cifar10         CIFAR-10's python or binary batches (data/cifar10.py)
    mnist           MNIST's IDX files (data/idx.py)
    fashion-mnist   Fashion-MNIST's IDX files (data/idx.py)
    folder:PATH     one sub-folder of images per class (data/folder.py)

A Dataset holds the splits its source defines (always "train"; "test" when
the source has one); `splits.carve` makes train / val / test from them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twolayer.errors import DataError, UsageError


@dataclass
class Dataset:
    name: str
    class_names: list[str]
    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (images uint8 (N,H,W,C), labels (N,))
    resized_from: str | None = None  # the sizes a folder's images were resized from ("640x480"), if they were
    skipped: str | None = None  # what of a folder was not read ("2 .heic files in the class folders ..."), if any

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(next(iter(self.splits.values()))[0].shape[1:])

    def __repr__(self) -> str:
        """One line: a notebook cell ending in `dataset` printed its images' arrays."""
        h, w, c = self.image_shape
        counts = ", ".join(f"{name} {len(labels)}" for name, (_, labels) in self.splits.items())
        return (f"Dataset({self.name!r}, {len(self.class_names)} classes, {w}x{h} {'gray' if c == 1 else 'color'} "
                f"images: {counts})")


def _digits(root: Path | None, quiet: bool) -> Dataset:
    from twolayer.data.digits import load_digits

    return load_digits()


def _cifar10(root: Path | None, quiet: bool) -> Dataset:
    from twolayer.data.cache import NO_HOME
    from twolayer.data.cifar10 import load_cifar10

    if root is None:
        raise DataError(f"cifar10: {NO_HOME}")

    return load_cifar10(root, quiet)


def _idx(name: str):
    def load(root: Path | None, quiet: bool) -> Dataset:
        from twolayer.data.idx import load_idx_dataset

        return load_idx_dataset(name, root, quiet)

    return load


# name -> loader(data directory, quiet); the CLI lists these names in its help.
DATASETS = {"digits": _digits, "cifar10": _cifar10, "mnist": _idx("mnist"), "fashion-mnist": _idx("fashion-mnist")}
SPEC_HELP = ", ".join(DATASETS) + ", folder:PATH"


# The (H, W) of the built-in sources whose format fixes their images' size (an IDX file's header gives its own).
IMAGE_SIZES = {"digits": (8, 8), "cifar10": (32, 32)}


def known_image_size(spec: str, image_size: int | None = None) -> tuple[int, int] | None:
    """The (H, W) a dataset's images will have, where it is known before
    any is read: a built-in source of one size, or a folder resized to
    image_size; None otherwise."""
    if spec.startswith("folder:"):
        return (image_size, image_size) if image_size else None
    return IMAGE_SIZES.get(spec)


def load_dataset(spec: str, data_dir: str | Path | None = None, quiet: bool = True,
                 refresh: bool = False, image_size: int | tuple[int, int] | None = None) -> Dataset:
    """The dataset a spec names; a UsageError (a bad option) for an unknown
    spec, a DataError for data no trainer could use. `refresh`: decode an image folder again instead of
    reading its cache (also TWOLAYER_REFRESH_CACHE=1; see data/cache.py). `image_size`: N (N x N) or
    (H, W) that a folder's images are resized to (data/folder.py)."""
    from twolayer.data.cache import data_dir as resolve_data_dir

    check_spec(spec)
    root = resolve_data_dir(data_dir)  # None: no home directory (a folder keeps no decode cache then)
    if spec.startswith("folder:"):
        from twolayer.data.folder import load_folder

        dataset = load_folder(spec[len("folder:") :], root, quiet, refresh, image_size)
    elif image_size is not None:
        raise UsageError(f"image_size resizes the images of a folder: dataset; {spec}'s images have one size")
    else:
        dataset = DATASETS[spec](root, quiet)
    validate(dataset)
    return dataset


def check_spec(spec: str) -> None:
    """UsageError (a bad option) unless `spec` names a dataset: a built-in
    name, or folder:PATH with a path. Reads nothing."""
    if not isinstance(spec, str):
        raise UsageError(f"a dataset spec is text ({SPEC_HELP}), got {type(spec).__name__} {spec!r}")
    if spec.startswith("folder:"):
        if not spec[len("folder:") :].strip():
            raise UsageError("folder: needs a path: give folder:PATH, a folder with one sub-folder of images per class")
    elif spec not in DATASETS:
        # a newcomer's folder of pictures given by its path: `--dataset pets` said only "unknown dataset"
        folder = "/" in spec or spec.startswith("~") or os.path.isdir(os.path.expanduser(spec))  # False on any error
        raise UsageError(f"unknown dataset {spec!r}; " + (files_hint(spec) or (
            f"a folder of class folders is given as folder:{spec}" if folder else f"choose from {SPEC_HELP}")))


ARRAYS_HINT = ("in Python, twolayer.load_bundle(MODEL).probabilities(images) scores images (N, H, W, C) of pixel "
               "values 0..255, and twolayer.TwoLayerClassifier().fit(X, y) trains on rows")
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".7z", ".rar")


def files_hint(path: str | Path) -> str | None:
    """How twolayer reads the files at `path` where they were given as a
    dataset spec, a folder of class folders or an image: CIFAR-10's batches
    (a batch, its archive, a folder of them: --dataset cifar10 --data-dir),
    a NumPy file of arrays (.npz, .npy: the Python API), an archive (to
    extract); None for others. Each was refused as an unknown dataset, a
    missing folder or a file that is no image, saying nothing of the way to
    read it."""
    from twolayer.data.cifar10 import batches_folder
    from twolayer.streams import shell_word

    folder = batches_folder(path)
    name = Path(path).name.lower()
    if folder is not None:
        return (f"CIFAR-10's batches are read as --dataset cifar10 --data-dir {shell_word(folder)}, by train and "
                "evaluate")
    if name.endswith((".npz", ".npy")):
        return f"a NumPy file of arrays, which twolayer's commands do not read; {ARRAYS_HINT}"
    if name.endswith(ARCHIVES):
        return "an archive: extract it, then give the folder it makes"
    return None


def names_fault(names: list[str]) -> str | None:
    """Why class names cannot name a model's outputs: an empty one, or one
    given to two classes (predict would print the same class for both, and
    evaluate could not match a folder's classes to them); None if they can."""
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            return f"class {index}'s name is empty"
        if name in seen:
            return f"classes {seen[name]} and {index} have one name, {name!r}: each class needs its own"
        seen[name] = index
    return None


def validate(dataset: Dataset) -> None:
    """Plain errors for data no trainer could use, whatever its source (each
    reader names the file at fault where it can; this is the last check)."""
    n_classes = len(dataset.class_names)
    fault = names_fault(dataset.class_names)
    if fault:
        raise DataError(f"{dataset.name}: {fault}")
    shape = dataset.image_shape
    for split, (images, labels) in dataset.splits.items():
        where = f"{dataset.name} ({split} split)"
        if images.dtype != np.uint8 or images.ndim != 4:
            raise DataError(f"{where}: images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
        if images.shape[1:] != shape:
            raise DataError(f"{where}: images are {'x'.join(map(str, images.shape[1:]))} but the other split's "
                            f"are {'x'.join(map(str, shape))}; all splits must share one image size")
        if len(images) == 0:
            raise DataError(f"{where}: no images")
        if labels.dtype.kind not in "iu" or labels.ndim != 1:
            raise DataError(f"{where}: labels must be integers (N,), got {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise DataError(f"{where}: {len(images)} images but {len(labels)} labels")
        if labels.min() < 0 or labels.max() >= n_classes:
            raise DataError(f"{where}: labels must be in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}")
