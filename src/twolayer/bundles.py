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
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twolayer import runs, schema
from twolayer.arrays import as_array, pixels
from twolayer.config import options
from twolayer.data import names_fault
from twolayer.data.preprocess import KINDS, Preprocessor
from twolayer.errors import BundleError, ConfigError
from twolayer.files import atomic_write_npz, given_path, load_npz, not_a_file
from twolayer.layers import softmax
from twolayer.model import PARAM_NAMES, TwoLayerNet, chunk_rows

FORMAT = "twolayer-bundle"
FORMAT_VERSION = 1
MODEL_FILE = "model.npz"
CHECKPOINT_FILE = "checkpoint.npz"  # a run has one until it finishes (checkpoint.py)


@dataclass
class Bundle:
    net: TwoLayerNet
    preprocessor: Preprocessor
    class_names: list[str]
    image_shape: tuple[int, ...]  # (H, W, C) of the raw images
    config: dict[str, Any]
    data_fingerprint: str | None = None  # the training data's (data/fingerprint.py); None in older bundles
    data_decoding: int | None = None  # how an image folder was decoded then (fingerprint.DECODING); None: before 2

    def __repr__(self) -> str:
        """One line, as a TrainResult's: a notebook cell ending in `bundle` printed two objects' addresses
        and the whole config (1,300 characters)."""
        h, w, c = self.image_shape
        names = ", ".join(map(repr, self.class_names[:4])) + (", ..." if len(self.class_names) > 4 else "")
        return (f"Bundle({'-'.join(map(str, self.net.sizes))} net, {w}x{h} {'gray' if c == 1 else 'color'} images, "
                f"{self.preprocessor.kind}, {len(self.class_names)} classes: {names}; "
                f"dataset {self.config.get('dataset')!r})")

    def probabilities(self, images: Any) -> np.ndarray:
        """Class probabilities (N, C) of raw images (N, H, W, C) of pixel values
        0..255 (uint8, or numbers in that range), as predict computes them.
        ConfigError (a ValueError) for any other shape or scale: flat rows are
        refused, since CIFAR-10's batch rows are channel-first and would be
        scored silently wrong, and so are images scaled to [0, 1]."""
        return np.concatenate([softmax(scores) for scores in self._scores(images)])

    def labels(self, images: Any) -> np.ndarray:
        """Predicted class indices (N,) of raw images, as `probabilities`
        takes them: the argmax of the scores (as TwoLayerNet.predict's)."""
        return np.concatenate([scores.argmax(axis=1) for scores in self._scores(images)])

    def _scores(self, images: Any) -> Iterator[np.ndarray]:
        """The scores of checked images, a chunk at a time (a large batch never
        needs its (N, D) rows or (N, H) activations at once). BundleError where
        they are not finite: a diverged run's weights (--std 1e30) gave NaN
        probabilities, and labels of class 0, the argmax of NaN."""
        images = self._checked(images)
        step = chunk_rows(self.net.sizes[1])
        for start in range(0, max(len(images), 1), step):
            with np.errstate(over="ignore", invalid="ignore"):
                scores = self.net.scores(self.preprocessor.transform(images[start : start + step]))
            if not np.isfinite(scores).all():
                raise BundleError("the model's scores are not finite numbers (its weights overflow the "
                                  f"{self.net.params['W1'].dtype} arithmetic): it is from a run that diverged; train "
                                  "it again with a lower --std, --lr or --reg (its report says where it stopped)")
            yield scores

    def _checked(self, images: Any) -> np.ndarray:
        """Images (N, H, W, C) of the model's shape, of pixel values 0..255; ConfigError otherwise."""
        images = as_array(images, "images", READ_HINT, "images of several sizes? " + READ_HINT)
        shape = tuple(self.image_shape)
        if images.ndim != 4 or tuple(images.shape[1:]) != shape:
            if images.dtype.kind in "USO":  # a list of paths
                what = "text" if images.dtype.kind in "US" else "objects"
                raise ConfigError(f"images must be arrays of pixel values, got {what} of shape {images.shape}; "
                                  f"{READ_HINT}")
            raise ConfigError(f"images must be (N, {', '.join(map(str, shape))}) (N, H, W, C), the model's image "
                              f"shape, got {images.shape}; {_shape_hint(images.shape, shape)}")
        return pixels(images)


READ_HINT = ("twolayer.data.images.read_image(path, bundle.image_shape) reads an image file at the model's size "
             "and color, as twolayer.workflow.predict(model, paths) does")


def _shape_hint(given: tuple[int, ...], shape: tuple[int, ...]) -> str:
    """What to do with images of shape `given` for a model of image `shape`."""
    if given == shape:
        return "one image: images[None]"
    if shape[2] == 1 and given == shape[:2]:
        return "one gray image without its channel axis: image[None, ..., None]"
    # before the gray test: (N, 1, 28, 28) ends in the gray model's (28, 28), and images[..., None] made it 5-D
    if len(given) == 4 and given[1:] == (shape[2], *shape[:2]):  # PyTorch's layout, or a batch's rows reshaped
        return "these are channel-first (N, C, H, W): images.transpose(0, 2, 3, 1)"
    if shape[2] == 1 and given[-2:] == shape[:2]:
        return "gray images without their channel axis: images[..., None]"
    if shape[2] == 3 and len(given) == 3 and given[1:] == shape[:2]:
        return "gray images for a color model: np.repeat(images[..., None], 3, axis=3), as predict gives it a gray file"
    if shape == (32, 32, 3) and 3072 in (given[-1:] + (np.prod(given[-3:]),)):  # not a batch's rows (N, 3072)
        return "CIFAR-10's batch rows (N, 3072) are channel-first: rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)"
    return READ_HINT


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over each array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        # the array's bytes, read in place (no copy); an object array (never in a file this
        # package reads: np.load refuses them) has only its references' bytes
        digest.update(a.reshape(-1).view(np.uint8) if a.dtype.kind != "O" else a.tobytes())
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
        "data_fingerprint": bundle.data_fingerprint,
        "data_decoding": bundle.data_decoding,
        "checksum": checksum(arrays),
    }
    atomic_write_npz(path, {"meta": np.array(json.dumps(meta)), **arrays})


def resolve_model_path(path: str | Path) -> Path:
    """A run folder or its model.npz -> the model.npz path. A run that has
    a checkpoint but no model has not finished: said, with how to finish it."""
    path = given_path(path, "the model's path", f"give a run folder or its {MODEL_FILE}", BundleError)
    if path.is_dir():
        path = path / MODEL_FILE
    run = path.parent
    runs.recover(run)  # a --force run killed before it started: the run it replaced is back
    odd = misplaced_file(run) if path.name in (MODEL_FILE, CHECKPOINT_FILE) else None
    if odd:
        raise BundleError(odd)
    if path.name == MODEL_FILE and not path.is_file() and run.is_dir() and runs.kind_of(run) == "search":
        raise BundleError(_search_given(run))
    if path.name in (MODEL_FILE, CHECKPOINT_FILE) and not (run / MODEL_FILE).is_file() and runs.in_use(run):
        raise BundleError(f"no model in {run} yet: {runs.IN_USE}; wait for it to finish")
    if path.name in (MODEL_FILE, CHECKPOINT_FILE) and (run / CHECKPOINT_FILE).is_file():
        if (run / MODEL_FILE).is_file():  # a finished run keeps its checkpoint too (to be continued)
            if path.name == CHECKPOINT_FILE:
                raise BundleError(f"{path} is the run's training state, not its model: give {run} or its "
                                  f"{MODEL_FILE}")
        else:
            raise BundleError(f"no model in {run}: the run has not finished (it has a {CHECKPOINT_FILE}, no "
                              f"{MODEL_FILE}); finish it with: {runs.resume_command(run)}")
    if not path.is_file():
        begun = runs.not_begun(run, "it holds no model") if path.name == MODEL_FILE else None  # a run that never began
        raise BundleError(begun or f"no model at {path}: give a run folder or its {MODEL_FILE}")
    return path


def misplaced_file(run: Path) -> str | None:
    """What to say of the first of a run's model.npz and checkpoint.npz that
    stands where the run keeps a file but is none (files.not_a_file: a
    folder, a link to nothing), which was read as a missing file (`the run
    has not finished`); None where neither is."""
    for name in (MODEL_FILE, CHECKPOINT_FILE):
        odd = not_a_file(run / name)
        if odd:
            return f"{run / name} is {odd}, not the run's {name}: put the file back, or train again"
    return None


def _search_given(folder: Path) -> str:
    """What to give instead of a tuning folder where a model is asked for
    (it said `no model at SEARCH/model.npz: give a run folder`)."""
    best, trials, search = folder / "best", folder / "trials", f"{folder} is a tuning folder (a search), not a run"
    if (best / MODEL_FILE).is_file():
        return f"{search}: give its best trial's run, {best} (or a trial's, in {trials})"
    if runs.in_use(folder):
        return f"{search}, and none of its trials has finished yet: give a trial's run folder in {trials} once one has"
    # stopped or ended with no trial completed (every one diverged, say): it was told to wait for one
    return (f"{search}, and none of its trials completed, so it holds no model ({folder / 'trials.csv'} gives "
            "each one's state)")


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
        arrays = load_npz(path)
    except MemoryError as e:  # a real model this large, or a few MB of zeros declaring gigabytes
        raise BundleError(f"{path} {e}") from None
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:  # it begins as an archive: cut short, or damaged
        raise BundleError(f"{path} is damaged or cut short (a copy or download stopped?): it is not a whole "
                          f"twolayer {what} ({type(e).__name__}: {e})") from None
    except Exception as e:  # npy-header errors of every kind, an object array refused
        raise BundleError(f"{path} is not a twolayer {what} ({type(e).__name__}: {e})") from None
    tags = (fmt,) if isinstance(fmt, str) else fmt
    try:
        meta = json.loads(str(arrays.pop("meta")))
        tag = meta.get("format")
    except (KeyError, ValueError, TypeError, AttributeError):
        raise BundleError(f"{path} is not a twolayer {what} (no valid metadata)") from None
    if tag not in tags:  # a later checkpoint format (twolayer-checkpoint-3) said `no valid metadata`
        newer = isinstance(tag, str) and tag.rstrip("0123456789-") == tags[-1].rstrip("0123456789-")
        raise BundleError(f"{path} is a twolayer {what} of format {schema.shown(tag)}, which this twolayer does not "
                          f"read (it reads {', '.join(tags)}): it was written by another twolayer version" if newer
                          else f"{path} is not a twolayer {what} (no valid metadata)")
    if checksum(arrays) != meta.get("checksum"):
        raise BundleError(f"{path} is damaged or was altered: its arrays do not match their checksum")
    return meta, arrays


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle; BundleError for anything that is not one,
    or that holds what no model could use (see check_bundle)."""
    path = resolve_model_path(path)
    try:
        meta, arrays = read_npz(path, FORMAT, "model bundle")
    except BundleError:
        if path.name == MODEL_FILE and not path.is_file() and runs.in_use(path.parent):  # --force took the run
            raise BundleError(f"no model in {path.parent} now: {runs.IN_USE}, which moved the model aside as it "
                              "was read; wait for it to finish") from None
        raise
    if meta.get("version") != FORMAT_VERSION:
        raise BundleError(
            f"{path} has bundle format version {schema.shown(meta.get('version'))}; this twolayer reads version "
            f"{FORMAT_VERSION}"
        )
    try:
        check_bundle(meta, arrays)
    except schema.Invalid as e:
        raise BundleError(f"{path} is an inconsistent model bundle: {e}") from None
    params = {k: arrays[f"param.{k}"] for k in PARAM_NAMES}
    pre = {k[len("pre.") :]: v for k, v in arrays.items() if k.startswith("pre.")}
    return Bundle(TwoLayerNet.from_params(params), Preprocessor.from_arrays(meta["preprocess"], pre),
                  list(meta["class_names"]), tuple(meta["image_shape"]), meta["config"], meta.get("data_fingerprint"),
                  meta.get("data_decoding"))


def check_options(config: dict[str, Any]) -> None:
    """schema.Invalid unless each option a file's config holds is a value the
    option table allows (other keys: options of a newer version, ignored)."""
    table = options()
    for key, value in config.items():
        if key in table:
            try:
                table[key].check(value)
            except (ValueError, TypeError) as e:
                raise schema.Invalid(f"its config: {e}") from None


def check_bundle(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """schema.Invalid unless the bundle's parts make one usable model: the
    weights, the preprocessing, the class names and the image shape agree,
    every array is finite float32 or float64, and the config's values are
    ones the option table allows."""
    kind = meta.get("preprocess")
    schema.require(kind in KINDS, f"preprocessing {schema.shown(kind)} is not one of {', '.join(KINDS)}")
    names = meta.get("class_names")
    schema.require(isinstance(names, list) and names and all(isinstance(n, str) for n in names),
                   "class_names is not a list of names")
    fault = names_fault(names)
    schema.require(not fault, f"class_names: {fault}")
    shape = meta.get("image_shape")
    schema.require(isinstance(shape, list) and len(shape) == 3
                   and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)
                   and shape[2] in (1, 3), f"image_shape {schema.shown(shape)} is not [height, width, 1 or 3 channels]")
    fingerprint = meta.get("data_fingerprint")
    schema.require(fingerprint is None or isinstance(fingerprint, str), "data_fingerprint is not text")
    schema.meta_int(meta, "data_decoding", minimum=1, optional=True)
    config = meta.get("config")
    schema.require(isinstance(config, dict), f"its config is {type(config).__name__}, not a mapping")
    check_options(config)

    pre = ["pre.shift", "pre.scale"] + (["pre.matrix"] if kind == "zca" else [])
    schema.exact_keys(arrays, [f"param.{k}" for k in PARAM_NAMES] + pre)
    d, _, c = schema.params(arrays)
    schema.require(c == len(names), f"param.W2 has {c} columns but there are {len(names)} class names")
    h, w, channels = shape
    schema.require(h * w * channels == d, f"image_shape {h}x{w}x{channels} has {h * w * channels} values but "
                                          f"param.W1 has {d} rows")
    for key in pre:
        schema.float_array(arrays, key, (d, d) if key == "pre.matrix" else (d,))
    schema.require((arrays["pre.scale"] > 0).all(), "pre.scale holds a value <= 0 (it is divided by)")
