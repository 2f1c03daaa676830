"""Training speed against PyTorch at its fastest, on the same steps.

    .venv/bin/python benchmarks/speed.py [--steps 40]          # PyTorch: pip install torch==2.13.0 (the bench extra)
    python benchmarks/speed.py --device cuda [--recipe-cifar DIR]

One run measures, on random CIFAR-sized data (rows of 32 x 32 x 3 = 3,072
values, 10 classes, 20,000 rows):

- classic: hidden 50, SGD + L2, batch 200 (the course's recipe);
- the cpu recipe's step: hidden 2,048, Nesterov momentum 0.9 + L2 + random
  flips and 4-pixel reflect-padded crops + label smoothing 0.1, batch 200
  (recipes.py's "cpu" options, less its data preparation);
- hidden 4,096, SGD + L2, batch 200;

and, in the same run, the machine's square float32 matrix-multiply (sgemm)
peak. For each: milliseconds per step of

- twolayer: `twolayer.fit` itself (batch gather, flips and crops, forward
  and backward, L2 term, schedule, the fused update);
- PyTorch fused: the same network and step as a PyTorch user writes it at
  its fastest: nn.Linear layers, CrossEntropyLoss (label_smoothing),
  torch.optim.SGD(..., fused=True) with momentum and nesterov as the setting
  says and weight_decay = 2 * reg on the weights only (that is L2's slope, so
  the same update as twolayer's reg), flips and crops vectorized on the
  batch (F.pad reflect, then one gather);
- the GEMM floor: the step's matrix products (2 B (2 D H + 3 H C) flops: no
  input gradient for the first layer, in either library) at the sgemm peak,
  and twolayer's share of that peak (floor / twolayer's time).

A second table adds PyTorch's default SGD (foreach, not fused) and, for the
plain SGD settings, the float64 NumPy loop of the assignment
(benchmarks/reference.py) and scikit-learn's MLPClassifier. Each time is the
median of each step's own time over --steps steps after a warm-up (the
first steps compile numba's kernels and fault in the buffers), and for
twolayer and PyTorch fused the best of --rounds rounds (twolayer's settings,
then PyTorch's, in turn), so that a slow spell of a shared machine does not
decide the ratio; BLAS threads
are left at their defaults (all cores) for every library.

With --device cuda the same is measured on the GPU (twolayer on CuPy arrays
against PyTorch on CUDA, both in full float32, the data on the GPU for both):
SGD + L2 at hidden 512, 4,096 and 8,192 and the gpu recipe's step (hidden
8,192, batch 256, dropout, flips, crops, smoothing), against the GPU's
float32 matmul peak. There a step's time is the difference between a run of
2k and one of k steps, divided by k (a fit call has fixed costs: moving the
weights there and back). --recipe-cifar DIR then times the gpu recipe end to
end on that CIFAR-10 JPEG folder (benchmarks/recipes.py's gpu row).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twolayer.recipes import RECIPES

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `reference` and `recipes`

N, SHAPE, C = 20_000, (32, 32, 3), 10
D = int(np.prod(SHAPE))
WARMUP = 3  # steps left out of every timing
# what a fit's options keep from a recipe: the step, not the data preparation or the run's length
STEP_OPTIONS = ("std", "lr", "reg", "batch_size", "schedule", "warmup", "lr_decay", "optimizer", "momentum",
                "flip", "crop", "label_smoothing", "dropout_input", "dropout_hidden")


@dataclass
class Setting:
    name: str
    hidden: int
    options: dict = field(default_factory=dict)  # TrainConfig options
    target: str = ""  # issue 16's goal for it

    @property
    def batch(self) -> int:
        return self.options["batch_size"]

    @property
    def plain_sgd(self) -> bool:
        """Only plain SGD + L2 has peers beyond PyTorch (the float64 loop, scikit-learn)."""
        o = self.options
        return o["optimizer"] == "sgd" and not (o.get("flip") or o.get("crop") or o.get("label_smoothing")
                                                or o.get("dropout_input") or o.get("dropout_hidden"))


def recipe_step(name: str, **changes) -> dict:
    return {k: v for k, v in {**RECIPES[name], **changes}.items() if k in STEP_OPTIONS}


SGD_L2 = recipe_step("classic")
CPU_SETTINGS = [
    Setting("classic: hidden 50, SGD + L2", 50, SGD_L2, "PyTorch / twolayer >= 1.5x"),
    Setting("cpu recipe's step: hidden 2,048, Nesterov + L2 + flips/crops + smoothing", 2048, recipe_step("cpu"),
            ">= 1.2x and >= 75% of peak"),
    Setting("hidden 4,096, SGD + L2", 4096, SGD_L2, ">= 1.3x and >= 80% of peak"),
]
GPU_SETTINGS = [
    *(Setting(f"hidden {h:,}, SGD + L2", h, SGD_L2) for h in (512, 4096, 8192)),
    Setting("gpu recipe's step: hidden 8,192, Nesterov + L2 + dropout + flips/crops + smoothing", 8192,
            recipe_step("gpu"), "at least PyTorch's speed at hidden >= 4,096"),
]


def flops_per_step(s: Setting) -> int:
    # forward X @ W1 and h @ W2; backward dW2, dh and dW1 (no dX for the input)
    return 2 * s.batch * (2 * D * s.hidden + 3 * s.hidden * C)


def matmul_peak(xp=np, sizes=(1024, 2048, 3072, 4096), sync=lambda: None) -> float:
    """The best GFLOP/s of large square float32 matrix products: the rate no
    step made of matrix products can beat for long."""
    best = 0.0
    for n in sizes:
        a = xp.asarray(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
        out = xp.empty_like(a)
        xp.matmul(a, a, out=out)
        sync()
        for _ in range(3):
            start = time.perf_counter()
            xp.matmul(a, a, out=out)
            sync()
            best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def random_data() -> tuple[np.ndarray, np.ndarray]:
    """Standardized pixels, as preprocessing leaves them, and random labels."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, D), dtype=np.float32), rng.integers(0, C, N).astype(np.int64)


