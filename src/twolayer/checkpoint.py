"""Checkpoints: everything needed to continue a run exactly where it was.

A checkpoint holds the weights, the optimizer's state, the iteration, this
epoch's batch order, the batch-order generator's state, the noise seed, the
history and the best parameters so far, as plain arrays plus one JSON
string, checksummed like a model bundle and written atomically. Resuming from it gives bit-for-bit the
same weights as a run that was never stopped.

It is written at an epoch's end (every epoch's, then sparser: workflow.due), so it is kept small: when the best
parameters are the current ones (the epoch just evaluated was the best so
far, as it is in most epochs of a run that still improves), they are saved
once, not twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from twolayer import schema
from twolayer.backend import to_numpy
from twolayer.bundles import CHECKPOINT_FILE as CHECKPOINT_FILE  # the run folder's name for it, defined there
from twolayer.bundles import check_options, checksum, read_npz
from twolayer.errors import BundleError
from twolayer.files import atomic_write_npz
from twolayer.model import PARAM_NAMES, TwoLayerNet
from twolayer.optim import OPTIMIZERS, make_optimizer
from twolayer.trainer import History, TrainState, rows_fault

# -2: the best parameters may be left out as equal to the weights; older versions refuse it
FORMAT = "twolayer-checkpoint-2"
READS = (FORMAT, "twolayer-checkpoint")
# what every checkpoint holds, then (train_loss, val_loss: since 0.2) what newer ones add
HISTORY_LISTS = ("loss", "lr", "eval_iteration", "train_acc", "val_acc", "train_loss", "val_loss")


def save_checkpoint(path: str | Path, net: TwoLayerNet, state: TrainState,
                    config: dict[str, Any] | None = None) -> None:
    """Write the training state; `config`, the run's options, is kept with it
    so that a resume can tell a config.json edited since (saved_config)."""
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
        **({"config": config} if config is not None else {}),
        "checksum": checksum(arrays),
    }
    atomic_write_npz(path, {"meta": np.array(json.dumps(meta)), **arrays})


def load_checkpoint(path: str | Path) -> tuple[TwoLayerNet, TrainState]:
    """The net and the TrainState saved at `path`; BundleError if damaged or
    inconsistent (see check_checkpoint). What needs the data to check (row
    numbers, the batch order) is checked by check_state once it is loaded."""
    return read_checkpoint(path)[:2]


def read_checkpoint(path: str | Path) -> tuple[TwoLayerNet, TrainState, dict[str, Any] | None]:
    """load_checkpoint's net and state, and the run's options saved with
    them (None in checkpoints from before they were)."""
    meta, arrays = read_npz(path, READS, "checkpoint")
    if "noise_rng" in meta:  # before noise.py: its dropout masks and crops can't be drawn again
        raise BundleError(f"{path} was written by an older twolayer whose random draws this one cannot "
                          "repeat; start the run again with --force")
    try:
        check_checkpoint(meta, arrays)
        rng = _generator(meta.get("rng"))
    except schema.Invalid as e:
        raise BundleError(f"{path} is an inconsistent checkpoint: {e}") from None
    net = TwoLayerNet.from_params({k: arrays[f"param.{k}"] for k in PARAM_NAMES})
    optimizer = make_optimizer(meta["optimizer"], meta["momentum"], meta["weight_decay"])
    optimizer.state = _prefixed(arrays, "opt.")
    best = _prefixed(arrays, "best.") or None
    if meta.get("best_is_params"):  # saved once: the best epoch is the checkpoint's own
        best = {k: v.copy() for k, v in net.params.items()}
    n_evals = len(arrays["history.val_acc"])
    history = History(
        loss=arrays["history.loss"].tolist(),
        lr=arrays["history.lr"].tolist(),
        eval_iteration=[int(v) for v in arrays["history.eval_iteration"]],
        train_acc=arrays["history.train_acc"].tolist(),
        val_acc=arrays["history.val_acc"].tolist(),
        # the losses per evaluation came in 0.2; older checkpoints have none
        train_loss=_or_nan(arrays.get("history.train_loss"), n_evals),
        val_loss=_or_nan(arrays.get("history.val_loss"), n_evals),
        best_index=meta.get("best_index"),
        stop_reason=meta.get("stop_reason"),
        early_stop=meta.get("early_stop"),
    )
    state = TrainState(
        iteration=meta["iteration"],
        rng=rng,
        order=arrays.get("order"),
        optimizer=optimizer,
        eval_rows=arrays["eval_rows"],
        noise_seed=meta["noise_seed"],
        history=history,
        best_params=best,
        first_loss=meta.get("first_loss"),
    )
    return net, state, meta.get("config")


def check_checkpoint(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """schema.Invalid unless a checkpoint's parts make one training state:
    the optimizer's arrays shaped like the parameters, histories of matching
    lengths, the best epoch and its parameters present together.

    The current parameters and the optimizer's arrays may hold NaN or
    infinity: a run's last epoch before its loss exploded is saved as it
    was, and resuming it stops again with the trainer's message. The best
    parameters were a validated epoch's, so they must be finite."""
    name = meta.get("optimizer")
    schema.require(isinstance(name, str) and name in OPTIMIZERS,
                   f"optimizer {schema.shown(name)} is not one of {', '.join(OPTIMIZERS)}")
    rule = OPTIMIZERS[name]
    schema.meta_number(meta, "momentum", minimum=0)
    schema.meta_number(meta, "weight_decay", minimum=0)
    iteration = schema.meta_int(meta, "iteration", minimum=0)
    schema.meta_int(meta, "noise_seed")
    schema.meta_number(meta, "first_loss", optional=True, finite=False)
    best_index = schema.meta_int(meta, "best_index", minimum=0, optional=True)
    stopped = schema.meta_text(meta, "stop_reason", optional=True) is not None
    schema.meta_text(meta, "early_stop", optional=True)
    schema.require(isinstance(meta.get("config", {}), dict), f"config is {schema.shown(meta.get('config'))}, not "
                                                             "a mapping of options")
    check_options(meta.get("config", {}))  # else a bad value there was blamed on config.json, which differs from it

    params = [f"param.{k}" for k in PARAM_NAMES]
    best_is_params = meta.get("best_is_params", False)
    schema.require(isinstance(best_is_params, bool), f"best_is_params is {schema.shown(best_is_params)}, not true "
                                                     "or false")
    best = [f"best.{k}" for k in PARAM_NAMES] if best_index is not None and not best_is_params else []
    # the rule makes its arrays at its first step: all of them after one
    opt = [f"opt.{slot}.{k}" for slot in rule.slots for k in PARAM_NAMES] + [f"opt.{c}" for c in rule.counters]
    lists = [f"history.{name}" for name in HISTORY_LISTS]
    required = [*params, *best, "eval_rows", *lists[:5], *(opt if iteration else [])]
    schema.exact_keys(arrays, required, optional=["order", *lists[5:], *opt])

    schema.params(arrays, "param.", finite=False)
    for key in (k for k in opt if k in arrays):
        if key.count(".") == 2:  # opt.<slot>.<param>
            like = arrays["param." + key.rsplit(".", 1)[1]]
            schema.float_array(arrays, key, like.shape, finite=False)
            schema.require(arrays[key].dtype == like.dtype, f"{key} is {arrays[key].dtype} but its parameter is "
                                                          f"{like.dtype}")
        else:
            a = arrays[key]
            schema.require(a.dtype.kind in "iu" and a.shape == () and a >= 0, f"{key} is not a count >= 0")
    if best:
        schema.params(arrays, "best.")
        for key in PARAM_NAMES:
            schema.require(arrays[f"best.{key}"].shape == arrays[f"param.{key}"].shape,
                           f"best.{key} has shape {arrays[f'best.{key}'].shape} but param.{key} has "
                           f"{arrays[f'param.{key}'].shape}")

    schema.index_array(arrays, "eval_rows")
    schema.require(len(arrays["eval_rows"]) >= 1, "eval_rows is empty")
    if "order" in arrays:
        schema.index_array(arrays, "order")
    n = {key: schema.number_list(arrays, key) for key in lists if key in arrays}
    schema.require(n["history.lr"] == n["history.loss"],
                   f"history.lr has {n['history.lr']} entries but history.loss has {n['history.loss']}")
    for key in lists[3:]:
        schema.require(n.get(key, n["history.eval_iteration"]) == n["history.eval_iteration"],
                       f"{key} has {n.get(key)} entries but history.eval_iteration has "
                       f"{n['history.eval_iteration']}")
    # one loss per step taken; a run whose loss exploded may have taken steps whose losses it never kept
    schema.require(n["history.loss"] == iteration or (stopped and n["history.loss"] < iteration),
                   f"iteration is {iteration} but history.loss has {n['history.loss']} entries")
    evals = arrays["history.eval_iteration"]
    schema.require(np.isfinite(evals).all() and (evals == np.round(evals)).all() and (evals >= 0).all()
                   and (evals <= iteration).all() and (np.diff(evals) >= 0).all(),
                   f"history.eval_iteration is not a rising list of iterations in 0..{iteration}")
    schema.require(best_index is None or best_index < n["history.val_acc"],
                   f"best_index is {best_index} but there are {n['history.val_acc']} evaluations")


