"""Every training option, declared once: the table the rest is derived from.

Each field of TrainConfig is declared with `option(...)`: its type (the
annotation), default, group, allowed values, help text and the reason for
the default. From that one declaration come

- the command line's options for `train` and `tune` (cli.py: help, metavar,
  choices and the default shown),
- validation, with one-line errors that spell the option the way the user
  wrote it (`--lr-decay` on the command line, `lr_decay` in Python and TOML),
- tuning's search space: which options can vary, their types and ranges
  (space.py),
- config.json and the report's config table,
- what `trainer.fit` reads: it takes a validated TrainConfig.

Adding a hyperparameter is one `option(...)` line here (and the code that
uses it). The allowed values are small rule objects, in the manner of
scikit-learn's `_parameter_constraints`; the reasons are nanoGPT's habit of
one line of why per default.
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from functools import cache
from typing import Any

import numpy as np

from twolayer.backend import DEVICES, device_module
from twolayer.errors import ConfigError, UsageError
from twolayer.files import web_address
from twolayer.optim import OPTIMIZERS
from twolayer.recipes import RECIPES
from twolayer.schedules import SCHEDULES

DTYPES = ("float32", "float64")
GROUPS = {"recipe": "recipe", "data": "data", "net": "network and training", "reg": "regularization and augmentation"}


class OptionError(UsageError):
    """A bad option value. Its message names the option; `spelled` gives
    the message with the option written as the user wrote it."""

    def __init__(self, name: str, problem: str, template: str = "{option} {problem}", as_flag: bool = False) -> None:
        self.name, self.problem, self.template = name, problem, template
        super().__init__(template.format(option=flag(name) if as_flag else name, problem=problem))

    def __reduce__(self):  # pickled by its parts (a tune worker's error goes to the parent so)
        return OptionError, (self.name, self.problem, self.template)

    def renamed(self, name: str) -> OptionError:
        """The same error about an option that this caller names `name`."""
        return OptionError(name, self.problem, self.template)

    def as_flag(self) -> OptionError:
        """The same error, the option written as its command-line flag."""
        return OptionError(self.name, self.problem, self.template, as_flag=True)


def flag(name: str) -> str:
    """lr_decay -> --lr-decay."""
    return "--" + name.replace("_", "-")


# -- rules: what values an option allows ------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A number between low and high; None means unbounded on that side."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"  # which ends are allowed: both, left, right or neither
    unit: str = ""  # what a whole-number value counts, for the message ("pixels")

    def allows(self, value: Any) -> bool:
        low_ok = self.low is None or value > self.low or (value == self.low and self.closed in ("both", "left"))
        high_ok = self.high is None or value < self.high or (value == self.high and self.closed in ("both", "right"))
        return low_ok and high_ok

    def describe(self, kind: type) -> str:
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        if kind is int and self.low == 1 and left == "[" and right == "]" and not self.unit:
            return "a positive integer" + ("" if self.high is None else f" at most {self.high:,}")
        if self.high is not None:
            return f"in {left}{self.low:g}, {self.high:g}{right}"
        bound = f"{'>=' if left == '[' else '>'} {self.low:g}"
        return f"a whole number{' of ' + self.unit if self.unit else ''} {bound}" if kind is int else bound


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of names; `names` may be a function, so that a
    table that lives in a module importing this one can be named lazily."""

    names: Sequence[str] | Callable[[], Sequence[str]]

    def choices(self) -> tuple[str, ...]:
        return tuple(self.names() if callable(self.names) else self.names)

    def allows(self, value: Any) -> bool:
        return value in self.choices()

    def describe(self, kind: type) -> str:
        return "one of " + ", ".join(self.choices())


@dataclass(frozen=True)
class SplitSize:
    """A split's size: a count of images (>= 1, whole) or a fraction in [0, 1)."""

    def allows(self, value: Any) -> bool:
        return value >= 0 and (value < 1 or float(value).is_integer())

    def describe(self, kind: type) -> str:
        return "a count >= 0 or a fraction in (0, 1)"

    @staticmethod
    def normalize(value: float) -> float | int:
        return int(value) if value >= 1 and float(value).is_integer() else value


