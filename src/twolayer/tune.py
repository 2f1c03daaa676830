"""Hyperparameter search on Optuna: many trials at once, on one machine or many.

Each trial trains with the package's own trainer, reports validation
accuracy every epoch (so a pruner can stop a laggard), stops at once as
"diverged" when its loss turns non-finite or explodes, and saves its run
folder under trials/; the best one is copied to best/ at the end. Grids run
each point exactly once; random and TPE studies run until --trials trials
have finished. Where the study lives and how it is joined and repaired:
studies.py.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import io
import multiprocessing
import os
import pickle
import reprlib
import shutil
import signal
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twolayer import here, runs
from twolayer.config import given_flag, is_number, options
from twolayer.errors import Stopped, TwolayerError, UsageError, WriteError, first_line
from twolayer.files import atomic_write_text, given_path, os_error_behind, read_record, write_json
from twolayer.learner import label, load_class
from twolayer.progress import Progress
from twolayer.signals import Signalled, StopOnSignal
from twolayer.space import Space
from twolayer.streams import lasting_output, say
from twolayer.studies import (
    GRACE,
    JOURNAL,
    check_outside,
    check_url,
    database_error,
    lost_database,
    make_storage,
    mask_url,
    mend_journal,
    open_study,
    point,
    recover,
    scrub,
    trial_dir,
)
from twolayer.workflow import Prepared, finish_run, fit_config, new_net, num_iters, prepare

SAMPLERS = ("grid", "random", "tpe")
MAX_SAMPLER_SEED = 2**32 // 1000 - 1  # worker w's sampler is seeded seed * 1000 + w, which NumPy takes below 2**32
PRUNERS = ("median", "hyperband", "none")
MAX_STUDY_NAME = 512  # characters: Optuna's column for a study's name in a database


def trial_columns(searched: list[str]) -> list[str]:
    """The trials table's columns (trials.csv, the printed table, the report)."""
    return ["trial", "state", *searched, "train_accuracy", "val_accuracy", "seconds"]


def cell(value: Any, column: str = "") -> str:
    """How a table cell shows a value: accuracies to 4 places, seconds to 1."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if column.endswith("accuracy"):
            return f"{value:.4f}"
        return f"{value:.1f}" if column == "seconds" else f"{value:g}"
    return str(value)


def ended(rows: list[dict[str, Any]]) -> str:
    """How many trials ended in each state: `6 complete, 3 diverged`."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r.get("state"))] = counts.get(str(r.get("state")), 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def no_best(rows: list[dict[str, Any]]) -> str:
    """Why a search has no best trial: how many of its trials ended in each state."""
    return f"no trial completed ({ended(rows) or 'no trials'})"


