"""Datasets by spec string, as uint8 images (N, H, W, C) with int labels.

    load_dataset("digits")          scikit-learn's 8x8 digits (built in)
    load_dataset("folder:PATH")     (added with the image-folder loader)

A Dataset holds the splits its source defines (always "train"; "test" when
the source has one); `splits.carve` makes train / val / test from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twolayer.errors import DataError


@dataclass
class Dataset:
    name: str
    class_names: list[str]
    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (images uint8 (N,H,W,C), labels (N,))

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(next(iter(self.splits.values()))[0].shape[1:])


def _digits(data_dir: Path | None) -> Dataset:
    from twolayer.data.digits import load_digits

    return load_digits()


# name -> loader(data_dir); the CLI lists these names in its help.
DATASETS = {"digits": _digits}


def load_dataset(spec: str, data_dir: str | Path | None = None) -> Dataset:
    """The dataset a spec names; a DataError for an unknown spec."""
    loader = DATASETS.get(spec)
    if loader is None:
        known = ", ".join(DATASETS)
        raise DataError(f"unknown dataset {spec!r}; choose from {known}")
    dataset = loader(Path(data_dir) if data_dir else None)
    validate(dataset)
    return dataset


def validate(dataset: Dataset) -> None:
    """Plain errors for data no trainer could use."""
    n_classes = len(dataset.class_names)
    for split, (images, labels) in dataset.splits.items():
        where = f"{dataset.name} ({split} split)"
        if images.dtype != np.uint8 or images.ndim != 4:
            raise DataError(f"{where}: images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
        if len(images) == 0:
            raise DataError(f"{where}: no images")
        if len(images) != len(labels):
            raise DataError(f"{where}: {len(images)} images but {len(labels)} labels")
        if labels.min() < 0 or labels.max() >= n_classes:
            raise DataError(f"{where}: labels must be in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}")
