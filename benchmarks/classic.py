"""The course report's recipe, reproduced on CIFAR-10 over several seeds.

    .venv/bin/python benchmarks/classic.py [--data folder:../shared/data/cifar10-jpeg]

Trains hidden 50, lr 1e-3, reg 0.4, batch 200, decay 0.95, 1,000 iterations
on 48,000 images with 1,000 validation and 1,000 test images carved out, for
each (seed, split seed) pair, and prints validation and test accuracy, their
means, wall time and the peak resident memory of this process. The report:
0.475 validation, 0.477 test.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `reference`

from twolayer.config import TrainConfig  # noqa: E402
from twolayer.recipes import RECIPES  # noqa: E402
from twolayer.workflow import train  # noqa: E402

DEFAULT_DATA = "folder:" + str(Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="dataset spec (default: the shared CIFAR-10 JPEGs)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per split")
    parser.add_argument("--split-seeds", type=int, default=3, help="validation/test carves")
    parser.add_argument("--reference", action="store_true",
                        help="train with the assignment's own float64 loop (benchmarks/reference.py) on the "
                             "same splits, to tell the data's part from the trainer's")
    args = parser.parse_args()

    rows = []
    print(f"{'seed':>4} {'split':>5} {'val':>6} {'test':>6} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for split_seed in range(args.split_seeds):
            for seed in range(args.seeds):
                config = TrainConfig(**RECIPES["classic"], recipe="classic", dataset=args.data, val_size=1000,
                                     test_size=1000, seed=seed, split_seed=split_seed)
                started = time.monotonic()
                if args.reference:
                    m = reference_run(config)
                else:
                    m = train(config, Path(tmp) / f"{split_seed}-{seed}", quiet=True).metrics
                seconds = time.monotonic() - started
                rows.append((m["val_accuracy"], m["test_accuracy"]))
                print(f"{seed:>4} {split_seed:>5} {m['val_accuracy']:6.3f} {m['test_accuracy']:6.3f} {seconds:8.1f}")
    val, test = zip(*rows, strict=True)
    print(f"mean val {statistics.mean(val):.3f} (min {min(val):.3f}, max {max(val):.3f}); "
          f"mean test {statistics.mean(test):.3f} (min {min(test):.3f}, max {max(test):.3f}); report 0.475 / 0.477")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak_mb:.0f} MB")


def reference_run(config: TrainConfig) -> dict[str, float]:
    from reference import ClassicNet

    from twolayer.workflow import prepare

    config.dtype = "float64"
    data = prepare(config)
    net = ClassicNet(data.X["train"].shape[1], config.hidden_size, 10, config.std, config.seed)
    net.train(data.X["train"], data.y["train"], config.lr, config.lr_decay, config.reg, config.iters,
              config.batch_size)
    return {split + "_accuracy": float((net.predict(data.X[split]) == data.y[split]).mean())
            for split in ("val", "test")}


if __name__ == "__main__":
    main()