Rule = Interval | OneOf | SplitSize


@dataclass(frozen=True)
class Option:
    """One row of the table. `kind` is bool, int, float or str; `nullable`
    options also take None (meaning "not set")."""

    name: str
    kind: type
    nullable: bool
    default: Any
    group: str
    help: str
    reason: str
    rule: Rule | None = None
    metavar: str | None = None
    searchable: bool = True  # tune may vary it
    on_tune: bool = True  # tune's command line takes it (fixed, a list or a range)
    exclusive: str | None = None  # options with the same key exclude each other on train's command line

    @property
    def flag(self) -> str:
        return flag(self.name)

    def choices(self) -> tuple[str, ...] | None:
        return self.rule.choices() if isinstance(self.rule, OneOf) else None

    def convert(self, value: Any) -> Any:
        """A value from text (the command line, a list item) or TOML, as this
        option's type; OptionError if it is not one."""
        option = self.name
        if self.nullable and (value is None or str(value).lower() == "none"):
            return None
        if self.kind is str:
            if not isinstance(value, str):  # a number, a list, a table (TOML): never its repr
                raise OptionError(option, f"expects text, got {value!r}", "{option}: {problem}")
            if not value:  # an unset shell variable (--data-dir "$DIR"): "" would be the current folder
                raise OptionError(option, "is empty (an unset shell variable?); give a value, or leave it out",
                                  "{option}: {problem}")
            return value
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text in ("true", "yes", "1", "false", "no", "0"):
                return text in ("true", "yes", "1")
            raise OptionError(option, f"expected true or false, got {value!r}", "{option}: {problem}")
        expected = "a count or a fraction" if isinstance(self.rule, SplitSize) else "a number"
        if isinstance(value, str):  # the minus sign U+2212 of a typeset page (1e−3): float() reads other digits
            value = value.replace("\u2212", "-")
        if self.kind is int and not isinstance(value, (bool, float)):
            try:  # exactly: through a float, seed 2**64 - 1 became 2**64 and 2**53 + 1 became 2**53
                return int(value)
            except (TypeError, ValueError):
                pass  # "1e3", "3.0": whole numbers written as floats, read below
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise OptionError(option, f"expected {expected}, got {value!r}", "{option}: {problem}") from None
        if isinstance(value, bool):
            raise OptionError(option, f"expected {expected}, got {value!r}", "{option}: {problem}")
        if self.kind is int:
            if not (math.isfinite(number) and number.is_integer()):
                raise OptionError(option, f"expected a whole number, got {value!r}", "{option}: {problem}")
            return int(number)
        if isinstance(self.rule, SplitSize):
            return SplitSize.normalize(number)
        return number

    def check(self, value: Any) -> None:
        """OptionError (in Python spelling) unless value is allowed."""
        if value is None and self.nullable:
            return
        if self.kind is bool:
            ok = isinstance(value, (bool, np.bool_))  # NumPy's too: a grid search's np.array([True, False])
            expected = "true or false"
        elif self.kind is str:  # a NUL (a config file's "\\u0000") ends a path: every file call refuses it
            ok = isinstance(value, str) and "\0" not in value
            expected = "text without a NUL character" if isinstance(value, str) else "text"  # optimizer=5: no NUL
            if self.name == "dataset" and isinstance(value, os.PathLike):  # which dataset a path is: it can't tell
                expected = f"a dataset spec, text (a folder of images is 'folder:{os.fspath(value)}')"
        else:
            ok = is_number(value, self.kind)
            expected = self.rule.describe(self.kind) if self.rule else "a number"
            wrong_type = isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            if wrong_type and self.kind is float and isinstance(self.rule, Interval):  # "must be > 0, got '0.1'"
                expected = "a number " + expected
        if ok and self.rule is not None and not self.rule.allows(value):
            if isinstance(self.rule, OneOf):
                raise OptionError(self.name, f"{value!r}; choose from {', '.join(self.rule.choices())}",
                                  "unknown {option} {problem}")
            ok, expected = False, self.rule.describe(self.kind)
        if not ok:
            raise OptionError(self.name, f"must be {expected}, got {value!r}")