@dataclass
class TuneOptions:
    space: Space
    out: Path
    sampler: str = "grid"
    trials: int | None = None  # None: the grid's size, or 20 for random/tpe
    jobs: int = 1
    storage: str | None = None
    study: str = "twolayer"
    pruner: str = "median"
    seed: int = 0
    quiet: bool = False
    force: bool = False  # replace a training run's folder at `out` (only twolayer's own files)

    def validate(self) -> TuneOptions:
        self.check_types()
        if self.sampler not in SAMPLERS:
            raise UsageError(f"unknown sampler {self.sampler!r}; choose from {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise UsageError(f"unknown pruner {self.pruner!r}; choose from {', '.join(PRUNERS)}")
        if self.jobs < 1:
            raise UsageError(f"--jobs must be >= 1, got {self.jobs}")
        cores = usable_cores()
        if self.jobs > cores:  # each worker holds its own copy of the data, and trains on a core
            raise UsageError(f"--jobs {self.jobs} is more than the {cores} CPU core{'s' * (cores > 1)} this process "
                             f"may use; give --jobs {cores} or fewer")
        if not 0 <= self.seed <= MAX_SAMPLER_SEED:  # NumPy's `Seed must be between 0 and 2**32 - 1`, a traceback
            raise UsageError(f"--sampler-seed must be in [0, {MAX_SAMPLER_SEED}], got {self.seed}")
        if self.trials is not None and self.trials < 1:
            raise UsageError(f"--trials must be >= 1, got {self.trials}")
        if self.sampler == "grid":
            self.space.grid()  # raises for ranges
        if self.storage is not None:
            check_url(self.storage)
            check_outside(self.storage, self.out)
        if not validated(self.space):  # every trial would end without a score, and a rerun would too
            raise UsageError("a search compares its trials by their validation accuracy, and --val-size 0 "
                             "leaves none: give --val-size N (images) or a fraction such as 0.1")
        if self.space.fixed.get("net"):  # a learner's file and class, in one line, before any trial
            load_class(self.space.fixed["net"])
        return self

    def check_types(self) -> None:
        """Each field of the kind the search takes, as the Python API may be
        given anything: one UsageError naming the field (out="search" was a
        TypeError from str / str, a dict for the space an AttributeError,
        seed=None a TypeError, trials=1.5 and quiet="no" were taken, and
        study=None ran a search under a name Optuna made up, which the same
        call then refused as another study's)."""
        if not isinstance(self.space, Space):
            raise UsageError(f"space must be a twolayer.space.Space, as build_space({{'lr': '0.01,0.1'}}) makes, got "
                             f"{type(self.space).__name__} {reprlib.repr(self.space)}")
        self.out = given_path(self.out, "out", "give the search's folder")
        self.jobs, self.seed = whole(self.jobs, "--jobs"), whole(self.seed, "--sampler-seed")
        self.trials = None if self.trials is None else whole(self.trials, "--trials")
        self.quiet, self.force = given_flag(self.quiet, "quiet"), given_flag(self.force, "force")
        if not isinstance(self.study, str) or not self.study or "\0" in self.study:
            raise UsageError(f"--study must be a name (text, not empty), got {type(self.study).__name__} "
                             f"{reprlib.repr(self.study)}")
        if len(self.study) > MAX_STUDY_NAME:  # a database's column is that wide: PostgreSQL refused it mid-creation
            raise UsageError(f"--study is a name of {len(self.study):,} characters; a study's name has at most "
                             f"{MAX_STUDY_NAME}")


def whole(value: Any, name: str) -> int:
    """A whole-number argument (5.0 is 5); UsageError naming it otherwise."""
    if not is_number(value, int):  # text, None, a bool, 1.5
        raise UsageError(f"{name} must be a whole number, got {type(value).__name__} {reprlib.repr(value)}")
    return int(value)


def validated(space: Space) -> bool:
    """Whether every trial the space can draw keeps a validation split."""
    dim = space.dimensions.get("val_size")
    if dim is None:
        return space.config({}).val_size > 0
    return all(v > 0 for v in dim.values) if dim.is_list else dim.low > 0


@dataclass
class TuneResult:
    out: Path
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    best_dir: Path | None
    seconds: float
    interrupted: int = 0  # trials left failed (interrupted) in this run
    columns: list[str] = field(default_factory=list)
    best_missing: Path | None = None  # the best trial's run folder, ran here but no longer there

    def __repr__(self) -> str:
        """One line: a notebook cell ending in `result` printed every trial's row, a dict each."""
        best = (f"best trial {self.best['trial']}, val {self.best['val_accuracy']:.4f}" if self.best
                else no_best(self.rows))
        return (f"TuneResult(out={str(self.out)!r}, {len(self.rows)} trials ({ended(self.rows) or 'none'}), {best}, "
                f"{self.seconds:.1f} s)")

    def where_best(self) -> str:
        """Where the best trial's run folder is, said after it."""
        if self.best_dir:
            return f" -> {self.best_dir}"
        if self.best_missing:
            return f" (its run folder {self.best_missing} is missing, so {self.out / 'best'} was not made from it)"
        return " (its run folder is on the machine that ran it)"


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)



# -- workers ---------------------------------------------------------------------------


def make_sampler(opts: TuneOptions, worker: int, begun: int = 0):
    """Worker `worker`'s sampler, for a study that holds `begun` trials: a
    search continued (the same command after an interrupt, or a larger
    --trials) draws on from where it is, not again from its start (a new
    process seeded as the first drew the points of the trials already run
    again: `--trials 2`, then `--trials 4`, ran each point twice)."""
    import optuna

    seed = opts.seed * 1000 + worker  # workers must not draw the same sequence
    if begun:  # a fresh search's draws stay what they were
        seed = int(np.random.SeedSequence([opts.seed, worker, begun]).generate_state(1)[0])
    if opts.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)  # grid trials are enqueued; this only serves ranges


def make_pruner(opts: TuneOptions):
    import optuna

    if opts.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if opts.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


class Objective:
    """Train one trial's config; the value is its best validation accuracy."""

    def __init__(self, opts: TuneOptions, log, stop: StopOnSignal) -> None:
        self.opts = opts
        self.log = log
        self.stop = stop  # a signal arrived: the trial stops at its next iteration
        self.data: dict[tuple, Prepared] = {}  # prepared splits, shared by trials with the same data
        self.carved: set[str] = set()  # the datasets whose split seeds' carves were checked

    def prepared(self, config) -> Prepared:
        # the data options and the float type decide the prepared arrays
        key = (*(getattr(config, n) for n, o in options(type(config)).items() if o.group == "data"), config.dtype)
        if key not in self.data:
            self.data.clear()  # one dataset in memory at a time
            self.data[key] = prepare(config, quiet=True, check=self.check_space)
        return self.data[key]

    def check_space(self, dataset) -> None:
        """The data's size, known now: every crop, preprocessing and split size the search takes, before a
        trial trains (and before this trial's split is judged: its classes). A test split alone is the carve's
        to refuse, saying what is missing."""
        if "train" not in dataset.splits:
            return
        self.opts.space.check_images(dataset.image_shape, len(dataset.splits["train"][1]), "test" in dataset.splits,
                                     len(dataset.class_names))
        if dataset.name not in self.carved:  # each split seed's classes, once (every trial of a seed prepares anew)
            self.opts.space.check_carves(dataset)
            self.carved.add(dataset.name)

    def __call__(self, trial) -> float:
        import optuna

        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("blas_threads", _blas_threads())
        if self.opts.sampler == "grid" and "grid_index" not in trial.user_attrs:
            trial.set_user_attr("surplus", True)  # another worker took the last grid point
            raise optuna.TrialPruned("no grid point left")
        params = {name: self.suggest(trial, dim) for name, dim in self.opts.space.dimensions.items()}
        config = self.opts.space.config(params).validate().anchored()  # its config.json read from anywhere
        started = time.monotonic()
        data = self.prepared(config)
        net = new_net(config, data)
        if self.stop.signum is not None:  # stopped while the data loaded: the search has not started
            raise Signalled(self.stop.signum)
        runs.start(self.opts.out)  # the files --force replaces go only now (runs.claim)

        total = num_iters(config, len(data.y["train"]))

        def on_epoch_end(state) -> None:
            h = state.history
            trial.report(h.val_acc[-1], len(h.val_acc))  # one write to the storage per epoch
            # a trial's last epoch is not pruned: nothing is left to save, and its whole run was tabled as
            # pruned (81 of a 1-epoch search's 200 trials), its model thrown away
            if state.iteration < total and trial.should_prune():
                trial.set_user_attr("train_accuracy", h.train_acc[-1])
                trial.set_user_attr("val_accuracy", h.val_acc[-1])
                raise optuna.TrialPruned(f"pruned after epoch {len(h.val_acc)}")

        # a live bar for the trial in progress: one worker, on a terminal (logs get the trial lines)
        bar = Progress(total, f"trial {trial.number}",
                       enabled=not self.opts.quiet and self.opts.jobs == 1, terminal_only=True)

        def on_iteration(it: int, total: int, loss: float, lr: float) -> None:
            bar.update(it, f"loss {loss:.4f} lr {lr:.3g}")
            if self.stop.signum is not None:
                raise Signalled(self.stop.signum)  # between two iterations: nothing is half-written

        try:
            history = fit_config(net, data, config, on_iteration=on_iteration, on_epoch_end=on_epoch_end)
        except optuna.TrialPruned:
            bar.close()
            self.log(trial, "pruned", params, started)
            raise
        bar.close()
        if history.stop_reason:
            trial.set_user_attr("diverged", history.stop_reason)
            self.log(trial, "diverged", params, started)
            raise optuna.TrialPruned(history.stop_reason)
        run_dir = trial_dir(self.opts.out, trial.number)
        try:
            if run_dir.exists():  # a folder of this number from another study: its config.json was kept
                shutil.rmtree(run_dir)
            metrics = finish_run(config, data, run_dir, net, history, started).metrics
        except BaseException:  # a full disk, a signal: no half-written trial folder (the trial is run again)
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        trial.set_user_attr("train_accuracy", metrics["train_accuracy"])
        trial.set_user_attr("val_accuracy", metrics["val_accuracy"])
        trial.set_user_attr("run_dir", str(run_dir.resolve()))
        trial.set_user_attr("seconds", metrics["seconds"])
        self.log(trial, "complete", params, started, metrics["val_accuracy"])
        return metrics["val_accuracy"]

    @staticmethod
    def suggest(trial, dim) -> Any:
        if dim.is_list:
            return trial.suggest_categorical(dim.name, list(dim.values))
        if isinstance(dim.low, int) and isinstance(dim.high, int):
            return trial.suggest_int(dim.name, dim.low, dim.high, log=dim.log)
        return trial.suggest_float(dim.name, float(dim.low), float(dim.high), log=dim.log)


