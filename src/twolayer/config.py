"""One typed config for a training run, with a reason for each default.

The same object is parsed from the command line, validated before any work
starts, saved as config.json in the run folder and inside the model bundle.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from twolayer.backend import device_module
from twolayer.errors import ConfigError
from twolayer.optim import OPTIMIZERS
from twolayer.schedules import SCHEDULES

DTYPES = ("float32", "float64")


@dataclass
class TrainConfig:
    dataset: str = "digits"  # built into scikit-learn: trains offline, in seconds
    data_dir: str | None = None  # where dataset files live (None: the user's cache directory)
    hidden_size: int = 100  # wide enough for digits; the classic CIFAR-10 recipe uses 50
    lr: float = 1e-2  # converges on digits in a few epochs without diverging
    reg: float = 0.01  # light L2: digits has only ~1,400 training images
    batch_size: int = 50  # 28 updates per digits epoch; the classic CIFAR-10 recipe uses 200
    lr_decay: float = 0.95  # the classic per-epoch decay
    iters: int | None = None  # iterations to run; overrides epochs when set
    epochs: int = 50  # 50 epochs of digits take about a second
    std: float = 1e-4  # the classic initial weight scale
    preprocess: str = "mean"  # subtract the training mean image, the classic choice
    val_size: float = 0.1  # carved from train when the dataset has no validation split
    test_size: float = 0.1  # carved from train when the dataset has no test split
    split_seed: int = 0  # fixes the carve, so all runs share validation and test images
    seed: int = 0  # fixes initialization and batch order: one seed, one run
    schedule: str = "step"  # per-epoch decay by lr_decay, the classic schedule
    warmup: float = 0.0  # fraction of the run spent warming up (cosine; onecycle uses 0.3 when 0)
    optimizer: str = "sgd"  # plain minibatch SGD, the classic update
    momentum: float = 0.9  # for momentum and nesterov: the usual value
    weight_decay: float = 0.0  # decoupled decay, W *= 1 - lr * wd; reg is the classic L2 term
    dropout_input: float = 0.0  # inverted dropout on the input pixels (training only)
    dropout_hidden: float = 0.0  # inverted dropout on the hidden units (training only)
    label_smoothing: float = 0.0  # target (1 - e) on the label, e / C on every class
    flip: bool = False  # random horizontal flips (image data)
    crop: int = 0  # random crops of the image reflect-padded by this many pixels (0: none)
    zca_epsilon: float = 1e-2  # ZCA whitening's regularizer, in (pixel / 255)^2 units
    dtype: str = "float32"  # twice the speed of float64 and plenty of precision
    device: str = "cpu"  # NumPy on the CPU; "cuda" runs the same code on CuPy arrays on a GPU
    recipe: str | None = None  # the named recipe the run started from, for the record

    def validate(self) -> TrainConfig:
        """Raise ConfigError naming the first bad value; return self."""
        positive_ints = ("hidden_size", "batch_size", "epochs")
        for name in positive_ints:
            _require(name, getattr(self, name), lambda v: _is_int(v) and v >= 1, "a positive integer")
        if self.iters is not None:
            _require("iters", self.iters, lambda v: _is_int(v) and v >= 1, "a positive integer")
        _require("lr", self.lr, lambda v: v > 0, "> 0")
        _require("reg", self.reg, lambda v: v >= 0, ">= 0")
        _require("lr_decay", self.lr_decay, lambda v: 0 < v <= 1, "in (0, 1]")
        _require("std", self.std, lambda v: v > 0, "> 0")
        _require("momentum", self.momentum, lambda v: 0 <= v < 1, "in [0, 1)")
        _require("weight_decay", self.weight_decay, lambda v: v >= 0, ">= 0")
        for name in ("dropout_input", "dropout_hidden", "label_smoothing", "warmup"):
            _require(name, getattr(self, name), lambda v: 0 <= v < 1, "in [0, 1)")
        _require("crop", self.crop, lambda v: _is_int(v) and v >= 0, "a whole number of pixels >= 0")
        _require("zca_epsilon", self.zca_epsilon, lambda v: v > 0, "> 0")
        if not isinstance(self.flip, bool):
            raise ConfigError(f"flip must be true or false, got {self.flip!r}")
        for name in ("val_size", "test_size"):
            _require(name, getattr(self, name), lambda v: v >= 0 and (v < 1 or _is_int(v)),
                     "a count >= 0 or a fraction in (0, 1)")
        _choose("schedule", self.schedule, SCHEDULES)
        _choose("optimizer", self.optimizer, OPTIMIZERS)
        _choose("dtype", self.dtype, DTYPES)
        device_module(self.device)  # unknown device, no CuPy or no GPU: one line, before any work
        from twolayer.data.preprocess import KINDS

        _choose("preprocess", self.preprocess, KINDS)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Known keys only, so a config from a newer version still loads."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and int(v) == v


def _require(name: str, value: Any, ok, expected: str) -> None:
    good = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and ok(value)
    if not good:
        raise ConfigError(f"{name.replace('_', '-')} must be {expected}, got {value!r}")


def _choose(name: str, value: str, table) -> None:
    if value not in table:
        raise ConfigError(f"unknown {name} {value!r}; choose from {', '.join(table)}")
