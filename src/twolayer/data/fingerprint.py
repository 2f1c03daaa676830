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


# How an image folder's files become images; raised whenever the same files give
# other pixels, or other files are read. Runs and models record it (since 2) beside
# the fingerprint, so that data that no longer matches can say whether this
# twolayer reads the folder differently from the one that made them.
DECODING = 4
# what each earlier decoding did otherwise than the next (1: before it was recorded)
CHANGES = {
    1: "transparent pixels took the colour stored under them, float and 32-bit TIFFs were not scaled, Netpbm and "
       ".jfif files were skipped",
    2: "a class folder's sub-folders and .avif files were skipped, a color image for gray was made gray before it "
       "was resized, and class names were kept in the Unicode form of their folder's name",
    3: "a GIF or palette PNG whose colours are all gray was read as color",
}


def decoded_otherwise(spec: str, decoding: object, made: str) -> str | None:
    """Why an image folder may give other images than a fingerprint recorded
    at `decoding` by `made` (a run, a model), when that decoding is not
    today's (None: it was not); None when the folder is decoded as it was."""
    if not spec.startswith("folder:") or decoding == DECODING:
        return None
    if isinstance(decoding, int) and not isinstance(decoding, bool) and decoding > DECODING:
        return f"{made} was made by a newer twolayer, which decodes some image files differently"
    since = decoding if isinstance(decoding, int) and not isinstance(decoding, bool) and decoding in CHANGES else 1
    changes = "; ".join(CHANGES[d] for d in range(since, DECODING))
    return (f"{made} was made by an earlier twolayer, which decoded some image files differently ({changes}), "
            "or the folder's files changed since")