def check_state(path: str | Path, net: TwoLayerNet, state: TrainState, X: Any, y: Any) -> None:
    """BundleError unless the checkpoint at `path` (loaded as net and state)
    fits the training rows X (N, D) and labels y (N,) it is resumed on: the
    same number of values per row, labels the net has outputs for, its
    evaluation rows and batch order within N. The data is built again from
    the run's config, so a mismatch means the dataset changed since."""
    n, (d, _, c) = len(y), net.sizes
    if X.shape[1] != d:
        fault = f"its weights take {d} values per image and the data has {X.shape[1]}"
    elif n and int(y.max()) >= c:
        fault = f"its net has {c} outputs and the data has label {int(y.max())}"
    else:
        fault = rows_fault(state, n)
    if fault:
        raise BundleError(f"{path} does not fit the run's data ({fault}); the dataset changed since the run "
                          "started: start it again with --force")


def _generator(state: Any) -> np.random.Generator:
    """A generator in the saved state; schema.Invalid if NumPy refuses it."""
    rng = np.random.default_rng()
    try:
        rng.bit_generator.state = state
    except Exception as e:  # NumPy's setter raises TypeError, ValueError, KeyError, OverflowError, ...
        reason = " ".join(str(e).split())  # one line, whatever NumPy wrote
        raise schema.Invalid(f"rng is not a state of NumPy's generator ({type(e).__name__}: {reason})") from None
    return rng


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


def config_disagreements(config: dict[str, Any], net: TwoLayerNet, state: TrainState,
                         saved: dict[str, Any] | None, ignore: tuple[str, ...] = ()) -> list[str]:
    """How a run's options (`config`, from config.json) disagree with its
    checkpoint: with the options saved in it (`saved`; all but `ignore`),
    or, for a checkpoint from before they were saved, with what its arrays
    and optimizer show. Each as "NAME is A in config.json and B in the
    checkpoint"."""
    if saved is None:
        saved = {"hidden_size": net.sizes[1], "optimizer": state.optimizer.name,
                 "momentum": state.optimizer.momentum, "weight_decay": state.optimizer.weight_decay}
    # an option this twolayer does not know (a later version's) is in neither config.json's options nor its rule
    return [f"{name} is {config.get(name)!r} in config.json and {value!r} in the checkpoint"
            for name, value in saved.items() if name in config and name not in ignore and config.get(name) != value]