def remaining(study, opts: TuneOptions, target: int) -> int:
    """Trials still to start: waiting grid points, or the target minus
    finished and running trials."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    started = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING) for t in trials)
    if opts.sampler == "grid":  # --trials N: the grid's first N points
        return min(waiting, max(target - started, 0))
    return max(target - started, waiting)


def work(opts: TuneOptions, worker: int, target: int, begun: int = 0) -> None:
    """One worker: run trials until none remain. With a database, it then
    waits for the trials running elsewhere: one whose machine died is run
    again, so the search ends with every trial finished. `begun`: the
    trials the study held when this command's workers started (make_sampler)."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # we report trials ourselves
    storage = make_storage(opts.storage, opts.out)
    study = optuna.load_study(study_name=opts.study, storage=storage,
                              sampler=make_sampler(opts, worker, begun), pruner=make_pruner(opts))
    with StopOnSignal() as stop:  # SIGINT or SIGTERM: stop at the next iteration, the trial marked failed
        objective = Objective(opts, _logger(opts, target), stop)
        waiting = False
        while True:
            if stop.signum is not None:
                raise Signalled(stop.signum)
            if opts.storage:  # a trial whose machine died (no heartbeat) is failed and queued again
                optuna.storages.fail_stale_trials(study)
            if remaining(study, opts, target) > 0:
                study.optimize(objective, n_trials=1, catch=())
            elif opts.storage and (running := study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))):
                if not (waiting or opts.quiet):
                    say(f"waiting for {len(running)} trial(s) running elsewhere (run here again if their machine "
                        f"stops for {GRACE} s)")
                waiting = True
                time.sleep(2)
            else:
                break


def _worker_main(opts: TuneOptions, worker: int, target: int, begun: int, parent: int, errors) -> None:
    _die_with_parent(parent)
    try:
        with lasting_output():  # as the parent's: a reader gone from the pipe stops the output, not the search
            work(opts, worker, target, begun)
    except KeyboardInterrupt:
        os._exit(130)
    except Exception as e:  # the parent says it, in one line for all the workers
        errors.put(carried(lost_database(e, opts.storage) or e))
        os._exit(1)