def option(default: Any, group: str, help: str, reason: str, rule: Rule | None = None, *,
           metavar: str | None = None, searchable: bool = True, on_tune: bool = True,
           exclusive: str | None = None) -> Any:
    """Declare a TrainConfig field as an option (see Option)."""
    spec = {"default": default, "group": group, "help": help, "reason": reason, "rule": rule, "metavar": metavar,
            "searchable": searchable, "on_tune": on_tune, "exclusive": exclusive}
    return field(default=default, metadata={"option": spec})


IMAGE_SIDE = 4096  # pixels a side --image-size may ask for (load_dataset's image_size too: data/folder.py)
# The most iterations or epochs a run may be given: 30 years at a millisecond an iteration. Without a
# bound, --iters 1e400 --schedule cosine started, then its schedule's float arithmetic overflowed.
LONGEST_RUN = 10**12
POSITIVE = Interval(1, None)
NONNEGATIVE = Interval(0, None)
ABOVE_ZERO = Interval(0, None, closed="neither")
FRACTION = Interval(0, 1, closed="left")  # [0, 1)
RUN_LENGTH = Interval(1, LONGEST_RUN)


def _preprocess_kinds() -> tuple[str, ...]:
    from twolayer.data.preprocess import KINDS  # data imports this package's modules

    return tuple(KINDS)


def _spec_help() -> str:
    from twolayer.data import SPEC_HELP

    return SPEC_HELP


