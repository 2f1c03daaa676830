"""Model bundles, and the checked .npz format they share with checkpoints.

A bundle (model.npz) is everything needed to use a model on raw images:
weights, the fitted preprocessing, class names, input shape, the training
config and a format version, plus a SHA-256 checksum of all of its arrays.
It holds only plain arrays and one JSON string and is read with
allow_pickle=False: loading a model never runs code.

Every file is written atomically (see files.py), so a crash never leaves a
half-written file that looks complete.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twolayer.data.preprocess import Preprocessor
from twolayer.errors import BundleError, TwolayerError
from twolayer.files import atomic_write_npz
from twolayer.layers import softmax
from twolayer.model import PARAM_NAMES, TwoLayerNet

FORMAT = "twolayer-bundle"
FORMAT_VERSION = 1
MODEL_FILE = "model.npz"


@dataclass
class Bundle:
    net: TwoLayerNet
    preprocessor: Preprocessor
    class_names: list[str]
    image_shape: tuple[int, ...]  # (H, W, C) of the raw images
    config: dict[str, Any]

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) of raw images (N, H, W, C), as predict computes them."""
        return softmax(self.net.scores(self.preprocessor.transform(images)))


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over each array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.reshape(-1).view(np.uint8))  # the array's bytes, read in place (no copy)
    return digest.hexdigest()


def save_bundle(path: str | Path, bundle: Bundle) -> None:
    arrays = {f"param.{k}": np.asarray(bundle.net.params[k]) for k in PARAM_NAMES}
    arrays.update({f"pre.{k}": v for k, v in bundle.preprocessor.to_arrays().items()})
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "class_names": list(bundle.class_names),
        "image_shape": list(bundle.image_shape),
        "preprocess": bundle.preprocessor.kind,
        "config": bundle.config,
        "checksum": checksum(arrays),
    }
    atomic_write_npz(path, {"meta": np.array(json.dumps(meta)), **arrays})


def resolve_model_path(path: str | Path) -> Path:
    """A run folder or its model.npz -> the model.npz path."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise BundleError(f"no model at {path}: give a run folder or its {MODEL_FILE}")
    return path


def read_npz(path: str | Path, fmt: str | tuple[str, ...], what: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(metadata, arrays) of a file this package wrote, its tag (fmt, or one
    of several) and checksum verified; BundleError for anything else. Never
    unpickles."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise BundleError(f"cannot read {path}: {e.strerror or e}") from None
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        raise BundleError(f"{path} is not a twolayer {what} (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as e:  # zip, npy-header and decompression errors of every kind
        raise BundleError(f"{path} is not a twolayer {what} ({type(e).__name__}: {e})") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
        if meta.get("format") not in ((fmt,) if isinstance(fmt, str) else fmt):
            raise ValueError("wrong format tag")
    except (KeyError, ValueError, TypeError, AttributeError):
        raise BundleError(f"{path} is not a twolayer {what} (no valid metadata)") from None
    if checksum(arrays) != meta.get("checksum"):
        raise BundleError(f"{path} is damaged or was altered: its arrays do not match their checksum")
    return meta, arrays


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle; BundleError for anything that is not one."""
    path = resolve_model_path(path)
    meta, arrays = read_npz(path, FORMAT, "model bundle")
    if meta.get("version") != FORMAT_VERSION:
        raise BundleError(
            f"{path} has bundle format version {meta.get('version')!r}; this twolayer reads version "
            f"{FORMAT_VERSION}"
        )
    try:
        params = {k: arrays[f"param.{k}"] for k in PARAM_NAMES}
        pre = {k[len("pre.") :]: v for k, v in arrays.items() if k.startswith("pre.")}
        net = TwoLayerNet.from_params(params)
        preprocessor = Preprocessor.from_arrays(meta["preprocess"], pre)
        bundle = Bundle(net, preprocessor, list(meta["class_names"]), tuple(meta["image_shape"]), meta["config"])
        check_consistent(bundle)
        return bundle
    except (KeyError, ValueError, TypeError, TwolayerError) as e:
        raise BundleError(f"{path} is an inconsistent model bundle ({e})") from None


def check_consistent(bundle: Bundle) -> None:
    """ValueError unless the parts of a bundle fit each other: the image
    shape, the preprocessing and the weights agree on the input size, there
    is a class name per output, and the weights are finite."""
    d, _, c = bundle.net.sizes
    pixels = int(np.prod(bundle.image_shape))
    if pixels != d or bundle.preprocessor.shift.shape != (d,):
        raise ValueError(f"images of shape {bundle.image_shape}, preprocessing of "
                         f"{bundle.preprocessor.shift.shape[0]} values and weights of {d} inputs")
    if len(bundle.class_names) != c:
        raise ValueError(f"{len(bundle.class_names)} class names for {c} outputs")
    if not all(np.isfinite(p).all() for p in bundle.net.params.values()):
        raise ValueError("weights that are not finite")
