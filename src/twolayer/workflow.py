"""The steps behind each command, as plain functions the CLI wires up and
Python users can call: train a run folder, evaluate a model, predict images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twolayer import io
from twolayer.config import TrainConfig
from twolayer.data import Dataset, load_dataset
from twolayer.data.images import read_image
from twolayer.data.preprocess import Preprocessor
from twolayer.data.splits import carve
from twolayer.errors import DataError
from twolayer.model import TwoLayerNet
from twolayer.progress import Progress
from twolayer.trainer import History, accuracy, fit


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    history: History
    bundle: io.Bundle


def train(config: TrainConfig, out: str | Path | None = None, force: bool = False,
          quiet: bool = False) -> TrainResult:
    """Train per `config` and write a run folder: `out`, or a new folder
    under runs/. It holds model.npz, config.json, history.csv, then
    metrics.json, written last, so a folder with metrics.json is a finished
    run. Options and the folder are checked before any work; the folder is
    only created once training has succeeded."""
    config.validate()
    if out is not None:
        io.check_run_dir(out, force)
    started = time.monotonic()
    dataset = load_dataset(config.dataset, config.data_dir, quiet)
    raw = carve(dataset, config.val_size, config.test_size, config.split_seed)
    pre = Preprocessor.fit(config.preprocess, raw["train"][0])
    dtype = np.dtype(config.dtype)
    X = {name: pre.transform(images).astype(dtype, copy=False) for name, (images, _) in raw.items()}
    y = {name: labels for name, (_, labels) in raw.items()}

    n_train, dim = X["train"].shape
    net = TwoLayerNet(dim, config.hidden_size, len(dataset.class_names), std=config.std,
                      seed=np.random.default_rng([config.seed, 0]), dtype=dtype)
    num_iters = config.iters or config.epochs * max(n_train // min(config.batch_size, n_train), 1)
    bar = Progress(num_iters, "train", enabled=not quiet)
    last_val: list[float] = []

    def on_iteration(it: int, total: int, loss: float, lr: float) -> None:
        val = f" val {last_val[0]:.3f}" if last_val else ""
        bar.update(it, f"loss {loss:.4f} lr {lr:.3g}{val}")

    def on_epoch_end(state) -> None:
        last_val[:] = state.history.val_acc[-1:]

    history = fit(
        net, X["train"], y["train"], X["val"], y["val"],
        lr=config.lr, lr_decay=config.lr_decay, reg=config.reg, num_iters=num_iters,
        batch_size=config.batch_size, seed=config.seed, schedule=config.schedule,
        optimizer=config.optimizer, on_iteration=on_iteration, on_epoch_end=on_epoch_end,
    )
    bar.close()

    metrics = {
        "dataset": config.dataset,
        "train_accuracy": accuracy(net, X["train"], y["train"]),
        "val_accuracy": _maybe_accuracy(net, X["val"], y["val"]),
        "test_accuracy": _maybe_accuracy(net, X["test"], y["test"]),
        "n_train": int(n_train),
        "n_val": int(len(y["val"])),
        "n_test": int(len(y["test"])),
        "iterations": len(history.loss),
        "best_iteration": (history.eval_iteration[history.best_index]
                           if history.best_index is not None else len(history.loss)),
        "final_loss": history.loss[-1] if history.loss else None,
        "stopped_early": history.stop_reason,
        "seconds": round(time.monotonic() - started, 3),
    }
    bundle = io.Bundle(net, pre, dataset.class_names, dataset.image_shape, config.to_dict())
    if out is None:
        run_dir = io.new_run_dir("runs", config.dataset)
    else:
        run_dir = Path(out)
        run_dir.mkdir(parents=True, exist_ok=True)
    io.save_bundle(run_dir / io.MODEL_FILE, bundle)
    io.write_json(run_dir / "config.json", config.to_dict())
    io.write_history_csv(run_dir / "history.csv", history)
    io.write_json(run_dir / "metrics.json", metrics)
    return TrainResult(run_dir, metrics, history, bundle)


def _maybe_accuracy(net: TwoLayerNet, X: np.ndarray, y: np.ndarray) -> float | None:
    return accuracy(net, X, y) if len(y) else None


def evaluation_split(bundle: io.Bundle, dataset: Dataset, spec: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw (images, labels) of `split` to evaluate on.

    On the dataset the model was trained on, carved splits are carved again
    with the model's own settings, so "test" means the images it never saw.
    On another dataset, a split it has is used as is, and a dataset with a
    single split (a plain folder of class folders) serves any split.
    """
    cfg = bundle.config
    if spec == cfg.get("dataset"):
        splits = carve(dataset, cfg["val_size"], cfg["test_size"], cfg["split_seed"])
        if len(splits[split][1]) == 0:
            raise DataError(f"the model's run carved no {split} split from {spec}")
        return splits[split]
    if split in dataset.splits:
        return dataset.splits[split]
    if len(dataset.splits) == 1:
        return next(iter(dataset.splits.values()))
    raise DataError(f"{spec} has no {split} split; it has {', '.join(dataset.splits)}")


def evaluate(model: str | Path, spec: str, split: str = "test", data_dir: str | None = None) -> dict[str, Any]:
    """Accuracy of a saved model on a dataset split: {accuracy, n, correct, ...}."""
    bundle = io.load_bundle(model)
    dataset = load_dataset(spec, data_dir)
    if tuple(dataset.image_shape) != tuple(bundle.image_shape):
        raise DataError(f"{spec} has images of shape {dataset.image_shape}, the model expects {bundle.image_shape}")
    if len(dataset.class_names) != len(bundle.class_names):
        raise DataError(f"{spec} has {len(dataset.class_names)} classes, the model {len(bundle.class_names)}")
    images, labels = evaluation_split(bundle, dataset, spec, split)
    predicted = bundle.net.predict(bundle.preprocessor.transform(images))
    correct = int((predicted == labels).sum())
    return {
        "model": str(io.resolve_model_path(model)),
        "dataset": spec,
        "split": split,
        "n": int(len(labels)),
        "correct": correct,
        "accuracy": correct / len(labels),
    }


def predict(model: str | Path, image_paths: list[str]) -> list[dict[str, Any]]:
    """For each image file: {path, label, class, probability}."""
    bundle = io.load_bundle(model)
    images = np.stack([read_image(p, bundle.image_shape) for p in image_paths])
    scores = bundle.net.loss(bundle.preprocessor.transform(images))
    scores = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    labels = probs.argmax(axis=1)
    return [
        {"path": str(p), "label": int(k), "class": bundle.class_names[k], "probability": float(probs[i, k])}
        for i, (p, k) in enumerate(zip(image_paths, labels, strict=True))
    ]
