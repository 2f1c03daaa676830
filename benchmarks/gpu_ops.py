"""How many array operations one training step issues on the GPU path,
counted on the CuPy stand-in (tests/fakecupy.py), no GPU needed.

    .venv/bin/python benchmarks/gpu_ops.py

On a GPU the step of `--device cuda` is bound by these calls, not by the
arithmetic: at hidden 4,096 on an H200 its matrix products need 0.2 ms and
the step takes 1.7 ms (benchmarks/speed.py --device cuda; README, "On a
GPU"), each CuPy call costing the host some microseconds to launch. This
counts, per step of each GPU setting of speed.py, the operations that make
a new array (a kernel on a GPU) and those that only make a view (a reshape,
a slice: host time, no kernel), and where in twolayer they come from, so
that work on the GPU path can be measured here before a GPU confirms it.

The updates run through fused_cuda.update as on a GPU, each rule's kernel
counted as one launch (the stand-in has no CUDA kernels: it leaves the
weights as they are, which changes no count).
Tiny data: the counts do not depend on the sizes, only on the options.
"""

from __future__ import annotations

import collections
import sys
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "benchmarks")]

from speed import GPU_SETTINGS  # noqa: E402

import fakecupy  # noqa: E402
import twolayer  # noqa: E402
from twolayer import TrainConfig, TwoLayerNet, fit  # noqa: E402

# twolayer's own files: a line is counted where it is in them (a checkout named twolayer holds the stand-in too)
PACKAGE = str(Path(twolayer.__file__).resolve().parent) + "/"

STEPS = 40  # steps of the shorter of the two runs counted
SHAPE = (8, 8, 3)


class Counter:
    def __init__(self) -> None:
        self.on = False
        self.kernels: collections.Counter = collections.Counter()
        self.views = 0

    def wrap(self, x):
        if self.on and isinstance(x, (np.ndarray, np.generic)):
            if isinstance(x, np.ndarray) and x.base is not None:
                self.views += 1
            else:
                frame = next(f for f in reversed(traceback.extract_stack()[:-2])
                             if str(Path(f.filename).resolve()).startswith(PACKAGE))
                self.kernels[f"{Path(frame.filename).name}:{frame.lineno}"] += 1
        return x


def counted_kernel(counter: Counter):
    """fused_cuda.kernel as the count sees it: each call of a rule's kernel is one launch. It leaves the
    arrays as they are (the counts do not depend on the numbers)."""

    def kernel(name: str):
        def launch(*arrays):
            counter.kernels[f"fused_cuda.py: the {name} kernel"] += 1

        return launch

    return kernel


def count(setting, counter: Counter) -> tuple[float, float, collections.Counter]:
    rng = np.random.default_rng(0)
    n, batch = 4 * setting.batch, setting.batch
    X = rng.standard_normal((n, int(np.prod(SHAPE))), dtype=np.float32)
    y = rng.integers(0, 10, n)

    def run(iters: int) -> None:
        net = TwoLayerNet(X.shape[1], 16, 10, std=setting.options["std"], seed=0, dtype=np.float32)
        config = TrainConfig(**{**setting.options, "batch_size": batch}, iters=iters, device="cuda")
        fit(net, X, y, config=config, image_shape=SHAPE, eval_size=1)

    def launched(iters: int) -> tuple[collections.Counter, int]:
        kernels, views = counter.kernels.copy(), counter.views
        counter.on = True
        run(iters)
        counter.on = False
        return counter.kernels - kernels, counter.views - views

    # a run of 2 * STEPS less a run of STEPS: the run's set-up and end cancel out
    (short, short_views), (long, long_views) = launched(STEPS), launched(2 * STEPS)
    where = collections.Counter({k: (long[k] - short[k]) / STEPS for k in long if long[k] != short[k]})
    return sum(where.values()), (long_views - short_views) / STEPS, where


def main() -> None:
    from _pytest.monkeypatch import MonkeyPatch

    counter = Counter()
    patch = MonkeyPatch()
    patch.setattr(fakecupy, "_wrap", (lambda wrap: lambda x: wrap(counter.wrap(x)))(fakecupy._wrap))
    fake = fakecupy.install(patch)
    fake.ElementwiseKernel = None  # backend.fused_update then takes fused_cuda.update, as on a GPU
    from twolayer import fused_cuda

    patch.setattr(fused_cuda, "kernel", counted_kernel(counter))
    print("| setting | kernels per step | views per step |")
    print("| --- | --- | --- |")
    details = []
    for setting in GPU_SETTINGS:
        kernels, views, where = count(setting, counter)
        print(f"| {setting.name} | {kernels:.0f} | {views:.0f} |")
        details.append((setting.name, where))
    for name, where in details:
        print(f"\n{name}: kernels per step by line")
        for site, k in where.most_common():
            print(f"  {k:5.1f}  {site}")


if __name__ == "__main__":
    main()