def carried(e: Exception) -> TwolayerError:
    """A worker's error as the parent raises it: the error itself where it is
    a TwolayerError that crosses to the parent whole, so that it keeps its
    kind (a bad option found once a folder's images are read stays a
    UsageError, exit 2, as with --jobs 1); else a TwolayerError of its one line."""
    if isinstance(e, TwolayerError):
        with contextlib.suppress(Exception):  # one made of more than its message (WriteError) does not
            return pickle.loads(pickle.dumps(e))
    return TwolayerError(" ".join(str(e).split()) if isinstance(e, (TwolayerError, OSError))
                         else f"{type(e).__name__}: {e}")


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send this worker SIGTERM when its parent dies (even by
    kill -9), so no worker trains on unsupervised; elsewhere, or if the
    parent is already gone, the worker checks its parent at start."""
    with contextlib.suppress(OSError, AttributeError, TypeError):  # TypeError: Windows' CDLL takes no None
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _logger(opts: TuneOptions, target: int):
    def log(trial, outcome: str, params: dict[str, Any], started: float, value: float | None = None) -> None:
        if opts.quiet:
            return
        values = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        score = f" val {value:.4f}" if value is not None else ""
        say(f"trial {trial.number:>3} {outcome:<8}{score}  {values}  ({time.monotonic() - started:.1f} s)")

    return log


# -- the whole search ---------------------------------------------------------------------


def run(opts: TuneOptions, start: Callable[[], None] | None = None) -> TuneResult:
    """Create or join the study, run the workers, and write the results.
    `start`: called once the options are valid and the folder is claimed
    (the command line says there what it will search, never before an error
    in the options)."""
    with warnings.catch_warnings():  # optuna imports tqdm.auto, which in Jupyter without ipywidgets warned
        warnings.simplefilter("ignore")  # "IProgress not found" on the cell's stderr
        import optuna

    opts.validate()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # we report trials ourselves
    started = time.monotonic()
    held = runs.claim(opts.out, "search", opts.force)  # a run folder or foreign files: refused in one line
    with contextlib.closing(held):
        if start:
            start()
        try:
            study = _study(opts)
        except BaseException:
            held.abandon()  # the files it replaced put back, the folders it made removed
            raise
        recover(study, opts, all_running_orphaned=not opts.storage)
        target = opts.trials or (len(opts.space.grid()) if opts.sampler == "grid" else 20)
        signum = None
        try:
            for _ in range(3):  # a worker killed mid-trial leaves it running; retry it here
                begun = len(study.get_trials(deepcopy=False))  # counted once for all workers (make_sampler)
                if opts.jobs == 1:
                    work(opts, 0, target, begun)
                else:
                    _run_processes(opts, target, begun, held)
                if opts.storage or not recover(study, opts, all_running_orphaned=True):
                    break
        except KeyboardInterrupt as e:  # Signalled, or a second Ctrl-C that did not wait
            signum = getattr(e, "signum", signal.SIGINT)
            if not held.started():  # no trial began training: the folder as it was found
                held.abandon()
                raise
        except Exception as e:  # a full or read-only disk: the failed trial is run again by the same command
            if not held.started():  # bad data, a learner that fails: no trial began training
                held.abandon()
                raise lost_database(e, opts.storage) or e from None
            _reraise(e, opts, f"the finished trials are kept in {opts.out}", "go on")
        held.start()  # its summary is written now: a study with no trial left to run here started none
        try:
            result = summarize(study, opts, time.monotonic() - started, stopped=signum is not None)
        except Exception as e:
            _reraise(e, opts, f"the trials are kept in {opts.out}", "write its table")
    if signum is not None:
        raise TuneInterrupted(result, signum)
    return result


def _reraise(e: Exception, opts: TuneOptions, kept: str, to: str):
    """A database lost mid-search, or a full or read-only disk, as one line
    (`kept`: where the trials are; `to`: what running the command again does);
    anything else as it is."""
    lost = lost_database(e, opts.storage)
    if lost:
        raise lost from None
    if isinstance(e, OSError):
        raise WriteError(e, kept, f"run the same twolayer tune command again to {to}") from None
    raise e


def _study(opts: TuneOptions):
    """The study `opts` names, created or joined; one line if its storage
    cannot be read or holds another search's trials in this folder."""
    try:
        if not opts.storage:
            mend_journal(opts.out / JOURNAL)  # a first record cut short leaves it empty: no record of the trials
            check_journal_kept(opts)
        storage = make_storage(opts.storage, opts.out)
        check_one_study(storage, opts)
        return open_study(opts, storage)
    except TwolayerError:
        raise
    except Exception as e:  # a journal that is not Optuna's; the database went away, or refused the study
        cause = database_error(e)  # the database's own words, not Optuna's wrapping of them
        why = first_line(e) if cause is None else str(cause).strip().splitlines()[0]
        if not opts.storage:
            failed = os_error_behind(e)  # the folder's or the disk's fault (EACCES, EIO, a path too long), said
            if failed is not None:  # as such: `move it away, or pass --force` would throw a sound search away
                raise OSError(failed.errno, failed.strerror, failed.filename or str(opts.out / JOURNAL)) from None
            raise TwolayerError(f"{opts.out / JOURNAL} is not a study journal twolayer can read ({why}); move it "
                                "away, or pass --force to start the search afresh") from None
        raise TwolayerError(scrub(f"cannot open study {opts.study!r} in {mask_url(opts.storage)}: {why}",
                                  opts.storage)) from None


