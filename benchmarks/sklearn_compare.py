"""TwoLayerClassifier against scikit-learn's MLPClassifier, one run, printed
as a markdown table: test accuracy and fit time, side by side.

    .venv/bin/python benchmarks/sklearn_compare.py [--hidden 100] [--epochs 20] [--threads 1] [--cifar DIR]

Both get the same hidden layer and the same number of epochs, and both sit
in Pipeline(StandardScaler(), model), as scikit-learn recommends for
networks. Otherwise each keeps its own defaults:

- TwoLayerClassifier: Adam at lr 2e-3, batches of 50, L2 1e-3, 10% of the
  training rows held out to keep the best epoch (the "sklearn" recipe over
  the option table).
- MLPClassifier: solver "adam" (its default, which scikit-learn recommends
  for datasets of thousands of samples; "lbfgs" counts iterations, not
  epochs), lr 1e-3, batches of 200, alpha 1e-4, every training row used;
  max_iter = epochs and n_iter_no_change = epochs, so that its stopping rule
  never cuts the run short.

Data: scikit-learn's digits (1,437 train / 360 test, stratified), Fashion-MNIST
(Debian's files or the data directory: 60,000 / 10,000) and 10,000 images drawn
at random from the CIFAR-10 JPEG folder (8,000 / 2,000, stratified). Fit
time includes the scaler. BLAS runs on --threads threads for both (default
1: on a 2-core machine that others use, two OpenBLAS threads made a
(50 x 3,072) @ (3,072 x 100) product 50 times slower than one, 37 ms
against 0.76 ms).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from twolayer.data import load_dataset
from twolayer.sklearn import TwoLayerClassifier

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg"


def rows(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32)


def datasets(cifar: Path):
    """name -> (X_train, y_train, X_test, y_test)."""
    X, y = load_digits(return_X_y=True)
    yield "digits", train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    fashion = load_dataset("fashion-mnist")
    (train, train_labels), (test, test_labels) = fashion.splits["train"], fashion.splits["test"]
    yield "Fashion-MNIST", (rows(train), rows(test), train_labels, test_labels)
    images, labels = load_dataset(f"folder:{cifar}").splits["train"]
    pick = np.random.default_rng(0).choice(len(labels), 10_000, replace=False)
    yield "CIFAR-10, 10,000 images", train_test_split(rows(images[pick]), labels[pick], test_size=0.2,
                                                       random_state=0, stratify=labels[pick])


def timed_fit(model, X, y, X_test, y_test) -> tuple[float, float]:
    started = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - started
    return model.score(X_test, y_test), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both (default 1)")
    parser.add_argument("--cifar", type=Path, default=CIFAR, help="the CIFAR-10 JPEG folder")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)  # MLPClassifier's, on reaching max_iter as asked
    threadpool_limits(args.threads, user_api="blas")

    print(f"hidden {args.hidden}, {args.epochs} epochs, {args.threads} BLAS thread(s); test accuracy and fit "
          "seconds\n")
    print("| dataset | train / test | twolayer accuracy | twolayer fit | MLPClassifier accuracy | MLPClassifier fit |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (X, X_test, y, y_test) in datasets(args.cifar):
        ours = make_pipeline(StandardScaler(), TwoLayerClassifier(hidden_size=args.hidden, epochs=args.epochs))
        theirs = make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(args.hidden,), solver="adam", max_iter=args.epochs, n_iter_no_change=args.epochs,
            random_state=0))
        acc, secs = timed_fit(ours, X, y, X_test, y_test)
        mlp_acc, mlp_secs = timed_fit(theirs, X, y, X_test, y_test)
        assert theirs[-1].n_iter_ == args.epochs, theirs[-1].n_iter_  # it ran every epoch
        print(f"| {name} | {len(y):,} / {len(y_test):,} | {acc:.3f} | {secs:.1f} s | {mlp_acc:.3f} | "
              f"{mlp_secs:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
