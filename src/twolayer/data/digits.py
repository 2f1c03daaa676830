"""scikit-learn's handwritten digits: 1,797 images of 8x8 pixels, 10 classes.

It ships inside scikit-learn, so it works offline: the built-in default.
Pixel values 0..16 are rescaled to 0..255, so that the images look like any
other grayscale image (and `predict` works on an 8x8 PNG).
"""

from __future__ import annotations

import numpy as np

from twolayer.data import Dataset


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[..., None]  # (N, 8, 8, 1)
    labels = bunch.target.astype(np.int64)
    return Dataset("digits", [str(c) for c in bunch.target_names], {"train": (images, labels)})
