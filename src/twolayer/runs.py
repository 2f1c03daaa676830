"""Run folders: claiming them before any work, and the history.csv they hold.

A run folder holds config.json from the start, checkpoint.npz at an
epoch's end (workflow.due: every epoch's at first, then sparser, always
the last's; kept at the end, so that the run can be continued), then model.npz,
history.csv and, last, metrics.json: a folder with metrics.json is a
finished run.

A claim is atomic: the folder is made (or found), a lock file in it is
locked (portable.lock, released when the process ends however it ends), and only
then is the folder's content judged. So two runs started at once with the
same --out cannot both proceed: the second says so in one line. What a
folder may hold, judged by the names twolayer itself writes:

    empty        nothing (or only twolayer's lock and stale temporary files)
    unstarted    config.json alone: a run stopped before its first checkpoint;
                 the same command may use it again without --force
    run          a training run's files (checkpoint, model, metrics, history)
    search       a tuning folder's files (tune.json, study.journal, trials/)
    foreign      anything else: never replaced, not even with --force

A claim that replaces a folder's files (--force, or a run that never
started) first moves them aside, into a hidden holding folder (HELD) in the
folder itself, renamed, not copied. They go for good only when the new run
or search has really started (start(): its data loaded, its net made); a
claim abandoned before that (bad data, a learner's file that fails, a
signal) puts them back (Claim.abandon), and so does the next claim,
resume or reading (recover: evaluate, predict, export, report) of a folder
whose claimer was killed (kill -9) in between: a run is never lost to a
replacement that never ran. The holding folders are no
files of the run: kind_of ignores them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from twolayer.config import LONGEST_RUN
from twolayer.errors import TwolayerError, remedy
from twolayer.files import (
    TEMPORARY,
    atomic_write_text,
    given_path,
    make_folders,
    read_record,
    read_table,
    remove_folders,
    remove_if_abandoned,
)
from twolayer.portable import lock, remove_held
from twolayer.schema import ACCURACY, AMOUNT, COUNT, TEXT, record_fault
from twolayer.streams import shell_word


def new_run_dir(root: str | Path, dataset: str) -> Claim:
    """A fresh folder runs/YYYYmmdd-HHMMSS-<dataset>[-N], claimed."""
    stem = time.strftime("%Y%m%d-%H%M%S") + "-" + "".join(c if c.isalnum() else "-" for c in dataset)[:40]
    root = Path(root)
    try:
        made = make_folders(root)
        for n in range(1000):
            path = root / (stem if n == 0 else f"{stem}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            held = Claim(path, [*made, path], _lock(path, "--out"))
            (path / HELD).mkdir()  # nothing to put back: the mark of a run not yet started
            return held
    except OSError as e:
        raise TwolayerError(f"cannot make a run folder under {root}: {e.strerror or e}"
                            + ("; give --out DIR where you can write" if remedy(e) == "make it writable" else "")
                            ) from None
    raise TwolayerError(f"could not make a new run folder under {root}")


LOCK = ".twolayer.lock"
HELD = ".twolayer.held"  # the files a claim replaced, until its run starts (empty: it replaced nothing)
MOVING = ".twolayer.moving"  # the same, while they move aside or back
GONE = ".twolayer.gone"  # the held files of a run that started, being removed
ASIDE = (HELD, MOVING, GONE)
BEST_COPY = ".best.tmp"  # a search's best/ while tune copies it there (tune._copy_best)
# Optuna's journal lock as it is released: renamed, then removed (a kill in between leaves it)
RELEASED_LOCK = re.compile(r"study\.journal\.lock[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\.rename")
FIGURES = ("history.png", "weights.png", "confusion_val.png", "confusion_test.png", "search_history.png",
           "heatmap.png")
# made from a run's model: a continued run's new model.npz makes them stale (drop_made_from_model)
FROM_MODEL = ("report.html", "model.onnx", "model.fp16.onnx", "model.pt", "model.fp16.pt", *FIGURES)
RUN_FILES = ("config.json", "checkpoint.npz", "model.npz", "metrics.json", "history.csv", *FROM_MODEL)
SEARCH_FILES = ("tune.json", "trials.csv", "study.journal", "study.journal.lock", ".lock", "report.html",
                *FIGURES)
SEARCH_FOLDERS = ("trials", "best")


def _names(folder: Path) -> set[str]:
    """What `folder` holds, less the lock, the holding folders, the temporary
    files (and folder) of writes and a journal lock caught as it was released."""
    return {p.name for p in folder.iterdir()
            if p.name != LOCK and not TEMPORARY.match(p.name) and not RELEASED_LOCK.fullmatch(p.name)
            and not (p.name in (*ASIDE, BEST_COPY) and _aside(p))}


def kind_of(folder: Path) -> str:
    """empty, unstarted, run, search or foreign (see the module docstring)."""
    names = _names(folder)
    if not names:
        return "empty"
    if _misshapen(folder, names):
        return "foreign"
    if names & {"tune.json", "study.journal"} or (folder / "trials").is_dir():
        mine = set(SEARCH_FILES) | set(SEARCH_FOLDERS)
        return "search" if names <= mine | {"best"} else "foreign"
    if names == {"config.json"}:
        return "unstarted"
    if names <= set(RUN_FILES) and names & {"config.json", "checkpoint.npz", "model.npz", "metrics.json"}:
        return "run"
    return "foreign"


def unfinished(folder: Path) -> bool:
    """Whether `folder` holds a run stopped before its end: a checkpoint to resume, no metrics.json."""
    return (folder / "checkpoint.npz").is_file() and not (folder / "metrics.json").is_file()


def drop_made_from_model(folder: Path) -> None:
    """Remove what was made from the model a run folder held (its metrics,
    report, figures and exports), before its run writes a new one: a run
    continued to a longer length (--resume --epochs) kept the old model's
    model.onnx beside the new model.npz, and export then refused to
    replace it. metrics.json, the mark of a finished run, goes first: a
    continued run stopped after this (a full disk, kill -9) is one that
    --resume finishes (with the old metrics.json it said `has finished`,
    and report paired the new model with the old metrics)."""
    for name in ("metrics.json", *FROM_MODEL):
        if (folder / name).is_file():  # a fresh run's folder has none: no file operation made for them
            with contextlib.suppress(FileNotFoundError):
                (folder / name).unlink()


def not_begun(folder: Path, so: str, claimed: bool | None = None) -> str | None:
    """Why a run folder holds no run yet, `so` what (there is nothing to
    report), and what to do; None for any other folder. A run
    stopped before its first checkpoint leaves config.json alone, and one
    stopped (kill -9) as it began leaves its folder empty but for its lock
    file, which recover keeps there for that reason. (A run under way
    holds no run yet either: the caller asks in_use first.)"""
    kind = kind_of(folder) if folder.is_dir() else None
    claimed = (folder / LOCK).exists() if claimed is None else claimed  # a lock file: a run claimed it
    if kind not in ("empty", "unstarted") or (kind == "empty" and not claimed):
        return None  # a folder that no run claimed is only empty
    how = "is a run stopped before its first checkpoint" if kind == "unstarted" else (
        "is empty: no run has written anything in it (one stopped as it began leaves it so)")
    return f"{folder} {how}, so {so}; run the same train command again to start it"


def not_ours(folder: Path) -> list[str]:
    """The names in `folder` that none of twolayer's runs or searches writes
    (or not in that shape: _misshapen), sorted."""
    names = _names(folder)
    return sorted((names - {*RUN_FILES, *SEARCH_FILES, *SEARCH_FOLDERS}) | _misshapen(folder, names))


def _misshapen(folder: Path, names: set[str]) -> set[str]:
    """Of `names`, the folders named like a file twolayer writes (a user's
    folder named study.journal or model.npz): not twolayer's, so never
    replaced (--force removed such a folder whole, with what it held)."""
    return {name for name in names if name not in SEARCH_FOLDERS and (folder / name).is_dir()}


@dataclass
class Claim:
    """A folder held by this process until release()."""

    path: Path
    made: list[Path]  # the folders this claim made (the run folder, and parents), outermost first
    handle: IO = field(repr=False)
    claimed: bool = True  # whether a run had claimed it before (hold: a lock file was there)

    def release(self, remove_lock: bool = True) -> None:
        """Let go of the folder (its lock file goes too, unless asked not to)."""
        if self.handle.closed:
            return
        if remove_lock:
            remove_held(self.path / LOCK, self.handle)
        else:
            self.handle.close()

    def close(self) -> None:  # for contextlib.closing
        self.release()

    def started(self) -> bool:
        """Whether the run or search has started (start(path)), so that
        abandon() leaves its files; a search continued in its own folder
        replaced nothing and counts as started."""
        return not _aside(self.path / HELD)

    def start(self) -> None:
        start(self.path)

    def abandon(self) -> None:
        """Undo the claim of a run or search that never got going: remove
        what it wrote, put back the files it replaced, and remove the
        folder itself if it made it. One that started is only released."""
        if not self.handle.closed:
            put_back(self.path)
        self.release()
        remove_folders(self.made)


def start(path: str | Path) -> None:
    """The run or search in `path` has really started: the files its claim
    replaced go for good (renamed first, so that a kill midway never leaves
    half of them to be put back). Any process of the run may say it."""
    path = Path(path)
    if _aside(path / HELD):
        with contextlib.suppress(FileNotFoundError):
            (path / HELD).rename(path / GONE)
    _drop_gone(path)


def put_back(path: Path) -> None:
    """Undo a claim that never started (this process's, or one killed before
    its run started): its files removed, the ones it replaced put back.
    Only under the folder's lock. A run or search whose last file is there
    (FINISHED) did start, whatever its process said: what it replaced goes."""
    if _aside(path / HELD) and any((path / name).is_file() for name in FINISHED):
        start(path)
        return
    if _aside(path / HELD):  # all of twolayer's files outside it are the unstarted claim's
        for name in _ours(path):
            _remove(path / name)
        remove_stale_temporaries(path)  # and so are its writes killed midway (a --force run's config.json)
        (path / HELD).rename(path / MOVING)
    if _aside(path / MOVING):  # nothing was written beside them since they moved
        for p in (path / MOVING).iterdir():
            p.rename(path / p.name)
        (path / MOVING).rmdir()
    _drop_gone(path)


# written last by a run (metrics.json) or a search (tune.json): one there has finished
FINISHED = ("metrics.json", "tune.json")


def _aside(path: Path) -> bool:
    """Whether `path` (HELD, MOVING or GONE) is twolayer's holding folder: a
    folder, not a user's file or link of that name (a link to a folder of
    photos was followed: its photos moved into the run folder, the run's
    files deleted). Anything else of those names is the user's: kind_of
    counts it so, and it is never moved or removed."""
    return path.is_dir() and not path.is_symlink()


def _drop_gone(path: Path) -> None:
    if _aside(path / GONE):
        shutil.rmtree(path / GONE, ignore_errors=True)


def _hold_aside(path: Path, names: list[str]) -> None:
    """Move `names` into the holding folder, which appears whole or not at all."""
    (path / MOVING).mkdir()
    for name in names:
        (path / name).rename(path / MOVING / name)
    (path / MOVING).rename(path / HELD)


def _ours(path: Path) -> list[str]:
    """The names in `path` that twolayer writes for a run or a search."""
    return [name for name in dict.fromkeys((*RUN_FILES, *SEARCH_FILES, *SEARCH_FOLDERS))
            if (path / name).exists() or (path / name).is_symlink()]


def _remove(path: Path) -> None:
    """Remove one of twolayer's names: a whole folder only where twolayer writes one (trials, best)."""
    if path.is_dir() and not path.is_symlink():
        if path.name in SEARCH_FOLDERS:  # a folder where twolayer writes a file is the user's
            shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def claim(path: str | Path, kind: str, force: bool = False, option: str = "--out") -> Claim:
    """Hold `path` for a run (kind "run") or a search ("search"). A folder of
    the other kind, or a finished or started run, is replaced only with
    force, and then only the files twolayer writes, which are held aside
    until the new run starts (see the module docstring); a folder holding
    anything else is refused."""
    path = given_path(path, option, "give a folder for the run")
    _check_ancestors(path, option)
    try:
        made = make_folders(path)
        handle = _lock(path, option)
    except OSError as e:  # no permission, a read-only or full disk, a name too long
        fix = f"; give {option} DIR where you can write" if remedy(e) == "make it writable" else ""
        raise TwolayerError(f"cannot make {option} {path}: {e.strerror or e}{fix}") from None
    held = Claim(path, made, handle)
    try:
        put_back(path)  # a claim killed before its run started gave nothing up
        _make_room(path, kind, force, option)
    except BaseException:
        with contextlib.suppress(OSError):
            put_back(path)  # files moved aside before a failure go back
        held.release()  # its lock file too: a refused folder is left as it was
        raise
    return held