def _fit(X, y, s: Setting, iters: int, device: str = "cpu", on_iteration=None) -> None:
    from twolayer import TrainConfig, TwoLayerNet, fit

    net = TwoLayerNet(D, s.hidden, C, std=s.options["std"], seed=0, dtype=np.float32)
    config = TrainConfig(**s.options, iters=iters, device=device)
    history = fit(net, X, y, config=config, image_shape=SHAPE, eval_size=1, on_iteration=on_iteration)
    if history.stop_reason:  # a diverged run would time less than a whole run's steps
        raise SystemExit(f"{s.name}: {history.stop_reason}")


def twolayer_ms(X, y, s: Setting, steps: int) -> float:
    """The median time between consecutive iterations of one fit (each a whole step)."""
    stamps: list[float] = []
    _fit(X, y, s, WARMUP + steps + 1, on_iteration=lambda *_: stamps.append(time.perf_counter()))
    return statistics.median(np.diff(stamps)[WARMUP:]) * 1e3


def twolayer_gpu_ms(X, y, s: Setting, steps: int) -> float:
    """ms per step of fit on CuPy arrays: (time of 2k steps - time of k) / k."""

    def seconds(k: int) -> float:
        start = time.perf_counter()
        _fit(X, y, s, k, device="cuda")  # fit ends by copying the weights back: the GPU is done
        return time.perf_counter() - start

    seconds(steps)  # warm-up: CuPy compiles its kernels on first use
    return statistics.median((seconds(2 * steps) - seconds(steps)) / steps * 1e3 for _ in range(3))


def torch_ms(X, y, s: Setting, steps: int, device: str = "cpu", fused: bool = True) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    o = s.options
    augment = o.get("flip") or o.get("crop")
    Xt = torch.from_numpy(X).to(device)
    if augment:  # images as PyTorch keeps them, (N, C, H, W)
        Xt = Xt.view(N, *SHAPE).permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y).to(device)
    first, second = torch.nn.Linear(D, s.hidden), torch.nn.Linear(s.hidden, C)
    dropout = [torch.nn.Dropout(p) if p else torch.nn.Identity() for p in (o.get("dropout_input", 0.0),
                                                                          o.get("dropout_hidden", 0.0))]
    model = torch.nn.Sequential(dropout[0], first, torch.nn.ReLU(), dropout[1], second).to(device)
    momentum = o.get("momentum", 0.0) if o["optimizer"] in ("momentum", "nesterov") else 0.0
    optimizer = torch.optim.SGD([{"params": [first.weight, second.weight], "weight_decay": 2 * o["reg"]},
                                 {"params": [first.bias, second.bias], "weight_decay": 0.0}], lr=o["lr"],
                                momentum=momentum, nesterov=o["optimizer"] == "nesterov", fused=fused or None)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=o.get("label_smoothing", 0.0))
    generator = torch.Generator(device=device).manual_seed(0)
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None

    def step() -> None:
        idx = torch.randint(N, (s.batch,), generator=generator, device=device)
        batch = Xt[idx]
        if augment:
            batch = torch_flip_and_crop(batch, o.get("crop", 0), o.get("flip", False), generator)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(batch.reshape(s.batch, -1)), yt[idx]).backward()
        optimizer.step()

    if device == "cuda":  # whole blocks: a sync after every step would cost the GPU its queue
        return median_block_ms(step, steps, sync)
    times = []
    for _ in range(WARMUP + steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[WARMUP:]) * 1e3


