"""Search spaces for tuning: which training options vary, and how.

Any TrainConfig field can be searched. On the command line a value is

    1e-4,1e-3,1e-2      a list (a grid axis, or a choice for random/tpe)
    1e-4:1e-2:log       a range, sampled on a log scale (random/tpe)
    50:500              a range, sampled uniformly
    200                 one value: fixed for every trial

and in a TOML file the same as `lr = [1e-4, 1e-3]`, `reg = {low = 0.1,
high = 1, log = true}` or `iters = 1000`. Every value is checked against
the option's rules before any trial runs.
"""

from __future__ import annotations

import itertools
import math
import tomllib
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from twolayer.config import TrainConfig
from twolayer.errors import ConfigError

FIELD_TYPES = {f.name: f.type for f in fields(TrainConfig)}


def field_kind(name: str) -> type:
    """bool, int, float or str: the type of a TrainConfig field."""
    hint = typing.get_type_hints(TrainConfig)[name]
    for kind in (bool, int, float, str):
        if hint is kind or kind in typing.get_args(hint):
            return kind
    raise ConfigError(f"{name} cannot be searched")


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


@dataclass
class Space:
    dimensions: dict[str, Dimension]
    fixed: dict[str, Any]

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the list dimensions, in a fixed order."""
        ranges = [d.name for d in self.dimensions.values() if not d.is_list]
        if ranges:
            raise ConfigError(f"the grid sampler needs lists, not ranges: {', '.join(ranges)}")
        names = list(self.dimensions)
        return [dict(zip(names, combo, strict=True))
                for combo in itertools.product(*(self.dimensions[n].values for n in names))]

    def config(self, params: dict[str, Any]) -> TrainConfig:
        return TrainConfig(**{**self.fixed, **params})

    def to_json(self) -> dict[str, Any]:
        return {"dimensions": {n: d.describe() for n, d in self.dimensions.items()}, "fixed": self.fixed}


def convert(name: str, text: Any) -> Any:
    kind = field_kind(name)
    option = "--" + name.replace("_", "-")
    if kind is str:
        return str(text)
    if kind is bool:
        if isinstance(text, bool):
            return text
        if str(text).lower() in ("true", "yes", "1", "false", "no", "0"):
            return str(text).lower() in ("true", "yes", "1")
        raise ConfigError(f"{option}: expected true or false, got {text!r}")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: expected a number, got {text!r}") from None
    if kind is int:
        if not value.is_integer():
            raise ConfigError(f"{option}: expected a whole number, got {text!r}")
        return int(value)
    if name in ("val_size", "test_size") and value >= 1 and value.is_integer():
        return int(value)  # a count, not a fraction
    return value


def parse_value(name: str, text: str) -> Dimension | Any:
    """A command-line value: a Dimension (list or range) or a fixed value."""
    option = "--" + name.replace("_", "-")
    text = text.strip()
    if "," in text:
        items = [t.strip() for t in text.split(",")]
        if not all(items):
            raise ConfigError(f"{option}: empty item in list {text!r}")
        return Dimension(name, values=tuple(convert(name, t) for t in items))
    if ":" in text and field_kind(name) not in (str, bool):  # folder:PATH is a value, not a range
        parts = text.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ConfigError(f"{option}: a range is LOW:HIGH or LOW:HIGH:log, got {text!r}")
        return Dimension(name, low=convert(name, parts[0]), high=convert(name, parts[1]), log=len(parts) == 3)
    if not text:
        raise ConfigError(f"{option}: empty value")
    return convert(name, text)


def parse_toml_value(name: str, value: Any) -> Dimension | Any:
    option = name
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{option}: empty list")
        return Dimension(name, values=tuple(convert(name, v) for v in value))
    if isinstance(value, dict):
        unknown = set(value) - {"low", "high", "log"}
        if unknown or "low" not in value or "high" not in value:
            raise ConfigError(f"{option}: a range is {{low = ..., high = ..., log = true|false}}")
        return Dimension(name, low=convert(name, value["low"]), high=convert(name, value["high"]),
                         log=bool(value.get("log", False)))
    return convert(name, value)


def build_space(options: dict[str, str], toml_file: str | Path | None = None) -> Space:
    """The space from a TOML file (optional) and command-line values, which
    win. `options` maps TrainConfig field names to command-line strings."""
    entries: dict[str, Any] = {}
    if toml_file is not None:
        try:
            table = tomllib.loads(Path(toml_file).read_text())
        except FileNotFoundError:
            raise ConfigError(f"no space file at {toml_file}") from None
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read space file {toml_file}: {e}") from None
        for name, value in table.items():
            _check_name(name)
            entries[name] = parse_toml_value(name, value)
    for name, text in options.items():
        _check_name(name)
        entries[name] = parse_value(name, text)
    dims = {n: v for n, v in entries.items() if isinstance(v, Dimension)}
    fixed = {n: v for n, v in entries.items() if not isinstance(v, Dimension)}
    space = Space(dims, fixed)
    _validate(space)
    return space


def _check_name(name: str) -> None:
    if name not in FIELD_TYPES or name in ("data_dir", "recipe"):
        searchable = ", ".join(n for n in FIELD_TYPES if n not in ("data_dir", "recipe"))
        raise ConfigError(f"unknown training option {name!r}; choose from {searchable}")


def _validate(space: Space) -> None:
    """Every value, and both ends of every range, must make a valid config."""
    if not space.dimensions:
        raise ConfigError("nothing to search: give at least one option a list (a,b,c) or a range (low:high)")
    for dim in space.dimensions.values():
        option = "--" + dim.name.replace("_", "-")
        if dim.is_list:
            if len(set(dim.values)) != len(dim.values):
                raise ConfigError(f"{option}: repeated values in {dim.describe()}")
            candidates = dim.values
        else:
            if field_kind(dim.name) in (str, bool):
                raise ConfigError(f"{option}: this option takes a list, not a range")
            if not dim.low < dim.high:
                raise ConfigError(f"{option}: range low must be below high, got {dim.describe()}")
            if dim.log and dim.low <= 0:
                raise ConfigError(f"{option}: a log range needs low > 0, got {dim.describe()}")
            candidates = (dim.low, dim.high)
        for value in candidates:
            space.config({dim.name: value}).validate()
    space.config({}).validate()
    if not all(math.isfinite(v) for d in space.dimensions.values() if not d.is_list for v in (d.low, d.high)):
        raise ConfigError("range ends must be finite numbers")