@dataclass(init=False)
class TrainConfig:
    """Everything that defines a training run (see the module docstring).
    TrainConfig(recipe="classic", lr=5e-4) is the classic recipe with another
    rate, as `--recipe classic --lr 5e-4` is on the command line."""

    # -- where the run started ----------------------------------------------------------------
    recipe: str | None = option(None, "recipe", "start from a named recipe (options given here win): classic (the "
                                "course report's), cpu (one hidden layer trained well on 2 cores), gpu (the same "
                                "at full width, for a GPU), sklearn (the scikit-learn estimator's defaults: Adam, for "
                                "features of any scale) (default: none, the options' own defaults)",
                                "none: the options as given",
                                OneOf(lambda: tuple(RECIPES)), searchable=False)

    # -- data ------------------------------------------------------------------------------
    dataset: str = option("digits", "data", "dataset spec: {spec_help}",
                          "built into scikit-learn: trains offline, in seconds", metavar="SPEC")
    data_dir: str | None = option(None, "data", "where dataset files are kept (default: env TWOLAYER_DATA, "
                                  "else the user cache)", "the user's cache directory", metavar="DIR",
                                  searchable=False)
    image_size: int | None = option(None, "data", "resize the images of a folder:PATH dataset to N x N pixels "
                                    "(default: kept when they share one size of at most 128 x 128, else 32 x 32)",
                                    "a folder's own pictures (photos) differ in size and are large; a two-layer "
                                    "network learns from small ones, as CIFAR-10's 32 x 32", Interval(1, IMAGE_SIDE),
                                    metavar="N")
    val_size: float = option(0.1, "data", "validation images carved from train: a count or a fraction",
                             "carved from train when the dataset has no validation split", SplitSize(),
                             metavar="N")
    test_size: float = option(0.1, "data", "test images carved from train when the dataset has no test split",
                              "carved from train when the dataset has no test split", SplitSize(), metavar="N")
    split_seed: int = option(0, "data", "seed of the validation/test carve (kept apart from --seed)",
                             "fixes the carve, so all runs share validation and test images", NONNEGATIVE,
                             metavar="N")
    preprocess: str = option("standardize", "data", "preprocessing fitted on the training split",
                             "unit-scale inputs whatever the pixels' range and spread (digits, garments, photos), so "
                             "one learning rate suits every dataset; the classic recipe uses mean",
                             OneOf(_preprocess_kinds))
    zca_epsilon: float = option(1e-2, "data", "ZCA whitening's regularizer, in (pixel / 255)^2 units",
                                "strong enough to keep pixel noise from being amplified (below 1e-12 it only "
                                "amplifies float64's round-off; 1e-300 overflowed)", Interval(1e-12, None), metavar="X")

    # -- network and training ----------------------------------------------------------------
    hidden_size: int = option(100, "net", "hidden units",
                              "enough for 0.96 on digits and 0.5 on CIFAR-10 within 2 minutes; the classic "
                              "recipe uses 50", POSITIVE, metavar="H")
    std: float | None = option(None, "net", "initial weight scale (default: sqrt(2 / inputs), He's scale for ReLU)",
                               "keeps the hidden layer at the inputs' scale for 64 or 3,072 inputs alike; the "
                               "classic recipe uses 1e-4", ABOVE_ZERO, metavar="X")
    lr: float = option(1e-2, "net", "learning rate",
                       "with standardized inputs and momentum, fast and stable on every built-in dataset",
                       ABOVE_ZERO, metavar="X")
    batch_size: int = option(100, "net", "minibatch size",
                             "cheap steps that still use the BLAS well; the classic recipe uses 200", POSITIVE,
                             metavar="N")
    schedule: str = option("step", "net", "learning-rate schedule",
                           "per-epoch decay by lr_decay, the classic schedule", OneOf(tuple(SCHEDULES)))
    lr_decay: float = option(0.95, "net", "learning-rate factor per epoch (schedule 'step')",
                             "the classic per-epoch decay", Interval(0, 1, closed="right"), metavar="X")
    warmup: float = option(0.0, "net", "fraction of the run spent warming up (cosine; onecycle uses 0.3 when 0)",
                           "no warm-up for the classic schedule", FRACTION, metavar="X")
    optimizer: str = option("nesterov", "net", "update rule",
                            "momentum reaches a good model in fewer epochs than plain SGD (+20 points on digits "
                            "at 20 epochs); the classic recipe uses sgd", OneOf(tuple(OPTIMIZERS)))
    momentum: float = option(0.9, "net", "momentum (optimizers momentum and nesterov)", "the usual value",
                             FRACTION, metavar="X")
    iters: int | None = option(None, "net", "iterations (minibatches), instead of --epochs (default: none, the "
                               "length is --epochs)",
                               "unset: the run's length is given in epochs", RUN_LENGTH, metavar="N",
                               exclusive="length")
    epochs: int = option(20, "net", "epochs, when --iters is not given",
                         "a first run on CIFAR-10 or Fashion-MNIST within 2 minutes on 2 cores", RUN_LENGTH,
                         metavar="N", exclusive="length")
    patience: int | None = option(None, "net", "stop after this many epochs without a better validation accuracy "
                                  "(default: none, the whole length is trained)",
                                  "unset: train the whole length, then keep the best epoch", POSITIVE, metavar="N")
    seed: int = option(0, "net", "seed for initialization, batch order, dropout and augmentation",
                       "fixes initialization and batch order: one seed, one run", NONNEGATIVE, metavar="N")
    dtype: str = option("float32", "net", "float type of the computation",
                        "twice the speed of float64 and plenty of precision", OneOf(DTYPES))
    device: str = option("cpu", "net", "where to compute: cpu (NumPy) or cuda (CuPy on an NVIDIA GPU)",
                         "NumPy on the CPU runs everywhere", OneOf(DEVICES))
    net: str | None = option(None, "net", "train a learner's own TwoLayerNet class instead of twolayer's: "
                             "FILE.py or FILE.py:CLASS, in the assignment's interface (this imports the file "
                             "and runs its code; check it first with twolayer check; default: twolayer's own)",
                             "none: twolayer's own network", metavar="FILE.py[:CLASS]", searchable=False)

    # -- regularization and augmentation ----------------------------------------------------
    reg: float = option(1e-3, "reg", "L2 strength: loss += reg * sum(W**2)",
                        "light L2: 20 epochs of a 100-unit net barely overfit", NONNEGATIVE, metavar="X")
    weight_decay: float = option(0.0, "reg", "decoupled weight decay: W *= 1 - lr * wd each step",
                                 "off: reg is the classic L2 term", NONNEGATIVE, metavar="X")
    dropout_input: float = option(0.0, "reg", "inverted dropout on the input pixels",
                                  "off: the classic network has no dropout", FRACTION, metavar="P")
    dropout_hidden: float = option(0.0, "reg", "inverted dropout on the hidden units",
                                   "off: the classic network has no dropout", FRACTION, metavar="P")
    label_smoothing: float = option(0.0, "reg", "label smoothing: target 1 - e on the label, e / C on each class",
                                    "off: the classic one-hot target", FRACTION, metavar="E")
    flip: bool = option(False, "reg", "random horizontal flips (image data)",
                        "off: not every dataset's images may be mirrored (digits, text)")
    crop: int = option(0, "reg", "random crops of the image reflect-padded by this many pixels",
                       "off: small images have few pixels to spare", Interval(0, None, unit="pixels"),
                       metavar="PIXELS")

    def __init__(self, **given: Any) -> None:
        """Options by name; a named recipe's values apply under the ones given
        (TrainConfig(recipe="classic") had the table's defaults under the
        recipe's name). An unknown recipe is left for validate() to name."""
        names = [f.name for f in fields(self)]
        unknown = [name for name in given if name not in names]
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}"
                            + did_you_mean(unknown[0], names))
        recipe = given.get("recipe")
        if isinstance(recipe, str) and recipe in RECIPES:
            given = layered(options(type(self)), RECIPES[recipe], given)
        for f in fields(self):
            setattr(self, f.name, given[f.name] if f.name in given else f.default)

    def validate(self) -> TrainConfig:
        """Raise OptionError naming the first bad value; return self."""
        for opt in options(type(self)).values():
            value = getattr(self, opt.name)
            if opt.name in ("data_dir", "net") and isinstance(value, os.PathLike):  # a pathlib.Path, as text
                value = os.fspath(value)
                setattr(self, opt.name, value)
            if opt.name == "dtype" and isinstance(value, (type, np.dtype)):  # np.float32, by its name
                value = np.dtype(value).name
                setattr(self, opt.name, value)
            if isinstance(value, np.generic):  # np.float32(0.01): a Python number, as JSON and config.json need
                value = value.item()
                setattr(self, opt.name, value)
            opt.check(value)
            if opt.kind is int and value is not None:  # 5.0 or np.int64(5): an int, as range() and shapes need
                setattr(self, opt.name, int(value))
            if opt.kind is bool and value is not None:  # np.True_: a bool, as JSON and the checkpoints need
                setattr(self, opt.name, bool(value))
        if self.std is not None:
            check_std(self.std, self.dtype)
        check_normal("lr", self.lr, self.dtype, "every update is 0, and the weights never change")
        for name in PATH_OPTIONS:  # --data-dir https://...: made /here/https:/..., "not found"
            value = getattr(self, name)
            path = _path_part(name, value)[1] if isinstance(value, str) else None
            fault = web_address(path) if path else None
            if fault:
                raise OptionError(name, fault.replace(f"({path})", f"({value})"))
        if self.patience is not None and self.val_size == 0:  # it never stopped a run: no epoch was compared
            raise OptionError("patience", f"{self.patience} stops a run on its validation accuracy, but the "
                              "validation size is 0: hold some out (a count or a fraction), or give no patience")
        from twolayer.data import check_spec  # data imports this package's modules

        try:
            check_spec(self.dataset)
        except UsageError as e:
            raise OptionError("dataset", str(e), "{problem}") from None
        if self.image_size is not None and not self.dataset.startswith("folder:"):
            raise OptionError("image_size", f"resizes the images of a folder: dataset; {self.dataset}'s images have "
                              "one size")
        if self.net:  # the assignment's interface: what it can't do is refused before any work
            from twolayer.learner import refuse_unsupported, unsupported_problem

            name = refuse_unsupported(self.to_dict())
            if name:
                raise OptionError(name, unsupported_problem(name))
        try:
            device_module(self.device)  # no CuPy or no GPU: one line, before any work
        except ConfigError as e:
            if self.recipe and RECIPES[self.recipe].get("device") == self.device:  # the recipe asked for it
                raise ConfigError(f"{e}; the {self.recipe} recipe trains on a GPU (--device cpu runs it here, far "
                                  "more slowly)") from None
            raise
        return self

    def check_images(self, image_shape: Sequence[int] | None = None, n_train: int | None = None) -> TrainConfig:
        """OptionError when an option cannot apply to the images of its
        dataset: of `image_shape` (H, W, C) once read, else of the size
        the dataset and image_size give before any image is read (a
        folder's own size is known only once read: nothing is checked
        then); with `n_train`, the training images, the preprocessing
        too (ZCA's memory: a ConfigError). Call it on a validated config;
        return self."""
        if image_shape is None:
            from twolayer.data import known_image_size  # data imports this package's modules

            image_shape = known_image_size(self.dataset, self.image_size)
        if image_shape is not None:
            check_crop(self.crop, image_shape, self.dataset)
        if n_train is not None and image_shape is not None:
            from twolayer.data.preprocess import check_zca

            check_zca(self.preprocess, n_train, tuple(image_shape))
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def anchored(self) -> TrainConfig:
        """A copy whose paths (a folder dataset, the data directory, a
        learner's file) are absolute, so that a run's recorded config names
        the same files from any working directory (resume, report)."""
        return replace(self, **{name: value for name, value in relative_paths(self.to_dict()).items()
                                if value is not None})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Known keys only, so a config from a newer version still loads; a
        key it lacks (an option newer than the record) has its default, not
        its recipe's value: the run that wrote it had no such option."""
        if not isinstance(values, dict):
            raise ConfigError(f"a config must be a mapping of options, got {type(values).__name__}")
        recorded = {f.name: f.default for f in fields(cls)}
        recorded.update((k, v) for k, v in values.items() if k in recorded)
        return cls(**recorded)