def torch_flip_and_crop(images, pad: int, flip: bool, generator):
    """Random flips and reflect-padded crops of (B, C, H, W) images,
    vectorized: one padded copy, then one gather."""
    import torch

    b, _, h, w = images.shape
    dev = images.device
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="reflect") if pad else images
    top = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=dev)
    left = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=dev)
    cols = torch.arange(w, device=dev).expand(b, w)
    if flip:
        cols = torch.where(torch.rand(b, generator=generator, device=dev)[:, None] < 0.5, w - 1 - cols, cols)
    rows = (top[:, None] + torch.arange(h, device=dev))[:, None, :, None]
    cols = (cols + left[:, None])[:, None, None, :]
    channels = torch.arange(images.shape[1], device=dev)[None, :, None, None]
    return padded[torch.arange(b, device=dev)[:, None, None, None], channels, rows, cols]


def median_block_ms(step, iters: int, sync=lambda: None, blocks: int = 3) -> float:
    step()  # warm-up
    sync()
    times = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(iters):
            step()
        sync()  # a GPU's work is done only when it says so
        times.append((time.perf_counter() - start) / iters * 1e3)
    return statistics.median(times)


def float64_ms(X, y, s: Setting, steps: int) -> float:
    """The assignment's loop as students write it: float64, new arrays every step."""
    from reference import ClassicNet

    net, X64 = ClassicNet(D, s.hidden, C), X.astype(np.float64)
    return median_block_ms(lambda: net.step(X64, y, s.batch, s.options["lr"], s.options["reg"]), steps)


