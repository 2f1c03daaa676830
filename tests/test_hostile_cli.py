"""Hostile and odd inputs, through the command line as a user meets them.

One harness runs every case: each case makes what it needs in its own
folder (the working directory, HOME and the data cache all point there),
runs `twolayer ...` in this process, and the harness asserts the exit
status, exactly one line on stderr naming the problem, no traceback, and
that nothing outside the case's folder changed (a neighbouring folder holds
a finished run, a tuning folder and a user's files, and is compared byte
for byte before and after). Cases that need real processes and signals are
below the harness. TESTING.md lists each class and what the tool does.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twolayer import bundles, runs
from twolayer.cli import main
from twolayer.signals import Signalled


@dataclass
class Case:
    argv: list[str]
    code: int | None  # the exit status; None: any non-zero one
    line: str  # what the one line on stderr says (a substring); "" for a case that must succeed quietly
    setup: object = None  # setup(case_dir, shared), or None


# -- things the cases are made of --------------------------------------------------------------


def images(folder: Path, classes=("a", "b"), n=12, size=(8, 8), mode="RGB", seed=0) -> Path:
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            pixels = np.clip(rng.normal(60 + 120 * c, 30, size=shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode).save(folder / name / f"{i}.png")
    return folder


def idx(path: Path, array: np.ndarray | None = None, dims: tuple[int, ...] | None = None, type_code=0x08) -> None:
    """An IDX file; `dims` may disagree with the data, on purpose."""
    array = np.zeros((0,), np.uint8) if array is None else array
    dims = array.shape if dims is None else dims
    header = bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.tobytes()) if path.suffix == ".gz" else header + array.tobytes())


def mnist(d: Path, train_images=None, train_labels=None, dims=None) -> None:
    """MNIST's four files under d/data/mnist, 20 train and 10 test images."""
    rng = np.random.default_rng(0)
    root = d / "data" / "mnist"
    tr = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8) if train_images is None else train_images
    idx(root / "train-images-idx3-ubyte", tr, dims)
    idx(root / "train-labels-idx1-ubyte", np.arange(20, dtype=np.uint8) % 10 if train_labels is None
        else train_labels)
    idx(root / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))
    idx(root / "t10k-labels-idx1-ubyte", np.arange(10, dtype=np.uint8))


def resign_bundle(src: Path, dst: Path, change) -> None:
    """A copy of a bundle with `change(meta, arrays)` applied and a valid checksum."""
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    change(meta, arrays)
    meta["checksum"] = bundles.checksum(arrays)
    dst.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dst, meta=np.array(json.dumps(meta)), **arrays)


def copy_run(shared, d: Path, name="run") -> Path:
    shutil.copytree(shared["run"], d / name)
    return d / name


def run_setup(change):
    def setup(d, shared):
        run = copy_run(shared, d)
        resign_bundle(run / "model.npz", run / "model.npz", change)
    return setup


def checkpoint_setup(change):
    def setup(d, shared):
        run = copy_run(shared, d)
        resign_bundle(run / "checkpoint.npz", run / "checkpoint.npz", change)
        (run / "metrics.json").unlink()  # an interrupted run: its checkpoint is what resume reads
    return setup


def bomb(d, shared):
    from PIL import Image as PILImage

    side = int((PILImage.MAX_IMAGE_PIXELS * 2.5) ** 0.5)
    PILImage.new("1", (side, side)).save(d / "bomb.png")  # tiny on disk, huge when decoded


def loop_folder(d, shared):
    images(d / "imgs")
    os.symlink(d / "imgs" / "a" / "loop", d / "imgs" / "a" / "loop")  # a link to itself


def text_file(name: str, text: str = "notes\n"):
    def setup(d, shared):
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return setup


def truncated_image(d, shared):
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(d / "whole.png")
    (d / "cut.png").write_bytes((d / "whole.png").read_bytes()[:1500])  # half of its pixel data


def half_written_search(d, shared):
    search = d / "search"
    shutil.copytree(shared["search"], search)
    (search / "trials.csv").unlink()  # killed before the table was written


def unstarted(d, shared):
    (d / "run").mkdir()
    (d / "run" / "config.json").write_text(json.dumps({"dataset": "digits"}))


def edit_config(run: Path, **values) -> Path:
    """A run's config.json edited by hand, as an interrupted run (no metrics.json)."""
    record = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**record, **values}))
    (run / "metrics.json").unlink()
    return run


def edit_json(path: Path, **values) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **values}))


def other_checkpoint(d, shared):
    run = copy_run(shared, d)
    assert main(["train", "--epochs", "1", "--hidden-size", "16", "--out", str(d / "other"), "--quiet"]) == 0
    shutil.copy(d / "other" / "checkpoint.npz", run / "checkpoint.npz")


def in_place_of(name: str, kind: str):
    """A copy of the finished run whose `name` (model.npz, checkpoint.npz) is a folder, a FIFO, a link that
    loops or a link to nothing: each was taken for a missing file ("the run has not finished")."""
    def setup(d, shared):
        path = copy_run(shared, d) / name
        path.unlink()
        {"folder": path.mkdir, "fifo": lambda: os.mkfifo(path), "loop": lambda: path.symlink_to(name),
         "dangling": lambda: path.symlink_to("gone.npz")}[kind]()
    return setup


def modified_folder(d, shared):
    shutil.copytree(shared["images"], d / "imgs")
    (d / "imgs" / "a" / "0.png").unlink()


def sparse(name: str, size: int = 80 * 2**20, head: bytes = b""):
    """A file of `size` bytes that takes no room on disk (all zeros after `head`)."""
    def setup(d, shared):
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        with open(d / name, "wb") as f:
            f.write(head)
            f.truncate(size)
    return setup


def idx_of_zeros(d, shared):
    """Gzipped MNIST images whose header says 20 images and which hold 200 MB: 200 kB on disk."""
    mnist(d)
    path = d / "data" / "mnist" / "train-images-idx3-ubyte"
    path.unlink()
    with gzip.open(path.with_suffix(".gz"), "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", 20, 28, 28))
        for _ in range(200):
            f.write(bytes(2**20))


def archive_declaring(size: int):
    """cifar-10-python.tar.gz whose first member says it holds `size` bytes (the header alone)."""
    def setup(d, shared):
        member = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        member.size = size
        (d / "data").mkdir()
        (d / "data" / "cifar-10-python.tar.gz").write_bytes(gzip.compress(member.tobuf()))
    return setup


