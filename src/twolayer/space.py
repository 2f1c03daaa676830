"""Search spaces for tuning: which training options vary, and how.

Any option of the table (config.py) can be searched. On the command line a value is

    1e-4,1e-3,1e-2      a list (a grid axis, or a choice for random/tpe)
    1e-4:1e-2:log       a range, sampled on a log scale (random/tpe)
    50:500              a range, sampled uniformly
    200                 one value: fixed for every trial

and in a TOML file the same as `lr = [1e-4, 1e-3]`, `reg = {low = 0.1,
high = 1, log = true}` or `iters = 1000`. Every value is checked against
the option's rules before any trial runs.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import reprlib
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twolayer.config import (
    Option,
    OptionError,
    SplitSize,
    TrainConfig,
    check_one_of_each,
    check_used,
    flag,
    options,
    with_recipe,
)
from twolayer.data.splits import carve_options, carve_order, check_classes, resolve_size, split_counts
from twolayer.errors import ConfigError, UsageError
from twolayer.files import given_path, read_small


@dataclass(frozen=True)
class Dimension:
    name: str
    values: tuple | None = None  # a list of choices
    low: float | None = None  # or a range
    high: float | None = None
    log: bool = False

    @property
    def is_list(self) -> bool:
        return self.values is not None

    def describe(self) -> str:
        if self.is_list:
            return ",".join(str(v) for v in self.values)
        return f"{self.low}:{self.high}{':log' if self.log else ''}"


MAX_GRID = 10_000  # grid points: at a second a trial, most of three hours
MAX_SEEDS = 1_000  # split seeds of a range each carved before a search (CIFAR-10's: a second); a wider one is not
# What a search with nothing given to search searches: these options, each at a tenth,
# one and ten times the value a run would take (its recipe's or the default), unless given.
DEFAULT_SEARCH = ("lr", "reg")


@dataclass
class Space:
    dimensions: dict[str, Dimension]
    fixed: dict[str, Any]
    config_class: type = TrainConfig  # the option table the space is drawn from
    from_command_line: set[str] = field(default_factory=set)  # names whose values came as flags
    by_default: bool = False  # nothing was given to search: the dimensions are DEFAULT_SEARCH's

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the list dimensions, in a fixed order (at most MAX_GRID)."""
        ranges = [d.name for d in self.dimensions.values() if not d.is_list]
        if ranges:
            raise UsageError(f"the grid sampler (the default) needs lists, not ranges: {', '.join(ranges)}; give "
                             "--sampler random or tpe to draw from a range, or a list a,b,c")
        names = list(self.dimensions)
        sizes = [len(self.dimensions[n].values) for n in names]
        if math.prod(sizes) > MAX_GRID:  # counted before it is built: 10**6 points were queued silently for minutes
            raise UsageError(f"the grid has {math.prod(sizes):,} points ({' x '.join(map(str, sizes))}), more than "
                             f"the {MAX_GRID:,} a search runs; give fewer values, or --sampler random or tpe with "
                             "--trials N")
        return [dict(zip(names, combo, strict=True))
                for combo in itertools.product(*(self.dimensions[n].values for n in names))]

    def config(self, params: dict[str, Any]) -> TrainConfig:
        return self.config_class(**{**self.fixed, **params})

    def candidates(self, name: str) -> tuple:
        """The values of option `name` a search is checked at: a list's
        values, a range's ends, or the one value every trial takes."""
        dim = self.dimensions.get(name)
        if dim is None:
            return (getattr(self.config({}), name),)
        return dim.values if dim.is_list else (dim.low, dim.high)

    def check_images(self, image_shape: tuple[int, ...] | None = None, n_images: int | None = None,
                     has_test: bool = False, classes: int = 2) -> None:
        """TrainConfig.check_images for every crop, preprocessing and split
        size a trial can take, on the images of every image_size it can
        (image_shape and n_images, the source's training split, and has_test,
        whether it has its own test split: the data's, once read, at one
        trial's size; an image_size N gives N x N images of its channels), so
        that no trial fails after others ran. Each is checked where it fails
        first: the widest crop on the smallest size, ZCA on the largest (and
        a folder's own, none), the largest split sizes (fewest training
        images), not every pairing of the lists (a thousand crops by a
        thousand sizes took a minute and a half before the search, and again
        before each trial). With the data's image_shape, also
        trainer.check_memory for the trial that needs the most memory: the
        widest network and largest batch on the largest images (of `classes`),
        in each optimizer and float type a trial can take (a list of hidden
        sizes ending in one too wide for the machine stopped the search after
        its first trials)."""
        given = self.candidates("image_size")
        sizes = [s for s in given if s is not None]
        image_sizes = ([min(sizes), max(sizes)] if sizes else []) + ([None] if None in given else [])
        reach = {"crop": (max(self.candidates("crop")),), "image_size": tuple(dict.fromkeys(image_sizes)),
                 "preprocess": self.candidates("preprocess"), "val_size": _largest(self.candidates("val_size")),
                 "test_size": _largest(self.candidates("test_size"))}
        for values in itertools.product(*reach.values()):
            config = self.config(dict(zip(reach, values, strict=True))).validate()
            n_train = None if n_images is None else \
                split_counts(n_images, config.val_size, config.test_size, has_test)[0]
            size = config.image_size
            shape = image_shape if image_shape is None or size is None else (size, size, *image_shape[2:])
            config.check_images(shape, n_train)
        if image_shape is not None:
            from twolayer.trainer import check_memory  # the trainer imports the option table, as this module does

            inputs = max(math.prod(image_shape if size is None else (size, size, *image_shape[2:]))
                         for size in image_sizes or [None])
            widest = {"hidden_size": max(self.candidates("hidden_size")), "image_size": max(sizes, default=None),
                      "batch_size": max(self.candidates("batch_size"))}
            for optimizer, dtype in itertools.product(self.candidates("optimizer"), self.candidates("dtype")):
                config = self.config({**widest, "optimizer": optimizer, "dtype": dtype})
                check_memory(config, inputs, config.hidden_size, classes, n_images)

    def check_carves(self, dataset: Any) -> None:
        """splits.check_classes for the carve of every split seed a trial
        can take (a list's, or a range's of at most MAX_SEEDS), at the largest
        validation and test sizes: a seed carves its training rows from the
        end of one order, so larger sizes leave a subset of them. A seed
        whose carve left one class to train on stopped the search after the
        trials before it had run."""
        labels = dataset.splits["train"][1]
        n, has_test = len(labels), "test" in dataset.splits
        val, test = (max(self.candidates(name), key=lambda size: resolve_size(size, n, name))
                     for name in ("val_size", "test_size"))
        held = sum(split_counts(n, val, test, has_test)[1:])
        seeds = self.candidates("split_seed")
        dim = self.dimensions.get("split_seed")
        if dim is not None and not dim.is_list:
            seeds = range(dim.low, dim.high + 1) if dim.high - dim.low < MAX_SEEDS else ()
        classes = len(dataset.class_names)
        for seed in seeds:
            train = labels[carve_order(n, seed)[held:]]
            if np.count_nonzero(np.bincount(train, minlength=classes)) < 2:  # check_classes says what and why
                check_classes(dataset, train, carve_options(dataset, val, test, seed))

    def to_json(self) -> dict[str, Any]:
        return {"dimensions": {n: d.describe() for n, d in self.dimensions.items()}, "fixed": self.fixed}


def parse_value(opt: Option, text: str) -> Dimension | Any:
    """A command-line value: a Dimension (list or range) or a fixed value."""
    if not isinstance(text, str):  # converted already: an option tune takes one value of (--net none: None)
        return text
    text = text.strip()
    try:
        if "," in text and opt.searchable:
            items = [t.strip() for t in text.split(",")]
            if not all(items):
                raise OptionError(opt.name, f"empty item in list {text!r}", "{option}: {problem}")
            return Dimension(opt.name, values=tuple(opt.convert(t) for t in items))
        if ":" in text and opt.kind in (int, float) and opt.searchable:  # folder:PATH is a value, not a range
            parts = [part.strip() for part in text.split(":")]  # 1e-3 : 1e-1 : log was refused
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].lower() != "log"):
                raise OptionError(opt.name, f"a range is LOW:HIGH or LOW:HIGH:log, got {text!r}",
                                  "{option}: {problem}")
            return _range(opt, parts[0], parts[1], log=len(parts) == 3)
        if not text:
            raise OptionError(opt.name, "empty value", "{option}: {problem}")
        return opt.convert(text)
    except OptionError as e:
        if not (opt.searchable and e.problem.startswith(("expected a number", "expected a count"))):
            raise
        # 1e-3..1e-1, 0.1-0.2, [0.1,0.2] or 0.1 0.2 were "expected a number", the way to write one unsaid
        raise OptionError(opt.name, f"{e.problem}; a list is written a,b,c and a range LOW:HIGH or LOW:HIGH:log",
                          "{option}: {problem}") from None


def parse_toml_value(opt: Option, value: Any) -> Dimension | Any:
    if isinstance(value, (list, tuple, dict)) and not opt.searchable:
        raise OptionError(opt.name, "takes one value; it cannot be searched", "{option} {problem}")
    if isinstance(value, (list, tuple)) and opt.searchable:
        if not value:
            raise OptionError(opt.name, "empty list", "{option}: {problem}")
        return Dimension(opt.name, values=tuple(opt.convert(v) for v in value))
    if isinstance(value, dict) and opt.searchable:
        unknown = set(value) - {"low", "high", "log"}
        if unknown or "low" not in value or "high" not in value:
            raise OptionError(opt.name, "a range is {low = ..., high = ..., log = true|false}", "{option}: {problem}")
        if not isinstance(value.get("log", False), bool):
            raise OptionError(opt.name, f"a range's log is true or false, got {value['log']!r}", "{option}: {problem}")
        return _range(opt, value["low"], value["high"], log=value.get("log", False))
    return opt.convert(value)


def _range(opt: Option, low: Any, high: Any, log: bool) -> Dimension:
    """A range of a number option (from the command line or a file)."""
    if opt.kind not in (int, float):  # {low = false, high = true} drew 0 and 1; "a" to "b" was a TypeError
        raise OptionError(opt.name, f"takes a list of values, not a range (a range is for numbers): "
                          f"{opt.name} = [...] in a file, a,b on the command line", "{option} {problem}")
    ends = opt.convert(low), opt.convert(high)
    if None in ends:  # --std none:1 was a TypeError
        raise OptionError(opt.name, "a range's ends are numbers; none is a value of a list (none,0.1)",
                          "{option}: {problem}")
    return Dimension(opt.name, low=ends[0], high=ends[1], log=log)


def build_space(given: Mapping[str, Any], toml_file: str | Path | None = None,
                config_class: type = TrainConfig) -> Space:
    """The space from a TOML file (optional) and command-line values, which
    win. `given` maps option names to command-line strings, or, in Python,
    to the values a space file holds: a list, a range {"low": ..., "high":
    ..., "log": True} or one value (a list or a number was an
    AttributeError, `'list' object has no attribute 'strip'`). Errors name
    an option as its flag when its value came from the command line, and
    as its Python name when it came from the file."""
    if not isinstance(given, Mapping):
        raise UsageError(f"a space is a dict of option names to values ('lr': '0.01,0.1', or [0.01, 0.1]), got "
                         f"{type(given).__name__} {reprlib.repr(given)}")
    table = options(config_class)
    in_file: dict[str, Any] = {}
    if toml_file is not None:
        for name, value in read_toml(given_path(toml_file, "the space file", "give FILE.toml")).items():
            in_file[name] = parse_toml_value(_option(table, name), value)
    on_line: dict[str, Any] = {}
    for name, value in given.items():
        try:
            opt = _option(table, name)
            on_line[name] = parse_value(opt, value) if isinstance(value, str) else parse_toml_value(opt, value)
        except OptionError as e:
            raise e.as_flag() from None
    check_one_of_each(table, in_file, spell=str)
    check_one_of_each(table, on_line, spell=flag)
    chosen = {**in_file, **on_line}  # the values given on purpose, the command line's over the file's
    entries = with_recipe(table, in_file, on_line)  # a recipe's values under the file's, the command line's over both
    dims = {n: v for n, v in entries.items() if isinstance(v, Dimension)}
    fixed = {n: v for n, v in entries.items() if not isinstance(v, Dimension)}
    space = Space(dims, fixed, config_class, set(given))
    if not dims:
        space.dimensions = default_dimensions(space, set(chosen))
        space.by_default = bool(space.dimensions)
    _validate(space)
    _spelled(space, lambda: check_used(chosen, space.candidates))
    return space


def default_dimensions(space: Space, chosen: set[str]) -> dict[str, Dimension]:
    """DEFAULT_SEARCH's options not in `chosen` (given on purpose), each at a
    tenth, one and ten times the value the space's runs would take; none
    for an option whose value is 0 (off)."""
    try:
        base = space.config({})
    except (ValueError, TypeError):  # a fixed value that is wrong: validation says which
        return {}
    dims = {}
    for name in DEFAULT_SEARCH:
        value = getattr(base, name)
        if name not in chosen and isinstance(value, float) and value > 0:
            dims[name] = Dimension(name, values=(float(f"{value / 10:.6g}"), value, float(f"{value * 10:.6g}")))
    return dims


# Options that name code to run (a learner's file): taken from the command line only. A --config or
# --space file is meant to be shared, and running it must never run a file it names.
COMMAND_LINE_ONLY = ("net",)


def read_toml(path: str | Path, what: str = "space file") -> dict[str, Any]:
    """A TOML file's table; ConfigError naming the file if it can't be read
    (UsageError, a bad option, if what it holds is not TOML or names code
    to run)."""
    values = _toml(path, what)
    for name in COMMAND_LINE_ONLY:
        if name in values:
            raise UsageError(f"{path}: {name} names a file whose code twolayer would run, so it is taken only from "
                             f"the command line (--{name.replace('_', '-')} FILE.py), never from a {what}")
    return values


def _toml(path: str | Path, what: str) -> dict[str, Any]:
    try:
        text = read_small(path, f"a {what}").decode("utf-8-sig")  # a BOM (Notepad) is not a statement
        return tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"no {what} at {path}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"cannot read {what} {path}: not UTF-8 text (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        if _json_object(text):  # a run's (or a trial's) config.json, to train with its options: `Invalid statement`
            raise UsageError(f"cannot read {what} {path}: it is JSON (a run's config.json?), and a {what} is TOML, "
                             "one option a line (lr = 0.01); give a run's options as such a file, or on the command "
                             "line") from None
        raise UsageError(f"cannot read {what} {path}: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from None


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def config_file(path: str | Path, config_class: type = TrainConfig) -> dict[str, Any]:
    """The fixed option values of a TOML file (train --config): the same
    format as a search-space file, one value per option."""
    table = options(config_class)
    values = {}
    for name, value in read_toml(path, "config file").items():
        if name not in table:
            raise UsageError(f"{path}: {unknown_option(name, list(table))}")
        if isinstance(value, (list, dict)):
            raise OptionError(name, f"takes one value in {path} (lists and ranges are for tune --space)",
                              "{option} {problem}")
        try:  # its type and its range, said with the file's name (lr = inf: "lr must be > 0" named no file)
            values[name] = table[name].convert(value)
            table[name].check(values[name])
        except OptionError as e:
            raise UsageError(f"{path}: {e}") from None
    try:  # iters = 5 and epochs = 1: iters won, saying nothing, where the command line refuses the two together
        check_one_of_each(table, values, spell=str)
    except UsageError as e:
        raise UsageError(f"{path}: {e}") from None
    return values


def _option(table: dict[str, Option], name: str) -> Option:
    opt = table.get(name)
    if opt is None or not opt.on_tune:
        raise UsageError(unknown_option(str(name), [n for n, o in table.items() if o.on_tune]))
    return opt


def unknown_option(name: str, known: list[str]) -> str:
    """The message for an option name that is not one of `known`: the
    nearest (hidden-size: hidden_size), or all of them."""
    near = difflib.get_close_matches(name.replace("-", "_"), known, n=1)
    hint = f"did you mean {near[0]!r}?" if near else f"choose from {', '.join(known)}"
    return f"unknown training option {name!r}; {hint}"


def _largest(sizes: tuple) -> tuple:
    """The largest fraction (below 1) and the largest count among split
    sizes: the ones that leave the fewest training images."""
    return tuple(max(group) for group in ([v for v in sizes if v < 1], [v for v in sizes if v >= 1]) if group)


def _validate(space: Space) -> None:
    """Every value, and both ends of every range, must make a valid config."""
    if not space.dimensions:
        raise UsageError("nothing to search: give at least one option a list (a,b,c) or a range (low:high); with "
                         f"none given, tune searches {' and '.join(DEFAULT_SEARCH)} where neither given nor 0")
    for dim in space.dimensions.values():
        def check(dim=dim) -> None:
            option = dim.name
            ends = dim.values if dim.is_list else (dim.low, dim.high)
            if any(type(v) is int and abs(v) > sys.float_info.max for v in ends):  # Optuna's floats: 1e400 overflowed
                raise OptionError(option, f"a searched value must be at most {sys.float_info.max:.3g}, as Optuna's "
                                  "are; give a larger one as a fixed value", "{option}: {problem}")
            if dim.is_list:
                if len(dim.values) > MAX_GRID:  # each value checked (a million: 45 s) and written into every trial
                    raise OptionError(option, f"a list of {len(dim.values):,} values, more than the {MAX_GRID:,} a "
                                      "search takes; give a range low:high (and --sampler random or tpe)",
                                      "{option}: {problem}")
                if len(set(dim.values)) != len(dim.values):
                    raise OptionError(option, f"repeated values in {dim.describe()}", "{option}: {problem}")
            else:
                if not all(math.isfinite(v) for v in (dim.low, dim.high)):
                    raise OptionError(option, "range ends must be finite numbers", "{option}: {problem}")
                if not dim.low < dim.high:
                    raise OptionError(option, f"range low must be below high, got {dim.describe()}",
                                      "{option}: {problem}")
                if dim.log and dim.low <= 0:
                    raise OptionError(option, f"a log range needs low > 0, got {dim.describe()}",
                                      "{option}: {problem}")
                if isinstance(options(space.config_class)[option].rule, SplitSize) and (dim.low < 1) != (dim.high < 1):
                    raise OptionError(option, f"a range of sizes is of fractions (0.05:0.2) or of counts (100:500), "
                                      f"got {dim.describe()}: trials would draw sizes between, neither whole counts "
                                      "nor fractions", "{option}: {problem}")
            for value in space.candidates(option):
                space.config({dim.name: value}).validate()

        _spelled(space, check)
    _spelled(space, lambda: space.config({}).validate())
    _spelled(space, space.check_images)


def _spelled(space: Space, check) -> None:
    """Run check(); an OptionError about an option given on the command line
    is re-raised naming its flag."""
    try:
        check()
    except OptionError as e:
        raise (e.as_flag() if e.name in space.from_command_line else e) from None
