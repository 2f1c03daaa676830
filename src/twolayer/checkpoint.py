"""Checkpoints: everything needed to continue a run exactly where it was.

A checkpoint holds the weights, the optimizer's state, the iteration, this
epoch's batch order, the batch-order generator's state, the noise seed, the
history and the best parameters so far, as plain arrays plus one JSON
string, checksummed like a model bundle and written atomically. Resuming from it gives bit-for-bit the
same weights as a run that was never stopped.

It is written after every epoch, so it is kept small: when the best
parameters are the current ones (the epoch just evaluated was the best so
far, as it is in most epochs of a run that still improves), they are saved
once, not twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from twolayer.backend import to_numpy
from twolayer.bundles import checksum, read_npz
from twolayer.errors import BundleError
from twolayer.files import atomic_write_npz
from twolayer.model import PARAM_NAMES, TwoLayerNet
from twolayer.optim import make_optimizer
from twolayer.trainer import History, TrainState

CHECKPOINT_FILE = "checkpoint.npz"
# -2: the best parameters may be left out as equal to the weights; older versions refuse it
FORMAT = "twolayer-checkpoint-2"
READS = (FORMAT, "twolayer-checkpoint")
HISTORY_LISTS = ("loss", "lr", "eval_iteration", "train_acc", "val_acc", "train_loss", "val_loss")


def save_checkpoint(path: str | Path, net: TwoLayerNet, state: TrainState) -> None:
    arrays: dict[str, np.ndarray] = {f"param.{k}": to_numpy(net.params[k]) for k in PARAM_NAMES}
    arrays.update({f"opt.{k}": to_numpy(v) for k, v in state.optimizer.state.items()})
    best_is_params = _best_is_params(state)
    if state.best_params is not None and not best_is_params:
        arrays.update({f"best.{k}": to_numpy(v) for k, v in state.best_params.items()})
    arrays["eval_rows"] = np.asarray(state.eval_rows)
    if state.order is not None:
        arrays["order"] = np.asarray(state.order)
    for name in HISTORY_LISTS:
        arrays[f"history.{name}"] = np.asarray(getattr(state.history, name), dtype=np.float64)
    meta = {
        "format": FORMAT,
        "iteration": state.iteration,
        "optimizer": state.optimizer.name,
        "momentum": state.optimizer.momentum,
        "weight_decay": state.optimizer.weight_decay,
        "rng": state.rng.bit_generator.state,  # plain ints and strings
        "noise_seed": state.noise_seed,
        "first_loss": state.first_loss,
        "best_index": state.history.best_index,
        "best_is_params": best_is_params,
        "stop_reason": state.history.stop_reason,
        "early_stop": state.history.early_stop,
        "checksum": checksum(arrays),
    }
    atomic_write_npz(path, {"meta": np.array(json.dumps(meta)), **arrays})


def load_checkpoint(path: str | Path) -> tuple[TwoLayerNet, TrainState]:
    """The net and the TrainState saved at `path`; BundleError if damaged."""
    meta, arrays = read_npz(path, READS, "checkpoint")
    if "noise_rng" in meta:  # before noise.py: its dropout masks and crops can't be drawn again
        raise BundleError(f"{path} was written by an older twolayer whose random draws this one cannot "
                          "repeat; start the run again with --force")
    try:
        net = TwoLayerNet.from_params({k: arrays[f"param.{k}"] for k in PARAM_NAMES})
        optimizer = make_optimizer(meta["optimizer"], meta["momentum"], meta["weight_decay"])
        optimizer.state = _prefixed(arrays, "opt.")
        best = _prefixed(arrays, "best.") or None
        if meta.get("best_is_params"):
            best = {k: v.copy() for k, v in net.params.items()}
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]
        history = History(
            loss=arrays["history.loss"].tolist(),
            lr=arrays["history.lr"].tolist(),
            eval_iteration=[int(v) for v in arrays["history.eval_iteration"]],
            train_acc=arrays["history.train_acc"].tolist(),
            val_acc=arrays["history.val_acc"].tolist(),
            # the losses per evaluation came in 0.2; older checkpoints have none
            train_loss=_or_nan(arrays.get("history.train_loss"), len(arrays["history.val_acc"])),
            val_loss=_or_nan(arrays.get("history.val_loss"), len(arrays["history.val_acc"])),
            best_index=meta["best_index"],
            stop_reason=meta["stop_reason"],
            early_stop=meta.get("early_stop"),
        )
        state = TrainState(
            iteration=int(meta["iteration"]),
            rng=rng,
            order=arrays.get("order"),
            optimizer=optimizer,
            eval_rows=arrays["eval_rows"],
            noise_seed=int(meta["noise_seed"]),
            history=history,
            best_params=best,
            first_loss=meta["first_loss"],
        )
    except (KeyError, ValueError, TypeError) as e:
        raise BundleError(f"{path} is an inconsistent checkpoint ({e})") from None
    return net, state


def _best_is_params(state: TrainState) -> bool:
    """Whether the best parameters are the net's current ones: the best
    evaluation is the last one, and it was taken at this very iteration
    (fit copies the parameters there; nothing has changed them since)."""
    history = state.history
    return (state.best_params is not None and history.best_index == len(history.val_acc) - 1
            and history.eval_iteration[-1] == state.iteration)


def _prefixed(arrays: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _or_nan(values: np.ndarray | None, n: int) -> list[float]:
    return values.tolist() if values is not None else [float("nan")] * n
