"""A strict stand-in for CuPy, to test the GPU code path on a machine without one.

`install(monkeypatch)` puts a module named `cupy` in sys.modules whose arrays
wrap NumPy arrays but behave like device arrays where it matters:

- no implicit conversion: np.asarray(device_array) raises TypeError, as
  CuPy's does; only asnumpy() and .get() bring data back;
- no mixing: an operation between a device array and a NumPy array (or a
  NumPy array used as an index) raises TypeError, as CuPy's does;
- reductions return 0-d device arrays, not scalars;
- take() has CuPy's signature (no `mode`).

The arithmetic is NumPy's, so a run on it must give exactly what the same
run gives on NumPy: any difference is a bug in the one code path.
"""

from __future__ import annotations

import operator
import sys
import types
from typing import Any

import numpy as np


class DeviceArray:
    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    def __array__(self, *args: Any, **kwargs: Any):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (fake cupy)")

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    T = property(lambda self: _wrap(self._a.T))

    def __len__(self) -> int:
        return len(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __repr__(self) -> str:
        return f"fakecupy.array({self._a!r})"

    def get(self) -> np.ndarray:
        return self._a.copy()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # no __array_interface__ and friends: NumPy must not see the data
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *args, **kwargs: _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))
        return _wrap(attr)

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap(key)] = _unwrap(value)


def _binary(op):
    return lambda self, other: _wrap(op(self._a, _unwrap(other)))


def _reflected(op):
    return lambda self, other: _wrap(op(_unwrap(other), self._a))


def _inplace(op):
    def method(self, other):
        op(self._a, _unwrap(other))
        return self

    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    _op = getattr(operator, _name + "_" if _name in ("and", "or") else _name)
    setattr(DeviceArray, f"__{_name}__", _binary(_op))
    setattr(DeviceArray, f"__r{_name}__", _reflected(_op))
    setattr(DeviceArray, f"__i{_name}__", _inplace(getattr(operator, f"i{_name}")))
for _name in ("lt", "le", "eq", "ne", "gt", "ge"):
    setattr(DeviceArray, f"__{_name}__", _binary(getattr(operator, _name)))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(DeviceArray, f"__{_name}__", (lambda op: lambda self: _wrap(op(self._a)))(getattr(operator, _name)))
DeviceArray.__hash__ = None  # type: ignore[assignment]


def _unwrap(x: Any) -> Any:
    if isinstance(x, DeviceArray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError("Unsupported type <class 'numpy.ndarray'>: a NumPy array met a device array (fake cupy)")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return DeviceArray(x)
    if isinstance(x, np.generic):
        return DeviceArray(np.asarray(x))  # CuPy gives 0-d arrays where NumPy gives scalars
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    return x


def _host(x: Any) -> Any:
    """What may cross to the device: host data (NumPy arrays, lists, scalars)."""
    if isinstance(x, DeviceArray):
        return x._a
    if isinstance(x, (list, tuple)) and any(isinstance(v, DeviceArray) for v in x):
        raise TypeError("a list mixing device arrays (fake cupy)")
    return x


def asarray(x: Any, dtype: Any = None) -> DeviceArray:
    return DeviceArray(np.asarray(_host(x), dtype=dtype))


def array(x: Any, dtype: Any = None, copy: bool = True) -> DeviceArray:
    return DeviceArray(np.array(_host(x), dtype=dtype, copy=copy))


def asnumpy(x: Any) -> np.ndarray:
    return x._a.copy() if isinstance(x, DeviceArray) else np.asarray(x)


def take(a: Any, indices: Any, axis: int | None = None, out: Any = None) -> Any:
    return _wrap(np.take(_unwrap(a), _unwrap(indices), axis=axis, out=_unwrap(out)))


def _module_getattr(name: str) -> Any:
    attr = getattr(np, name)
    if isinstance(attr, (type, types.ModuleType)) or not callable(attr):
        return attr  # dtypes, constants
    return lambda *args, **kwargs: _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))


def module() -> types.ModuleType:
    fake = types.ModuleType("cupy", __doc__)
    fake.ndarray = DeviceArray
    fake.asarray, fake.array, fake.asnumpy, fake.take = asarray, array, asnumpy, take
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    fake.__getattr__ = _module_getattr
    return fake


DeviceArray.__module__ = "cupy"  # array_module() finds the module by the array type's module


def install(monkeypatch) -> types.ModuleType:
    """Make `import cupy` give the fake for the rest of the test."""
    fake = module()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake
