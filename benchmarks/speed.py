"""Training speed, side by side with what users would pick instead.

    .venv/bin/python benchmarks/speed.py [--hidden 50,512,4096]
    python benchmarks/speed.py --device cuda [--hidden 512,4096,8192] [--recipe-cifar DIR]

One run measures, on the same shapes and recipe (input 3,072, 10 classes,
batch 200, plain SGD with L2, random CIFAR-sized float data):

- twolayer: `twolayer.fit` itself (batch gather, step, schedule, update);
- float64 NumPy: the classic assignment's straightforward loop, written here;
- PyTorch on the CPU (nn.Linear, CrossEntropyLoss, optim.SGD), if installed
  (`pip install torch==2.13.0`, the `bench` extra);
- scikit-learn's MLPClassifier (solver sgd, batch 200).

It prints milliseconds per iteration (the median of several timed blocks),
each peer's time divided by twolayer's (above 1: twolayer is faster),
twolayer's fraction of the machine's float32 matrix-multiply peak (measured
here with a large NumPy matmul), and peak resident memory. BLAS threads are
left at their defaults (all cores) for every library; the OpenBLAS kernel
NumPy uses is printed, since OPENBLAS_CORETYPE may pin an older one.

With --device cuda the same is measured on the GPU: twolayer's fit on CuPy
arrays against PyTorch on the same GPU (both in full float32: CuPy and
PyTorch leave TF32 off by default), the data on the GPU for both, the
fraction of the GPU's float32 matmul peak, and peak GPU memory. A fit call
has fixed costs (moving the weights there and back), so twolayer's time per
iteration is the difference between a run of 2k and one of k iterations,
divided by k. --recipe-cifar DIR then times the gpu recipe end to end on
that CIFAR-10 JPEG folder (benchmarks/recipes.py's gpu row).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `reference`

N, D, C, B = 20_000, 3072, 10, 200
LR, REG = 1e-3, 0.1


def median_ms(step, iters: int, blocks: int = 3, sync=lambda: None) -> float:
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


def twolayer_gpu_ms(X, y, hidden: int, iters: int) -> float:
    """ms per iteration of fit on CuPy arrays: (time of 2k iterations - time of k) / k."""
    from twolayer import TrainConfig, TwoLayerNet, fit

    net = TwoLayerNet(D, hidden, C, std=1e-4, seed=0, dtype=np.float32)

    def seconds(k: int) -> float:
        start = time.perf_counter()
        fit(net, X, y, config=TrainConfig(lr=LR, reg=REG, iters=k, batch_size=B, device="cuda"), eval_size=1)
        return time.perf_counter() - start  # fit ends by copying the weights back: the GPU is done

    seconds(iters)  # warm-up: CuPy compiles its kernels on first use
    return statistics.median((seconds(2 * iters) - seconds(iters)) / iters * 1e3 for _ in range(3))


def twolayer_ms(X, y, hidden: int, iters: int) -> float:
    from twolayer import TrainConfig, TwoLayerNet, fit

    net = TwoLayerNet(D, hidden, C, std=1e-4, seed=0, dtype=np.float32)
    # N // B = 100 iterations per epoch: blocks of `iters` < 100 time the steps,
    # and eval_size=1 keeps the end-of-block evaluation negligible.
    config = TrainConfig(lr=LR, reg=REG, iters=iters, batch_size=B)
    return median_ms(lambda: fit(net, X, y, config=config, eval_size=1), 1, blocks=3) / iters


def float64_ms(X, y, hidden: int, iters: int) -> float:
    """The assignment's loop as students write it: float64, new arrays every step."""
    from reference import ClassicNet

    net, X64 = ClassicNet(D, hidden, C), X.astype(np.float64)
    return median_ms(lambda: net.step(X64, y, B, LR, REG), iters)


def torch_ms(X, y, hidden: int, iters: int, device: str = "cpu") -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    first, second = torch.nn.Linear(D, hidden), torch.nn.Linear(hidden, C)
    model = torch.nn.Sequential(first, torch.nn.ReLU(), second).to(device)
    optimizer = torch.optim.SGD([{"params": [first.weight, second.weight], "weight_decay": 2 * REG},
                                 {"params": [first.bias, second.bias], "weight_decay": 0.0}], lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator(device=device).manual_seed(0)

    def step() -> None:
        idx = torch.randint(N, (B,), generator=generator, device=device)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(Xt[idx]), yt[idx]).backward()
        optimizer.step()

    return median_ms(step, iters, sync=torch.cuda.synchronize if device == "cuda" else lambda: None)


