"""Preprocessing fitted on the training split only, stored in the model
bundle, and applied to raw uint8 images wherever the model is used.

    mean         subtract the mean training image (the classic choice)
    standardize  subtract each channel's mean, divide by its std (a channel
                 of one value throughout is only centred)
    zca          ZCA whitening: pixels / 255, minus the mean image, times
                 W = U diag(1 / sqrt(S + epsilon)) U^T from the eigenvectors U
                 and eigenvalues S of the training covariance. It decorrelates
                 the pixels while keeping the result image-like.
    none         raw pixel values

The output is float32 rows (N, D), D = H * W * C.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from twolayer.config import OptionError
from twolayer.errors import ConfigError
from twolayer.memory import shortfall

KINDS = ("mean", "standardize", "zca", "none")
CHUNK = 4096  # rows converted at a time, so no float64 copy of a whole split exists


def check_zca(kind: str, n: int, shape: tuple[int, ...]) -> None:
    """For ZCA whitening fitted on `n` training images of `shape` (H, W, C):
    ConfigError when its d x d matrices (d = H * W * C) do not fit in memory,
    OptionError when n <= d: their covariance has rank n - 1 at most, so the
    directions they never vary in are amplified most, and a held-out image
    is mostly those (1,000 CIFAR-10 images: 0.18 test accuracy against 0.36
    with standardize, whatever zca_epsilon)."""
    if kind != "zca":
        return
    width = math.prod(shape)
    # the covariance, its eigenvectors, LAPACK's workspace and the product: about five d x d float64 arrays
    problem = shortfall(40 * width * width)
    if problem:
        raise ConfigError(f"ZCA whitening of images of {'x'.join(map(str, shape))} ({width:,} values) "
                          f"{problem}; choose --preprocess standardize, or smaller images")
    if n <= width:
        raise OptionError("preprocess", f"zca needs more training images than values in each, got {n:,} images of "
                          f"{width:,} values: whitening then amplifies what they never vary in, and held-out images "
                          "are mostly that; choose standardize, or more images", "{option} {problem}")


class Preprocessor:
    def __init__(self, kind: str, shift: np.ndarray, scale: np.ndarray, matrix: np.ndarray | None = None,
                 dtype: type = np.float32) -> None:
        if kind not in KINDS:
            raise ConfigError(f"unknown preprocessing {kind!r}; choose from {', '.join(KINDS)}")
        self.kind = kind
        self.shift = shift.astype(dtype)  # (D,), subtracted
        self.scale = scale.astype(dtype)  # (D,), divided by
        self.matrix = None if matrix is None else matrix.astype(np.float32)  # (D, D), multiplied by (zca)

    @classmethod
    def fit(cls, kind: str, images: np.ndarray, zca_epsilon: float = 1e-2, dtype: type = np.float32) -> Preprocessor:
        """Fit on training images (N, H, W, C) uint8. `dtype`: the type the
        shift and scale are kept in, float32 for images (as a bundle stores
        them); the estimator keeps float64, for features of any size (in
        float32, a mean of 1.23456789e10 is rounded by hundreds: features
        spread over 0..16 were all but lost)."""
        if kind not in KINDS:
            raise ConfigError(f"unknown preprocessing {kind!r}; choose from {', '.join(KINDS)}")
        n, h, w, c = images.shape
        d = h * w * c
        if kind == "none":
            return cls(kind, np.zeros(d), np.ones(d), dtype=dtype)
        mean_image = _mean(images)  # (H, W, C), in float64
        if kind == "mean":
            return cls(kind, mean_image.ravel(), np.ones(d), dtype=dtype)
        if kind == "zca":
            return cls(kind, mean_image.ravel(), np.full(d, 255.0), _zca_matrix(images, mean_image, zca_epsilon),
                       dtype=dtype)
        channel_mean = mean_image.mean(axis=(0, 1))  # (C,)
        tile = lambda v: np.broadcast_to(v, (h, w, c)).ravel()  # noqa: E731
        return cls(kind, tile(channel_mean), tile(_channel_scale(images, channel_mean)), dtype=dtype)

    def transform(self, images: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """uint8 (N, H, W, C) -> (N, D) of `dtype`, float32 unless asked
        (the estimator asks for float64: in float32, features whose spread is
        below float32's precision at their size were made equal)."""
        n = images.shape[0]
        flat = images.reshape(n, int(np.prod(images.shape[1:])))  # also for an empty split (n = 0)
        if flat.shape[1] != self.shift.shape[0]:
            raise ConfigError(
                f"images have {flat.shape[1]} values each but the preprocessing expects {self.shift.shape[0]}"
            )
        out = np.empty(flat.shape, dtype=dtype)
        shift, scale = self.shift.astype(dtype, copy=False), self.scale.astype(dtype, copy=False)
        for start in range(0, n, CHUNK):
            block = out[start : start + CHUNK]
            block[...] = flat[start : start + CHUNK]
            block -= shift
            if self.kind in ("standardize", "zca"):
                block /= scale
            if self.matrix is not None:
                block[...] = block @ self.matrix
        return out

    def fold_into(self, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The layer (W', b') that takes raw rows: x @ W' + b' equals
        transform(x) @ W + b, in float64. Every kind is affine,
        transform(x) = (x - shift) / scale @ M (M: the ZCA matrix, or none), so
        W' = diag(1 / scale) @ M @ W and b' = b - shift @ W'."""
        W = W.astype(np.float64)
        if self.matrix is not None:
            W = self.matrix.astype(np.float64) @ W
        if self.kind in ("standardize", "zca"):  # transform divides only for these
            W = W / self.scale.astype(np.float64)[:, None]
        return W, b.astype(np.float64) - self.shift.astype(np.float64) @ W

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"shift": self.shift, "scale": self.scale}
        if self.matrix is not None:
            arrays["matrix"] = self.matrix
        return arrays

    @classmethod
    def from_arrays(cls, kind: str, arrays: dict[str, np.ndarray]) -> Preprocessor:
        """A saved preprocessing. A model saved before constant channels were
        left unscaled divides them by 1e-8 (their std + 1e-8): read as 1, as
        fit makes it now. It changes nothing on images like its training
        data (constant there, so centred to 0 either way); on others, one
        level of difference in that channel no longer decides the prediction."""
        scale = arrays["scale"]
        if kind == "standardize":
            scale = np.where(scale < NO_SPREAD, 1.0, scale).astype(scale.dtype)
        return cls(kind, arrays["shift"], scale, arrays.get("matrix"))


# Below any std of 0..255 pixels that vary at all (a single pixel one level off among a
# billion is 3e-5): a scale this small is a constant channel's std + 1e-8, as saved before.
NO_SPREAD = 1e-6


def _mean(images: np.ndarray, square: bool = False) -> np.ndarray:
    """Mean image (H, W, C) in float64 (of the squares if `square`), summed in chunks."""
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in range(0, len(images), CHUNK):
        block = images[start : start + CHUNK].astype(np.float64)
        total += (block * block if square else block).sum(axis=0)
    return total / len(images)


def _channel_scale(images: np.ndarray, channel_mean: np.ndarray) -> np.ndarray:
    """Each channel's divisor (C,) in float64: its standard deviation, or 1
    for a channel of one value throughout (what rounding alone leaves of it
    included), which is only centred: divided by its std + 1e-8, a new
    image's least difference there became 1e8 times larger than any other
    feature, and decided the prediction alone."""
    n = images.size // len(channel_mean)  # the values of each channel
    eps = np.finfo(np.float64).eps
    if images.dtype.kind in "biu" and images.dtype.itemsize <= 2:
        # Pixels, whole numbers of 16 bits or fewer: as they always were, bit for bit (a run resumed
        # by a later twolayer refits them; the reference numbers), in one pass (two took CIFAR-10's
        # 50,000 images 3 s more): the mean square less the squared mean, exact in float64 for them.
        var = np.maximum(_mean(images, square=True).mean(axis=(0, 1)) - channel_mean**2, 0)
        return np.where(var <= n * eps * channel_mean**2, 1.0, np.sqrt(var) + 1e-8)
    # The estimator's features, in any units: the std of the deviations from the mean (the mean
    # square less the squared mean lost any spread below the float64 precision of the square: 1e10
    # + 0..1000 was taken for a constant), StandardScaler's bound for a constant, and no + 1e-8
    # (features of 1e-12 were all but zeros).
    std = _deviations_std(images, channel_mean)
    return np.where(std <= n * eps * np.abs(channel_mean), 1.0, std)


def _deviations_std(images: np.ndarray, channel_mean: np.ndarray) -> np.ndarray:
    """Each channel's standard deviation (C,) in float64, from the
    deviations from its mean, divided by the largest so that no square
    overflows (features of 1e300)."""
    largest = np.zeros_like(channel_mean)
    for block in _deviations(images, channel_mean):
        largest = np.maximum(largest, np.abs(block).max(axis=(0, 1, 2)))
    unit = np.where(largest > 0, largest, 1.0)
    total = np.zeros_like(channel_mean)
    for block in _deviations(images, channel_mean):
        total += ((block / unit) ** 2).sum(axis=(0, 1, 2))
    return unit * np.sqrt(total / (images.size // len(channel_mean)))


def _deviations(images: np.ndarray, channel_mean: np.ndarray) -> Iterator[np.ndarray]:
    """The images less their channel's mean, in float64, a chunk at a time."""
    for start in range(0, len(images), CHUNK):
        yield images[start : start + CHUNK] - channel_mean


def _zca_matrix(images: np.ndarray, mean_image: np.ndarray, epsilon: float) -> np.ndarray:
    """W = U diag(1 / sqrt(S + epsilon)) U^T for the covariance of the
    training pixels scaled to 0..1 (so epsilon is in those units)."""
    if not epsilon > 0:
        raise ConfigError(f"zca-epsilon must be > 0, got {epsilon!r}")
    n = len(images)
    d = mean_image.size
    check_zca("zca", n, mean_image.shape)
    mean = mean_image.ravel() / 255
    covariance = np.zeros((d, d))
    for start in range(0, n, CHUNK):  # summed in chunks: never a float64 copy of all images
        block = images[start : start + CHUNK].reshape(-1, d) / 255 - mean
        covariance += block.T @ block
    covariance /= n
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    return (eigenvectors / np.sqrt(np.maximum(eigenvalues, 0) + epsilon)) @ eigenvectors.T
