"""A dataset's identity: a SHA-256 of its class names, images and labels.

A model's bundle records the fingerprint of the data it was trained on, so
that `evaluate --split test` knows whether it is scoring the images the run
held out (carved again exactly) or other data (scored whole), however the
dataset's path is spelled: folder:imgs, folder:./imgs and an absolute path
are the same data, and a folder whose images changed is not.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from twolayer.data import Dataset


def fingerprint(dataset: Dataset) -> str:
    digest = hashlib.sha256(json.dumps(dataset.class_names).encode())
    for name in sorted(dataset.splits):
        images, labels = dataset.splits[name]
        images = np.ascontiguousarray(images)
        digest.update(f"|{name}|{images.dtype.str}|{images.shape}|".encode())
        digest.update(images.reshape(-1).view(np.uint8))  # read in place: no copy of the images
        digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()
