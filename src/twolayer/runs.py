"""Run folders: making and checking them, and the history.csv they hold.

A run folder holds config.json from the start, checkpoint.npz after every
epoch (kept at the end, so that the run can be continued), then model.npz,
history.csv and, last, metrics.json: a folder with metrics.json is a
finished run.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from twolayer.errors import TwolayerError
from twolayer.files import atomic_write_text


def new_run_dir(root: str | Path, dataset: str) -> Path:
    """A fresh folder runs/YYYYmmdd-HHMMSS-<dataset>[-N]."""
    stem = time.strftime("%Y%m%d-%H%M%S") + "-" + "".join(c if c.isalnum() else "-" for c in dataset)[:40]
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = root / (stem if n == 0 else f"{stem}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise TwolayerError(f"could not make a new run folder under {root}")


def check_run_dir(path: str | Path, force: bool = False) -> Path:
    """Check, before any work, that `path` may become a run folder: new or
    empty, unless force. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise TwolayerError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise TwolayerError(f"{path} already holds a run; choose another --out or pass --force to overwrite it")
    return path


HISTORY_COLUMNS = ("iteration", "lr", "loss", "train_acc", "val_acc", "train_loss", "val_loss")


def read_history_csv(path: str | Path):
    """A History back from history.csv (evaluations where an epoch ended).
    Files from before the per-epoch losses lack those columns: NaN there."""
    from twolayer.trainer import History

    history = History()
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                history.loss.append(float(row["loss"]))
                history.lr.append(float(row["lr"]))
                if row["train_acc"] != "":
                    history.eval_iteration.append(int(row["iteration"]))
                    history.train_acc.append(float(row["train_acc"]))
                    history.val_acc.append(float(row["val_acc"]))
                    history.train_loss.append(float(row.get("train_loss") or "nan"))
                    history.val_loss.append(float(row.get("val_loss") or "nan"))
    except (OSError, KeyError, ValueError, csv.Error) as e:
        raise TwolayerError(f"cannot read history {path}: {e}") from None
    return history


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
