"""Each recipe end to end, as a user runs it, with its wall time and its
accuracy on images it never trained on or selected with.

    .venv/bin/python benchmarks/recipes.py [--only classic,cpu,fashion] [--cifar DIR]
    python benchmarks/recipes.py --only gpu --cifar DIR      (on a machine with a GPU)

Rows (each one `twolayer train` command, printed with its result):
- classic: the report's recipe on the CIFAR-10 JPEG folder, 1,000 validation
  and 1,000 test images carved out;
- cpu: the cpu recipe on the same folder (5,000 validation and 5,000 test
  images carved out; the test images are never used for training or
  selection);
- fashion: the cpu recipe on Fashion-MNIST (Debian's files) without crops,
  flips and ZCA, scored on its official 10,000 test images;
- gpu: the gpu recipe on the CIFAR-10 folder with --device cuda (CuPy and a
  CUDA GPU), split like cpu. Not in the default rows.

The wall time is the whole command: loading, preprocessing (ZCA is fitted
on the CPU), training, evaluation and the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CIFAR_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg"
CIFAR = "folder:CIFAR"  # stands for the folder given by --cifar
ROWS = {
    "classic": ["--recipe", "classic", "--dataset", CIFAR, "--val-size", "1000", "--test-size", "1000"],
    "cpu": ["--recipe", "cpu", "--dataset", CIFAR],
    "gpu": ["--recipe", "gpu", "--device", "cuda", "--dataset", CIFAR],
    # the cpu recipe without its CIFAR-specific parts: crops of a 28 x 28 garment and ZCA cost points here
    # (and 50 epochs, chosen for it by validation before the recipe went to 90)
    "fashion": ["--recipe", "cpu", "--dataset", "fashion-mnist", "--preprocess", "standardize", "--crop", "0",
                "--no-flip", "--epochs", "50"],
}


def machine() -> str:
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"


def run_row(name: str, cifar: Path) -> str:
    """Run one row's `twolayer train` command; its line of the table."""
    args = [a.replace(CIFAR, f"folder:{cifar}") for a in ROWS[name]]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [sys.executable, "-m", "twolayer", "train", *args, "--out", str(out), "--quiet"]
        started = time.monotonic()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        metrics = json.loads((out / "metrics.json").read_text())
        config = json.loads((out / "config.json").read_text())
    epochs = config["epochs"] if not config["iters"] else f"{config['iters']} it"
    shown = " ".join(["twolayer train", *ROWS[name]]).replace(CIFAR, "folder:../shared/data/cifar10-jpeg")
    return (f"{name:<8} {config['hidden_size']:>6} {epochs:>6} {seconds:>8.0f} {metrics['val_accuracy']:>6.3f} "
            f"{metrics['test_accuracy']:>6.3f}  {shown}")


HEADER = f"{'row':<8} {'hidden':>6} {'epochs':>6} {'seconds':>8} {'val':>6} {'test':>6}  command"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="classic,cpu,fashion", help="rows to run (default: classic,cpu,fashion)")
    parser.add_argument("--cifar", type=Path, default=CIFAR_DIR, help=f"the CIFAR-10 JPEG folder (default {CIFAR_DIR})")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(HEADER)
    for name in args.only.split(","):
        print(run_row(name, args.cifar), flush=True)


if __name__ == "__main__":
    main()