def folder_of(path: str | Path) -> Path:
    """The run folder a path names: itself, or the folder of a run's model.npz or checkpoint.npz."""
    path = Path(path)
    return path.parent if path.is_file() and path.suffix == ".npz" else path


def hold(path: str | Path, option: str = "--resume") -> Claim:
    """Hold an existing run folder (to resume it) without judging what it holds."""
    path = folder_of(given_path(path, option, "give the run's folder"))
    if not path.is_dir():
        raise TwolayerError(f"{option} {path}: no such run folder")
    claimed = (path / LOCK).exists()  # before this claim makes it: a run killed as it began left it
    held = Claim(path, [], _lock(path, option), claimed)
    put_back(path)
    remove_stale_temporaries(path)
    return held


def recover(path: str | Path) -> None:
    """Before reading a run or search folder (evaluate, predict, export,
    report): put back what a claim killed before its run started had moved
    aside, as the next claim or --resume would, so that the old run is
    what they read. Nothing when nothing is aside, when a process holds the
    folder (its claim is alive), or when the folder cannot be written."""
    path = Path(path)
    if not (_aside(path / HELD) or _aside(path / MOVING)):
        return
    try:
        held = Claim(path, [], _lock(path, "--out"))
    except TwolayerError:  # in use, or read-only: left as it is
        return
    try:
        with contextlib.suppress(OSError):
            put_back(path)
    finally:
        held.release(remove_lock=kind_of(path) != "empty")  # kept in an emptied folder: a run began here (not_begun)