def sklearn_ms(X, y, hidden: int, iters: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    n = B * iters  # one epoch over n rows is `iters` minibatch steps
    times = []
    for _ in range(3):
        clf = MLPClassifier(hidden_layer_sizes=(hidden,), solver="sgd", batch_size=B, learning_rate_init=LR,
                            alpha=REG, momentum=0.0, nesterovs_momentum=False, max_iter=1, tol=0.0,
                            shuffle=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            clf.fit(X[:n], y[:n])
        times.append((time.perf_counter() - start) / iters * 1e3)
    return statistics.median(times)


def flops_per_iteration(hidden: int) -> int:
    # forward X @ W1 and h @ W2; backward dW2, dh and dW1 (no dX for the input)
    return 2 * B * (2 * D * hidden + 3 * hidden * C)


def print_results(sizes, ours: dict, peers: dict, peak: float) -> None:
    """The table of ms per iteration, then twolayer's GFLOP/s against the matmul peak."""
    print()
    print(f"{'ms per iteration':<18}" + "".join(f"{f'hidden {h}':>14}" for h in sizes))
    print(f"{'twolayer':<18}" + "".join(f"{ours[h]:>14.2f}" for h in sizes))
    for name, times in peers.items():
        cells = "".join(f"{'-':>14}" if times[h] is None else f"{times[h]:>8.2f} ({times[h] / ours[h]:.1f}x)"
                        for h in sizes)
        print(f"{name:<18}" + cells)
    print("(peer's time / twolayer's: above 1x, twolayer is faster)")
    print()
    for h in sizes:
        rate = flops_per_iteration(h) / (ours[h] / 1e3) / 1e9
        print(f"twolayer, hidden {h}: {rate:.0f} GFLOP/s, {rate / peak:.0%} of the matmul peak")


def random_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((N, D), dtype=np.float32) * 60).astype(np.float32)
    return X, rng.integers(0, C, N).astype(np.int64)


def main_gpu(args) -> None:
    import cupy

    sync = cupy.cuda.get_current_stream().synchronize
    props = cupy.cuda.runtime.getDeviceProperties(0)
    print(f"GPU: {props['name'].decode()}; CuPy {cupy.__version__}; "
          f"CUPY_TF32={os.environ.get('CUPY_TF32', '(unset: off)')}")
    peak = matmul_peak(cupy, (4096, 8192), sync)
    print(f"float32 matmul peak (best square product, 4,096 and 8,192): {peak:.0f} GFLOP/s")
    X, y = random_data()
    Xd, yd = cupy.asarray(X), cupy.asarray(y)  # on the GPU once, for every run below
    sizes = [int(h) for h in (args.hidden or "512,4096,8192").split(",")]
    cupy.get_default_memory_pool().free_all_blocks()
    ours = {h: twolayer_gpu_ms(Xd, yd, h, 200) for h in sizes}
    ours_bytes = cupy.get_default_memory_pool().total_bytes()
    peers = {"PyTorch CUDA": {h: torch_ms(X, y, h, 200, device="cuda") for h in sizes}}
    print_results(sizes, ours, peers, peak)
    print(f"GPU memory held by CuPy's pool after twolayer's runs: {ours_bytes / 2**20:.0f} MB "
          f"(data {X.nbytes / 2**20:.0f} MB)")
    if args.recipe_cifar:
        from recipes import HEADER, run_row

        print()
        print(HEADER)
        print(run_row("gpu", args.recipe_cifar), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", help="hidden sizes (default 50,512,4096; with --device cuda 512,4096,8192)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to measure (default cpu)")
    parser.add_argument("--recipe-cifar", type=Path, metavar="DIR",
                        help="with --device cuda: also time the gpu recipe on this CIFAR-10 JPEG folder")
    args = parser.parse_args()
    if args.device == "cuda":
        main_gpu(args)
        return
    from threadpoolctl import threadpool_info

    blas = [f"{i['internal_api']} {i.get('architecture', '?')} x{i['num_threads']}" for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"cores {os.cpu_count()}; NumPy BLAS: {', '.join(blas)}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    peak = matmul_peak()
    print(f"float32 matmul peak (best square product, 1,024 to 4,096): {peak:.0f} GFLOP/s")

    X, y = random_data()
    sizes = [int(h) for h in (args.hidden or "50,512,4096").split(",")]

    ours = {h: twolayer_ms(X, y, h, 60 if h < 2048 else 12) for h in sizes}
    ours_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peers = {
        "float64 NumPy": {h: float64_ms(X, y, h, 40 if h < 2048 else 8) for h in sizes},
        "PyTorch CPU": {h: torch_ms(X, y, h, 60 if h < 2048 else 12) for h in sizes},
        "scikit-learn MLP": {h: sklearn_ms(X, y, h, 20 if h < 2048 else 5) for h in sizes},
    }
    print_results(sizes, ours, peers, peak)
    print(f"peak resident memory: {ours_rss:.0f} MB after twolayer's runs (data {X.nbytes / 2**20:.0f} MB), "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB after all")


if __name__ == "__main__":
    main()