CASES: dict[str, Case] = {
    # 1. paths the tool writes or reads
    "out is a file": Case(["train", "--out", "notes.txt"], 1, "--out notes.txt (it exists and is not a folder)",
                          text_file("notes.txt")),
    "out under a file": Case(["train", "--out", "notes.txt/run"], 1, "notes.txt is a file, not a folder",
                             text_file("notes.txt")),
    "out where nothing can be made": Case(["train", "--out", "/proc/twolayer-run"], 1, "cannot make --out"),
    "out name too long": Case(["train", "--out", "r" * 300], 1, "File name too long"),
    "data dir is a file": Case(["train", "--dataset", "mnist", "--data-dir", "notes.txt"], 1, "Not a directory",
                               text_file("notes.txt")),
    "data dir of no user": Case(["train", "--dataset", "mnist", "--data-dir", "~nosuchuser/data"], 1,
                                "~nosuchuser"),
    "folder of no user": Case(["train", "--dataset", "folder:~nosuchuser/imgs"], 1, "~nosuchuser"),
    # the spec asked whether it is CIFAR-10's files: Path.expanduser raised RuntimeError, a traceback
    "dataset of no user": Case(["train", "--dataset", "~nosuchuser/imgs"], 2,
                               "unknown dataset '~nosuchuser/imgs'; a folder of class folders is given as "
                               "folder:~nosuchuser/imgs"),
    "folder with a symlink loop": Case(["train", "--dataset", "folder:imgs", "--epochs", "1"], None, "loop",
                                       loop_folder),
    "folder that is missing": Case(["train", "--dataset", "folder:nowhere"], 1, "nowhere"),
    "model folder without a model": Case(["evaluate", ".", "--dataset", "digits"], 1, "no model at"),
    "image that is a folder without images": Case(["predict", "{run}", "."], 1, "no image files"),
    "tune out is a file": Case(["tune", "--lr", "0.1,0.2", "--out", "notes.txt"], 1, "not a folder",
                               text_file("notes.txt")),
    "report of a missing folder": Case(["report", "nowhere"], 1, "nowhere"),
    "config file missing": Case(["train", "--config", "none.toml"], 1, "no config file at none.toml"),
    "space file is a folder": Case(["tune", "--space", "."], 1, "cannot read space file ."),
    "export under a file": Case(["export", "{run}", "--out", "notes.txt/m.onnx"], 1, "notes.txt: Not a directory",
                                text_file("notes.txt")),
    "report under a file": Case(["report", "{run}", "--out", "notes.txt/p.html"], 1, "notes.txt: Not a directory",
                                text_file("notes.txt")),
    "runs is a file": Case(["train", "--epochs", "1"], 1, "cannot make a run folder under runs: Not a directory",
                           text_file("runs")),
    "export onto a folder": Case(["export", "run", "--out", "run", "--force"], 1,
                                 "--out run is a folder; give a file name in it, e.g. run/model.onnx",
                                 lambda d, s: copy_run(s, d)),
    "export into a missing folder": Case(["export", "run", "--out", "exports/digits/m.onnx"], 0, "",
                                         lambda d, s: copy_run(s, d)),
    "export to an empty name": Case(["export", "{run}", "--out", ""], 2, "argument --out: an empty value"),
    # an unset shell variable: each was taken as not given (a new run trained, the file ignored) or as "."
    "resume an empty path": Case(["train", "--resume", "", "--epochs", "1"], 2, "argument --resume: an empty value"),
    "config an empty path": Case(["train", "--config", "", "--epochs", "1"], 2, "argument --config: an empty value"),
    "net an empty path": Case(["train", "--net", "", "--epochs", "1"], 2, "argument --net: an empty value"),
    "tune out an empty path": Case(["tune", "--out", "", "--lr", "0.1,0.2", "--iters", "2", "--quiet"], 2,
                                   "argument --out: an empty value (an unset shell variable?); give DIR"),
    "report of an empty path": Case(["report", ""], 2, "argument DIR: an empty value"),
    "check of an empty path": Case(["check", ""], 2, "argument FILE.py[:CLASS]: an empty value"),
    # 2. numbers checked where they enter
    "negative seed": Case(["train", "--seed", "-1"], 2, "--seed must be a whole number >= 0, got -1"),
    "negative split seed": Case(["train", "--split-seed", "-5"], 2, "--split-seed must be a whole number >= 0"),
    "hidden size beyond memory": Case(["train", "--hidden-size", "1000000000"], 1, "of memory to train"),
    "hidden size zero": Case(["train", "--hidden-size", "0"], 2, "--hidden-size must be a positive integer"),
    "learning rate nan": Case(["train", "--lr", "nan"], 2, "--lr must be > 0, got nan"),
    "learning rate infinite": Case(["train", "--lr", "inf"], 2, "--lr must be > 0, got inf"),
    "batch size not whole": Case(["train", "--batch-size", "2.5"], 2, "expected a whole number, got '2.5'"),
    "validation size negative": Case(["train", "--val-size", "-1"], 2, "--val-size must be a count >= 0"),
    "zero epochs": Case(["train", "--epochs", "0"], 2, "--epochs must be a positive integer"),
    "momentum one": Case(["train", "--momentum", "1"], 2, "--momentum must be in [0, 1)"),
    "splits too big": Case(["train", "--val-size", "2000"], 2, "leave no training images"),
    "no validation split": Case(["train", "--val-size", "0", "--epochs", "2", "--quiet"], 0, ""),
    "no test split": Case(["train", "--test-size", "0", "--epochs", "2", "--quiet"], 0, ""),
    "neither split": Case(["train", "--val-size", "0", "--test-size", "0", "--epochs", "2", "--quiet"], 0, ""),
    "diverging learning rate": Case(["train", "--lr", "1e30", "--epochs", "2", "--quiet"], 3, "loss became"),
    # 3. bundles and checkpoints whose checksum is right but whose content is not
    "bundle with a transposed W2": Case(["evaluate", "run", "--dataset", "digits"], 1, "inconsistent model bundle",
                                        run_setup(lambda m, a: a.update({"param.W2": a["param.W2"].T.copy()}))),
    # a web address was made a path (https://x as ./https:/x) and said to be missing
    "image at a web address": Case(["predict", "{run}", "https://example.com/cat.jpg"], 1,
                                   "an image's path is a web address (https://example.com/cat.jpg): twolayer reads "
                                   "and writes local files only (one on the web: download it first, as curl -LO "
                                   "https://example.com/cat.jpg)"),
    "out at a web address": Case(["train", "--out", "s3://bucket/run"], 2, "--out is a web address (s3://bucket/run)"),
    "folder at a web address": Case(["train", "--dataset", "folder:https://example.com/pets"], 2,
                                    "--dataset is a web address (folder:https://example.com/pets)"),
    "data dir at a web address": Case(["train", "--dataset", "mnist", "--data-dir", "https://x/data"], 2,
                                      "--data-dir is a web address (https://x/data)"),
    "model.npz that is a folder": Case(["predict", "run", "{image}"], 1,
                                       "run/model.npz is a folder, not the run's model.npz: put the file back",
                                       in_place_of("model.npz", "folder")),
    "model.npz that is a FIFO": Case(["evaluate", "run"], 1, "run/model.npz is a FIFO (named pipe), not the run's",
                                     in_place_of("model.npz", "fifo")),
    "model.npz that is a looping link": Case(["report", "run"], 1, "run/model.npz is a link that loops, not the run's",
                                             in_place_of("model.npz", "loop")),
    "model.npz that links to nothing": Case(["export", "run"], 1, "run/model.npz is a link to nothing (gone.npz)",
                                            in_place_of("model.npz", "dangling")),
    "model.npz a folder, resumed": Case(["train", "--resume", "run", "--epochs", "3"], 1,
                                        "run/model.npz is a folder, not the run's model.npz",
                                        in_place_of("model.npz", "folder")),
    "checkpoint.npz that is a folder": Case(["train", "--resume", "run", "--epochs", "3"], 1,
                                            "run/checkpoint.npz is a folder, not the run's checkpoint.npz",
                                            in_place_of("checkpoint.npz", "folder")),
    "bundle whose config is a list": Case(["predict", "run", "{image}"], 1, "not a mapping",
                                          run_setup(lambda m, a: m.update(config=[1, 2]))),
    "bundle with too few class names": Case(["evaluate", "run", "--dataset", "digits"], 1, "class names",
                                            run_setup(lambda m, a: m.update(class_names=["x"]))),
    "bundle with a NaN weight": Case(["export", "run"], 1, "inconsistent model bundle",
                                     run_setup(lambda m, a: a["param.b1"].__setitem__(0, np.nan))),
    "checkpoint with rows out of range": Case(
        ["train", "--resume", "run"], 1, "checkpoint",
        checkpoint_setup(lambda m, a: a.update(eval_rows=a["eval_rows"] + 10**6))),
    "checkpoint with a best epoch out of range": Case(
        ["train", "--resume", "run"], 1, "best_index",
        checkpoint_setup(lambda m, a: m.update(best_index=999))),
    "resume a run whose config.json is a list": Case(
        ["train", "--resume", "run", "--epochs", "3"], 1, "run/config.json: it holds a JSON list",
        lambda d, s: (copy_run(s, d), (d / "run" / "config.json").write_text("[1]"))),
    "resume a run whose config.json was edited": Case(
        ["train", "--resume", "run"], 1, "config.json disagrees with its checkpoint (hidden_size is 50",
        lambda d, s: edit_config(copy_run(s, d), hidden_size=50)),
    "resume a moved run whose config.json says where its data now lives": Case(
        ["train", "--resume", "run", "--epochs", "3", "--quiet"], 0, "",
        lambda d, s: edit_config(copy_run(s, d), data_dir=str(d / "moved-data"))),
    "resume a run whose config.json names another dataset": Case(
        ["train", "--resume", "run", "--epochs", "3"], 1, "(dataset is 'mnist' in config.json",
        lambda d, s: edit_config(copy_run(s, d), dataset="mnist")),
    "resume a run whose checkpoint is another run's": Case(
        ["train", "--resume", "run", "--epochs", "3"], 1, "hidden_size is 100 in config.json and 16",
        lambda d, s: other_checkpoint(d, s)),
    "resume a tuning folder": Case(["train", "--resume", "search"], 1, "is a tuning folder, not a training run",
                                   lambda d, s: shutil.copytree(s["search"], d / "search")),
    "resume a run stopped by patience": Case(["train", "--resume", "{patience_run}"], 1,
                                             "stopped by --patience after"),
    "resume an empty checkpoint": Case(["train", "--resume", "run"], 1, "checkpoint.npz is not a twolayer checkpoint",
                                       lambda d, s: (copy_run(s, d) / "checkpoint.npz").write_bytes(b"")),
    "text file as a model": Case(["evaluate", "notes.txt", "--dataset", "digits"], 1, "not an .npz archive",
                                 text_file("notes.txt")),
    # 4. readers
    "idx dimensions that overflow": Case(
        ["train", "--dataset", "mnist", "--data-dir", "data"], 1, "train-images-idx3-ubyte",
        lambda d, s: mnist(d, dims=(2**31, 2**31, 4))),
    "idx labels beyond the classes": Case(
        ["train", "--dataset", "mnist", "--data-dir", "data"], 1, "train-labels-idx1-ubyte",
        lambda d, s: mnist(d, train_labels=np.full(20, 12, np.uint8))),
    "idx image count and label count differ": Case(
        ["train", "--dataset", "mnist", "--data-dir", "data"], 1, "mnist",
        lambda d, s: mnist(d, train_labels=np.zeros(7, np.uint8))),
    "space file not utf-8": Case(["tune", "--space", "space.toml"], 2, "not UTF-8",
                                 lambda d, s: (d / "space.toml").write_bytes(b"lr = [0.1, 0.2]\n# \xff\xfe\n")),
    "tune onto a journal of random bytes": Case(
        ["tune", "--lr", "0.1,0.2", "--epochs", "1", "--out", "search"], 1,
        "search/study.journal is not a study journal twolayer can read",
        lambda d, s: ((d / "search").mkdir(), (d / "search" / "study.journal").write_bytes(bytes(range(256)) * 4))),
    "tune onto another program's journal": Case(
        ["tune", "--lr", "0.1,0.2", "--epochs", "1", "--out", "search"], 1, "pass --force to start the search afresh",
        lambda d, s: ((d / "search").mkdir(), (d / "search" / "study.journal").write_text('{"event": "login"}\n'))),
    "tune another study into a search folder": Case(
        ["tune", "--lr", "0.01,0.02", "--epochs", "1", "--study", "other", "--out", "search"], 1,
        "holds the search of study 'twolayer-digits', whose trials a study named 'other' would overwrite",
        lambda d, s: shutil.copytree(s["search"], d / "search")),
    "tune on a database in a missing folder": Case(
        ["tune", "--lr", "0.1,0.2", "--storage", "sqlite:///nowhere/x.db", "--out", "search"], 1,
        "--storage sqlite:///nowhere/x.db: no folder nowhere to hold x.db; make it, or give another path"),
    "report of a run whose metrics.json is a list": Case(
        ["report", "run"], 1, "run/metrics.json: it holds a JSON list",
        lambda d, s: (copy_run(s, d) / "metrics.json").write_text("[1]")),
    "report of a run whose metrics are text and nulls": Case(
        ["report", "run"], 1, "run/metrics.json: val_accuracy is nan, where a run writes a number in 0..1",
        lambda d, s: edit_json(copy_run(s, d) / "metrics.json", seconds=None, iterations="many",
                               val_accuracy=float("nan"))),
    "report of a search whose tune.json has no space": Case(
        ["report", "search"], 1, "search/tune.json is not a search's summary",
        lambda d, s: edit_json(Path(shutil.copytree(s["search"], d / "search")) / "tune.json", space=3)),
    "report of a search whose best trial is a list": Case(
        ["report", "search"], 1, "a best trial that is not a mapping",
        lambda d, s: edit_json(Path(shutil.copytree(s["search"], d / "search")) / "tune.json", best=[1])),
    "report of a search whose trials.csv is binary": Case(
        ["report", "search"], 1, "cannot read search/trials.csv",
        lambda d, s: (Path(shutil.copytree(s["search"], d / "search")) / "trials.csv").write_bytes(b"\xff\x00" * 9)),
    "report of a search whose trials.csv is another table": Case(
        ["report", "search"], 1, "search/trials.csv is not a trials table of this search: it has no column 'trial'",
        lambda d, s: (Path(shutil.copytree(s["search"], d / "search")) / "trials.csv").write_text("a,b\n1,2\n")),
    "report of a search whose trials.csv has text for a score": Case(
        ["report", "search"], 1, "search/trials.csv is not a trials table: line 2: val_accuracy is 'high'",
        lambda d, s: (Path(shutil.copytree(s["search"], d / "search")) / "trials.csv").write_text(
            "trial,state,lr,train_accuracy,val_accuracy,seconds\n0,complete,0.01,0.5,high,1.0\n")),
    "report of a search whose trials.csv has a row cut short": Case(  # int(None) was a TypeError traceback
        ["report", "search"], 1, "search/trials.csv is not a trials table: line 2 has fewer cells than its header",
        lambda d, s: (Path(shutil.copytree(s["search"], d / "search")) / "trials.csv").write_text(
            "trial,state,lr,train_accuracy,val_accuracy,seconds\n0,complete\n")),
    "report of a search whose trials.csv has a row of extra cells": Case(  # int([...]) was a TypeError traceback
        ["report", "search"], 1, "search/trials.csv is not a trials table: line 2 has more cells than its header",
        lambda d, s: (Path(shutil.copytree(s["search"], d / "search")) / "trials.csv").write_text(
            "trial,state,lr,train_accuracy,val_accuracy,seconds\n0,complete,0.01,0.5,0.5,1.0,9,9\n")),
    "report of a half-written search": Case(["report", "search"], 1, "trials.csv", half_written_search),
    "predict a decompression bomb": Case(["predict", "{run}", "bomb.png"], 1, "bomb.png", bomb),
    "folder with test but no train": Case(
        ["train", "--dataset", "folder:imgs"], 1, "train", lambda d, s: images(d / "imgs" / "test")),
    "splits of different image sizes": Case(  # the test images are read at the training images' size
        ["train", "--dataset", "folder:imgs", "--epochs", "1", "--quiet"], 0, "",
        lambda d, s: (images(d / "imgs" / "train"), images(d / "imgs" / "test", size=(6, 6)))),
    # 5. user text is data
    "class names with TeX specials": Case(
        ["train", "--dataset", "folder:imgs", "--epochs", "2", "--out", "run", "--quiet"], 0, "",
        lambda d, s: images(d / "imgs", classes=("$\\bogus$", "a_b^c"))),
    "class names with markup": Case(
        ["train", "--dataset", "folder:imgs", "--epochs", "2", "--out", "run", "--quiet"], 0, "",
        lambda d, s: images(d / "imgs", classes=("<script>x", "&amp;"))),
    # 6. never clobber
    "tune onto a training run": Case(["tune", "--lr", "0.1,0.2", "--out", "run"], 1, "already holds a training run",
                                     lambda d, s: copy_run(s, d)),
    "train onto a tuning folder": Case(["train", "--out", "search"], 1, "already holds a tuning folder",
                                       lambda d, s: shutil.copytree(s["search"], d / "search")),
    "force onto a user's folder": Case(["train", "--out", "mine", "--force"], 1,
                                       "holds files twolayer did not write ('thesis.tex')",
                                       text_file("mine/thesis.tex")),
    "force onto a run holding a user's file": Case(
        ["train", "--out", "run", "--force"], 1, "holds files twolayer did not write ('notes.txt')",
        lambda d, s: (copy_run(s, d), (d / "run" / "notes.txt").write_text("mine"))),
    "a run that never started is reused": Case(["train", "--out", "run", "--epochs", "1", "--quiet"], 0, "",
                                               unstarted),
    "resume a run that never started": Case(["train", "--resume", "run"], 1, "before its first checkpoint",
                                            unstarted),
    # 7. the test split's identity
    "evaluate the training folder spelled otherwise": Case(
        ["evaluate", "{images_run}", "--dataset", "folder:./{images_rel}", "--json"], 0, ""),
    "evaluate a folder that changed": Case(
        ["evaluate", "{images_run}", "--dataset", "folder:imgs"], 0, "is not the data this model was trained on",
        modified_folder),
    "evaluate a folder with a class the model lacks": Case(
        ["evaluate", "{images_run}", "--dataset", "folder:held"], 1, "has class 'c', which the model does not know",
        lambda d, s: images(d / "held" / "test", classes=("a", "c"))),
    "evaluate a held-out folder lacking a class": Case(
        ["evaluate", "{images_run}", "--dataset", "folder:held"], 0, "(it has no class 'a')",
        lambda d, s: images(d / "held" / "test", classes=("b",))),
    "evaluate a gray held-out folder with a color model": Case(
        ["evaluate", "{images_run}", "--dataset", "folder:held"], 0, "is not the data this model was trained on",
        lambda d, s: images(d / "held" / "test", mode="L")),
    "evaluate a held-out folder of larger images": Case(
        ["evaluate", "{images_run}", "--dataset", "folder:held"], 0, "resized from 16x12 to the model's 8x8 pixels",
        lambda d, s: images(d / "held" / "test", size=(16, 12))),
    "train on a folder holding macOS resource forks": Case(
        ["train", "--dataset", "folder:imgs", "--epochs", "1", "--quiet"], 0, "",
        lambda d, s: (images(d / "imgs"), (d / "imgs" / "a" / "._0.png").write_bytes(b"\x00\x05\x16\x07"),
                      (d / "imgs" / ".DS_Store").write_bytes(b"Bud1"))),
    # 8. one line means one line
    "tune with a diverging rate": Case(["tune", "--lr", "1e30,1e31", "--epochs", "1", "--quiet"], 3,
                                       "no best trial: no trial completed (2 diverged)"),
    "two tuning workers on missing data": Case(
        ["tune", "--dataset", "folder:nowhere", "--lr", "0.1,0.2", "--jobs", "2", "--quiet"], 1, "no image folder"),
    "predict a truncated image": Case(["predict", "{run}", "cut.png"], 1, "cut.png", truncated_image),
    "predict a folder of images": Case(["predict", "{images_run}", "imgs", "--json"], 0, "",
                                       lambda d, s: images(d / "imgs", n=2)),
    "predict a quoted glob": Case(["predict", "{images_run}", "imgs/*/1.png"], 0, "",
                                  lambda d, s: images(d / "imgs", n=2)),
    "predict a glob that matches nothing": Case(["predict", "{images_run}", "imgs/*.jpg"], 1,
                                                "no image files (.png, .jpg, .jpeg, .jpe, .jfif, .bmp, .gif, .webp, "
                                                ".avif, .tif, .tiff, .pgm, .ppm, .pbm, .pnm) in pattern",
                                                lambda d, s: images(d / "imgs", n=2)),
    # 9. every bad option exits 2, whatever the command and wherever the option was written
    "train with an unknown dataset": Case(["train", "--dataset", "nope"], 2, "unknown dataset 'nope'"),
    "train with folder: and no path": Case(["train", "--dataset", "folder:"], 2, "folder: needs a path"),
    "train resumed with another option": Case(["train", "--resume", "run", "--lr", "0.1"], 2,
                                              "only --epochs or --iters", lambda d, s: copy_run(s, d)),
    "config file with a wrong type": Case(["train", "--config", "c.toml"], 2, "c.toml: lr: expected a number",
                                          text_file("c.toml", 'lr = "fast"\n')),
    "config file with an unknown option": Case(["train", "--config", "c.toml"], 2, "unknown training option 'lrr'",
                                               text_file("c.toml", "lrr = 0.1\n")),
    "config file that is not TOML": Case(["train", "--config", "c.toml"], 2, "cannot read config file c.toml",
                                         text_file("c.toml", "lr = = 1\n")),
    "config file with a value out of range": Case(["train", "--config", "c.toml"], 2, "lr must be > 0",
                                                  text_file("c.toml", "lr = -1.0\n")),
    "tune with more jobs than cores": Case(["tune", "--lr", "0.1,0.2", "--jobs", "100000"], 2,
                                           "--jobs 100000 is more than the"),
    "tune space with a range whose log is text": Case(
        ["tune", "--space", "s.toml", "--sampler", "random"], 2, "lr: a range's log is true or false, got 'no'",
        text_file("s.toml", 'lr = {low = 0.001, high = 0.1, log = "no"}\n')),
    "tune space searching an option that takes one value": Case(
        ["tune", "--space", "s.toml"], 2, "data_dir takes one value; it cannot be searched",
        text_file("s.toml", 'data_dir = ["a", "b"]\nlr = [0.1, 0.2]\n')),
    "tune space with a number where text goes": Case(
        ["tune", "--space", "s.toml"], 2, "dataset: expects text, got 3",
        text_file("s.toml", 'dataset = ["digits", 3]\nlr = [0.1, 0.2]\n')),
    "tune space with a table where text goes": Case(
        ["tune", "--space", "s.toml"], 2, "data_dir takes one value",
        text_file("s.toml", 'data_dir = {low = 1, high = 2}\nlr = [0.1, 0.2]\n')),
    "tune with zero jobs": Case(["tune", "--lr", "0.1,0.2", "--jobs", "0"], 2, "--jobs must be >= 1"),
    "tune with a rate out of range": Case(["tune", "--lr=-1,0.1"], 2, "--lr must be > 0"),
    "check with an option but no dataset": Case(["check", "net.py", "--lr", "0.1"], 2, "need --dataset"),
    "check with an option out of range": Case(["check", "net.py", "--dataset", "digits", "--lr", "-1"], 2,
                                              "--lr must be > 0"),
    "export as torch to an .onnx name": Case(["export", "{run}", "--format", "torch", "--out", "x.onnx"], 2,
                                             "--out x.onnx is named like an ONNX graph"),
    "export as onnx to a .pt name": Case(["export", "{run}", "--out", "x.pt"], 2,
                                         "--out x.pt is named like a PyTorch state dict"),
    "export over its own model": Case(["export", "run", "--out", "run/model.npz", "--force"], 2,
                                      "named like a twolayer model bundle", lambda d, s: copy_run(s, d)),
    "evaluate on an unknown dataset": Case(["evaluate", "{run}", "--dataset", "nope"], 2, "unknown dataset"),
    "evaluate with an unknown split": Case(["evaluate", "{run}", "--dataset", "digits", "--split", "dev"], 2,
                                           "invalid choice: 'dev'"),
    # 10. files that would fill the memory: read whole, they are read only as far as they may go
    "config file that is /dev/zero": Case(["train", "--config", "/dev/zero"], 1,
                                          "/dev/zero: it holds more than 67.1 MB, too much for a config file"),
    "space file that is /dev/zero": Case(["tune", "--space", "/dev/zero"], 1, "too much for a space file"),
    "learner's network that is /dev/zero": Case(["train", "--net", "/dev/zero"], 1, "/dev/zero is not a file"),
    "learner's network of 80 MB": Case(["train", "--net", "net.py"], 1, "net.py holds more than 67.1 MB",
                                      sparse("net.py", head=b"import numpy\n")),
    "resume a run whose config.json is 80 MB": Case(["train", "--resume", "run"], 1,
                                                    "too much for a run's config.json",
                                                    lambda d, s: (copy_run(s, d), sparse("run/config.json")(d, s))),
    "report of a run whose metrics.json is 80 MB": Case(["report", "run"], 1, "too much for a finished run's metrics",
                                                        lambda d, s: (copy_run(s, d),
                                                                      sparse("run/metrics.json")(d, s))),
    "gzipped idx images holding 200 MB of zeros": Case(
        ["train", "--dataset", "mnist", "--data-dir", "data"], 1,
        "truncated or padded: more data bytes than the header's 20x28x28 = 15680", idx_of_zeros),
    "cifar-10 batch of 300 MB": Case(["train", "--dataset", "cifar10", "--data-dir", "data"], 1,
                                     "test_batch: it holds more than 268.4 MB, too much for a CIFAR-10 batch",
                                     sparse("data/cifar-10-batches-py/test_batch", 300 * 2**20)),
    "cifar-10 archive declaring 100 GB": Case(["train", "--dataset", "cifar10", "--data-dir", "data"], 1,
                                              "is not a CIFAR-10 archive: it holds more than 1.1 GB",
                                              archive_declaring(100 * 2**30)),
    "predict with an unknown option": Case(["predict", "{run}", "{image}", "--jsn"], 2, "did you mean --json"),
    "report with an unknown option": Case(["report", "{run}", "--quiet"], 2, "unrecognized arguments: --quiet"),
    "abbreviated option": Case(["train", "--hid", "10"], 2, "unrecognized arguments: --hid 10; did you mean "
                                                           "--hidden-size?"),
    "abbreviation of three options": Case(["export", "{run}", "--f", "torch"], 2,
                                          "did you mean --format or --force or --float16?"),
    "misspelt choice": Case(["train", "--optimizer", "nestrov"], 2, "did you mean nesterov?"),
    "help on a misspelt command": Case(["help", "evalute"], 2, "unknown command 'evalute'; did you mean evaluate?"),
    "a NUL in a config file's folder": Case(["train", "--config", "c.toml"], 2,
                                            "dataset must be text without a NUL character, got 'folder:a\\x00b'",
                                            text_file("c.toml", 'dataset = "folder:a\\u0000b"\n')),
    "a NUL in a search space's path": Case(["tune", "--space", "s.toml"], 2, "without a NUL character",
                                           text_file("s.toml", 'data_dir = "a\\u0000b"\nlr = [0.1, 0.2]\n')),
    "a NUL in a value": Case(["export", "{run}", "--out", "m\0.onnx"], 2,
                             "argument --out: a NUL character in 'm\\x00.onnx'"),
    # argparse dropped the "--" and gave the option [], which tune and export met as a traceback
    "-- as a value given with = to tune": Case(["tune", "--lr=--"], 2, "argument --lr: expected one argument"),
    "-- as a value given with = to export": Case(["export", "{run}", "--out=--"], 2,
                                                 "argument --out: expected one argument"),
    # an option tune takes one value of, as none (twolayer's own network): argparse made it None, then a traceback
    "tune --net none": Case(["tune", "--net", "none", "--lr", "0.01,0.02", "--iters", "2", "--quiet", "--out", "s"], 0,
                            ""),
    "a newline as an extra word": Case(["predict", "{run}", "{image}", "--json", "\n\x1b[2J"], 2,
                                       "unrecognized arguments: \\n\\x1b[2J (see --help)"),
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """The neighbours: a finished run, a finished search and an image folder
    with its run. Cases read them (or copy them); none may change them."""
    root = tmp_path_factory.mktemp("outside")
    env = {"TWOLAYER_DATA": str(root / "cache")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert main(["train", "--epochs", "2", "--out", str(root / "run"), "--quiet"]) == 0
        assert main(["tune", "--lr", "0.01,0.02", "--epochs", "1", "--out", str(root / "search"), "--quiet"]) == 0
        images(root / "imgs", n=20)
        assert main(["train", "--dataset", f"folder:{root / 'imgs'}", "--epochs", "2", "--val-size", "6",
                     "--test-size", "6", "--out", str(root / "images_run"), "--quiet"]) == 0
        assert main(["train", "--epochs", "30", "--patience", "1", "--lr", "0.5", "--out", str(root / "patience_run"),
                     "--quiet"]) == 0
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "seven.png")
    return {"root": root, "run": root / "run", "search": root / "search", "images": root / "imgs",
            "images_run": root / "images_run", "image": root / "seven.png", "patience_run": root / "patience_run"}


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_through_the_command_line(name, shared, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    d = tmp_path / "case"
    d.mkdir()
    monkeypatch.chdir(d)
    for var in ("HOME", "TWOLAYER_DATA", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(d / "home"))
    if case.setup is not None:
        case.setup(d, shared)
    before = snapshot(shared["root"])
    images_rel = os.path.relpath(shared["images"], d)
    argv = [a.format(run=shared["run"], image=shared["image"], images_run=shared["images_run"],
                     images_rel=images_rel, patience_run=shared["patience_run"]) for a in case.argv]
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Warning" not in err, err
    if case.code == 0:
        assert code == 0, (code, err)
        assert err.count("\n") == 1 and case.line in err if case.line else err == "", err
    else:
        assert code == case.code if case.code is not None else code != 0, (code, err)
        assert err.count("\n") == 1 and err.startswith("twolayer "), err  # exactly one line
        assert case.line in err, err
    assert snapshot(shared["root"]) == before, "a file outside the case's folder changed"


def test_user_text_is_escaped_in_the_report_and_plots(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    images(tmp_path / "imgs", classes=("<script>x", "$\\bogus$"))
    assert main(["train", "--dataset", "folder:imgs", "--epochs", "2", "--out", "run", "--quiet"]) == 0
    page = (tmp_path / "run" / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;x" in page
    assert (tmp_path / "run" / "confusion_val.png").stat().st_size > 0  # the TeX-like name drew as text


def test_force_removes_only_twolayers_files_and_keeps_the_folder(tmp_path, shared):
    run = copy_run(shared, tmp_path)
    (run / "report.html").write_text("stale")
    assert main(["train", "--epochs", "1", "--out", str(run), "--force", "--quiet"]) == 0
    assert "stale" not in (run / "report.html").read_text()


def test_a_run_that_fails_before_it_starts_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "folder:nowhere", "--out", "run"]) == 1
    assert main(["train", "--dataset", "nope"]) != 0
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()
    assert main(["train", "--epochs", "1", "--out", "run", "--quiet"]) == 0  # the same command works after


def copy_search(shared, d: Path, name="search") -> Path:
    shutil.copytree(shared["search"], d / name)
    return d / name


FAILING = {"no such folder": ["--dataset", "folder:nowhere"], "one class": ["--dataset", "folder:one"],
           "a learner that fails to import": ["--net", "broken.py"]}


@pytest.mark.parametrize("why", list(FAILING))
def test_force_onto_a_run_or_search_whose_replacement_fails_before_it_starts_keeps_it(tmp_path, shared,
                                                                                        monkeypatch, why):
    """--force emptied the old run's folder before any data was read, so a
    replacement that then failed lost the old run; now its files are held
    aside until the new one has started, and put back when it never does."""
    monkeypatch.chdir(tmp_path)
    images(tmp_path / "one", classes=("a",))
    (tmp_path / "broken.py").write_text("import nosuchmodule\n")
    run, search = copy_run(shared, tmp_path), copy_search(shared, tmp_path)
    before = snapshot(tmp_path)
    for command in (["train", "--out", "run"], ["tune", "--lr", "0.1,0.2", "--out", "search"],
                    ["train", "--out", "search"], ["tune", "--lr", "0.1,0.2", "--out", "run"]):
        assert main([*command, "--force", "--epochs", "1", *FAILING[why]]) != 0, command
        assert snapshot(tmp_path) == before, command
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0  # the old run, whole
    assert main(["tune", "--lr", "0.1,0.2", "--epochs", "1", "--out", str(search), "--force", "--quiet"]) == 0
    assert sorted(p.name for p in search.iterdir()) == sorted(p.name for p in shared["search"].iterdir())


def test_a_signal_while_a_forced_run_loads_its_data_keeps_the_old_run(tmp_path, shared, monkeypatch, capsys):
    import twolayer.workflow

    def loading(*args, **kwargs):
        raise Signalled(signal.SIGTERM)  # SIGTERM while the data loads

    run = copy_run(shared, tmp_path)
    before = snapshot(run)
    monkeypatch.setattr(twolayer.workflow, "load_dataset", loading)
    assert main(["train", "--out", str(run), "--force", "--quiet"]) == 128 + signal.SIGTERM
    assert snapshot(run) == before


def test_a_claim_killed_before_its_run_started_gives_the_old_run_back(tmp_path, shared, capsys):
    """kill -9 between --force and the new run's start leaves the old files
    in a holding folder: the folder is no user's (kind_of), and evaluate,
    predict, export, report, the next claim and --resume put them back
    first (report said the run never started; evaluate found no model)."""
    run = copy_run(shared, tmp_path)
    before = snapshot(run)
    image = tmp_path / "8.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    readers = [["evaluate", str(run), "--dataset", "digits"], ["predict", str(run / "model.npz"), str(image)],
               ["export", str(run), "--out", str(tmp_path / "m.onnx"), "--force"]]
    for reader in [*readers, ["report", str(run)], "claim", "resume"]:
        held = runs.claim(run, "run", force=True)
        (run / "config.json").write_text("{}")  # the new run's, written before it was killed
        held.handle.close()  # the process died: its lock went with it
        assert runs.kind_of(run) == "unstarted"
        if reader == "claim":  # the next claim puts the old run back, and so does its own failure
            assert main(["train", "--out", str(run), "--force", "--dataset", "folder:nowhere"]) == 1
        elif reader == "resume":
            assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0  # the old run, continued
            break
        else:
            assert main(reader) == 0, reader
            shutil.copy(shared["run"] / "report.html", run)  # report writes it anew
        assert snapshot(run) == before, reader
    assert main(["train", "--out", str(run), "--force", "--epochs", "1", "--quiet"]) == 0
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # the replaced files are gone for good
    held = runs.claim(tmp_path / "search", "search", force=True)  # a search killed before its first trial
    (tmp_path / "search" / "study.journal").write_text("")
    held.handle.close()
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "search"), "--quiet"]) == 0  # an empty folder


