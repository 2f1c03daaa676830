"""What a new user meets in the first hour: the progress bar in a real
80-column terminal, the history they ask for (losses per epoch, patience,
continuing a finished run), recipes as files, and watching a search in
optuna-dashboard."""

import ast
import builtins
import csv
import fcntl
import importlib
import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import numpy as np
import pytest
from PIL import Image

from configs import config
from terminals import Terminal, drawn
from twolayer import TrainConfig, TwoLayerNet, fit, progress, workflow
from twolayer.bundles import load_bundle, save_bundle
from twolayer.cli import main
from twolayer.layers import softmax_loss_forward
from twolayer.progress import Progress
from twolayer.report import _examples
from twolayer.workflow import predict

POSTGRES = os.environ.get("TWOLAYER_TEST_POSTGRES")


# -- the bar, in a terminal as a person sees it -------------------------------------------


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (.ci/run installs it)")
def test_the_training_bar_is_one_line_in_an_80_column_terminal(tmp_path):
    session = f"twolayer-{os.getpid()}"
    command = (f"cd {tmp_path} && {sys.executable} -m twolayer train --hidden-size 800 --epochs 60 --out run; "
               "echo DONE; sleep 60")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "30", command], check=True)
    try:
        deadline, screen = time.monotonic() + 120, ""
        while "DONE" not in screen and time.monotonic() < deadline:
            time.sleep(0.5)
            # -J joins wrapped lines: a bar wider than the terminal would show up as a long line
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-J", "-t", session], capture_output=True,
                                    text=True, check=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    assert "DONE" in screen, screen
    lines = screen.splitlines()
    bars = [line for line in lines if line.startswith("train")]
    assert len(bars) == 1, screen  # every redraw replaced the one line
    assert "100%" in bars[0] and len(bars[0]) <= 80, bars[0]
    assert any(line.startswith("run folder:") for line in lines)


def run_in_an_unsized_pty(argv, cwd, **env):
    """Run a command on a new pty that nobody sized (0 x 0, as under `script` or
    `docker exec -t`) and return what it showed there."""
    master, slave = os.openpty()
    assert os.get_terminal_size(slave) == (0, 0)
    clean = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                env={**clean, "TERM": "xterm", **env})  # a terminal that redraws, whatever CI says
    finally:
        os.close(slave)
    chunks = []
    try:
        while chunk := os.read(master, 4096):
            chunks.append(chunk)
    except OSError:  # EIO: every end of the pty's other side is closed
        pass
    finally:
        os.close(master)
    assert proc.wait(timeout=120) == 0
    return b"".join(chunks).decode()


@pytest.mark.parametrize("columns", [None, "40"])
def test_the_bar_shows_in_a_terminal_that_reports_no_size(tmp_path, columns):
    env = {"COLUMNS": columns} if columns else {}
    shown = run_in_an_unsized_pty([sys.executable, "-m", "twolayer", "train", "--epochs", "2", "--out", "run"],
                                  tmp_path, **env)
    # tqdm took 0 columns as the width (an empty bar) and 0 rows as no room for a bar (nothing at all)
    redraws = [part for line in shown.splitlines() for part in line.split("\r") if part.startswith("train")]
    assert redraws and "100%" in redraws[-1], shown
    assert max(len(part) for part in redraws) <= int(columns or 80) - 1, shown


def last_redraw(columns, info, monkeypatch):
    return drawn(columns, 18000, [(18000, info)], monkeypatch).split("\r")[-1].strip("\n")


def test_the_bar_keeps_the_loss_and_validation_accuracy_when_the_line_is_too_long(monkeypatch):
    """A line too long for the terminal loses its end: with the cpu recipe's
    18,000 iterations at 80 columns that was the validation accuracy, after the
    times and the rate. The info comes first now, and the rate goes first."""
    last = last_redraw(80, "loss 0.4825 lr 0.00903 val 0.972", monkeypatch)
    assert last.endswith("18000/18000, loss 0.4825 lr 0.00903 val 0.972 [00:00<00:00]") and len(last) <= 79, last


@pytest.mark.parametrize("columns, shown", [(30, "18000/18000"), (45, "18000/18000, loss 0.4825"),
                                            (55, "18000/18000, loss 0.4825 lr 0.00903")])