def check_journal_kept(opts: TuneOptions) -> None:
    """Trial folders without the journal that numbered them: a new study
    would number its trials from 0 again, over them, and its summary would
    replace the search's."""
    trials, journal = opts.out / "trials", opts.out / JOURNAL
    empty = journal.is_file() and journal.stat().st_size == 0  # emptied: a new study began in it, over the trials
    if (empty or not journal.exists()) and trials.is_dir() and any(trials.iterdir()):
        raise TwolayerError(f"{opts.out} holds a search's trials but "
                            + (f"its {JOURNAL}, which numbered them, is empty" if empty else
                               f"not its {JOURNAL}, which numbered them")
                            + " (if the search kept its study in a database, give its --storage), so a new study would "
                            "write over them; pass --force to start the search afresh, or choose another --out")


def check_one_study(storage, opts: TuneOptions) -> None:
    """An output folder holds one study's trials (trials/NNNN by trial
    number): another --study in it would write over them. The study is the
    journal's, or, with a database that holds many, the one tune.json names."""
    import optuna

    if opts.storage:
        try:
            summary = read_record(opts.out / "tune.json", "a search's summary")
        except TwolayerError:  # no summary yet, or one that report names as damaged
            summary = {}
        if summary.get("storage") == JOURNAL:
            raise TwolayerError(f"{opts.out} holds a search kept in its own {JOURNAL}, whose trials a study in "
                                "--storage would overwrite; run it without --storage to continue it, or choose "
                                "another --out")
        others = [summary.get("study")]
    else:
        others = optuna.get_all_study_names(storage)
    others = [name for name in others if isinstance(name, str) and name != opts.study]
    if others:
        raise TwolayerError(f"{opts.out} holds the search of study {others[0]!r}, whose trials a study named "
                            f"{opts.study!r} would overwrite; give --study {others[0]!r} to continue it, or "
                            "choose another --out")


class TuneInterrupted(Stopped):
    def __init__(self, result: TuneResult, signum: int = signal.SIGINT) -> None:
        self.result = result
        self.exit_code = 128 + signum
        done = sum(r["state"] in ("complete", "pruned", "diverged") for r in result.rows)
        what = "terminated" if signum == signal.SIGTERM else "interrupted"
        super().__init__(f"{what}; the {done} finished trial(s) are kept in {result.out}. Run the same command "
                         "again to continue.")