def test_a_finished_run_beside_held_files_is_never_taken_for_an_unstarted_one(tmp_path, shared):
    """Held files beside a finished run's metrics.json (a process that wrote
    its results without saying it had started) are the replaced run's: the
    next claim drops them and keeps the results (it deleted the results and
    put the replaced run back)."""
    run = copy_run(shared, tmp_path)
    held = runs.claim(run, "run", force=True)
    shutil.copy(shared["run"] / "metrics.json", run / "metrics.json")  # the new run's results, written
    (run / "model.npz").write_bytes(b"the new model")
    held.release()
    assert main(["evaluate", str(run), "--dataset", "digits"]) == 1  # the new model, however odd, is what is there
    runs.hold(run).release()  # as --resume holds a folder: the held files of a claim that never started go back
    assert not (run / runs.HELD).exists() and (run / "model.npz").read_bytes() == b"the new model"


@pytest.mark.parametrize("name", [runs.HELD, runs.MOVING, runs.GONE])
def test_a_users_file_or_link_named_as_a_holding_folder_is_never_followed(tmp_path, shared, capsys, name):
    """A link named .twolayer.held to a folder of photos in a finished run:
    --resume took it for an unstarted claim's held files, deleted the run's
    and moved the photos into the run folder, then failed. A user's file
    of that name was an error naming twolayer's own rename."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"mine")
    run = copy_run(shared, tmp_path)
    (run / name).symlink_to(photos)
    before = snapshot(run)
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0  # the run, continued
    assert [p.name for p in photos.iterdir()] == ["cat.jpg"] and (run / name).is_symlink()
    assert main(["train", "--out", str(run), "--force", "--epochs", "1", "--quiet"]) == 1
    assert "holds files twolayer did not write" in capsys.readouterr().err
    (run / name).unlink()
    (run / name).write_text("mine")
    for out in (run, tmp_path / "mine"):
        out.mkdir(exist_ok=True)
        (out / name).write_text("mine")
        assert main(["train", "--out", str(out), "--force", "--epochs", "1", "--quiet"]) == 1
        assert "holds files twolayer did not write" in capsys.readouterr().err
        assert (out / name).read_text() == "mine"
    assert set(snapshot(run)) == set(before) | {name}  # the run's files, and the user's


def test_a_search_that_fails_before_any_trial_ran_leaves_its_folder_as_it_found_it(tmp_path, monkeypatch, capsys):
    """It left study.journal, so the same --out with the right --dataset
    was refused as another study's search. A folder of test/ alone (images
    to evaluate on) was a KeyError traceback: the search's checks read its
    training split before the carve said there was none."""
    monkeypatch.chdir(tmp_path)
    images(tmp_path / "one", classes=("a",))
    images(tmp_path / "held" / "test")
    (tmp_path / "empty").mkdir()
    for dataset in ("folder:nowhere", "folder:one", "folder:held"):
        for out in ("search", "empty"):
            assert main(["tune", "--dataset", dataset, "--lr", "0.1,0.2", "--out", out, "--quiet"]) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith("twolayer tune: error: "), err
    assert "has test/ but no train/" in err
    assert not (tmp_path / "search").exists() and not list((tmp_path / "empty").iterdir())
    assert main(["tune", "--lr", "0.1,0.2", "--epochs", "1", "--out", "search", "--quiet"]) == 0
    assert main(["tune", "--lr", "0.1,0.2", "--epochs", "1", "--jobs", "2", "--out", "empty", "--quiet",
                 "--dataset", "folder:nowhere"]) != 0  # (2 on a machine of one core)
    assert not list((tmp_path / "empty").iterdir())  # the workers' failure too


# -- faults, with real processes and signals ----------------------------------------------------


TWOLAYER = [sys.executable, "-m", "twolayer"]


def test_two_runs_started_at_once_on_one_folder_one_refuses(tmp_path):
    command = [*TWOLAYER, "train", "--epochs", "40", "--hidden-size", "300", "--out", str(tmp_path / "run")]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outputs
    err = next(e for (_, e), p in zip(outputs, procs, strict=True) if p.returncode == 1)
    assert err.count("\n") == 1 and ("in use by another twolayer process" in err or "already holds" in err), err


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead
        return f.read().split()[2] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads worker processes from /proc (Linux)")
def test_tune_workers_die_with_their_parent(tmp_path):
    out = tmp_path / "search"
    proc = subprocess.Popen([*TWOLAYER, "tune", "--lr", "1e-3,2e-3,3e-3,4e-3", "--epochs", "300", "--jobs", "2",
                             "--pruner", "none", "--out", str(out), "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
        workers = children(proc.pid)
    assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
    time.sleep(2)  # the workers are training
    workers = children(proc.pid)
    proc.kill()  # kill -9: no chance to tell them
    proc.wait()
    deadline = time.monotonic() + 30
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not any(alive(w) for w in workers)


def children(pid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(int(p.name)) == pid]


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_sigterm_to_tune_says_in_one_line_what_was_kept(tmp_path):
    out = tmp_path / "search"
    proc = subprocess.Popen([*TWOLAYER, "tune", "--lr", "1e-3,2e-3,3e-3", "--epochs", "400", "--pruner", "none",
                             "--out", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((out / "trials").glob("*/metrics.json")) and time.monotonic() < deadline:
        time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.count("\n") == 1 and "terminated; the 1 finished trial(s) are kept in" in err, err
    again = subprocess.run([*TWOLAYER, "tune", "--lr", "1e-3,2e-3,3e-3", "--epochs", "400", "--pruner", "none",
                            "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr


def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing_that_looks_complete(tmp_path, monkeypatch,
                                                                                      capsys):
    _disk_full_at(monkeypatch, "model.npz")
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    names = {p.name for p in out.iterdir()}
    assert "metrics.json" not in names and "model.npz" not in names  # nothing that looks finished
    assert not [n for n in names if n.endswith(".tmp")]  # the half-written file is gone


def _disk_full_at(monkeypatch, name: str, nth: int = 1, where: str = "") -> None:
    """The nth atomic write of a file called `name` (under a path holding
    `where`) fails with ENOSPC, after writing part of it."""
    from twolayer import files

    real, seen = files.atomic_write, [0]

    def full(path, write):
        if Path(path).name == name and where in str(path):
            seen[0] += 1
            if seen[0] == nth:
                def write_then_fail(f):
                    f.write(b"x" * 1000)
                    raise OSError(28, "No space left on device")
                return real(path, write_then_fail)
        return real(path, write)

    monkeypatch.setattr(files, "atomic_write", full)


@pytest.mark.parametrize("name, nth, then", [
    ("checkpoint.npz", 1, "no checkpoint was saved yet; free some space, then run the same command again"),
    ("checkpoint.npz", 2, "the checkpoint of iteration 14 is kept in"),
    ("model.npz", 1, "the checkpoint of iteration 42 is kept in"),
    ("metrics.json", 1, "the checkpoint of iteration 42 is kept in"),
])
def test_a_disk_full_during_a_run_keeps_its_last_checkpoint_and_says_how_to_go_on(tmp_path, monkeypatch, capsys,
                                                                                   name, nth, then):
    from twolayer.checkpoint import load_checkpoint

    out = tmp_path / "run"
    command = ["train", "--epochs", "3", "--hidden-size", "20", "--out", str(out), "--quiet"]
    _disk_full_at(monkeypatch, name, nth)
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{out / name}: No space left on device; {then}" in err, err
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")] and not (out / "metrics.json").exists()
    monkeypatch.undo()
    if "kept in" in then:
        assert f"continue with: twolayer train --resume {out}" in err
        assert load_checkpoint(out / "checkpoint.npz")[1].iteration == int(then.split()[4])  # intact
        assert main(["train", "--resume", str(out), "--quiet"]) == 0
    else:
        assert main(command) == 0
    assert (out / "metrics.json").is_file()


def test_a_writer_that_hides_a_full_disk_under_another_error_is_still_a_full_disk(tmp_path):
    """torch.save on a full disk raised RuntimeError (`unexpected pos 896 vs
    790`) while handling its ENOSPC: `export --format torch` was a traceback."""
    from twolayer.files import atomic_write

    def torch_like(f):
        try:
            f.write(b"x" * 100)
            raise OSError(28, "No space left on device")
        finally:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 896 vs 790")

    with pytest.raises(OSError) as e:
        atomic_write(tmp_path / "m.pt", torch_like)
    assert e.value.errno == 28 and e.value.filename == str(tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary


def test_a_disk_full_during_tune_keeps_the_finished_trials_and_the_same_command_goes_on(tmp_path, monkeypatch,
                                                                                         capsys):
    out = tmp_path / "search"
    command = ["tune", "--hidden-size", "5,6,7", "--epochs", "1", "--out", str(out), "--quiet"]
    _disk_full_at(monkeypatch, "model.npz", where="0001")
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert ("model.npz: No space left on device; the finished trials are kept in "
            f"{out}; free some space, then run the same twolayer tune command again") in err, err
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000"]  # no half-written trial folder
    monkeypatch.undo()
    _disk_full_at(monkeypatch, "trials.csv")
    assert main(command) == 1
    assert "trials.csv: No space left on device; the trials are kept in" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(command) == 0
    table = (out / "trials.csv").read_text()
    assert all(f",{h}," in table for h in (5, 6, 7))


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a small tmpfs needs root")
def test_a_really_full_file_system(tmp_path, capsys):
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("this sandbox does not allow mounting a tmpfs")
    try:
        code = main(["train", "--epochs", "2", "--hidden-size", "64", "--out", str(disk / "run"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "No space left on device" in err, err
        names = {p.name for p in (disk / "run").iterdir()} if (disk / "run").exists() else set()
        assert "metrics.json" not in names and not [n for n in names if n.endswith(".tmp")]
    finally:
        subprocess.run(["umount", str(disk)])


def test_stale_temporary_files_are_removed_on_resume_and_finish(tmp_path, shared):
    run = copy_run(shared, tmp_path)
    stale = [run / ".checkpoint.npz.a1b2c3d4.tmp", run / ".model.npz.zz99yy88.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    mine = run / ".notes.txt.keep.tmp"  # not a name twolayer writes: left alone
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    assert not any(p.exists() for p in stale)
    assert not mine.exists() or mine.read_bytes()


def test_a_signal_while_the_report_is_written_says_the_run_is_finished(tmp_path, monkeypatch, capsys):
    import twolayer.report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(twolayer.report, "report", interrupted)
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the run finished" in err and f"twolayer report {out} writes it" in err
    assert (out / "metrics.json").is_file()
    monkeypatch.undo()
    assert main(["report", str(out)]) == 0 and (out / "report.html").is_file()


def test_kill_9_before_the_first_checkpoint_then_the_same_command_works(tmp_path):
    out = tmp_path / "run"
    # a first epoch of a second or so: killed while it runs, before its checkpoint
    command = [*TWOLAYER, "train", "--epochs", "1", "--hidden-size", "100000", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert not (out / "checkpoint.npz").exists()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (out / "metrics.json").is_file()


def test_a_run_with_relative_paths_resumes_from_another_directory(tmp_path, monkeypatch, capsys):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    images(tmp_path / "work" / "imgs")
    shutil.copy(Path(__file__).parent / "learners" / "neural_net.py", tmp_path / "work" / "net.py")
    assert main(["train", "--dataset", "folder:imgs", "--net", "net.py", "--epochs", "2", "--out", "run",
                 "--quiet"]) == 0
    record = json.loads((tmp_path / "work" / "run" / "config.json").read_text())
    assert record["dataset"] == f"folder:{tmp_path / 'work' / 'imgs'}" and record["net"] == str(tmp_path / "work"
                                                                                                / "net.py")
    assert record["typed"] == {"dataset": "folder:imgs", "net": "net.py"}  # as the user wrote them
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # where folder:imgs and net.py name nothing
    assert main(["train", "--resume", "../work/run", "--epochs", "3", "--net", "../work/net.py", "--quiet"]) == 0
    assert main(["report", "../work/run"]) == 0
    # a run recorded before paths were absolute is read from here, and the line says so
    run = tmp_path / "work" / "run"
    (run / "config.json").write_text(json.dumps({**record, "dataset": "folder:imgs", "net": None,
                                                 "net_sha256": None}))
    (run / "metrics.json").unlink()
    resign_bundle(run / "checkpoint.npz", run / "checkpoint.npz", lambda m, a: m.pop("config"))
    capsys.readouterr()
    assert main(["train", "--resume", "../work/run", "--epochs", "4", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "records 'dataset' relative to the folder the run was started in" in err, err


def test_a_run_killed_after_its_last_checkpoint_is_finished_by_resume(tmp_path, monkeypatch, capsys):
    reference = tmp_path / "reference"
    assert main(["train", "--epochs", "3", "--out", str(reference), "--quiet"]) == 0
    from twolayer import workflow

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after the last epoch's checkpoint, before the model is written

    monkeypatch.setattr(workflow.bundles, "save_bundle", killed)
    out = tmp_path / "run"
    assert main(["train", "--epochs", "3", "--out", str(out), "--quiet"]) == 130
    assert not (out / "metrics.json").exists() and (out / "checkpoint.npz").is_file()
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0, capsys.readouterr().err  # it was "finished"
    for name in ("history.csv", "metrics.json"):
        a, b = (json.loads((r / name).read_text()) if name.endswith(".json") else (r / name).read_text()
                for r in (reference, out))
        if name == "metrics.json":
            a.pop("seconds"), b.pop("seconds")
        assert a == b, name
    with np.load(reference / "model.npz") as ra, np.load(out / "model.npz") as rb:
        assert all(np.array_equal(ra[k], rb[k]) for k in ra.files if k.startswith("param."))
    assert main(["train", "--resume", str(out), "--quiet"]) == 1  # now it has finished


def test_trials_limits_a_grid_and_a_failed_start_leaves_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    command = ["tune", "--lr", "0.01,0.02,0.03", "--epochs", "1", "--out", "search", "--quiet"]
    assert main([*command, "--trials", "2"]) == 0
    assert len(list((tmp_path / "search" / "trials").iterdir())) == 2  # --trials was ignored for a grid
    assert main(command) == 0  # the same command without --trials: the rest of the grid
    assert len(list((tmp_path / "search" / "trials").iterdir())) == 3
    assert main(["tune", "--lr", "0.1,0.2", "--storage", "sqlite:///nowhere/x.db", "--out", "new/search"]) == 1
    assert not (tmp_path / "new").exists()  # the folders it made for a search that never started are gone


@pytest.mark.parametrize("read_first_line", [False, True])
def test_a_reader_that_goes_away_loses_nothing_but_output(tmp_path, read_first_line):
    """`twolayer train | head -1`: the pipe closes after a line, or before
    any; the run goes on, finishes and exits 0, with nothing on stderr."""
    out = tmp_path / "run"
    command = [*TWOLAYER, "train", "--epochs", "3", "--out", str(out)] + ([] if read_first_line else ["--quiet"])
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if read_first_line:
        assert proc.stdout.readline()
    proc.stdout.close()  # as head does once it has what it wants
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0 and err == ""
    assert (out / "model.npz").is_file() and (out / "report.html").is_file()


def test_no_standard_output_at_all_is_no_error(tmp_path):
    """Started with its standard output and error closed (`>&- 2>&-`), a run finishes."""
    script = f"exec {shlex.join(TWOLAYER)} train --epochs 2 --out {shlex.quote(str(tmp_path / 'run'))} >&- 2>&-"
    assert subprocess.run(["bash", "-c", script], timeout=300).returncode == 0
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_a_search_whose_reader_goes_away_finishes(tmp_path):
    """The same for tune's workers, which print their trials to the same pipe."""
    command = [*TWOLAYER, "tune", "--lr", "0.01,0.02,0.03,0.04", "--epochs", "3", "--jobs", "2",
               "--out", str(tmp_path / "search")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("trial")
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0 and err == ""
    assert json.loads((tmp_path / "search" / "tune.json").read_text())["best"]


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_sighup_and_sigterm_mid_epoch_save_and_resume_exactly(tmp_path, signum):
    """A closed terminal (SIGHUP) saves like SIGTERM: one line, 128 + the
    signal, and --resume ends exactly as the run left alone (SIGHUP ended the
    process at once, silently, losing the epoch under way)."""
    args = ["train", "--epochs", "60", "--hidden-size", "400", "--quiet"]
    out = tmp_path / "run"
    proc = subprocess.Popen([*TWOLAYER, *args, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert err.count("\n") == 1 and "checkpoint saved" in err and f"--resume {out}" in err, err
    assert not (out / "metrics.json").exists()
    resumed = subprocess.run([*TWOLAYER, "train", "--resume", str(out), "--quiet"], capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0 and resumed.stderr == "", resumed.stderr
    assert main([*args, "--out", str(tmp_path / "alone")]) == 0
    assert (out / "history.csv").read_text() == (tmp_path / "alone" / "history.csv").read_text()
    mine, alone = bundles.load_bundle(out), bundles.load_bundle(tmp_path / "alone")
    assert all(np.array_equal(mine.net.params[k], alone.net.params[k]) for k in alone.net.params)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_sighup_or_sigterm_while_the_data_loads_gives_the_folder_back(tmp_path, monkeypatch, capsys, signum):
    """Before training starts, SIGTERM and SIGHUP killed the process silently,
    leaving a claimed folder; now: one line, 128 + the signal, no folder, and
    the same command runs."""
    import twolayer.workflow

    real = twolayer.workflow.load_dataset

    def loading(*args, **kwargs):
        os.kill(os.getpid(), signum)
        return real(*args, **kwargs)

    monkeypatch.setattr(twolayer.workflow, "load_dataset", loading)
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 128 + signum
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("terminated" in err or "hung up" in err), err
    assert not out.exists()
    monkeypatch.undo()
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 0


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=["SIGHUP", "SIGTERM", "SIGINT"])
def test_a_signal_during_a_checkpoint_write_stops_at_the_next_iteration(tmp_path, monkeypatch, capsys, signum):
    """A signal while an epoch's checkpoint is written lets the write finish;
    the run stops at the next iteration with a checkpoint that resumes."""
    import twolayer.workflow

    real = twolayer.workflow.save_checkpoint
    sent = []

    def saving(*args, **kwargs):
        if not sent:
            sent.append(os.kill(os.getpid(), signum))
        return real(*args, **kwargs)

    monkeypatch.setattr(twolayer.workflow, "save_checkpoint", saving)
    out = tmp_path / "run"
    assert main(["train", "--epochs", "3", "--out", str(out), "--quiet"]) == 128 + signum
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint saved" in err, err
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0 and (out / "metrics.json").is_file()


def test_unicode_paths_and_class_names_under_an_ascii_output_encoding(tmp_path):
    """PYTHONIOENCODING=ascii (or a C locale without UTF-8 mode) with a
    Unicode --out or class name: the run's lines escape what the encoding
    cannot say (a UnicodeEncodeError traceback after the run had finished)."""
    folder = images(tmp_path / "imgs", classes=("chat_é", "狗"))
    out = tmp_path / "rün"
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C", "PYTHONUTF8": "0"}
    train = subprocess.run([*TWOLAYER, "train", "--dataset", f"folder:{folder}", "--epochs", "1", "--val-size", "4",
                            "--test-size", "4", "--data-dir", str(tmp_path / "cache"), "--out", str(out), "--quiet"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert train.returncode == 0 and train.stderr == "", train.stderr
    assert train.stdout.startswith("run folder: ") and train.stdout.isascii()
    assert json.loads((out / "metrics.json").read_text())["n_train"] > 0
    assert bundles.load_bundle(out).class_names == ["chat_é", "狗"]  # the folders' names, not surrogates
    predict = subprocess.run([*TWOLAYER, "predict", str(out), str(folder / "狗" / "0.png")], capture_output=True,
                             text=True, env=env, timeout=300)
    assert predict.returncode == 0 and predict.stderr == "", predict.stderr
    bad = subprocess.run([*TWOLAYER, "predict", str(out), str(tmp_path / "nö.png")], capture_output=True,
                         text=True, env=env, timeout=300)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr, bad.stderr


def test_a_closed_terminal_is_a_reader_gone(tmp_path):
    """Writing to a terminal that was closed fails with EIO, not a broken
    pipe: the output ends there, the work goes on."""
    import errno

    from twolayer.streams import Lasting

    class Closed:
        encoding = "utf-8"

        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

        def flush(self):
            raise OSError(errno.EIO, "Input/output error")

    stream = Lasting(Closed(), os.open(os.devnull, os.O_WRONLY))
    assert stream.write("line\n") == 5 and stream.stream is None
    stream.flush()


@pytest.mark.parametrize("env", [{"HOME": "afile", "XDG_CACHE_HOME": None, "XDG_CONFIG_HOME": None},
                                 {"XDG_CACHE_HOME": "afile"},
                                 {"XDG_CACHE_HOME": "rel", "XDG_CONFIG_HOME": "rel2"}],
                         ids=["HOME-a-file", "XDG_CACHE_HOME-a-file", "XDG-relative"])
def test_an_odd_home_or_xdg_folder_is_no_noise_and_writes_nothing_here(tmp_path, env):
    """A HOME or XDG_CACHE_HOME that is a file: matplotlib said two lines on
    stderr of a run that succeeded; a relative XDG_CACHE_HOME made folders in
    the current directory (matplotlib's, and the data cache's). Now: nothing
    on stderr, nothing written outside the run folder (the data cache is best
    effort)."""
    folder = images(tmp_path / "imgs")
    work = tmp_path / "work"
    work.mkdir()
    (work / "afile").write_text("x\n")
    environ = {k: v for k, v in os.environ.items() if k != "TWOLAYER_DATA"}
    for name, value in env.items():
        environ.pop(name, None)
        if value is not None:
            environ[name] = str(work / value) if value == "afile" else value
    done = subprocess.run([*TWOLAYER, "train", "--dataset", f"folder:{folder}", "--epochs", "1", "--val-size", "4",
                           "--test-size", "4", "--out", str(tmp_path / "run"), "--quiet"], cwd=work,
                          capture_output=True, text=True, env=environ, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert sorted(p.name for p in work.iterdir()) == ["afile"]
    assert (tmp_path / "run" / "report.html").is_file()


def test_a_run_started_under_nohup_outlives_its_terminal(tmp_path):
    """nohup ignores SIGHUP so that a closed terminal does not stop the run:
    twolayer leaves an ignored signal ignored (its own handlers would have
    stopped the run with a checkpoint, exit 129)."""
    out = tmp_path / "run"
    command = [*TWOLAYER, "train", "--epochs", "40", "--hidden-size", "300", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGHUP)
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0 and err == ""
    assert (out / "metrics.json").is_file()


EMPTY = [["train", "--out", ""], ["train", "--config", ""], ["train", "--resume", ""], ["train", "--data-dir", ""],
         ["train", "--net", ""], ["train", "--dataset", ""], ["tune", "--out", ""], ["tune", "--space", ""],
         ["tune", "--storage", ""], ["tune", "--study", ""], ["tune", "--lr", ""], ["report", ""],
         ["report", "RUN", "--out", ""], ["evaluate", ""], ["evaluate", "RUN", "--data-dir", ""],
         ["predict", "", "a.png"], ["predict", "RUN", ""], ["export", ""], ["export", "RUN", "--out", ""],
         ["check", ""], ["help", ""]]


@pytest.mark.parametrize("argv", EMPTY, ids=" ".join)
def test_an_empty_value_is_refused_in_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys, argv):
    """An unset shell variable (`--out "$RUN"`) gives '': Path("") is the
    current folder, so `train --out ''` trained into it, `report ''`
    reported it, and `--config ''`, `--resume ''`, `--net ''` were dropped
    as if not given (a fresh run instead of the one to resume)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:  # argparse's refusal
        main(argv)
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": an empty value (an unset shell variable?); give " in err
    assert list(tmp_path.iterdir()) == []


def test_an_empty_text_option_in_a_config_file_is_refused(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('data_dir = ""\n')
    assert main(["train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")]) == 2
    assert "data_dir: is empty" in capsys.readouterr().err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("study, folder", [("../../x", "x"), ("..", "search"), ("a b/c", "a-b-c"),
                                           ("my_study.v2", "my_study.v2")])
def test_a_study_name_never_places_the_default_search_folder(tmp_path, monkeypatch, study, folder):
    """tune's default folder is runs/STUDY: `--study ../../x` wrote the
    search two folders above runs/, outside the current folder."""
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    assert main(["tune", "--study", study, "--lr", "0.1,0.2", "--iters", "2", "--quiet"]) == 0
    assert (here / "runs" / folder / "tune.json").is_file()
    assert sorted(p.name for p in tmp_path.rglob("tune.json")) == ["tune.json"]


@pytest.mark.parametrize("name,command", [("study.journal", "tune"), ("model.npz", "train"), ("report.html", "tune")])
def test_a_users_folder_named_like_a_file_twolayer_writes_is_never_removed_by_force(tmp_path, capsys, name,
                                                                                      command):
    """A folder named study.journal holding the user's notes, beside nothing
    else: `tune --out S --force` took it for twolayer's and removed it
    whole, the notes with it. It is the user's: refused, kept."""
    out = tmp_path / "S"
    (out / name).mkdir(parents=True)
    (out / name / "mine.txt").write_text("notes")
    argv = ["--out", str(out), "--force", "--epochs", "1", "--quiet"]
    argv = (["tune", "--lr", "0.1", "--trials", "1", *argv] if command == "tune" else ["train", *argv])
    assert main(argv) == 1
    assert f"holds files twolayer did not write ('{name}')" in capsys.readouterr().err
    assert (out / name / "mine.txt").read_text() == "notes"