def test_a_narrow_terminal_drops_whole_values_never_part_of_a_number(monkeypatch, columns, shown):
    """At 40 columns tqdm cut the line at the edge, mid-number: `lr 0.00903` showed as `lr 0.0`."""
    last = last_redraw(columns, "loss 0.4825 lr 0.00903 val 0.972", monkeypatch)
    assert last.endswith(f"| {shown}") and len(last) <= columns - 1, last


def test_a_notebooks_text_bar_is_not_fitted_to_the_terminal_jupyter_was_started_in(monkeypatch):
    """Without ipywidgets a notebook gets the text bar on the kernel's stderr, whose file is the terminal
    `jupyter lab` was started in: a pane 40 columns wide dropped the values of every bar in every notebook."""
    master, pane = os.openpty()
    fcntl.ioctl(pane, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))

    class KernelStream(io.StringIO):  # ipykernel's: its file is the terminal the server was started in
        def fileno(self):
            return pane

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "_has_widgets", lambda: False)
    monkeypatch.setenv("COLUMNS", "80")
    try:
        cell = KernelStream()
        bar = Progress(18000, "train", stream=cell)
        bar.update(18000, "loss 0.4825 lr 0.00903 val 0.972")
        bar.close()
    finally:
        os.close(master)
        os.close(pane)
    last = cell.getvalue().split("\r")[-1].strip("\n")
    assert last.endswith("18000/18000, loss 0.4825 lr 0.00903 val 0.972 [00:00<00:00]") and len(last) <= 79, last


def test_a_dumb_terminal_gets_plain_lines_not_redraws(monkeypatch):
    """TERM=dumb (Emacs's shell and compile buffers) shows a carriage return as ^M: every redraw piled on one line."""
    monkeypatch.setenv("TERM", "dumb")
    screen = Terminal()
    bar = Progress(100, "train", stream=screen)
    bar.update(1, "loss 2.5283 lr 0.01")
    bar.update(100, "loss 0.3121 lr 0.00377 val 0.892")
    bar.close()
    assert screen.getvalue() == ("train   1% 1/100 00:00<? loss 2.5283 lr 0.01\n"
                                 "train 100% 100/100 00:00<00:00 loss 0.3121 lr 0.00377 val 0.892\n")