def usable_cores() -> int:
    """The CPU cores this process may run on: those of its affinity mask
    (`taskset -c 0`, a container's cpuset), not the machine's count, which
    let `--jobs 2` put two workers on one core."""
    with contextlib.suppress(AttributeError, OSError):  # no sched_getaffinity: macOS
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _run_processes(opts: TuneOptions, target: int, begun: int, held: runs.Claim) -> None:
    context = multiprocessing.get_context("spawn")
    errors = context.SimpleQueue()  # a worker's error, said once by this process
    workers = [context.Process(target=_worker_main, args=(opts, i, target, begun, os.getpid(), errors))
               for i in range(opts.jobs)]
    # workers x BLAS threads stays within the cores: set in each worker's
    # environment before it starts, so every BLAS it loads (NumPy's, SciPy's)
    # starts with that many threads
    threads = str(max(1, usable_cores() // opts.jobs))
    saved = {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}
    os.environ.update({name: threads for name in BLAS_THREAD_VARIABLES})
    try:
        with here.children_can_start():
            for w in workers:
                w.start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    with StopOnSignal() as stop:
        while any(w.is_alive() for w in workers) and stop.signum is None:
            for w in workers:
                w.join(timeout=0.2)
        if stop.signum is not None:
            for w in workers:  # Ctrl-C may have reached them too; SIGTERM to this process did not
                if w.is_alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(w.pid, signal.SIGTERM)
            for w in workers:
                w.join(timeout=30)
            raise Signalled(stop.signum)
    if not errors.empty():
        raise errors.get()
    if all(w.exitcode for w in workers):  # a worker that ends well found no trial left; these were killed
        # where no trial began, run() leaves the folder as it found it: no trial is kept there
        kept = (f"; the finished trials are kept in {opts.out}: run the same command again to continue"
                if held.started() else ", before any trial began")
        raise TwolayerError(f"the {len(workers)} tuning workers ended before the search did: the first "
                            f"{process_end(workers[0].exitcode)}{kept}")


def process_end(code: int) -> str:
    """How a process of exit code `code` ended: 'was killed by SIGKILL
    ...', 'exited with status 1'."""
    if code < 0:
        with contextlib.suppress(ValueError):
            name = signal.Signals(-code).name
            return f"was killed by {name}" + " (the out-of-memory killer's signal)" * (-code == signal.SIGKILL)
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


def summarize(study, opts: TuneOptions, seconds: float, stopped: bool = False) -> TuneResult:
    """The trials table (also trials.csv) and the best trial (copied to best/);
    tune.json records whether the search finished (not `stopped` by a
    signal, no trial owed)."""
    from optuna.trial import TrialState

    names = list(opts.space.dimensions)
    rows = []
    trials = study.get_trials(deepcopy=False)
    finished = {point(t) for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
    # a failed trial whose point has finished since was retried; the others are owed
    # (a running trial is owed only with the local journal: a shared database's may run elsewhere)
    owed = (TrialState.FAIL,) if opts.storage else (TrialState.FAIL, TrialState.RUNNING)
    failed = sum(t.state in owed and point(t) not in finished for t in trials)
    for t in trials:
        if t.user_attrs.get("surplus") or t.state == TrialState.WAITING:
            continue
        state = t.state.name.lower()
        if t.user_attrs.get("diverged"):
            state = "diverged"
        row = {"trial": t.number, "state": state, **{n: t.params.get(n) for n in names},
               "train_accuracy": t.user_attrs.get("train_accuracy"),
               "val_accuracy": t.user_attrs.get("val_accuracy"),
               "seconds": t.user_attrs.get("seconds")}
        rows.append(row)
    columns = trial_columns(names)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(opts.out / "trials.csv", buffer.getvalue())

    best = best_dir = missing = None
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if complete:
        top = max(complete, key=lambda t: (t.value, -t.number))
        best = next(r for r in rows if r["trial"] == top.number)
        # this folder's own trial, not the path it was recorded at: a search folder copied or moved elsewhere
        # took another folder's trial as its best
        source = Path(top.user_attrs.get("run_dir", "")) if opts.storage else trial_dir(opts.out, top.number)
        if source.is_dir():
            best_dir = _copy_best(source, opts.out / "best")
        elif not opts.storage or top.user_attrs.get("host") == socket.gethostname():
            missing = source
    summary = {"study": opts.study, "network": label(opts.space.fixed.get("net")),
               "storage": mask_url(opts.storage) if opts.storage else JOURNAL,
               "sampler": opts.sampler, "pruner": opts.pruner, "space": opts.space.to_json(),
               "best": best, "seconds": round(seconds, 3), "trials": len(rows),
               "finished": not stopped and not failed, "owed": failed}
    write_json(opts.out / "tune.json", summary)
    return TuneResult(opts.out, rows, best, best_dir, seconds, failed, columns, missing)


def _copy_best(source: Path, dest: Path) -> Path:
    tmp = dest.with_name(runs.BEST_COPY)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest
