"""A new user's first command on each built-in source: `twolayer train
--dataset D` with no other option. Prints the README's table of the default
runs: dataset, command, validation and test accuracy, wall time (data
loading included; the CIFAR-10 folder's decode cache is warmed first, as a
user's second run would find it, and its first decode is timed apart).

    python benchmarks/defaults.py [--cifar DIR] [--only digits,fashion-mnist,cifar10]

Targets (issue "First contact"): each within 2 minutes on 2 cores; digits
>= 0.95, Fashion-MNIST >= 0.85, the CIFAR-10 JPEG folder >= 0.45 test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CIFAR = HERE.parent.parent / "shared" / "data" / "cifar10-jpeg"


def train(spec: str, out: Path) -> tuple[dict, float]:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "twolayer", "train", "--dataset", spec, "--out", str(out), "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text()), time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, default=DEFAULT_CIFAR, help="the CIFAR-10 JPEG folder")
    parser.add_argument("--only", default="digits,fashion-mnist,cifar10", help="which rows")
    args = parser.parse_args()
    specs = {"digits": "digits", "fashion-mnist": "fashion-mnist", "cifar10": f"folder:{args.cifar}"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if "cifar10" in args.only:
            start = time.monotonic()
            from twolayer.data import load_dataset

            load_dataset(specs["cifar10"], quiet=True)  # the decode cache, as a second run finds it
            print(f"(CIFAR-10 folder: first decode or cache check {time.monotonic() - start:.1f} s)", flush=True)
        for name in args.only.split(","):
            metrics, seconds = train(specs[name], Path(tmp) / name)
            command = f"twolayer train --dataset {specs[name] if name != 'cifar10' else 'folder:DIR'}"
            rows.append(f"| {name} | `{command}` | {metrics['val_accuracy']:.3f} | {metrics['test_accuracy']:.3f} "
                        f"| {seconds:.0f} s |")
            print(rows[-1], flush=True)
    print("\n| dataset | command | validation | test | wall time |\n| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