def test_zca_whitening_says_it_is_fitting_before_its_long_silence(tmp_path, capsys):
    """--preprocess zca (the cpu recipe's) on CIFAR-10: a minute with nothing on the screen, then the bar."""
    assert main(["train", "--preprocess", "zca", "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().out.startswith("fitting ZCA whitening to 1,437 training images of 64 values\n"
                                              "train ")
    assert main(["train", "--preprocess", "zca", "--epochs", "1", "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    assert "ZCA" not in capsys.readouterr().out


def test_a_log_gives_no_time_left_from_the_first_step_alone():
    """The first step holds the start-up's time: a log's first line said 147:59 left of a 50-second run."""
    log = io.StringIO()
    bar = Progress(10800, "train", stream=log)
    bar.start -= 0.8  # the first iteration, with numba compiling the update
    bar.update(1, "loss 2.5283 lr 0.01")
    bar.start -= 49
    bar.update(10800, "loss 0.3121 lr 0.00377 val 0.892")
    assert log.getvalue() == ("train   0% 1/10800 00:00<? loss 2.5283 lr 0.01\n"
                              "train 100% 10800/10800 00:49<00:00 loss 0.3121 lr 0.00377 val 0.892\n")


def test_a_resumed_runs_bar_moves_and_counts_only_its_own_steps(tmp_path, monkeypatch, capsys):
    """`train --resume RUN --epochs 4000` at iteration 42,000: the bar took the steps done before as one update,
    after which tqdm redrew only every 42,000 steps (frozen at 75% for the whole run, at 327,459 it/s), a
    log's first line said 00:00 left from one step, and the last that 56,000 iterations took the resumed part's time."""
    run = str(tmp_path / "run")
    assert main(["train", "--epochs", "20", "--out", run, "--quiet"]) == 0  # 14 iterations an epoch
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert main(["train", "--resume", run, "--epochs", "180"]) == 0
    counts = [int(n) for n in re.findall(r"\| (\d+)/2520", sys.stderr.getvalue())]
    assert counts[0] == 280 and any(280 < n < 2520 for n in counts), counts  # redrawn as it went
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    capsys.readouterr()
    assert main(["train", "--resume", run, "--epochs", "200"]) == 0  # to a log: plain lines on stdout
    out = capsys.readouterr().out
    assert out.startswith("train  90% 2521/2800 00:00<? loss ")
    # its time is of the resumed part: "2800 iterations in 0.4 s" said the 2,800 took it
    assert re.search(r"\n2800 iterations in all; the resumed part in \d+\.\d s; kept the best", out), out


def test_evaluate_and_predict_as_a_new_user_first_types_them(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0  # --dataset was required (exit 2): the model knows its dataset
    out = capsys.readouterr().out
    assert main(["evaluate", str(run), "--dataset", "digits"]) == 0
    assert capsys.readouterr().out == out and out.startswith("test accuracy") and out.rstrip().endswith("on digits")
    bundle = load_bundle(run)
    bundle.config = {}  # a bundle made in Python: its config need not record the dataset
    save_bundle(tmp_path / "made.npz", bundle)
    assert main(["evaluate", str(tmp_path / "made.npz")]) == 2  # it was KeyError: 'dataset', a traceback
    assert capsys.readouterr().err == (f"twolayer evaluate: error: {tmp_path / 'made.npz'} does not record the "
                                       "dataset it was trained on: give --dataset SPEC\n")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "blank.png")
    # one path as text, not a list: its characters were paths, and "/" walked the whole file system
    assert [row["path"] for row in predict(run, str(tmp_path / "blank.png"))] == [str(tmp_path / "blank.png")]


def test_train_names_its_report_by_a_path_that_opens_from_here(tmp_path, capsys, monkeypatch):
    """It said `run folder: runs/... (report: report.html)`: no file of that name where the user stands."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("train ")]
    run = Path(lines[0].removeprefix("run folder: "))
    assert lines[1] == f"report: {run / 'report.html'}" and Path(lines[1].removeprefix("report: ")).is_file()


def test_report_takes_a_runs_model_as_evaluate_does_and_says_when_a_run_has_not_finished(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    (run / "report.html").unlink()
    capsys.readouterr()
    # it was "RUN/model.npz is neither a finished run folder (model.npz) nor a tuning folder (tune.json)"
    assert main(["report", str(run / "model.npz")]) == 0 and (run / "report.html").is_file()
    assert capsys.readouterr().out == f"{run / 'report.html'}\n"
    for name in ("model.npz", "metrics.json", "report.html"):  # as a run stopped before its end leaves it
        (run / name).unlink()
    assert main(["report", str(run)]) == 1
    assert capsys.readouterr().err == (f"twolayer report: error: {run} is a run that has not finished (a "
                                       f"checkpoint.npz, no model.npz); finish it with: twolayer train --resume {run}, "
                                       "which writes its report\n")
    assert not (run / "report.html").exists()


def test_the_same_train_command_after_ctrl_c_says_to_resume_the_run(tmp_path, capsys):
    """The command typed again after Ctrl-C (up-arrow, Enter; a notebook cell run again) said `already holds a
    training run; choose another --out or pass --force to replace it`: --force would throw the checkpoint away."""
    run = tmp_path / "run"
    argv = ["train", "--epochs", "2", "--out", str(run), "--quiet"]
    assert main(argv) == 0
    for path in run.iterdir():
        if path.name not in ("config.json", "checkpoint.npz"):  # as Ctrl-C leaves a run
            path.unlink()
    capsys.readouterr()
    assert main(argv) == 1
    assert capsys.readouterr().err == (f"twolayer train: error: {run} holds a run that has not finished; continue "
                                       f"it with: twolayer train --resume {run}, or pass --force to start it afresh\n")
    assert main(["train", "--resume", str(run), "--quiet"]) == 0 and (run / "metrics.json").is_file()
    assert main(argv) == 1  # a finished run: another --out, or --force
    assert "already holds a training run; choose another --out or pass --force" in capsys.readouterr().err


def test_the_reports_examples_come_from_across_the_split_not_its_first_class():
    """An image folder's validation split keeps the folder's order, one class after
    another: the first 8 right and 8 wrong images were all airplanes on CIFAR-10."""
    labels = np.repeat(np.arange(10), 50)
    predicted = np.where(np.arange(500) % 5 == 0, (labels + 1) % 10, labels)  # a fifth of each class wrong
    images = np.zeros((500, 8, 8, 1), np.uint8)
    page = _examples((images, labels), predicted, [f"class{i}" for i in range(10)])
    right, wrong = page.split("<h3>Wrong")
    assert len(set(re.findall(r"predicted (class\d)", right))) == 8, right
    assert len(set(re.findall(r"true (class\d)", wrong))) == 8, wrong


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_train_installs_the_package_without_the_test_extras(tmp_path):
    """The README's first command: `make train` installed the test extras too (PyTorch, onnx, selenium, ...)."""
    root = Path(__file__).resolve().parents[1]
    plan = {target: subprocess.run(["make", "-n", "-C", str(root), target, f"VENV={tmp_path / 'venv'}"],
                                   capture_output=True, text=True, check=True).stdout for target in ("train", "test")}
    assert "pip install --quiet -e .\n" in plan["train"] and "[test]" not in plan["train"], plan["train"]
    assert "pip install --quiet -e '.[test]'" in plan["test"], plan["test"]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lint_runs_ruff_as_make_test_does_first(tmp_path):
    """`make lint` was declared (.PHONY) with no rule: 'Nothing to be done for lint'."""
    root = Path(__file__).resolve().parents[1]
    plan = {target: subprocess.run(["make", "-n", "-C", str(root), target, f"VENV={tmp_path / 'venv'}"],
                                   capture_output=True, text=True, check=True).stdout for target in ("lint", "test")}
    assert "ruff check src tests benchmarks" in plan["lint"], plan["lint"]
    assert plan["test"].index("ruff check") < plan["test"].index("-m pytest"), plan["test"]


def test_the_readmes_layout_names_every_module_and_only_modules_that_exist():
    """The README's Layout section is the map of src/twolayer/: each module on it, once, and no other."""
    root = Path(__file__).resolve().parents[1]
    layout = (root / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^ {6}(\w+\.py) ", layout, flags=re.M)
    modules = sorted(path.name for path in (root / "src" / "twolayer").glob("*.py"))
    assert sorted(listed) == modules
    data = re.search(r"^ {6}data/ +(.+?)\n {6}\w", layout, flags=re.M | re.S).group(1)
    for path in (root / "src" / "twolayer" / "data").glob("*.py"):
        if path.stem != "__init__":
            assert path.name in data, path.name
    benchmarks = layout.split("    benchmarks/", 1)[1]
    for path in [*(root / "benchmarks").glob("*.py"), *(root / "benchmarks").glob("*.sh")]:  # kill_soak.py was not
        assert path.name in benchmarks, path.name


def readme() -> str:
    return (Path(__file__).resolve().parents[1] / "README.md").read_text()


def numbers_masked(text: str) -> list[str]:
    """The lines of `text`, every number as #: the words, names and columns, which a BLAS kernel does not move."""
    return [re.sub(r"\d+(\.\d+)?(e[+-]?\d+)?", "#", line) for line in text.splitlines()]


def test_the_readmes_first_commands_run_as_shown(tmp_path):
    """The README's first console block, typed as a new user types it: its predict read a seven.png that no step
    had made. Each command's output is the README's, its numbers aside; the class it predicts, the README's."""
    block = readme().split("```console\n", 1)[1].split("```", 1)[0]
    steps = [(step.split("\n", 1) + [""])[:2] for step in block.removeprefix("$ ").split("\n$ ")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")]),
           "TWOLAYER_DATA": str(tmp_path / "data"), "PYTHON": sys.executable}
    prelude = 'twolayer() { "$PYTHON" -m twolayer "$@"; }; python() { "$PYTHON" "$@"; }; '
    bar = re.compile(r"^train +\d+% ")
    for command, shown in steps:
        done = subprocess.run(["bash", "-c", prelude + command], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr, (command, done.stderr)
        got, want = numbers_masked(done.stdout), numbers_masked(shown)
        bars, shown_bars = [line for line in got if bar.match(line)], [line for line in want if bar.match(line)]
        assert bars[:1] + bars[-1:] == shown_bars[:1] + shown_bars[-1:]  # a slow machine's bar adds a line each 10 s
        assert [line for line in got if not bar.match(line)] == [line for line in want if not bar.match(line)]
        if command.startswith("twolayer predict"):
            assert done.stdout.split("\t")[:2] == shown.split("\t")[:2], done.stdout


def test_the_readmes_python_names_exist():
    """Each of the README's Python blocks defines what it uses (the sklearn and ONNX blocks used X_train and
    images, which they never made), and what they import from twolayer, and every twolayer.NAME.NAME the text
    names, exists: a renamed function leaves a snippet that fails on its first line."""
    text = readme()
    names = set(re.findall(r"(?<![\w.])twolayer(?:\.\w+)+", text))
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        nodes = list(ast.walk(ast.parse(block)))
        bound = {node.id for node in nodes if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load)}
        bound |= {node.arg for node in nodes if isinstance(node, ast.arg)}
        bound |= {(alias.asname or alias.name).split(".")[0] for node in nodes
                  if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        used = {node.id for node in nodes if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        assert used <= bound | set(dir(builtins)), (used - bound - set(dir(builtins)), block)
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and node.module.split(".")[0] == "twolayer":
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names if alias.name.split(".")[0] == "twolayer")
    assert len(names) > 20, names
    for name in sorted(names):
        parts = name.split(".")
        found = importlib.import_module("twolayer")
        for i, part in enumerate(parts[1:], 2):  # a module that its package does not import is imported
            found = getattr(found, part) if hasattr(found, part) else importlib.import_module(".".join(parts[:i]))


# -- the history people ask for ----------------------------------------------------------


def test_losses_per_epoch_are_the_cross_entropy_on_the_sample_and_on_validation(blobs):
    X, y, Xv, yv = blobs
    net = TwoLayerNet(20, 16, 3, std=1e-2, seed=0, dtype=np.float64)
    history = fit(net, X, y, Xv, yv, config(lr=0.05, iters=40, batch_size=100), eval_size=len(X),
                  restore_best=False)
    assert len(history.val_loss) == len(history.train_loss) == len(history.val_acc) == 8  # 5 batches an epoch
    assert history.val_loss[-1] == pytest.approx(float(softmax_loss_forward(net.scores(Xv), yv)[0]), rel=1e-12)
    assert history.train_loss[-1] == pytest.approx(float(softmax_loss_forward(net.scores(X), y)[0]), rel=1e-12)
    assert history.val_loss[-1] < history.val_loss[0]


def test_a_history_shown_in_a_notebook_is_one_line_not_every_loss(blobs):
    X, y, Xv, yv = blobs
    history = fit(TwoLayerNet(20, 16, 3, std=1e-2, seed=0), X, y, Xv, yv, config(lr=0.05, iters=400, batch_size=10))
    shown = repr(history)
    assert shown.startswith("History(400 iterations, 8 evaluations, last loss ")
    assert f"best val_acc {history.best_val_acc:.4f} at iteration " in shown
    assert "\n" not in shown and len(shown) < 200, shown


def test_a_run_and_its_data_shown_in_a_notebook_are_one_line_not_their_arrays(tmp_path):
    """`result = train(...)`, then `result` as a cell's last expression: 23,000 characters of the data's arrays;
    `twolayer.load_bundle(run)`: two objects' addresses and the whole config."""
    result = workflow.train(TrainConfig(epochs=1), out=tmp_path / "run", quiet=True)
    m = result.metrics
    assert repr(result) == (f"TrainResult(run_dir={str(tmp_path / 'run')!r}, test {m['test_accuracy']:.4f}, val "
                            f"{m['val_accuracy']:.4f}, train {m['train_accuracy']:.4f}, 14 iterations in "
                            f"{m['seconds']:.1f} s)")
    assert repr(result.data) == ("Prepared(Dataset('digits', 10 classes, 8x8 gray images: train 1797), "
                                 "standardize: train 1437, val 180, test 180 rows of 64)")
    assert repr(load_bundle(result.run_dir)) == (
        "Bundle(64-100-10 net, 8x8 gray images, standardize, 10 classes: '0', '1', '2', '3', ...; dataset 'digits')")


def test_a_search_shown_in_a_notebook_is_one_line_not_every_trial(tmp_path):
    """`result = tune.run(...)`, then `result`: every trial's row as a dict, the whole table in one wrapped line."""
    from twolayer import tune
    from twolayer.space import build_space

    space = build_space({"dataset": "digits", "lr": "0.01,0.1,1e9", "epochs": "1"})
    result = tune.run(tune.TuneOptions(space=space, out=tmp_path / "search", quiet=True))
    assert repr(result) == (f"TuneResult(out={str(tmp_path / 'search')!r}, 3 trials (2 complete, 1 diverged), best "
                            f"trial {result.best['trial']}, val {result.best['val_accuracy']:.4f}, "
                            f"{result.seconds:.1f} s)")


def test_patience_stops_after_epochs_without_a_better_validation_accuracy(blobs):
    X, y, Xv, yv = blobs
    history = fit(TwoLayerNet(20, 16, 3, std=1e-2, seed=0), X, y, Xv, yv,
                  config(lr=0.05, epochs=200, batch_size=100, patience=3))
    assert history.early_stop and "--patience 3" in history.early_stop
    assert len(history.val_acc) == history.best_index + 1 + 3
    assert max(history.val_acc[history.best_index + 1:]) <= history.val_acc[history.best_index]
    assert len(history.loss) < 200 * 6


def test_patience_on_the_command_line_is_a_normal_finish(tmp_path, capsys):
    assert main(["train", "--epochs", "200", "--patience", "2", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "--patience 2" in metrics["early_stop"] and metrics["stopped_early"] is None
    assert metrics["iterations"] < 200 * 14
    assert "stopped early on purpose" in capsys.readouterr().out


def read_history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("length", [["--epochs", "3", "5"], ["--iters", "28", "70"]])  # 14 batches an epoch
def test_a_finished_run_continues_exactly_as_if_it_had_never_stopped(tmp_path, length, capsys):
    flag, short, long = length
    options = ["--optimizer", "nesterov", "--dropout-hidden", "0.2", "--quiet"]
    assert main(["train", flag, long, "--out", str(tmp_path / "whole"), *options]) == 0
    assert main(["train", flag, short, "--out", str(tmp_path / "part"), *options]) == 0
    assert main(["train", "--resume", str(tmp_path / "part"), flag, long, "--quiet"]) == 0
    whole, part = load_bundle(tmp_path / "whole"), load_bundle(tmp_path / "part")
    for key in whole.net.params:
        np.testing.assert_array_equal(whole.net.params[key], part.net.params[key])
    assert read_history(tmp_path / "whole") == read_history(tmp_path / "part")
    assert json.loads((tmp_path / "part" / "config.json").read_text())[flag[2:]] == int(long)


def test_continuing_with_a_length_dependent_schedule_keeps_the_rates_already_used(tmp_path):
    options = ["--schedule", "cosine", "--quiet"]
    assert main(["train", "--epochs", "2", "--out", str(tmp_path / "run"), *options]) == 0
    before = read_history(tmp_path / "run")
    assert main(["train", "--resume", str(tmp_path / "run"), "--epochs", "4", "--quiet"]) == 0
    after = read_history(tmp_path / "run")
    assert after[: len(before)] == before and len(after) == 2 * len(before)
    assert float(after[-1]["lr"]) < 1e-4  # the cosine recomputed for the new length ends near zero


@pytest.mark.parametrize("argv,line", [
    (["--epochs", "2"], "has finished: it ran 28 iterations, and 28 were asked for"),
    (["--epochs", "5", "--lr", "0.1"],
     "only --epochs or --iters (and --net, naming a learner's run's file) may be given with it, not --lr"),
    (["--device", "cpu"], "not --device (for a run moved to its data or to another device, edit data_dir, device or "
                          "an image folder's dataset in {run}/config.json)"),
])
def test_continuing_says_in_one_line_what_it_cannot_do(tmp_path, capsys, argv, line):
    """--device, --data-dir or --dataset with --resume: the line names the
    config.json edit a moved run takes (it named only the length options)."""
    assert main(["train", "--epochs", "2", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), *argv]) != 0
    err = capsys.readouterr().err
    assert line.format(run=tmp_path / "run") in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["--out", "elsewhere"], ["--force"]])
def test_continuing_refuses_an_out_or_force_it_would_ignore(tmp_path, capsys, argv, monkeypatch):
    """`train --resume RUN --epochs 5 --out OTHER` continued RUN in place, OTHER never made, without a word."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--out", str(run), "--quiet"]) == 0
    before = (run / "model.npz").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert "--resume continues a run in its own folder" in err and f"not {argv[0]}" in err and err.count("\n") == 1
    assert (run / "model.npz").read_bytes() == before and not (tmp_path / "elsewhere").exists()


# -- recipes as files ------------------------------------------------------------------------


def test_train_config_file_under_the_command_line(tmp_path, capsys):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('recipe = "classic"\nlr_decay = 0.9\nhidden_size = 32\niters = 30\ndataset = "digits"\n')
    assert main(["train", "--config", str(recipe), "--hidden-size", "16", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["lr_decay"] == 0.9 and saved["iters"] == 30  # from the file
    assert saved["hidden_size"] == 16  # the command line wins
    assert saved["reg"] == 0.4 and saved["recipe"] == "classic"  # the file's recipe under both
    assert main(["train", "--config", str(recipe), "--epochs", "1", "--out", str(tmp_path / "run2"), "--quiet"]) == 0
    saved = json.loads((tmp_path / "run2" / "config.json").read_text())
    assert saved["epochs"] == 1 and saved["iters"] is None  # --epochs given: the file's iters goes


@pytest.mark.parametrize("text,line", [
    ("lr = [0.1, 0.2]\n", "lr takes one value in"),
    ("lr_decay = 2.0\n", "bad.toml: lr_decay must be in (0, 1], got 2.0"),
    ("colour = 'red'\n", "unknown training option 'colour'"),
    ("lr = \n", "cannot read config file"),
])
def test_a_bad_config_file_is_one_line_naming_the_option_as_written(tmp_path, capsys, text, line):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert line in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


# -- watching a search -------------------------------------------------------------------


def dashboard_studies(storage) -> list[dict]:
    """What optuna-dashboard's page asks its server for: the studies and their trials."""
    from optuna_dashboard import wsgi

    app = wsgi(storage)

    def get(path):
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
        setup_testing_defaults(environ)
        status = []
        body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
        assert status[0].startswith("200"), (path, status, body[:200])
        return json.loads(body)

    studies = get("/api/studies")["study_summaries"]
    return [{**s, "trials": get(f"/api/studies/{s['study_id']}")["trials"]} for s in studies]


def test_optuna_dashboard_reads_a_search_from_its_journal_file(tmp_path, capsys):
    out = tmp_path / "search"
    assert main(["tune", "--lr", "1e-2,5e-2", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    studies = dashboard_studies(str(out / "study.journal"))  # the command the README gives
    assert [s["study_name"] for s in studies] == ["twolayer-digits"]
    values = sorted(t["values"][0] for t in studies[0]["trials"])
    best = json.loads((out / "tune.json").read_text())["best"]["val_accuracy"]
    assert len(values) == 2 and values[-1] == pytest.approx(best)


@pytest.mark.skipif(not POSTGRES, reason="needs TWOLAYER_TEST_POSTGRES (.ci/run starts PostgreSQL and sets it)")
def test_optuna_dashboard_reads_a_search_from_postgresql(tmp_path, capsys):
    study = f"dash-{os.getpid()}-{time.time_ns()}"
    assert main(["tune", "--lr", "1e-2,5e-2", "--epochs", "3", "--storage", POSTGRES, "--study", study,
                 "--out", str(tmp_path / "search"), "--quiet"]) == 0
    studies = {s["study_name"]: s for s in dashboard_studies(POSTGRES)}
    assert len(studies[study]["trials"]) == 2
    assert all(math.isfinite(t["values"][0]) for t in studies[study]["trials"])


def test_the_commands_functions_are_at_the_top_and_imported_on_first_use(tmp_path):
    """`import twolayer; twolayer.train(...)` was an AttributeError (the
    functions live in twolayer.workflow); they are now found at the top,
    imported when first used, so `import twolayer` stays quick."""
    code = f"""
import sys, twolayer
assert "twolayer.workflow" not in sys.modules and "twolayer.sklearn" not in sys.modules
from twolayer import TwoLayerClassifier, evaluate, load_bundle, load_dataset, predict, resume, train
result = twolayer.train(twolayer.TrainConfig(iters=3), out={str(tmp_path / "run")!r}, quiet=True)
assert twolayer.evaluate(result.run_dir)["n"] == 180 and twolayer.load_bundle(result.run_dir).class_names
assert {{"train", "predict", "TwoLayerClassifier"}} <= set(dir(twolayer))
try:
    twolayer.trian
except AttributeError as e:
    assert str(e) == "module 'twolayer' has no attribute 'trian'"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