def in_use(path: str | Path) -> bool:
    """Whether a twolayer process holds the folder now (its lock is taken),
    training or searching there; the lock file is never made here."""
    try:
        with open(Path(path) / LOCK, "rb") as f:
            lock(f, wait=False, shared=True)  # released as the file closes
    except BlockingIOError:
        return True
    except OSError:  # no lock file: never claimed, or released
        return False
    return False


IN_USE = "a twolayer process is training or searching in it now"  # said of a folder that in_use


# tries at taking a folder's lock, CLAIM_WAIT seconds apart, before a claim says another process holds it: a reader
# (report, evaluate, predict: in_use) holds it shared for a moment, and a claim at that moment was refused
CLAIM_TRIES = 20
CLAIM_WAIT = 0.01


def _lock(path: Path, option: str) -> IO:
    """The folder's lock file, locked; one line if another process holds it
    or the folder cannot be written (said of the folder, not the lock file)."""
    for _ in range(CLAIM_TRIES):
        try:
            handle = open(path / LOCK, "a")  # noqa: SIM115 -- held for the claim's life
        except OSError as e:
            what = remedy(e)
            raise TwolayerError(f"{option} {path}: cannot write in it ({e.strerror}); twolayer keeps its files "
                                "there" + (f": {what}, or copy it where you can write" if what else "")) from None
        try:
            lock(handle, wait=False)
        except BlockingIOError:
            handle.close()
            time.sleep(CLAIM_WAIT)
            continue
        if _still_there(handle, path / LOCK):
            return handle
        handle.close()  # released (and removed) as it was opened: lock the file there now
    raise TwolayerError(f"{path} is in use by another twolayer process; wait for it or choose another {option}")


