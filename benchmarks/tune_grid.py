"""Wall time of the report's 3 x 3 grid (lr 1e-4, 1e-3, 1e-2 x reg 0.3, 0.4, 0.5;
hidden 50, batch 200, decay 0.95, 1,000 iterations) with `twolayer tune`,
for --jobs 1 and 2, with the median pruner and without.

    .venv/bin/python benchmarks/tune_grid.py [--data SPEC]

Each configuration runs in a fresh output folder; the dataset's decoded
cache is warmed first so that every row times the search, not JPEG decoding.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = "folder:" + str(Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg")
GRID = ["--recipe", "classic", "--lr", "1e-4,1e-3,1e-2", "--reg", "0.3,0.4,0.5", "--val-size", "1000",
        "--test-size", "1000"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    args = parser.parse_args()
    twolayer = [sys.executable, "-m", "twolayer"]
    subprocess.run([*twolayer, "train", "--dataset", args.data, "--iters", "1", "--lr", "1e-3", "--quiet",
                    "--val-size", "1000", "--test-size", "1000", "--out", tempfile.mkdtemp()], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"{'jobs':>4} {'pruner':>7} {'seconds':>8} {'complete':>8} {'pruned':>6} {'diverged':>8} {'best val':>8}")
    for jobs in (1, 2):
        for pruner in ("none", "median"):
            with tempfile.TemporaryDirectory() as out:
                started = time.monotonic()
                subprocess.run([*twolayer, "tune", "--dataset", args.data, *GRID, "--jobs", str(jobs),
                                "--pruner", pruner, "--out", out, "--quiet"], check=True, stdout=subprocess.DEVNULL)
                seconds = time.monotonic() - started
                rows = list(csv.DictReader(open(Path(out) / "trials.csv")))
                count = {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "diverged")}
                best = max(float(r["val_accuracy"]) for r in rows if r["state"] == "complete")
                print(f"{jobs:>4} {pruner:>7} {seconds:8.1f} {count['complete']:>8} {count['pruned']:>6} "
                      f"{count['diverged']:>8} {best:8.3f}", flush=True)


if __name__ == "__main__":
    main()
