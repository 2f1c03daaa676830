"""The steps behind each command, as plain functions the CLI wires up and
Python users can call: train a run folder, evaluate a model, predict images.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from twolayer import bundles, runs
from twolayer.arrays import training_config
from twolayer.backend import device_module, to_device
from twolayer.checkpoint import CHECKPOINT_FILE, check_state, config_disagreements, read_checkpoint, save_checkpoint
from twolayer.config import TrainConfig, check_used_by, given_flag, layered, options, relative_paths
from twolayer.data import Dataset, check_spec, files_hint, load_dataset
from twolayer.data.fingerprint import DECODING, decoded_otherwise, fingerprint
from twolayer.data.folder import check_training_folder, listed_classes
from twolayer.data.images import (
    IMAGE_SUFFIXES,
    files_under,
    is_image_name,
    kinds,
    match_channels,
    read_image,
    resize_images,
)
from twolayer.data.preprocess import Preprocessor
from twolayer.data.splits import carve, carve_options, check_classes, untrained_note
from twolayer.errors import DataError, Stopped, TwolayerError, UsageError, WriteError
from twolayer.files import given_path, not_a_file, read_record, write_json
from twolayer.learner import LearnerNet, check_unchanged, confirm_resume, file_digest, label, learner_net, parse_spec
from twolayer.model import TwoLayerNet
from twolayer.progress import in_notebook
from twolayer.signals import StopOnSignal, signal_words
from twolayer.streams import say
from twolayer.trainer import (
    History,
    TrainState,
    accuracy,
    check_memory,
    fit_as_given,
    init_scale,
    initial_net,
    new_state,
    num_iters,
    restore_best_params,
)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    history: History
    bundle: bundles.Bundle
    data: Any = None  # the Prepared splits, for a report without reloading them
    signum: int | None = None  # a stopping signal that came as the run ended: its files written, the command stops

    def __repr__(self) -> str:
        """One line: a notebook cell ending in `result` printed the run's data, every array (23,000
        characters for digits)."""
        m = self.metrics
        scores = [f"{split} {m[f'{split}_accuracy']:.4f}" for split in ("test", "val", "train")
                  if m.get(f"{split}_accuracy") is not None]
        return (f"TrainResult(run_dir={str(self.run_dir)!r}, {', '.join(scores)}, {m['iterations']} iterations "
                f"in {m['seconds']:.1f} s)")


class Interrupted(Stopped):
    """Training was stopped by a signal; a checkpoint was saved."""

    def __init__(self, run_dir: Path, iteration: int, signum: int) -> None:
        self.run_dir, self.iteration, self.signum = run_dir, iteration, signum
        self.exit_code = 128 + signum
        python = f" (here: {runs.resume_call(run_dir)})" if in_notebook() else ""  # not a shell's words
        super().__init__(f"{signal_words(signum)} at iteration {iteration}; checkpoint saved. Resume with: "
                         f"{runs.resume_command(run_dir)}{python}")


@dataclass
class Prepared:
    dataset: Dataset
    preprocessor: Preprocessor
    X: dict[str, np.ndarray]  # split -> float rows (N, D)
    y: dict[str, np.ndarray]
    raw: dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (uint8 images, labels), for reports
    fingerprint: str | None = None  # the dataset's (data/fingerprint.py), once a bundle needs it

    def __repr__(self) -> str:
        """One line, as Dataset's: the splits' rows, not the arrays."""
        rows = ", ".join(f"{name} {len(self.y[name])}" for name in SPLITS if name in self.y)
        return f"Prepared({self.dataset!r}, {self.preprocessor.kind}: {rows} rows of {self.X['train'].shape[1]})"


def prepare(config: TrainConfig, quiet: bool = True, preprocessor: Preprocessor | None = None,
            check: Callable[[Dataset], None] | None = None) -> Prepared:
    """Load, split and preprocess per `config`; deterministic, so a resumed
    run sees exactly the arrays the original run saw. Pass a fitted
    `preprocessor` (a model's own) to apply it instead of fitting one, and
    `check` to look at the loaded dataset before it is split (a search's
    options, all of them, before one trial's split is judged)."""
    if preprocessor is None and config.image_size:  # a network too large is said before minutes of decoding
        check_memory(config, config.image_size**2, config.hidden_size, 2, 1)  # the least: gray, 2 classes, batch 1
    if preprocessor is None and config.dataset.startswith("folder:"):  # one class folder: said before decoding it
        check_training_folder(config.dataset[len("folder:"):])
    dataset = load_dataset(config.dataset, config.data_dir, quiet, image_size=config.image_size)
    if check is not None:
        check(dataset)
    if dataset.resized_from and not quiet:
        h, w = dataset.image_shape[:2]
        say(f"images resized to {w}x{h} pixels from {dataset.resized_from}"
            + ("" if config.image_size else "; --image-size N sets another size"))
    if dataset.skipped and not quiet:  # a phone's HEIC photos among its JPEGs were left out without a word
        say(f"skipped {dataset.skipped}")  # file and folder names: escaped, never obeyed
    raw = carve(dataset, config.val_size, config.test_size, config.split_seed)
    if preprocessor is None:  # training: two classes, and options that suit the images (a folder's size is new)
        lost = check_classes(dataset, raw["train"][1], carve_options(dataset, config.val_size, config.test_size,
                                                                     config.split_seed))
        if lost and not quiet:
            say(untrained_note(lost, dataset))
        config.check_images(dataset.image_shape, len(raw["train"][1]))  # ZCA's refusals before it is announced
        if config.preprocess == "zca" and not quiet:  # a minute of silence on CIFAR-10 otherwise
            images = raw["train"][0]
            say(f"fitting ZCA whitening to {len(images):,} training images of {int(np.prod(images.shape[1:])):,} "
                "values")
    pre = preprocessor or Preprocessor.fit(config.preprocess, raw["train"][0], config.zca_epsilon)
    dtype = np.dtype(config.dtype)
    X = {name: pre.transform(images).astype(dtype, copy=False) for name, (images, _) in raw.items()}
    y = {name: labels for name, (_, labels) in raw.items()}
    return Prepared(dataset, pre, X, y, raw)


def train(config: TrainConfig, out: str | Path | None = None, force: bool = False,
          quiet: bool = False) -> TrainResult:
    """Train per `config` and write a run folder: `out`, or a new folder
    under runs/. The options are checked, then the folder is claimed
    (runs.claim: atomically, so a second run on the same folder refuses),
    before any data is read; a run that fails before it starts (its data
    loaded, its net made) gives the folder back as it found it: the files
    that --force replaces go only then. The folder holds config.json from the
    start, checkpoint.npz at an epoch's end (`due`; kept at the end, so that
    `resume` can continue the run), then model.npz, history.csv and, last,
    metrics.json: a folder with metrics.json is a finished run."""
    force, quiet = given_flag(force, "force"), given_flag(quiet, "quiet")  # force="no" replaced the run
    typed = training_config(config).check_images()  # a dict: one line saying TrainConfig(**options) makes one
    check_used_by(typed)  # as the command line refuses them: TrainConfig(optimizer="sgd", momentum=0.5)
    config = typed.anchored()  # recorded with absolute paths: resume and report work from any directory
    held = runs.new_run_dir("runs", typed.dataset) if out is None else runs.claim(out, "run", force)
    try:
        record = run_record(config, typed)
        write_json(held.path / "config.json", record)
        data = prepare(config, quiet)
        data.fingerprint = fingerprint(data.dataset)  # the bundle's too; recorded for a resume of a moved dataset
        write_json(held.path / "config.json", {**record, DATA_DIGEST: data.fingerprint, DATA_DECODING: DECODING})
        net = new_net(config, data)
        held.start()  # from here the run has started: the files it replaces (--force) go for good
    except BaseException:
        held.abandon()  # the files it replaced put back
        raise
    try:
        return _run(config, data, held, net, None, quiet)
    finally:
        held.release()


def resume(run_dir: str | Path, quiet: bool = False, length: dict[str, int] | None = None,
           net: str | None = None) -> TrainResult:
    """Continue a run from its checkpoint, with its own config: an
    interrupted run to its end, or (with `length`, {"epochs": N} or
    {"iters": N}) any run, finished or not, to a new total length.

    The continued run has the weights, optimizer state and batch order it
    would have had if it had been started with that length, for the step
    and constant schedules. Schedules that depend on the total length
    (cosine, onecycle) are recomputed for the new total from the current
    iteration on: the iterations already run keep the rates they had.

    A learner's run imports the learner's file again: only when `net`
    names it (config.json, which names it too, is data, not a request to
    run code)."""
    quiet = given_flag(quiet, "quiet")
    if length is not None and not (isinstance(length, dict) and len(length) <= 1 and set(length) <= set(LENGTH)):
        raise UsageError(f"length must be {{'epochs': N}} or {{'iters': N}}, or None for the run's own, got "
                         f"{length!r}")  # {'lr': 7} was ignored, 7 a TypeError
    held = runs.hold(run_dir)
    try:
        return _resume(held, quiet, length, net)
    finally:
        held.release()


def confirm_resume_net(run_dir: str | Path, net: str) -> None:
    """learner.confirm_resume for `--resume RUN --net FILE` on the run's
    config.json, before the command says the file's code will run (resume
    checks it again; a folder without a config.json is resume's to name)."""
    run_dir = Path(run_dir)
    if (run_dir / "config.json").is_file():
        config, record = read_run_config(run_dir)
        confirm_resume(config.anchored().net, net, run_dir, record.get(NET_DIGEST))


def _resume(held: runs.Claim, quiet: bool, length: dict[str, int] | None, net_given: str | None) -> TrainResult:
    run_dir = held.path
    checkpoint = run_dir / CHECKPOINT_FILE
    finished = (run_dir / "metrics.json").is_file()
    for name in (CHECKPOINT_FILE, bundles.MODEL_FILE):  # taken for a missing file, or met after training
        odd = not_a_file(run_dir / name)
        if odd:
            raise TwolayerError(f"{run_dir / name} is {odd}, not the run's {name}: put the file back (or remove "
                                f"it{', and train again' if name == CHECKPOINT_FILE else ''})")
    if not checkpoint.is_file():
        if finished:
            # tune.json marks a search; os.path.isfile, not a listing: a parent it cannot read is no search
            trial = any(os.path.isfile(up / "tune.json") for up in run_dir.resolve().parents[:2])
            raise TwolayerError(f"{run_dir} has finished and kept no training state ({CHECKPOINT_FILE}) to "
                                "continue from" + (": a search keeps no trial's training state; to train this one "
                                                   "again or longer, give train the options in its config.json"
                                                   if trial else ""))
        if runs.kind_of(run_dir) == "search":
            raise TwolayerError(f"{run_dir} is a tuning folder, not a training run; run the same twolayer tune "
                                "command again to continue its search")
        begun = runs.not_begun(run_dir, "there is nothing to resume", held.claimed)
        if begun:
            raise TwolayerError(f"{begun} (without --resume)")
        raise TwolayerError(f"{run_dir} has no checkpoint to resume (no {CHECKPOINT_FILE})")
    config, record = read_run_config(run_dir)
    relative = relative_paths(record)  # a run from before paths were recorded absolute: read from here
    config = config.anchored()
    learner = confirm_resume(config.net, net_given, run_dir, record.get(NET_DIGEST))
    if learner != config.net:  # the learner's file moved since (its digest is the run's): trained from there
        config = replace(config, net=learner).anchored()
    if config.net:  # the learner's code must be the code the checkpoint was trained with
        check_unchanged(config.net, record.get(NET_DIGEST))
    net, state, saved = read_checkpoint(checkpoint)
    # an image folder moved since may be named anew where the run recorded its data's fingerprint (checked
    # below, as is any change to the data, moved or in place: the run could not go on as it would have); so
    # may a learner's file, where the run recorded its digest (checked above)
    digest = record.get(DATA_DIGEST)
    folders = [str(spec).startswith("folder:") for spec in (config.dataset, (saved or {}).get("dataset"))]
    saved_net = (saved or {}).get("net")  # its place may change, never its class (another class's is refused)
    moved_net = bool(record.get(NET_DIGEST) and config.net and saved_net) and \
        parse_spec(config.net)[1] == parse_spec(saved_net)[1]
    movable = (("dataset",) if digest and all(folders) else ()) + (("net",) if moved_net else ())
    differ = config_disagreements(config.to_dict(), net, state, saved, ignore=(*LENGTH, *WHERE, *movable))
    if differ:
        raise TwolayerError(f"{run_dir / 'config.json'} disagrees with its checkpoint ({'; '.join(differ[:3])}): "
                            "it was changed since the run started; restore it, or start a new run with --force")
    if length:  # the new length over the run's own (--epochs given: its iters goes, as on the command line)
        config = type(config)(**layered(options(type(config)), config.to_dict(), length)).validate()
    try:
        data = prepare(config, quiet)
    except DataError as e:
        if not relative and folder_gone(config.dataset):  # it said `give folder:PATH`, which --resume refuses
            where = (f"name their new place in {run_dir / 'config.json'} (\"dataset\": \"folder:PATH\"; the run's "
                     "data fingerprint checks that they are its images)" if digest else "put them back there (the "
                     "run records no fingerprint of its data, which a new place needs: an earlier twolayer made it)")
            raise DataError(f"the run's data, {config.dataset}, is no longer there (moved or deleted?); if its "
                            f"images moved, {where}") from None
        if not relative:
            raise
        raise DataError(f"{e} ({run_dir / 'config.json'} records {_names(list(relative))} relative to the folder the "
                      f"run was started in, so it is read from here, {Path.cwd()}; resume from that folder)"
                      ) from None
    if digest:  # the run's data, however its folder is named now
        data.fingerprint = fingerprint(data.dataset)
        if data.fingerprint != digest:
            otherwise = decoded_otherwise(config.dataset, record.get(DATA_DECODING), "the run")
            if otherwise:  # the folder may be what it was, read otherwise: no continuation would be exact
                raise TwolayerError(f"{config.dataset} no longer gives the images the run was trained on: {otherwise}; "
                                    "this twolayer cannot continue the run exactly: start a new run with --force, "
                                    "or finish it with the twolayer that started it")
            raise TwolayerError(f"{config.dataset} is not the data the run was trained on: its images or labels "
                                f"differ (the run's data fingerprint is in {run_dir / 'config.json'}); name the "
                                "run's own data there, or start a new run with --force")
    check_state(checkpoint, net, state, data.X["train"], data.y["train"])  # the data may have changed since
    total = num_iters(config, len(data.y["train"]))
    # at its end: its length run, or stopped by --patience (a new length goes on past that)
    at_end = state.iteration == total or (state.history.early_stop is not None and not length)
    if state.iteration > total or (at_end and finished):
        how = "stopped by --patience after" if state.iteration < total else "ran"
        raise TwolayerError(f"{run_dir} has {'finished' if finished else 'gone further'}: it {how} "
                            f"{state.iteration} iterations, and {total} were asked for; to continue it, give a "
                            "longer --epochs or --iters")
    # the learner's class built first: a file gone since (or failing now) left config.json saying the new length
    # of a run that never went on
    trained = net if at_end else as_configured(config, net)
    # the new length, for the record and a later resume; the learner's digest as first recorded
    write_json(run_dir / "config.json", {**config.to_dict(), **{k: v for k, v in record.items() if k in KEPT}})
    if at_end:  # killed after its last checkpoint, before its model and metrics were written
        return finish_checkpointed(config, data, held, net, state)
    return _run(config, data, held, trained, state, quiet)


def finish_checkpointed(config: TrainConfig, data: Prepared, held: runs.Claim, net: TwoLayerNet,
                        state: TrainState) -> TrainResult:
    """Write the run folder of a run whose checkpoint is its last state, as
    its training would have at the end: the best epoch's parameters, then
    model.npz, history.csv and metrics.json."""
    restore_best_params(net, state)
    with to_the_end(held, [state.iteration]) as stop:
        result = finish_run(config, data, held.path, net, state.history, time.monotonic(), keep_state=True)
    result.signum = stop.signum
    return result


@contextlib.contextmanager
def to_the_end(held: runs.Claim, last: list[int | None]) -> Iterator[StopOnSignal]:
    """Train and write a run in `held` to its end (kept_on_failure), the
    folder released at the end: a stopping signal (Ctrl-C, SIGTERM, SIGHUP)
    is only noted (StopOnSignal), for the trainer to stop at its next
    iteration with a checkpoint, or, once the last iteration is done, for
    the command to stop after the run's files are written and the folder
    released (TrainResult.signum). Such a signal raised among those writes
    left a run that had finished, or all but, said only `terminated`, and
    the same command then refused the folder as a finished run's."""
    with kept_on_failure(held.path, last), StopOnSignal() as stop:
        try:
            yield stop
        finally:
            held.release()


@contextlib.contextmanager
def kept_on_failure(run_dir: Path, last: list[int | None]):
    """An OSError while a run is trained or its files written (a full or
    read-only disk) as one WriteError: what failed, the last good checkpoint
    (last[0], its iteration; None: none yet) and how to go on."""
    try:
        yield
    except WriteError:
        raise
    except OSError as e:
        if last[0] is None:
            raise WriteError(e, "no checkpoint was saved yet", "run the same command again") from None
        raise WriteError(e, f"the checkpoint of iteration {last[0]} is kept in {run_dir}",
                         f"continue with: {runs.resume_command(run_dir)}") from None


LENGTH = ("iters", "epochs")  # the options a resume may change
WHERE = ("data_dir", "device")  # where the files and the arrays live: config.json may be edited for a moved run
NET_DIGEST = "net_sha256"  # config.json's record of the learner's file, beside the options
DATA_DIGEST = "data_sha256"  # config.json's record of the data's fingerprint (data/fingerprint.py)
DATA_DECODING = "data_decoding"  # and of how an image folder was decoded then (fingerprint.DECODING)
TYPED = "typed"  # config.json's record of the paths as the user wrote them (the options hold them absolute)
KEPT = (NET_DIGEST, DATA_DIGEST, DATA_DECODING, TYPED)  # what a resume keeps of config.json beside the options


def run_record(config: TrainConfig, typed: TrainConfig | None = None) -> dict[str, Any]:
    """What config.json holds: every option (paths absolute), the paths as
    typed where they were relative, and for a learner's network the SHA-256
    of its file, which a resume checks."""
    record = config.to_dict()
    as_typed = {name: getattr(typed, name) for name in relative_paths(typed.to_dict())} if typed else {}
    if as_typed:
        record[TYPED] = as_typed
    if config.net:
        record[NET_DIGEST] = file_digest(config.net)
    return record


def read_run_config(run_dir: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """A run's config (validated) and config.json's whole record; one line
    naming the file if it is not a run's config."""
    where = run_dir / "config.json"
    record = read_record(where, "a run's config.json")
    try:
        return TrainConfig.from_dict(record).validate(), record
    except (ValueError, TypeError) as e:
        raise TwolayerError(f"cannot read {where}: {e}") from None


def _run(config: TrainConfig, data: Prepared, held: runs.Claim, net: TwoLayerNet, state: TrainState | None,
         quiet: bool) -> TrainResult:
    run_dir = held.path
    started = time.monotonic()
    n_train = len(data.y["train"])
    total = num_iters(config, n_train)
    checkpoint = run_dir / CHECKPOINT_FILE
    train_state = state if state is not None else new_state(n_train, config)
    record = config.to_dict()  # kept in each checkpoint: a resume checks config.json against it
    last = [None if state is None else state.iteration]  # the last good checkpoint's iteration
    written = [0.0, 0.0, 0]  # when the last checkpoint was written, how long that took (seconds), its bytes

    def on_epoch_end(s: TrainState) -> None:
        now = time.monotonic()
        if s.iteration >= total or s.history.early_stop or due(s.iteration, last[0], now - written[0], *written[1:]):
            save_checkpoint(checkpoint, net, s, record)
            done = time.monotonic()
            written[:] = done, done - now, checkpoint.stat().st_size
            last[0] = s.iteration

    def on_iteration(it: int, total: int, loss: float, lr: float) -> None:
        if stop.signum is not None:
            save_checkpoint(checkpoint, net, train_state, record)
            raise Interrupted(run_dir, it, stop.signum)

    with to_the_end(held, last) as stop:
        history = fit_config(net, data, config, train_state, on_iteration, on_epoch_end, progress=not quiet)
        result = finish_run(config, data, run_dir, net, history, started, keep_state=True)
    result.signum = stop.signum
    return result


# An epoch's end writes a checkpoint once the run has grown by 1/CHECKPOINTS since the last one, and, where one is
# larger than LARGE_CHECKPOINT bytes, once CHECKPOINT_SPACING times its writing time has passed since. (Told by its
# size, not its time: a small one slowed by a busy disk would space a test run's checkpoints by chance.)
CHECKPOINTS = 100
LARGE_CHECKPOINT = 100 * 2**20
CHECKPOINT_SPACING = 10


def due(iteration: int, last: int | None, since: float, took: float, size: int) -> bool:
    """Whether an epoch ending at `iteration` writes a checkpoint, the last
    one written at iteration `last` (None: none yet in this process),
    `since` seconds ago, having taken `took` seconds to write `size` bytes.
    Every epoch's for a run's first CHECKPOINTS epochs, then fewer, so that
    a run of many tiny epochs spends a bounded share of its time on them (a
    checkpoint holds the whole history: each epoch's of --epochs 10000 on 20
    images wrote 15 GB in all, two thirds of the run's time); and a large
    one (300 MB at hidden 8,192, about a second to write: more than the gpu
    recipe's epoch) at most once in CHECKPOINT_SPACING times its writing
    time, about a tenth of the run. A run killed with kill -9 loses at most
    that much; Ctrl-C and SIGTERM write one where they stop it, and the
    caller writes the last epoch's and an early stop's."""
    if last is None:
        return True
    return CHECKPOINTS * (iteration - last) >= iteration and (size <= LARGE_CHECKPOINT
                                                              or since >= CHECKPOINT_SPACING * took)


def finish_run(config: TrainConfig, data: Prepared, run_dir: Path, net: TwoLayerNet, history: History,
               started: float, keep_state: bool = False) -> TrainResult:
    """Write a trained net's run folder: model.npz, history.csv, then
    metrics.json. The checkpoint (the last epoch's whole training state) is
    kept when keep_state, so that the run can be continued; else removed."""
    X, y = data.X, data.y
    scorer = TwoLayerNet.from_params(to_device(net.params, device_module(config.device)))  # weights moved once
    metrics = {
        "network": label(config.net),
        "dataset": config.dataset,
        "train_accuracy": accuracy(scorer, X["train"], y["train"]),
        "val_accuracy": _maybe_accuracy(scorer, X["val"], y["val"]),
        "test_accuracy": _maybe_accuracy(scorer, X["test"], y["test"]),
        "n_train": int(len(y["train"])),
        "n_val": int(len(y["val"])),
        "n_test": int(len(y["test"])),
        "iterations": len(history.loss),
        # None: no epoch was evaluated, so no best one was kept
        "best_iteration": (history.eval_iteration[history.best_index]
                           if history.best_index is not None else None),
        "final_loss": history.loss[-1] if history.loss else None,
        "stopped_early": history.stop_reason,
        "early_stop": history.early_stop,
        "seconds": round(time.monotonic() - started, 3),
    }
    if data.fingerprint is None:  # once per prepared data (a search's trials share it)
        data.fingerprint = fingerprint(data.dataset)
    bundle = bundles.Bundle(net, data.preprocessor, data.dataset.class_names, data.dataset.image_shape,
                            config.to_dict(), data.fingerprint, DECODING)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.json").exists():
        write_json(run_dir / "config.json", run_record(config))
    runs.drop_made_from_model(run_dir)  # a continued run's metrics, report and exports: of the model it replaces
    bundles.save_bundle(run_dir / bundles.MODEL_FILE, bundle)
    runs.write_history_csv(run_dir / "history.csv", history)
    write_json(run_dir / "metrics.json", metrics)
    runs.remove_stale_temporaries(run_dir)  # of writes killed midway in an earlier attempt
    if not keep_state:
        (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    return TrainResult(run_dir, metrics, history, bundle, data)


def fit_config(net: TwoLayerNet, data: Prepared, config: TrainConfig, state: TrainState | None = None,
               on_iteration=None, on_epoch_end=None, progress: bool = False) -> History:
    """`fit` with `config` on the prepared splits."""
    X, y = data.X, data.y
    return fit_as_given(net, X["train"], y["train"], X["val"], y["val"], config, image_shape=data.dataset.image_shape,
                        state=state, on_iteration=on_iteration, on_epoch_end=on_epoch_end, progress=progress)


def new_net(config: TrainConfig, data: Prepared) -> TwoLayerNet | LearnerNet:
    """A freshly initialized net for `config` on the prepared data (the
    learner's class, when config.net names one)."""
    return as_configured(config, initial_net(config, data.X["train"].shape[1], len(data.dataset.class_names),
                                                 len(data.y["train"])))


def as_configured(config: TrainConfig, net: TwoLayerNet) -> TwoLayerNet | LearnerNet:
    """`net`, or, when config.net names a learner's class, that class
    holding net's weights (its code runs here)."""
    return learner_net(config.net, net, init_scale(config, net.sizes[0])) if config.net else net


def _maybe_accuracy(net: TwoLayerNet, X: np.ndarray, y: np.ndarray) -> float | None:
    return accuracy(net, X, y) if len(y) else None


def evaluation_split(bundle: bundles.Bundle, dataset: Dataset, spec: str, split: str
                     ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(images, labels, whole) of `split` to evaluate on.

    On the data the model was trained on (the same fingerprint, however its
    path is spelled), carved splits are carved again with the model's own
    settings, so "test" means the images it never saw; whole is False. On
    other data, a split it has is scored whole, and a dataset with a single
    split (a plain folder of class folders) serves any split; whole is True.
    """
    cfg = TrainConfig.from_dict(bundle.config)
    if _trained_on(bundle, dataset, spec):
        splits = carve(dataset, cfg.val_size, cfg.test_size, cfg.split_seed)
        if len(splits[split][1]) == 0:
            raise DataError(f"the model's run carved no {split} split from {spec}")
        return (*splits[split], False)
    if split in dataset.splits:
        return (*dataset.splits[split], True)
    if len(dataset.splits) == 1:
        return (*next(iter(dataset.splits.values())), True)
    raise DataError(f"{spec} has no {split} split; it has {', '.join(dataset.splits)}")


def _trained_on(bundle: bundles.Bundle, dataset: Dataset, spec: str) -> bool:
    """Whether `dataset` is the model's training data: by the fingerprint the
    bundle records, or for a bundle from before fingerprints, by the source
    (a folder's resolved path)."""
    if bundle.data_fingerprint is not None:
        return bundle.data_fingerprint == fingerprint(dataset)
    return _source(spec) == _source(str(bundle.config.get("dataset")))


def _source(spec: str) -> str:
    if spec.startswith("folder:"):
        with contextlib.suppress(OSError, RuntimeError):
            return "folder:" + str(Path(spec[len("folder:"):]).expanduser().resolve())
    return spec


SPLITS = ("train", "val", "test")


def evaluate(model: str | Path, spec: str | None = None, split: str = "test", data_dir: str | None = None
             ) -> dict[str, Any]:
    """Accuracy of a saved model on a dataset split: {accuracy, n, correct,
    whole, ...}; whole is True (with a note) when the data is not the model's
    training data, so the whole split was scored, not the images its run held
    out; skipped (when any) says what of a folder was not read. spec None:
    the dataset the model was trained on (and its data_dir)."""
    if split not in SPLITS:  # a bad option before any file is read
        raise UsageError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if spec is not None:
        check_spec(spec)
    bundle = bundles.load_bundle(model)
    if spec is None:
        if not bundle.config.get("dataset"):  # a bundle made by hand: its config need not hold every option
            raise UsageError(f"{model} does not record the dataset it was trained on: give --dataset SPEC")
        spec, data_dir = bundle.config["dataset"], data_dir or bundle.config.get("data_dir")
        if folder_gone(spec):  # a run moved or copied without its images
            raise DataError(f"the model's own data, {spec}, is no longer there (moved or deleted?): give --dataset "
                            "folder:PATH where its images are now, or another dataset to score it on")
    if spec.startswith("folder:"):  # its classes matched to the model's before any image is decoded
        folders = listed_classes(spec[len("folder:"):])
        class_map(bundle.class_names, sorted(folders), spec, folders)
    # a folder is decoded at the model's size (its images may differ in size); other data is resized below
    dataset = load_dataset(spec, data_dir, image_size=bundle.image_shape[:2] if spec.startswith("folder:") else None)
    resized_from = dataset.resized_from or (_size(dataset.image_shape) if dataset.image_shape[:2]
                                            != tuple(bundle.image_shape[:2]) else None)
    converted = dataset.image_shape[2] != bundle.image_shape[2]
    to_model = class_map(bundle.class_names, dataset.class_names, spec)
    images, labels, whole = evaluation_split(bundle, dataset, spec, split)
    # held-out images as predict takes them (images.image_pixels): resized, then gray for a color model (or back)
    images = match_channels(resize_images(images, *bundle.image_shape[:2]), bundle.image_shape[2])
    labels = to_model[labels]
    predicted = bundle.labels(images)
    correct = int((predicted == labels).sum())
    result = {
        "model": str(bundles.resolve_model_path(model)),
        "dataset": spec,
        "split": split,
        "n": int(len(labels)),
        "correct": correct,
        "accuracy": correct / len(labels),
        "whole": whole,
    }
    if dataset.skipped:  # a held-out folder's HEIC photos were left out of the score without a word
        result["skipped"] = dataset.skipped
    if whole:
        absent = [name for k, name in enumerate(bundle.class_names) if k not in to_model]  # matched as class_map does
        # its own folder, perhaps read otherwise today: not the images it held out, nor said to be other data
        otherwise = _source(spec) == _source(str(bundle.config.get("dataset"))) and decoded_otherwise(
            spec, bundle.data_decoding, "the model")
        what = "no longer gives" if otherwise else "is not"
        result["note"] = (f"{spec} {what} the data this model was trained on, so all {len(labels)} images of "
                          f"its {split if split in dataset.splits else 'one'} split were scored"
                          + (f" (it has no class {_names(absent)})" if absent else "")
                          + (f", resized from {resized_from} to the model's {_size(bundle.image_shape)} "
                             "pixels" if resized_from else "")
                          + (f", converted from {_color(dataset.image_shape)} to the model's "
                             f"{_color(bundle.image_shape)}" if converted else "")
                          + (f"; {otherwise}" if otherwise else ""))
    return result


def folder_gone(spec: str) -> bool:
    """Whether `spec` names an image folder that is not there (a run's
    recorded data, moved or deleted since). A relative path, recorded before
    paths were recorded absolute, is not said to be gone: it is read from the
    working directory, which the loader's line names (it was said to be moved
    or deleted when run from another folder)."""
    path = os.path.expanduser(spec[len("folder:"):])
    return spec.startswith("folder:") and os.path.isabs(path) and not os.path.lexists(path)


def class_map(model_names: list[str], data_names: list[str], spec: str,
              folders: dict[str, Path] | None = None) -> np.ndarray:
    """For each of the data's class indices, the model's index of the class
    of that name: a folder's classes are its folders' names, sorted, so a
    folder lacking a class numbers the others differently than the model
    does. Names are matched in Unicode's composed form (NFC), as a folder's
    are read since decoding 3: a model made before from a Mac's folder holds
    "é" as e and an accent. DataError naming the data's classes that the
    model does not know, and why where it can tell (`folders`: the class
    folders by name)."""
    model_names = [unicodedata.normalize("NFC", name) for name in model_names]
    data_names = [unicodedata.normalize("NFC", name) for name in data_names]
    unknown = [name for name in data_names if name not in model_names]
    if unknown:
        # the hints rename folders: none for a built-in dataset or CIFAR-10's batches (digits given to a model of
        # cats was told to rename each folder to its class, 0 to 'cat')
        hint = _unknown_hint(unknown, model_names, folders) if folders is not None else ""
        raise DataError(f"{spec} has {'classes' if len(unknown) > 1 else 'class'} {_names(unknown)}, which the model "
                        f"does not know; it was trained on {_names(model_names)}" + hint)
    return np.array([model_names.index(name) for name in data_names], dtype=np.int64)


def _unknown_hint(unknown: list[str], model_names: list[str], folders: dict[str, Path]) -> str:
    """Why a held-out folder's classes are not the model's, where it shows:
    a name in another case, folders named by number (0..9, as some exports
    name them: never matched by position), one folder holding the model's
    class folders (an extra level, as a zip makes)."""
    folded = {name.casefold(): name for name in model_names}
    cased = [(name, folded[name.casefold()]) for name in unknown if name.casefold() in folded]
    if cased:
        return (f" (names are matched exactly: {cased[0][0]!r} is the model's {cased[0][1]!r} in another case; "
                "rename the folder)")
    if all(name.isdecimal() for name in unknown) and not any(name.isdecimal() for name in model_names):
        pairs = ", ".join(f"{k} to {name!r}" for k, name in enumerate(model_names[:3]))
        return (f" (classes are matched by name, never by number: rename each folder to its class, as {pairs}, "
                "... if they are numbered in the model's order)")
    inner = listed_classes(folders[unknown[0]]) if len(unknown) == 1 and unknown[0] in folders else {}
    if inner and {unicodedata.normalize("NFC", name) for name in inner} <= set(model_names):
        return f" (its folder {unknown[0]}/ holds the model's classes: give folder:{folders[unknown[0]]})"
    return ""


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"


def _color(shape: tuple[int, ...]) -> str:
    return "gray" if shape[2] == 1 else "color"


def _names(names: list[str], most: int = 12) -> str:
    listed = ", ".join(repr(n) for n in names[:most])
    return listed + (f" and {len(names) - most} more" if len(names) > most else "")


PREDICT_CHUNK = 1024  # image files read and scored at a time


def predict(model: str | Path, image_paths: str | Path | list[str | Path]) -> list[dict[str, Any]]:
    """For each image file: {path, label, class, probability}. A folder
    stands for the image files under it, and a quoted glob pattern
    ('pics/*.jpg') for the image files it matches (and those under the
    folders it matches); one path may be given alone; "-" is an image piped
    to standard input."""
    return list(predictions(model, image_paths))


def predictions(model: str | Path, image_paths: str | Path | list[str | Path]) -> Iterator[dict[str, Any]]:
    """predict's rows, one at a time: the files are read and scored
    PREDICT_CHUNK at a time, so a folder of a million images needs the
    memory of one chunk, and the first rows come at once. The model and the
    paths are checked before the first row."""
    if isinstance(image_paths, (str, bytes, os.PathLike)):  # not its characters: "/" was the whole file system
        image_paths = [image_paths]
    elif not isinstance(image_paths, Iterable) or (isinstance(image_paths, np.ndarray)  # None, 5, pixels: each
                                                   and image_paths.dtype.kind not in "USO"):  # a TypeError inside
        raise UsageError(f"image_paths must be a path or a list of paths, got {type(image_paths).__name__}; "
                         "images already in memory are scored by load_bundle(model).probabilities(images)")
    bundle = bundles.load_bundle(model)
    image_paths = image_files(image_paths)
    if not image_paths:
        raise UsageError("no image files given to predict")
    return _predicted(bundle, image_paths)


def _predicted(bundle: bundles.Bundle, image_paths: list[str | Path]) -> Iterator[dict[str, Any]]:
    for start in range(0, len(image_paths), PREDICT_CHUNK):
        chunk = image_paths[start : start + PREDICT_CHUNK]
        images, failure = _read_until_failure(chunk, bundle.image_shape)
        if images:
            probs = bundle.probabilities(np.stack(images))
            for path, row in zip(chunk[: len(images)], probs, strict=True):
                k = int(row.argmax())
                yield {"path": str(path), "label": k, "class": bundle.class_names[k], "probability": float(row[k])}
        if failure is not None:
            raise failure


def _read_until_failure(paths: list[str | Path], shape: tuple[int, ...]) -> tuple[list[np.ndarray], Exception | None]:
    """The images of `paths` up to the first that cannot be read, and its
    error: the rows of the files before a broken one are still given (the
    rest of its chunk was dropped with it)."""
    images = []
    for path in paths:
        try:
            images.append(read_image(path, shape))
        except Exception as error:
            return images, error
    return images, None


def image_files(paths: list[str | Path]) -> list[str | Path]:
    """`paths` with each folder replaced by the image files under it (sorted,
    hidden ones skipped) and each pattern that names no file by the image
    files it matches and those under the folders it matches (Python's glob,
    for a pattern the shell did not expand: 'pics/*' gives what pics/* does).
    DataError for a folder or pattern that gives no image."""
    found: list[str | Path] = []
    for path in paths:
        # an empty one (an unset shell variable) is ".", the whole current folder; kept as typed for its row,
        # bytes as text (a Path of bytes is a TypeError)
        given_path(path, "an image's path", "give image files, folders or quoted patterns", DataError)
        path = os.fsdecode(path) if isinstance(path, bytes) else path
        if Path(path).is_dir():
            files, others = files_under(path)
            what, holds = f"folder {path}", "it holds"
        elif not Path(path).exists() and glob.has_magic(str(path)):
            files, others = _images_matching(str(path))
            what, holds = f"pattern {path}", "it gives"
        else:
            found.append(path)
            continue
        if not files:  # a folder of a phone's HEIC photos: said, as a class folder of them is; CIFAR-10's batches
            hint = files_hint(path) if what.startswith("folder") else None
            raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {what}"
                            + (f"; {holds} {kinds(others)}" if others else "") + (f"; {hint}" if hint else ""))
        found.extend(files)
    return found


def _images_matching(pattern: str) -> tuple[list[str], list[str]]:
    """The image files a glob pattern matches, and those under the folders it
    matches, sorted, each once (`**` matches a folder and its files); and
    the other files among them."""
    files, others = set(), set()
    for match in glob.glob(pattern, recursive=True):
        if os.path.isdir(match):
            images, rest = files_under(match)
            files.update(images)
            others.update(rest)
        elif os.path.isfile(match):  # a FIFO is no image file
            (files if is_image_name(Path(match).name) else others).add(match)
    return sorted(files), sorted(others)