def sklearn_ms(X, y, s: Setting, steps: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    n = s.batch * steps  # one epoch over n rows is `steps` minibatch steps
    times = []
    for _ in range(3):
        clf = MLPClassifier(hidden_layer_sizes=(s.hidden,), solver="sgd", batch_size=s.batch,
                            learning_rate_init=s.options["lr"], alpha=s.options["reg"], momentum=0.0,
                            nesterovs_momentum=False, max_iter=1, tol=0.0, shuffle=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            clf.fit(X[:n], y[:n])
        times.append((time.perf_counter() - start) / steps * 1e3)
    return statistics.median(times)


def best(earlier: dict, now: dict) -> dict:
    """Per setting, the lower of two times (None: not measured)."""
    return {k: v if v is None or earlier.get(k) is None else min(v, earlier[k]) for k, v in now.items()}


def cell(ms: float | None, ours: float) -> str:
    return "-" if ms is None else f"{ms:.2f} ({ms / ours:.2f}x)"


def print_tables(settings, ours: dict, fused: dict, others: dict, peak: float, what: str) -> None:
    """The markdown tables: ms per step, PyTorch's time over twolayer's, the GEMM floor and share of peak."""
    print()
    print(f"| ms per step ({what}) | twolayer | PyTorch fused | PyTorch / twolayer | GEMM floor | "
          "twolayer's share of peak | target |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for s in settings:
        floor = flops_per_step(s) / (peak * 1e9) * 1e3
        ratio = "-" if fused[s.name] is None else f"{fused[s.name] / ours[s.name]:.2f}x"
        torch_cell = "-" if fused[s.name] is None else f"{fused[s.name]:.2f}"
        print(f"| {s.name} | {ours[s.name]:.2f} | {torch_cell} | {ratio} | {floor:.2f} | "
              f"{floor / ours[s.name]:.0%} | {s.target or '-'} |")
    print()
    names = list(others)
    print("| ms per step (peer / twolayer) | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for s in settings:
        print(f"| {s.name} | " + " | ".join(cell(others[k].get(s.name), ours[s.name]) for k in names) + " |")
    print()
    print("(x: the peer's time over twolayer's; above 1, twolayer is faster. GEMM floor: the step's matrix "
          f"products at the square-sgemm peak of {peak:.0f} GFLOP/s measured in this run.)")


def torch_info() -> str:
    try:
        import torch
    except ImportError:
        return "PyTorch not installed (pip install torch==2.13.0, the bench extra): its columns are empty"
    return f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"


def main_gpu(args) -> None:
    import cupy

    sync = cupy.cuda.get_current_stream().synchronize
    props = cupy.cuda.runtime.getDeviceProperties(0)
    print(f"GPU: {props['name'].decode()}; CuPy {cupy.__version__}; {torch_info()}; "
          f"CUPY_TF32={os.environ.get('CUPY_TF32', '(unset: off)')}")
    peak = matmul_peak(cupy, (4096, 8192), sync)
    print(f"float32 matmul peak (best square product, 4,096 and 8,192): {peak:.0f} GFLOP/s")
    X, y = random_data()
    Xd, yd = cupy.asarray(X), cupy.asarray(y)  # on the GPU once, for every run below
    cupy.get_default_memory_pool().free_all_blocks()
    ours = {s.name: twolayer_gpu_ms(Xd, yd, s, 200) for s in GPU_SETTINGS}
    ours_bytes = cupy.get_default_memory_pool().total_bytes()
    fused = {s.name: torch_ms(X, y, s, 200, device="cuda") for s in GPU_SETTINGS}
    others = {"PyTorch default SGD": {s.name: torch_ms(X, y, s, 200, device="cuda", fused=False)
                                      for s in GPU_SETTINGS}}
    print_tables(GPU_SETTINGS, ours, fused, others, peak, props["name"].decode())
    print(f"GPU memory held by CuPy's pool after twolayer's runs: {ours_bytes / 2**20:.0f} MB "
          f"(data {X.nbytes / 2**20:.0f} MB)")
    if args.recipe_cifar:
        from recipes import HEADER, run_row

        print()
        print(HEADER)
        print(run_row("gpu", args.recipe_cifar), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to measure (default cpu)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per library and setting (default 40)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="CPU: rounds of twolayer then PyTorch fused; each keeps its best round (default 3)")
    parser.add_argument("--recipe-cifar", type=Path, metavar="DIR",
                        help="with --device cuda: also time the gpu recipe on this CIFAR-10 JPEG folder")
    args = parser.parse_args()
    if args.device == "cuda":
        main_gpu(args)
        return
    import numba
    from threadpoolctl import threadpool_info

    blas = [f"{i['internal_api']} {i.get('architecture', '?')} x{i['num_threads']}" for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"cores {os.cpu_count()}; NumPy {np.__version__}, BLAS {', '.join(blas)}; numba {numba.__version__}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; {torch_info()}")
    peak = matmul_peak()
    print(f"square sgemm peak (best float32 product, 1,024 to 4,096): {peak:.0f} GFLOP/s")

    X, y = random_data()
    steps = args.steps
    ours, fused, ours_rss = {}, {}, 0.0
    for _ in range(args.rounds):  # each library's best round: a shared machine's slow spells hit both alike
        ours = best(ours, {s.name: twolayer_ms(X, y, s, steps) for s in CPU_SETTINGS})
        ours_rss = ours_rss or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        fused = best(fused, {s.name: torch_ms(X, y, s, steps) for s in CPU_SETTINGS})
    others = {
        "PyTorch default SGD": {s.name: torch_ms(X, y, s, steps, fused=False) for s in CPU_SETTINGS},
        "float64 NumPy": {s.name: float64_ms(X, y, s, max(steps // 4, 4)) for s in CPU_SETTINGS if s.plain_sgd},
        "scikit-learn MLP": {s.name: sklearn_ms(X, y, s, max(steps // 4, 4)) for s in CPU_SETTINGS if s.plain_sgd},
    }
    print_tables(CPU_SETTINGS, ours, fused, others, peak, f"{os.cpu_count()} cores")
    print(f"peak resident memory: {ours_rss:.0f} MB after twolayer's runs (data {X.nbytes / 2**20:.0f} MB), "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB after all")


if __name__ == "__main__":
    main()