# help(TrainConfig) and editors list every option with its default, as the generated __init__ had them
TrainConfig.__init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    + [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
       for f in fields(TrainConfig)])


@cache
def options(config_class: type = TrainConfig) -> dict[str, Option]:
    """The table: each option of `config_class` (TrainConfig or a subclass
    that declares more), in declaration order."""
    hints = typing.get_type_hints(config_class)
    table = {}
    for f in fields(config_class):
        spec = f.metadata.get("option")
        if spec is None:
            continue
        hint = hints[f.name]
        args = typing.get_args(hint)
        kind = next(k for k in (bool, int, float, str) if hint is k or k in args)
        spec = {**spec, "help": spec["help"].replace("{spec_help}", _spec_help())}
        if f.default is MISSING:
            raise TypeError(f"option {f.name} needs a default")
        table[f.name] = Option(name=f.name, kind=kind, nullable=type(None) in args, **spec)
    return table


def layered(table: dict[str, Option], *layers: dict[str, Any]) -> dict[str, Any]:
    """Option values merged, each layer over the ones before it (a recipe,
    then a file, then the command line). An option in a later layer also
    drops what it excludes from the earlier ones: --epochs given, a recipe's
    iters goes."""
    merged: dict[str, Any] = {}
    for layer in layers:
        groups = {table[name].exclusive for name in layer if name in table} - {None}
        merged = {k: v for k, v in merged.items() if k in layer or k not in table or table[k].exclusive not in groups}
        merged.update(layer)
    return merged


