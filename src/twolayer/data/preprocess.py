"""Preprocessing fitted on the training split only, stored in the model
bundle, and applied to raw uint8 images wherever the model is used.

    mean         subtract the mean training image (the classic choice)
    standardize  subtract each channel's mean, divide by its std
    none         raw pixel values

The output is float32 rows (N, D), D = H * W * C.
"""

from __future__ import annotations

import numpy as np

from twolayer.errors import ConfigError

KINDS = ("mean", "standardize", "none")
CHUNK = 4096  # rows converted at a time, so no float64 copy of a whole split exists


class Preprocessor:
    def __init__(self, kind: str, shift: np.ndarray, scale: np.ndarray) -> None:
        if kind not in KINDS:
            raise ConfigError(f"unknown preprocessing {kind!r}; choose from {', '.join(KINDS)}")
        self.kind = kind
        self.shift = shift.astype(np.float32)  # (D,), subtracted
        self.scale = scale.astype(np.float32)  # (D,), divided by

    @classmethod
    def fit(cls, kind: str, images: np.ndarray) -> Preprocessor:
        """Fit on training images (N, H, W, C) uint8."""
        if kind not in KINDS:
            raise ConfigError(f"unknown preprocessing {kind!r}; choose from {', '.join(KINDS)}")
        n, h, w, c = images.shape
        d = h * w * c
        if kind == "none":
            return cls(kind, np.zeros(d), np.ones(d))
        mean_image = _mean(images)  # (H, W, C), in float64
        if kind == "mean":
            return cls(kind, mean_image.ravel(), np.ones(d))
        channel_mean = mean_image.mean(axis=(0, 1))  # (C,)
        channel_sq = _mean(images, square=True).mean(axis=(0, 1))
        channel_std = np.sqrt(np.maximum(channel_sq - channel_mean**2, 0)) + 1e-8
        tile = lambda v: np.broadcast_to(v, (h, w, c)).ravel()  # noqa: E731
        return cls(kind, tile(channel_mean), tile(channel_std))

    def transform(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) -> float32 (N, D)."""
        n = images.shape[0]
        flat = images.reshape(n, -1)
        if flat.shape[1] != self.shift.shape[0]:
            raise ConfigError(
                f"images have {flat.shape[1]} values each but the preprocessing expects {self.shift.shape[0]}"
            )
        out = np.empty(flat.shape, dtype=np.float32)
        for start in range(0, n, CHUNK):
            block = out[start : start + CHUNK]
            block[...] = flat[start : start + CHUNK]
            block -= self.shift
            if self.kind == "standardize":
                block /= self.scale
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"shift": self.shift, "scale": self.scale}

    @classmethod
    def from_arrays(cls, kind: str, arrays: dict[str, np.ndarray]) -> Preprocessor:
        return cls(kind, arrays["shift"], arrays["scale"])


def _mean(images: np.ndarray, square: bool = False) -> np.ndarray:
    """Mean image (H, W, C) in float64, summed in chunks."""
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in range(0, len(images), CHUNK):
        block = images[start : start + CHUNK].astype(np.float64)
        total += (block * block if square else block).sum(axis=0)
    return total / len(images)
