"""Where a training step's time goes, piece by piece, on the shapes of
benchmarks/speed.py's CPU settings (batch 200 of 3,072 float32 values):

    .venv/bin/python benchmarks/step_pieces.py

For hidden 50, 2,048 and 4,096: the first layer's forward product X @ W1 and
weight-gradient product X.T @ dH (each alone, and their share of the square
sgemm peak measured in the same run), the fused update pass over W1 (SGD and
Nesterov, from memory, as in a step, on the rows as_rows gives the kernels),
the 200-row batch gather and the flip-and-crop loop (each call on new random
rows of the 245 MB training array, as `fit` draws them). Each figure is the
median of repeated calls; the update and the gather are measured after a
full-size product has streamed other data through the caches, as in a step.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from twolayer import fused_cpu
from twolayer.layers import SUM_BLOCK, as_rows
from twolayer.noise import Noise

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import matmul_peak  # noqa: E402

B, D, N = 200, 3072, 20_000


def median_ms(call, before=lambda: None, repeats: int = 30) -> float:
    times = []
    for _ in range(repeats + 3):
        before()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times[3:]) * 1e3


def main() -> None:
    peak = matmul_peak()
    print(f"square sgemm peak: {peak:.0f} GFLOP/s")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D), dtype=np.float32)
    batches = [np.sort(rng.permutation(N)[:B]) for _ in range(40)]  # a new batch for each timed call
    print()
    print("| ms | X @ W1 | X.T @ dH | both: share of peak | SGD pass over W1 | Nesterov pass over W1 | "
          "200-row gather | flip-and-crop loop |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for hidden in (50, 2048, 4096):
        print(pieces(hidden, X, batches, peak, rng))


def pieces(hidden: int, X: np.ndarray, batches: list[np.ndarray], peak: float, rng: np.random.Generator) -> str:
    """One table row: the pieces' times at this width."""
    f32 = np.float32
    Xb, out = X[batches[0]], np.empty((B, D), np.float32)
    drawn = iter(batches * 2)
    W = rng.standard_normal((D, hidden), dtype=np.float32) * f32(0.01)
    G, V = np.empty_like(W), np.zeros_like(W)
    H = np.empty((B, hidden), np.float32)
    dH = rng.standard_normal((B, hidden), dtype=np.float32)

    def stream() -> None:  # a step's product, before each pass that reads from memory
        np.matmul(Xb.T, dH, out=G)

    rows = as_rows(W).shape[1]

    def sums() -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(rows, np.float32), np.zeros(rows)

    forward = median_ms(lambda: np.matmul(Xb, W, out=H))
    backward = median_ms(stream)
    share = 2 * (2 * B * D * hidden) / (peak * 1e9) * 1e3 / (forward + backward)
    w, g, v = as_rows(W), as_rows(G), as_rows(V)
    sgd = median_ms(lambda: fused_cpu.sgd(w, g, f32(1.0), f32(1e-9), *sums(), SUM_BLOCK), stream)
    nesterov = median_ms(lambda: fused_cpu.momentum(w, g, v, f32(0.0), f32(1.0), f32(0.9), f32(1e-9), f32(1.0),
                                                    *sums(), SUM_BLOCK), stream)
    gather = median_ms(lambda: np.take(X, next(drawn), axis=0, out=out, mode="clip"), stream)
    noise = Noise(np, 0, 1)
    top, left, flipped = noise.integers(0, 9, B), noise.integers(0, 9, B), noise.random(B) < 0.5
    drawn = iter(batches * 2)
    crop = median_ms(lambda: fused_cpu.flip_and_crop(X, next(drawn), top, left, flipped, 4, 32, 32, 3, out), stream)
    return (f"| hidden {hidden:,} | {forward:.2f} | {backward:.2f} | {share:.0%} | {sgd:.2f} | {nesterov:.2f} | "
            f"{gather:.2f} | {crop:.2f} |")

if __name__ == "__main__":
    main()