def with_recipe(table: dict[str, Option], *layers: dict[str, Any]) -> dict[str, Any]:
    """layered(), under the recipe that the layers name (the last one that
    names one), if any."""
    recipe = next((layer["recipe"] for layer in reversed(layers) if layer.get("recipe")), None)
    if recipe is not None:
        table["recipe"].check(recipe)  # an unknown name: one line naming the recipes
    return layered(table, dict(RECIPES[recipe]) if recipe else {}, *layers)


def check_std(std: float, dtype: Any) -> None:
    """OptionError if initial weights of scale std overflow dtype, or are
    too small for it (check_normal)."""
    largest = float(np.finfo(dtype).max) / 10  # std * N(0, 1) draws reach 6 and more
    if std > largest:
        raise OptionError("std", f"must be at most {largest:.3g} in {np.dtype(dtype)}, the initial weights overflow "
                          f"to infinity; got {std!r}")
    check_normal("std", std, dtype, "the initial weights are 0 or denormal, and the network cannot learn")


def check_normal(name: str, value: float, dtype: Any, below: str) -> None:
    """OptionError for a value > 0 below dtype's smallest normal number:
    `--lr 1e-50` is 0 in float32 (no update changed a weight) and `--std
    1e-50` made every weight 0: the run learned nothing and said nothing."""
    tiny = float(np.finfo(dtype).tiny)
    if 0 < value < tiny:
        raise OptionError(name, f"must be at least {tiny:.3g} in {np.dtype(dtype)}, its smallest normal number "
                          f"(below it {below}); got {value!r}")