def _still_there(handle: IO, lock: Path) -> bool:
    """Whether the lock file `handle` holds is still the one named `lock`. A
    claim released removes its lock file: one opened just before that, then
    locked, is a file no one else can find, and a third claim made a new one
    and held the folder too, two runs writing in it at once."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(lock))
    except OSError:  # removed
        return False


def _make_room(path: Path, kind: str, force: bool, option: str) -> None:
    found = kind_of(path)
    remove_stale_temporaries(path)
    if found == "search" and kind == "search" and not force:
        return  # a search continues in its own folder (with force, it starts afresh)
    if found in ("empty", "unstarted"):
        _hold_aside(path, _ours(path))
        return
    what = {"run": "a training run", "search": "a tuning folder", "foreign": "files twolayer did not write"}[found]
    if found == "foreign":
        theirs = not_ours(path)
        named = f" ({', '.join(map(repr, theirs[:3]))}{', ...' if len(theirs) > 3 else ''})" if theirs else ""
        raise TwolayerError(f"{path} holds {what}{named}; choose another {option} (--force replaces only "
                            "twolayer's own runs and searches)")
    if not force and kind == "run" and unfinished(path):  # the same command again after Ctrl-C, say
        raise TwolayerError(f"{path} holds a run that has not finished; continue it with: "
                            f"{resume_command(path)}, or pass --force to start it afresh")
    if not force:
        raise TwolayerError(f"{path} already holds {what}; choose another {option} or pass --force to "
                            "replace it")
    _hold_aside(path, _ours(path))  # removed once the new one starts; put back if it never does


def _check_ancestors(path: Path, option: str) -> None:
    """A file where a folder must be, anywhere on the way: one line."""
    for parent in [path, *path.parents]:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                where = "" if parent == path else f": {parent} is a file, not a folder"
                raise TwolayerError(f"cannot use {option} {path}{where or ' (it exists and is not a folder)'}")
            return


def recorded_net(run_dir: Path) -> str | None:
    """The learner's file that the run in run_dir trained (config.json's
    `net`), or None: twolayer's own network, or no readable record (the
    resume itself will say so)."""
    try:
        net = read_record(Path(run_dir) / "config.json", "a run's config.json").get("net")
    except TwolayerError:
        return None
    return net if isinstance(net, str) and net else None


def resume_command(run_dir: Path) -> str:
    """The command that continues the run in run_dir, quoted for the shell:
    with --net FILE for a learner's network, whose file a resume imports
    only when the command line names it too."""
    net = recorded_net(run_dir)
    return f"twolayer train --resume {shell_word(run_dir)}" + (f" --net {shell_word(net)}" if net else "")


def resume_call(run_dir: Path) -> str:
    """resume_command's Python call, for a notebook: twolayer.resume('RUN'),
    with net='FILE' for a learner's network (without it, refused)."""
    net = recorded_net(run_dir)
    return f"twolayer.resume({str(run_dir)!r}" + (f", net={net!r})" if net else ")")


def remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files of writes that were killed midway (only
    twolayer's own: .NAME.XXXX.tmp beside a file twolayer writes, and none
    a write holds now: a report of the run may be writing), a search's
    copy of its best trial cut short (a full disk, kill -9) and its
    journal's lock caught as Optuna released it. Called under the folder's
    lock, so an empty one is no write's about to begin, and no process of
    the search appends to its journal."""
    if _aside(folder / BEST_COPY):
        shutil.rmtree(folder / BEST_COPY, ignore_errors=True)
    known = set(RUN_FILES) | set(SEARCH_FILES)
    for p in folder.iterdir():
        found = TEMPORARY.match(p.name)
        if found and found["name"] in known:
            remove_if_abandoned(p, after=0)
        elif RELEASED_LOCK.fullmatch(p.name):
            with contextlib.suppress(OSError):
                p.unlink()


HISTORY_COLUMNS = ("iteration", "lr", "loss", "train_acc", "val_acc", "train_loss", "val_loss")


def read_history_csv(path: str | Path):
    """A History back from history.csv (evaluations where an epoch ended).
    Files from before the per-epoch losses lack those columns: NaN there.
    One line naming the file for anything else: a row cut short, a value
    that is not a number, or one no run writes (an iteration beyond any
    run's, a negative loss or rate, an accuracy outside 0..1: the figure's
    axes could not be drawn); a FIFO or /dev/zero in its place (read_table)."""
    from twolayer.trainer import History

    history = History()
    try:
        reader = csv.DictReader(io.StringIO(read_table(path, "a run's history"), newline=""))
        for row in reader:
            missing = [c for c in HISTORY_COLUMNS[:5] if row.get(c) is None]
            if missing:  # a column the file lacks, or a row cut short (a TypeError in float(None))
                raise ValueError(f"line {reader.line_num} has no {missing[0]} value")
            value = _history_values(row, reader.line_num)
            history.loss.append(value("loss"))
            history.lr.append(value("lr"))
            if row["train_acc"] != "":
                history.eval_iteration.append(int(value("iteration", LONGEST_RUN)))
                history.train_acc.append(value("train_acc", 1))
                history.val_acc.append(value("val_acc", 1))
                history.train_loss.append(value("train_loss"))
                history.val_loss.append(value("val_loss"))
    except OSError as e:
        raise TwolayerError(f"cannot read history {path}: {e.strerror or e}") from None
    except (ValueError, csv.Error) as e:
        raise TwolayerError(f"cannot read history {path}: {e}") from None
    return history


def _history_values(row: dict, line: int):
    """value(column, top): a history row's number in `column`, 0..top (an
    iteration: a whole number 1..top), or NaN (no validation split; and an
    empty or missing per-epoch loss, in files from before them)."""
    def value(column: str, top: float = math.inf) -> float:
        text = row.get(column) or ("nan" if column in HISTORY_COLUMNS[5:] else "")
        number, low = (int(text), 1) if column == "iteration" else (float(text), 0)
        if not (low <= number <= top or number != number):  # NaN
            shown = text if len(text) <= 20 else text[:17] + "..."
            raise ValueError(f"line {line} has {column} {shown}, where a run writes "
                             + (f"{low} or more" if top == math.inf else f"{low}..{top:g}"))
        return number
    return value


# metrics.json's values, as workflow.finish_run writes them (null where a run has none: no validation split)
METRICS = {"network": TEXT, "dataset": TEXT, "stopped_early": TEXT, "early_stop": TEXT, "train_accuracy": ACCURACY,
           "val_accuracy": ACCURACY, "test_accuracy": ACCURACY, "n_train": COUNT, "n_val": COUNT, "n_test": COUNT,
           "iterations": COUNT, "best_iteration": COUNT, "final_loss": AMOUNT, "seconds": AMOUNT}


def read_metrics(path: Path) -> dict:
    """A finished run's metrics.json; one line naming the file and the value
    for one no run writes (a report showed an accuracy of NaN, [1, 2] or
    7, a count of -1, as the file held them)."""
    metrics = read_record(path, "a finished run's metrics")
    fault = record_fault(metrics, METRICS, "a run")
    if fault:
        again = (f"; remove it, and {resume_command(path.parent)} writes it again"
                 if (path.parent / "checkpoint.npz").is_file() else "")
        raise TwolayerError(f"cannot read {path}: {fault}{again}")
    return metrics


def write_history_csv(path: str | Path, history) -> None:
    """One row per iteration; the evaluation columns filled where an epoch ended."""
    evals = {it: row for it, *row in zip(history.eval_iteration, history.train_acc, history.val_acc,
                                         history.train_loss, history.val_loss, strict=True)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for i, (loss, lr) in enumerate(zip(history.loss, history.lr, strict=True), start=1):
        writer.writerow([i, f"{lr:.6g}", f"{loss:.6f}", *evals.get(i, ("", "", "", ""))])
    atomic_write_text(path, out.getvalue())
