"""Random numbers for training noise: dropout masks, flips and crop offsets.

They come from a counter-based generator: every number is a pure function
of (seed, iteration, draw, element index). That buys three things:

- the same numbers on NumPy and on CuPy, computed where the data lives
  (a GPU run draws its masks on the GPU, and draws what a CPU run draws);
- nothing to save in a checkpoint: the iteration number is the state, so
  a resumed run draws exactly what an uninterrupted one would have;
- no shared generator to pass around or to advance in the right order.

How: a 64-bit key is mixed from (seed, iteration, draw) in Python with
splitmix64; element i's 32 random bits are lowbias32(i * k1 + k2), where k1
(odd) and k2 are the key's halves and lowbias32 is Chris Wellons' integer
hash (a bijection of 32-bit integers whose output bits each depend on every
input bit). Statistical checks are in tests/test_noise.py.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

MASK64 = (1 << 64) - 1


def splitmix64(z: int) -> int:
    """One step of splitmix64: a well-mixed 64-bit integer from any integer."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class Noise:
    """The noise of one training step, on array module xp.

    Its draws (`random`, `integers`) follow numpy.random.Generator's
    signatures, so layers written for a Generator take a Noise as well.
    Each draw gets its own key; the n-th draw of a step is always the same.
    """

    def __init__(self, xp: ModuleType, seed: int, iteration: int) -> None:
        self.xp = xp
        self.key = splitmix64(splitmix64(splitmix64(int(seed)) ^ int(iteration)))
        self.draws = 0

    def bits(self, shape: int | tuple[int, ...]) -> Any:
        """uint32 random bits of the given shape."""
        xp = self.xp
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        key = splitmix64(self.key ^ self.draws)
        self.draws += 1
        x = xp.arange(int(np.prod(shape)), dtype=np.uint32)
        x *= np.uint32((key & 0xFFFFFFFF) | 1)  # an odd multiplier: still one value per index
        x += np.uint32(key >> 32)
        # lowbias32; uint32 arithmetic wraps around, as the hash intends
        x ^= x >> 16
        x *= np.uint32(0x7FEB352D)
        x ^= x >> 15
        x *= np.uint32(0x846CA68B)
        x ^= x >> 16
        return x.reshape(shape)

    def random(self, size: int | tuple[int, ...], dtype: Any = np.float64) -> Any:
        """Floats uniform on [0, 1), with 24 random bits each."""
        x = (self.bits(size) >> 8).astype(dtype)
        x *= x.dtype.type(2.0**-24)
        return x

    def integers(self, low: int, high: int, size: int | tuple[int, ...]) -> Any:
        """Integers uniform on [low, high), for small ranges (high - low < 2**16)."""
        if not 0 < high - low < 2**16:
            raise ValueError(f"integers needs 0 < high - low < 65536, got [{low}, {high})")
        # the top 16 bits times the range, over 2**16: off uniform by under 2**-16 per value
        x = (self.bits(size) >> 16).astype(np.int64)
        x *= high - low
        x >>= 16
        x += low
        return x