# Options that only some values of another option use: name -> (that option, the values that use it).
USED_ONLY_WITH = {
    "momentum": ("optimizer", ("momentum", "nesterov")),  # Adam's first moment is its own (beta1 0.9)
    "lr_decay": ("schedule", ("step",)),
    "warmup": ("schedule", ("cosine", "onecycle")),
    "zca_epsilon": ("preprocess", ("zca",)),
}


def check_used(given: dict[str, Any], values: Callable[[str], Sequence[Any]]) -> None:
    """OptionError for an option given on purpose (`given`: name -> its
    value, or a search's Dimension of values) away from its default that
    no value of the option it depends on uses (`values(name)`: every value
    the run, or a search's trials, can take): `--momentum 0.5 --optimizer
    sgd` trained without momentum, saying nothing, and a search over it ran
    the same trial again and again. A recipe's values are not given."""
    for name, value in given.items():
        if name not in USED_ONLY_WITH:
            continue
        searched = hasattr(value, "describe")  # tune's Dimension: a list or a range
        if not searched and value == options()[name].default:
            continue
        other, users = USED_ONLY_WITH[name]
        taken = values(other)
        if not any(v in users for v in taken):
            raise OptionError(name, f"{value.describe() if searched else value} does nothing with {other} "
                              f"{','.join(map(str, taken))}: only {other} {' and '.join(users)} "
                              f"use{'s' if len(users) == 1 else ''} it")


def check_one_of_each(table: dict[str, Option], entries: dict[str, Any], spell: Callable[[str], str]) -> None:
    """Refuse two options of one exclusive group set together (--iters 5
    --epochs 1,2: iters decides the length, so every trial trained alike and
    the search compared nothing). A value that may be None leaves the other
    in force (--iters none,100 --epochs 5). `entries`: name -> its value, or
    a search's Dimension; `spell` writes a name as the user did."""
    groups: dict[str, list[str]] = {}
    for name, value in entries.items():
        values = value.values if getattr(value, "is_list", False) else (value,)
        if table[name].exclusive and None not in values:
            groups.setdefault(table[name].exclusive, []).append(name)
    for group, names in groups.items():
        if len(names) > 1:
            raise UsageError(f"{spell(names[0])} and {spell(names[1])} both set the run's {group}; give one of them")


def check_used_by(config: TrainConfig) -> None:
    """check_used and check_one_of_each for a config made in Python (`fit`,
    `train`): an option away from its default and from its recipe's value
    counts as given, as on the command line (TrainConfig(optimizer="sgd",
    momentum=0.5) trained without momentum, and TrainConfig(iters=10,
    epochs=5) for 10 iterations, saying nothing, where the command line
    refuses them)."""
    recipe = RECIPES.get(config.recipe, {}) if config.recipe else {}
    values = config.to_dict()
    table = options(type(config))
    given = {k: v for k, v in values.items() if k in table and v != table[k].default and (k not in recipe
                                                                                          or v != recipe[k])}
    check_one_of_each(table, given, spell=str)
    check_used(given, lambda name: (values[name],))


def check_crop(crop: int, image_shape: Sequence[int], where: str) -> None:
    """OptionError unless crops padded by `crop` pixels can be cut from
    images of image_shape (H, W, ...) of `where`: reflect padding mirrors
    each side once, so it must be narrower than the image (PyTorch's
    refuses as much); a crop of the side or more trained on reflections of
    reflections (digits at --crop 8: 0.29 accuracy instead of 0.97)."""
    side = min(image_shape[:2])
    if crop >= side:
        raise OptionError("crop", f"must be below {side} for the {image_shape[1]}x{image_shape[0]} images of {where}, "
                          f"got {crop}: reflect padding mirrors each side of an image once, so a crop reaches at most "
                          f"{side - 1} pixels (0: none)")


def is_number(value: Any, kind: type = float) -> bool:
    """A finite number (a bool is not one); for kind int, a whole one. An int is
    exact for kind int (a seed of 10**400), and must fit a float for kind float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    if isinstance(value, (int, np.integer)):
        return kind is int or abs(value) <= sys.float_info.max  # float(10**400) overflows
    return math.isfinite(value) and (kind is float or float(value).is_integer())


# Other names for options: the assignment's (TwoLayerNet.train's arguments) and scikit-learn's MLPClassifier's
OTHER_NAMES = {"learning_rate": "lr", "learning_rate_init": "lr", "learning_rate_decay": "lr_decay",
               "num_iters": "iters", "max_iter": "epochs", "alpha": "reg", "random_state": "seed",
               "hidden_layer_sizes": "hidden_size", "n_iter_no_change": "patience",
               "validation_fraction": "val_size", "solver": "optimizer"}


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """"; did you mean lr?" for an unknown option `name`: the option another
    library (or the assignment) calls so, or the nearest in spelling; ""
    when none is near."""
    near = OTHER_NAMES.get(name) if OTHER_NAMES.get(name) in known else None
    near = near or next(iter(difflib.get_close_matches(name, known, n=1)), None)
    return f"; did you mean {near}?" if near else ""


def given_flag(value: Any, name: str) -> bool:
    """A true-or-false argument of the Python API (force, quiet, progress...)
    as a bool: True, False, NumPy's, or 1 and 0; UsageError naming it for
    anything else (force="no" is a true string: it replaced a run)."""
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise UsageError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


PATH_OPTIONS = ("dataset", "data_dir", "net")  # options that name files, relative to the working directory


def relative_paths(values: dict[str, Any]) -> dict[str, str | None]:
    """For each path option in `values` that is written relative to the
    working directory, its absolute form (None where it cannot be made
    absolute, e.g. ~nosuchuser: reading it later says why)."""
    found = {}
    for name in PATH_OPTIONS:
        value = values.get(name)
        if not isinstance(value, str) or not value:
            continue
        prefix, path, suffix = _path_part(name, value)
        if path is None or os.path.isabs(path):
            continue
        expanded = os.path.expanduser(path)
        found[name] = None if expanded.startswith("~") else prefix + os.path.abspath(expanded) + suffix
    return found


def _path_part(name: str, value: str) -> tuple[str, str | None, str]:
    """(prefix, the path, suffix) of a path option's value; the path is
    None for a value that names no file (a built-in dataset)."""
    if name == "dataset":
        return ("folder:", value[len("folder:"):], "") if value.startswith("folder:") else ("", None, "")
    if name == "net":
        path, sep, cls = value.rpartition(":")  # FILE.py:CLASS (learner.parse_spec's rule)
        if sep and cls.isidentifier():
            return "", path, ":" + cls
    return "", value, ""
