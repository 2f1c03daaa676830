"""A learner's own network trained by twolayer (train --net, tune --net,
check --dataset): through the assignment's loss(X, y, reg), to the weights
twolayer's own float64 network reaches, labelled as the learner's
everywhere, its bad input refused in one line."""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from learner_files import (
    KEPT_AT_HAND,
    LAST_PARAM,
    LEARNER,
    READ_AT_HAND,
    READ_PARAMS,
    ROOT,
    learner_replacing,
    tiny_learner,
)
from terminals import Terminal
from twolayer import workflow
from twolayer.bundles import load_bundle
from twolayer.cli import main
from twolayer.config import TrainConfig
from twolayer.errors import UsageError
from twolayer.learner import file_digest, label
from twolayer.model import PARAM_NAMES
from twolayer.progress import Progress

SHARED_CIFAR = ROOT.parent / "shared" / "data" / "cifar10-jpeg"


@pytest.fixture(autouse=True)
def data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "cache"))


def cifar_subset(folder, per_class=30):
    """The first images of each class of the CIFAR-10 JPEG folder."""
    if not SHARED_CIFAR.is_dir():
        pytest.skip(f"the CIFAR-10 JPEG folder is not at {SHARED_CIFAR}")
    for source in sorted((SHARED_CIFAR / "train").iterdir()):
        (folder / source.name).mkdir(parents=True)
        for image in sorted(source.iterdir())[:per_class]:
            shutil.copy(image, folder / source.name / image.name)
    return f"folder:{folder}"


def generated_images(folder, per_class=30):
    """32x32 colour images, ten classes of different mean colours."""
    rng = np.random.default_rng(0)
    for label_ in range(10):
        (folder / f"class{label_}").mkdir(parents=True)
        base = rng.integers(0, 256, size=3)
        for i in range(per_class):
            pixels = np.clip(base + rng.normal(0, 60, size=(32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"class{label_}" / f"{i}.png")
    return f"folder:{folder}"


@pytest.mark.parametrize("optimizer,lr", [("sgd", 1e-3), ("nesterov", 1e-4)])
@pytest.mark.parametrize("images", [cifar_subset, generated_images])
def test_a_learners_network_ends_with_twolayers_own_weights(tmp_path, images, optimizer, lr):
    """The same initial weights, seed and options: 100 iterations with L2 0.4."""
    options = dict(dataset=images(tmp_path / "images"), dtype="float64", hidden_size=30, lr=lr, reg=0.4,
                   batch_size=20, lr_decay=0.95, epochs=10, val_size=50, test_size=50, optimizer=optimizer, seed=3)
    own = workflow.train(TrainConfig(**options), tmp_path / "own", quiet=True)
    theirs = workflow.train(TrainConfig(**options, net=str(LEARNER)), tmp_path / "theirs", quiet=True)
    assert theirs.metrics["network"] == label(str(LEARNER)) and own.metrics["network"] == label(None)
    a, b = load_bundle(tmp_path / "theirs").net.params, load_bundle(tmp_path / "own").net.params
    for key in PARAM_NAMES:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-10)
    np.testing.assert_allclose(theirs.history.loss, own.history.loss, rtol=0, atol=1e-10)
    assert np.mean(theirs.history.loss[-5:]) < 0.9 * theirs.history.loss[0], theirs.history.loss  # it learned
    assert theirs.history.val_acc == own.history.val_acc and theirs.history.stop_reason is None


def test_a_learners_run_is_labelled_everywhere_and_its_bundle_works(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--net", str(LEARNER), "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"network: {label(str(LEARNER))}; its code runs in this process\n")
    assert json.loads((out / "config.json").read_text())["net"] == str(LEARNER)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["network"] == f"learner's network {LEARNER} (not twolayer's own)"
    assert load_bundle(out).config["net"] == str(LEARNER)
    assert f"learner&#x27;s network {LEARNER}" in (out / "report.html").read_text().split("</h1>")[0]
    assert main(["evaluate", str(out), "--dataset", "digits", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(metrics["test_accuracy"])

    own = tmp_path / "own"
    assert main(["train", "--epochs", "1", "--out", str(own), "--quiet"]) == 0
    assert "network:" not in capsys.readouterr().out
    assert json.loads((own / "metrics.json").read_text())["network"] == "twolayer's own network"
    assert json.loads((own / "config.json").read_text())["net"] is None


def test_check_with_a_dataset_checks_then_trains(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["check", str(LEARNER), "--dataset", "digits", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "6 of 6 checks passed" in printed and f"run folder: {out}" in printed
    assert json.loads((out / "config.json").read_text())["net"] == str(LEARNER)


def test_check_with_a_dataset_says_a_network_that_fails_was_not_trained(tmp_path, capsys):
    """Its summary ended at 'fix loss first', exit 1: nothing said whether the
    training asked for had run."""
    path, out = tmp_path / "net.py", tmp_path / "run"
    path.write_text(learner_replacing(("loss += reg *", "loss += 0.5 * reg *")))
    assert main(["check", str(path), "--dataset", "digits", "--epochs", "2", "--out", str(out), "--quiet"]) == 1
    printed = capsys.readouterr().out
    assert printed.endswith("fix loss first\nnot trained on digits: it trains once every check passes\n"), printed
    assert not out.exists()


def test_tune_searches_over_a_learners_network(tmp_path, capsys):
    out = tmp_path / "tune"
    assert main(["tune", "--net", str(LEARNER), "--lr", "1e-3,1e-2", "--epochs", "2", "--out", str(out),
                 "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"network: {label(str(LEARNER))}")
    summary = json.loads((out / "tune.json").read_text())
    assert summary["network"] == label(str(LEARNER)) and summary["study"] == "learner-digits"
    for trial in (out / "trials").iterdir():
        assert json.loads((trial / "config.json").read_text())["net"] == str(LEARNER)
    assert "learner&#x27;s network" in (out / "report.html").read_text().split("</h1>")[0]


def test_an_interrupted_learners_run_resumes_exactly(tmp_path, monkeypatch, capsys):
    """...with the command its Ctrl-C line gives, which names the learner's
    file (the resume runs its code only when named), quoted for the shell."""
    net = tmp_path / "my net.py"
    shutil.copy(LEARNER, net)
    args = ["train", "--net", str(net), "--epochs", "3", "--hidden-size", "16", "--batch-size", "50", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    original = Progress.update

    def update(self, done, info=""):
        if done == 45:
            os.kill(os.getpid(), signal.SIGINT)
        original(self, done, info)

    monkeypatch.setattr(Progress, "update", update)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "cut")]) == 130
    monkeypatch.undo()
    command = shlex.split(capsys.readouterr().err.split("Resume with: ", 1)[1])
    assert command == ["twolayer", "train", "--resume", str(tmp_path / "cut"), "--net", str(net)]
    assert main([*command[1:], "--quiet"]) == 0
    a, b = load_bundle(tmp_path / "cut").net.params, load_bundle(tmp_path / "whole").net.params
    for key in PARAM_NAMES:
        np.testing.assert_array_equal(a[key], b[key])


def test_in_a_notebook_an_interrupted_learners_run_names_the_python_call_with_its_net(tmp_path, monkeypatch):
    """In Jupyter the interrupt said `(here: twolayer.resume('RUN'))`, which a
    learner's run refuses; that refusal named only the shell's --resume --net."""
    from twolayer import learner

    out = tmp_path / "run"
    config = TrainConfig(net=str(LEARNER), dataset="digits", epochs=1)
    workflow.train(config, out=out, quiet=True)
    call = f"twolayer.resume({str(out)!r}, net={str(LEARNER)!r})"
    for module in (workflow, learner):
        monkeypatch.setattr(module, "in_notebook", lambda: True)
    assert str(workflow.Interrupted(out, 5, signal.SIGINT)).endswith(f"--net {LEARNER} (here: {call})")
    with pytest.raises(UsageError) as refused:
        workflow.resume(out, quiet=True)
    assert str(refused.value).endswith(f"--net {LEARNER} (here: {call})")
    workflow.resume(out, quiet=True, length={"epochs": 2}, net=str(LEARNER))  # the call it names


def test_a_learners_file_changed_since_the_run_is_refused_on_resume(tmp_path, capsys):
    net = tmp_path / "my net.py"
    shutil.copy(LEARNER, net)
    run = tmp_path / "run"
    assert main(["train", "--net", str(net), "--epochs", "1", "--hidden-size", "16", "--out", str(run),
                 "--quiet"]) == 0
    before = (run / "checkpoint.npz").read_bytes()
    net.write_text(net.read_text() + "# edited after the run\n")
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--net", str(net), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{net} has changed since this run started" in err, err
    assert (run / "checkpoint.npz").read_bytes() == before  # nothing resumed
    net.write_text(LEARNER.read_text())  # the same code again: resumes
    assert main(["train", "--resume", str(run), "--epochs", "2", "--net", str(net), "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["net_sha256"] == file_digest(str(net))


def test_a_learners_project_moved_with_its_run_resumes_from_the_files_new_place(tmp_path, capsys):
    """A learner's folder (net.py and its runs) moved or copied: --net names
    the file where it is now, taken since its code and class are the run's
    (config.json records its SHA-256). The only remedy said was `give --net
    OLD/net.py`, a file no longer there: the run could never go on."""
    (tmp_path / "project").mkdir()
    shutil.copy(LEARNER, tmp_path / "project" / "net.py")
    common = ["--epochs", "1", "--hidden-size", "16", "--quiet"]
    assert main(["train", "--net", str(tmp_path / "project" / "net.py"), *common,
                 "--out", str(tmp_path / "project" / "run")]) == 0
    (tmp_path / "project").rename(tmp_path / "moved")
    net, run = tmp_path / "moved" / "net.py", tmp_path / "moved" / "run"
    (tmp_path / "other.py").write_text(LEARNER.read_text() + "# another learner's\n")
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--net", str(tmp_path / "other.py"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(no longer there): a file moved since is taken where its class and code are " \
        "the run's" in err and "and its code differs" in err, err
    # a name that is no file, or a folder, is said to be so (it was said to be of other code)
    for given, why in ((tmp_path / "typo.py", "there is no file there"), (tmp_path / "moved", "it is a folder")):
        assert main(["train", "--resume", str(run), "--epochs", "2", "--net", str(given), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.endswith(f"SHA-256), and {why}\n"), err
    assert main(["train", "--resume", str(run), "--epochs", "2", "--net", str(net), "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["net"] == str(net)
    assert main(["train", "--net", str(net), *common, "--epochs", "2", "--out", str(tmp_path / "straight")]) == 0
    resumed, straight = load_bundle(run), load_bundle(tmp_path / "straight")
    for name in PARAM_NAMES:  # the run left alone, bit for bit
        assert np.array_equal(resumed.net.params[name], straight.net.params[name])
    assert main(["train", "--resume", str(run), "--epochs", "3", "--net", str(net), "--quiet"]) == 0  # and again


def test_a_learners_class_changed_in_config_json_is_refused_on_resume(tmp_path, capsys):
    """config.json's net may name a new place for the run's file (its digest
    checked), never another class: one edited to name another class of the
    same file, and --net naming it, went on training that class from the
    checkpoint without a word once the file's place became movable."""
    path = tmp_path / "net.py"
    path.write_text(LEARNER.read_text() + "\n\nclass Other(TwoLayerNet):\n    pass\n")
    run = tmp_path / "run"
    assert main(["train", "--net", str(path), "--epochs", "1", "--hidden-size", "16", "--out", str(run),
                 "--quiet"]) == 0
    (run / "metrics.json").unlink()
    record = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**record, "net": f"{path}:Other"}))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--net", f"{path}:Other", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"net is '{path}:Other' in config.json and '{path}' in the checkpoint" in err, err


def test_a_resume_whose_learner_cannot_be_built_leaves_config_json_as_it_was(tmp_path, capsys):
    """Its file gone (nothing to compare a digest with) or failing now: the
    resume with a new length is refused, and config.json still says the
    run's own length (it said --epochs 4 of a run that never went on, which
    a later plain --resume then took)."""
    net = tmp_path / "net.py"
    shutil.copy(LEARNER, net)
    run = tmp_path / "run"
    assert main(["train", "--net", str(net), "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    before = (run / "config.json").read_bytes()
    net.rename(tmp_path / "away.py")
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "4", "--net", str(net), "--quiet"]) == 1
    assert f"no such file: {net}" in capsys.readouterr().err
    assert (run / "config.json").read_bytes() == before


# -- bad input: one line, exit 1 (2 for options) ------------------------------------------------------------------


@pytest.mark.parametrize("option", [["--dropout-hidden", "0.5"], ["--dropout-input", "0.1"],
                                    ["--label-smoothing", "0.1"], ["--device", "cuda"]])
def test_what_the_assignment_interface_cant_do_is_refused(tmp_path, capsys, option):
    assert main(["train", "--net", str(LEARNER), *option, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{option[0]} can't be used with a learner's network" in err
    assert not (tmp_path / "run").exists()


SCORES = ("        p = self.params\n"
          "        if y is None:\n"
          "            return np.maximum(0, X @ p['W1'] + p['b1']) @ p['W2'] + p['b2']\n")


@pytest.mark.parametrize("source,message", [
    (None, "no such file"),
    ("import numpy as np\nx = np.zeros(\n", "syntax error"),
    (tiny_learner("        return 1.0\n"), "loss(X) must return the scores"),
    (tiny_learner(SCORES + "        return 1.0\n"), "loss(X, y, reg) must return (loss, grads), got float"),
    (tiny_learner(SCORES + "        return 1.0, {k: v * np.nan for k, v in self.params.items()}\n"),
     "grads['W1'] holds NaN or infinity"),
    (tiny_learner(SCORES + "        raise KeyError('W3')\n"), "loss raised KeyError: 'W3' ({path}:15)"),
    (tiny_learner("        return X @ self.params['W1'] @ self.params['W2']\n"),
     "its scores differ from a two-layer network's on the same weights"),
    (tiny_learner("        pass\n").replace("std=1e-4)", "std, activation)"),
     "{path}: TwoLayerNet(64, 100, 10, std=0.176777) is refused by its __init__ (missing a required argument: "
     "'activation'): the assignment's constructor is __init__(self, input_size, hidden_size, output_size, std=1e-4)"),
])
def test_a_broken_learner_stops_training_with_one_line(tmp_path, capsys, source, message):
    path = tmp_path / "net.py"
    if source is not None:
        path.write_text(source)
    assert main(["train", "--net", str(path), "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and message.format(path=path) in err


PREDICT = "        return np.argmax(self.loss(X), axis=1)\n"


@pytest.mark.parametrize("body,message", [
    ("        raise NotImplementedError\n", "{path}: predict raised NotImplementedError ({path}:75)"),
    ("        y_pred = None\n        return y_pred\n",
     "{path}: on a batch of 8 rows, predict(X) returned None (still the placeholder"),
    ("        return np.argmax(self.loss(X), axis=1)[:, None]\n",
     "{path}: on a batch of 8 rows, predict(X) gave labels of shape (8, 1), dtype int64; labels are integers of "
     "shape (N,) = (8,): np.argmax(scores, axis=1)"),
    ("        return np.argmin(self.loss(X), axis=1)\n",
     "{path}: on a batch of 8 rows, predict(X) gave labels of shape (8,), dtype int64, but not the argmax of the "
     "scores; predict(X) returns np.argmax(scores, axis=1)"),
])
def test_a_learners_faulty_predict_is_said_before_it_trains(tmp_path, capsys, body, message):
    """Its predict was never called: one that raised, returned the
    template's None or other labels trained without a word, though check
    fails it. Now one note says so, and the run trains (it scores through
    loss(X) and saves twolayer's network: a predict still to write is the
    assignment's order)."""
    path = tmp_path / "net.py"
    path.write_text(learner_replacing((PREDICT, body)))
    assert main(["train", "--net", str(path), "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("twolayer: note: ") and message.format(path=path) in err, err
    assert "(training goes on: it scores through loss(X) and saves twolayer's network); run twolayer check " \
           f"{path} first: it says where to look" in err
    assert (tmp_path / "run" / "model.npz").is_file()


def test_a_learners_faulty_predict_is_said_once_by_a_search(tmp_path, capsys):
    """A search builds the learner again for each trial: the note was said
    before every trial, the same long line 2 times here, 100 for 100 trials."""
    path = tmp_path / "net.py"
    path.write_text(learner_replacing((PREDICT, "        y_pred = None\n        return y_pred\n")))
    assert main(["tune", "--net", str(path), "--lr", "1e-3,1e-2", "--epochs", "1", "--hidden-size", "8",
                 "--out", str(tmp_path / "search"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("predict(X) returned None") == 1, err


def rendered(text: str) -> list[str]:
    """The lines a terminal shows for `text`: a carriage return goes back to
    the line's start, and what follows overwrites it."""
    lines, col = [[]], 0
    for ch in text:
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append([])
            col = 0
        else:
            line = lines[-1]
            line[col:col + 1] = [ch]
            col += 1
    return ["".join(line).rstrip() for line in lines if "".join(line).strip()]


def printing_learner(tmp_path, monkeypatch) -> tuple:
    """A learner whose loss prints a line each call, and the terminal (100
    columns) that stdout and stderr are for the test."""
    path = tmp_path / "net.py"
    path.write_text(learner_with("print('batch of', N)"))
    screen = Terminal()
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(sys, "stderr", screen)
    return path, screen


def test_a_learners_prints_go_above_the_one_progress_bar(tmp_path, monkeypatch):
    """Each line its loss printed was written after the bar, on its line,
    and the bar drawn again below it: a flood of bars down the terminal."""
    path, screen = printing_learner(tmp_path, monkeypatch)
    assert main(["train", "--net", str(path), "--epochs", "2", "--out", str(tmp_path / "run")]) == 0
    lines = rendered(screen.getvalue())
    bars = [i for i, line in enumerate(lines) if line.startswith("train ")]
    assert len(bars) == 1 and "100%" in lines[bars[0]] and "batch of" not in lines[bars[0]], lines
    assert all(line.startswith("batch of") for line in lines[bars[0] - 20 : bars[0]])


def test_a_decode_bar_left_by_images_of_another_size_is_not_drawn_again_under_a_learners_prints(tmp_path,
                                                                                                  monkeypatch):
    """A folder's last image of another size stops its first decode (OddSize), which leaves its bar
    unclosed: the bars kept in a list held it for good, so each line the learner's loss printed drew that
    stale 'decode' bar again, beside the run's own."""
    for k, name in enumerate(("cat", "dog")):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(4):
            side = 10 if (k, i) == (1, 3) else 8  # the last image listed: found only as it is decoded
            pixels = np.random.default_rng(i).integers(0, 256, (side, side, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pets" / name / f"{i}.png")
    path, screen = printing_learner(tmp_path, monkeypatch)
    assert main(["train", "--net", str(path), "--dataset", f"folder:{tmp_path / 'pets'}", "--val-size", "2",
                 "--test-size", "0", "--hidden-size", "8", "--epochs", "2", "--out", str(tmp_path / "run"),
                 "--data-dir", str(tmp_path / "data")]) == 0
    lines = rendered(screen.getvalue())
    first = next(i for i, line in enumerate(lines) if line.startswith("batch of"))
    assert not [line for line in lines[first:] if line.startswith("decode")], lines


def test_gradients_returned_read_only_or_as_views_train_like_any_others(tmp_path):
    """The update scales a gradient in place: a learner's read-only or
    non-contiguous arrays are copied (they failed deep in the optimizer)."""
    odd = tmp_path / "odd.py"
    odd.write_text(LEARNER.read_text().replace(
        "        return loss, grads\n",
        "        grads = {k: np.asfortranarray(v) for k, v in grads.items()}\n"
        "        [g.setflags(write=False) for g in grads.values()]\n"
        "        return loss, grads\n"))
    assert odd.read_text() != LEARNER.read_text()
    runs = {}
    for name, path in (("plain", LEARNER), ("odd", odd)):
        out = tmp_path / name
        assert main(["train", "--net", str(path), "--epochs", "2", "--out", str(out), "--quiet"]) == 0
        runs[name] = load_bundle(out).net.params
    for key in PARAM_NAMES:
        np.testing.assert_array_equal(runs["plain"][key], runs["odd"][key])


# -- code runs only when the command line names it ---------------------------------------------------------------


def test_a_learners_file_named_only_in_data_never_runs(tmp_path, capsys, monkeypatch):
    """A run folder, a --config file or a --space file from someone else may
    name a learner's file: train --resume, report, evaluate, predict,
    export and the files' options never import it; --resume with --net
    naming the same file does (it ran the file config.json named)."""
    ran = tmp_path / "ran"
    evil = tmp_path / "colleague.py"
    evil.write_text(f"open({str(ran)!r}, 'a').write('x')\n" + LEARNER.read_text())
    run = tmp_path / "run"
    assert main(["train", "--net", str(evil), "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    ran.unlink()  # the colleague's run, received as a folder
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "seven.png")
    (tmp_path / "c.toml").write_text(f"net = {str(evil)!r}\nepochs = 1\n")
    (tmp_path / "s.toml").write_text(f"net = {str(evil)!r}\nlr = [0.1, 0.2]\n")
    capsys.readouterr()
    for argv, status in [(["train", "--resume", str(run), "--epochs", "2"], 2),
                         (["train", "--resume", str(run), "--epochs", "2", "--net", str(LEARNER)], 2),
                         (["report", str(run)], 0), (["evaluate", str(run), "--dataset", "digits"], 0),
                         (["predict", str(run), str(tmp_path / "seven.png")], 0),
                         (["export", str(run), "--format", "torch", "--out", str(tmp_path / "m.pt")], None),
                         (["train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "c")], 2),
                         (["tune", "--space", str(tmp_path / "s.toml"), "--out", str(tmp_path / "s")], 2)]:
        code = main(argv)
        out, err = capsys.readouterr()
        assert status is None or code == status, (argv, err)
        assert "its code runs" not in out, out  # nothing says it will run code it then refuses to run
        assert not ran.exists(), f"{argv} ran the learner's file"
        if status == 2:
            assert err.count("\n") == 1 and "--net" in err, err
    assert "--resume" in err or "command line" in err
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume", str(run), "--epochs", "2", "--net", "colleague.py", "--quiet"]) == 0
    assert ran.exists()  # named on the command line: it runs


# -- a learner's code that misbehaves while it trains ---------------------------------------------------------------


def learner_with(line: str) -> str:
    """The assignment-style learner, `line` run at the top of its loss."""
    text = LEARNER.read_text()
    assert "        N = X.shape[0]\n" in text
    return text.replace("        N = X.shape[0]\n", f"        N = X.shape[0]\n        {line}\n")


NO_MAX_SHIFT = LEARNER.read_text().replace("shifted = scores - np.max(scores, axis=1, keepdims=True)",
                                           "shifted = scores")


@pytest.mark.parametrize("source,options,message", [
    (learner_with("X -= X.mean(axis=0)"), [], "loss raised ValueError: output array is read-only ({path}:26); "
                                              "it changes X, y or self.params in place"),
    (learner_with("self.params['b1'] += 1e-3"), [], "({path}:26); it changes X, y or self.params in place"),
    (LEARNER.read_text().replace("        return loss, grads\n", "        grads['w1'] = grads['W1']\n"
                                 "        return loss, grads\n"), [], "grads has 'w1', which is not a parameter"),
    (NO_MAX_SHIFT, ["--preprocess", "none", "--std", "0.3"],
     "loss returned nan where the loss of its scores is"),
])
def test_a_learner_misbehaving_while_it_trains_is_one_line(tmp_path, capsys, source, options, message):
    """A loss that writes into its batch or params (scoring the validation
    split passes views of it: the split was changed), grads with a key too
    many (ignored), a softmax that overflows (said to be a too-high rate,
    at iteration 1)."""
    path = tmp_path / "net.py"
    path.write_text(source)
    assert main(["train", "--net", str(path), "--epochs", "1", *options, "--out", str(tmp_path / "run"),
                 "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(path=path) in err, err


def test_a_learner_that_changes_directory_or_dtype_still_trains_its_run(tmp_path, monkeypatch, capsys):
    """A loss that changes the working directory: the relative run folder
    is still the one written (the checkpoint was looked for under the new
    directory: a one-line error); params of the run's float type, float32
    (they stayed the learner's float64 whatever --dtype said)."""
    path = tmp_path / "net.py"
    path.write_text(learner_with("import os; os.chdir(os.path.dirname(os.getcwd()))"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", "--net", str(path), "--epochs", "2", "--out", "run", "--quiet"]) == 0, capsys.readouterr()
    assert os.getcwd() == str(tmp_path / "work") and (tmp_path / "work" / "run" / "metrics.json").is_file()
    assert {v.dtype for v in load_bundle("run").net.params.values()} == {np.dtype(np.float32)}


# -- a learner's network must compute what twolayer's does: checked before it trains ----------------------------


L2_LOSS = "loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))"
COPIED = "        self.W1, self.b1, self.W2, self.b2 = (self.params[k].copy() for k in ('W1', 'b1', 'W2', 'b2'))\n"


@pytest.mark.parametrize("source,message", [
    (learner_replacing((" / N\n", "\n")), "its loss differs from twolayer's on the same weights, batch and reg"),
    (learner_replacing((L2_LOSS, "loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))")),
     "its loss differs from twolayer's"),
    (learner_replacing(("+ 2 * reg * W2", "+ reg * W2"), ("+ 2 * reg * W1", "+ reg * W1")),
     "its gradients differ from twolayer's on the same weights, batch and reg: dW1 (relative error 0.0093), dW2 "
     "(relative error 0.0025); db1, db2 agree"),
    (learner_replacing(("dhidden[hidden_in <= 0] = 0", "dhidden[hidden < 0] = 0")),
     "dW1 (relative error 0.42), db1 (relative error 0.66); dW2, db2 agree"),
    (learner_replacing(("        dscores /= N\n", "        dscores /= -N\n")), "db2 (relative error 1)"),
    (NO_MAX_SHIFT, "exp of large scores overflows, so subtract each row's max score before exp (on random weights "
                   "with b2 near 1000: scores a run can reach)"),
    (learner_replacing((LAST_PARAM, LAST_PARAM + COPIED), (READ_PARAMS, READ_AT_HAND)),
     "its scores stay the same when self.params changes: its loss reads the weights from elsewhere"),
])
def test_a_learner_that_check_fails_is_refused_before_it_trains(tmp_path, capsys, source, message):
    """Its loss or gradients not twolayer's (only its scores were compared:
    each trained without a word, to a model its options do not describe), a
    softmax without the max shift (it trained until its scores overflowed),
    weights read from copies (it trained nothing)."""
    path = tmp_path / "net.py"
    path.write_text(source)
    assert main(["train", "--net", str(path), "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert "its scores stay" in message or f"run twolayer check {path} first" in err
    assert not (tmp_path / "run").exists()


WRITTEN_OTHERWISE = {
    "einsum, float64 inside": learner_replacing(
        ("hidden_in = X.dot(W1) + b1",
         "X = X.astype(np.float64)\n        hidden_in = np.einsum('nd,dh->nh', X, W1) + b1"),
        ("scores = hidden.dot(W2) + b2", "scores = np.einsum('nh,hc->nc', hidden, W2.astype(np.float64)) + b2")),
    "weights kept at hand in __init__": learner_replacing((LAST_PARAM, LAST_PARAM + KEPT_AT_HAND),
                                                          (READ_PARAMS, READ_AT_HAND)),
    "other values in params": learner_replacing((LAST_PARAM, LAST_PARAM + '        self.params["hidden_size"] = '
                                                 'hidden_size\n        self.params["seen"] = np.zeros(3)\n')),
}


@pytest.mark.parametrize("name", sorted(WRITTEN_OTHERWISE))
def test_a_correct_learner_written_otherwise_trains_like_twolayers_own(tmp_path, name):
    """np.einsum and float64 gradients for float32 params; self.W1 =
    self.params['W1'] kept from __init__ (its params became float32 copies
    that its loss never read: refused as a forward pass that differs); its
    params holding more than W1, b1, W2, b2 (an int there: the trainer's
    `value.shape`, or `'int' object does not support item assignment`)."""
    path = tmp_path / "net.py"
    path.write_text(WRITTEN_OTHERWISE[name])
    options = dict(epochs=3, val_size=100, test_size=100)
    own = workflow.train(TrainConfig(**options), tmp_path / "own", quiet=True)
    theirs = workflow.train(TrainConfig(**options, net=str(path)), tmp_path / "theirs", quiet=True)
    a, b = load_bundle(tmp_path / "theirs").net.params, load_bundle(tmp_path / "own").net.params
    for key in PARAM_NAMES:
        assert a[key].dtype == np.float32
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-4)
    assert abs(theirs.metrics["test_accuracy"] - own.metrics["test_accuracy"]) <= 0.01


EXITS = {
    "sys.exit('bye') in loss": (learner_with("import sys; sys.exit('bye')"),
                                "loss raised SystemExit: bye ({path}:26); its code must return, not end the process"),
    "sys.exit() in loss": (learner_with("import sys; sys.exit()"), "loss raised SystemExit ({path}:26)"),
    "exit() in loss": (learner_with("exit()"), "loss raised SystemExit ({path}:26)"),  # not 'SystemExit: None'
    "os._exit(0) in loss": (learner_with("import os; os._exit(0)"), "loss raised SystemExit: os._exit(0) ({path}:26)"),
    "os._exit(0) at import": ("import os\nos._exit(0)\n" + LEARNER.read_text(),
                              "importing {path} raised SystemExit: os._exit(0) ({path}:2)"),
    "sys.exit(2) in __init__": (learner_replacing(("        self.params = {}\n",
                                                   "        import sys; sys.exit(2)\n")),
                                "raised SystemExit: 2 ({path}:16)"),
}


@pytest.mark.parametrize("name", sorted(EXITS))
def test_a_learner_that_ends_the_process_stops_training_with_one_line(tmp_path, name):
    """Its code runs in twolayer's process: sys.exit() in it ended the run
    silently with exit status 0 (sys.exit('bye') printed only `bye`), and
    os._exit(0) ended the process at once, status 0, its run folder left
    half-made. Run in a process of its own, which os._exit would end."""
    path = tmp_path / "net.py"
    source, message = EXITS[name]
    path.write_text(source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "twolayer", "train", "--net", str(path), "--epochs", "1", "--out",
                           str(tmp_path / "run"), "--quiet"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert message.format(path=path) in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()


def test_ctrl_c_in_a_learners_loop_says_where_it_was(tmp_path, capsys):
    """A loss that never returns, stopped by Ctrl-C: the line names its file
    and line (it said only `interrupted`)."""
    path = tmp_path / "net.py"
    path.write_text(learner_with("raise KeyboardInterrupt"))
    assert main(["train", "--net", str(path), "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert err == f"twolayer train: interrupted in the learner's loss, at {path}:26\n"


def test_a_correct_learner_whose_run_diverges_is_told_to_lower_the_rate(tmp_path, capsys):
    """--lr 1e6: its loss, -log of a probability that underflowed to 0, is
    inf; it was blamed for a softmax without the max shift (it has one)."""
    assert main(["train", "--net", str(LEARNER), "--epochs", "1", "--lr", "1e6", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "try a lower learning rate than 1e+06" in err and "max score" not in err, err


def test_np_seterr_in_a_learners_code_is_undone(tmp_path):
    """np.seterr(all='raise') when its file is imported, or in its loss,
    stayed set for twolayer's own arithmetic and the caller's."""
    path = tmp_path / "net.py"
    path.write_text("import numpy as np\nnp.seterr(all='raise')\n" + learner_with("np.seterr(over='raise')"))
    before = np.geterr()
    workflow.train(TrainConfig(epochs=1, net=str(path)), tmp_path / "run", quiet=True)
    assert np.geterr() == before


def test_a_search_over_a_learners_file_edited_since_it_began_is_refused(tmp_path, capsys):
    """A search of a learner's network continued after the file changed would
    compare trials of two codes as one search (it went on without a word); as
    a search begun by other twolayer code, it is refused, and goes on once
    the file is restored."""
    path = tmp_path / "net.py"
    path.write_text(LEARNER.read_text())
    search = ["tune", "--net", str(path), "--lr", "1e-3,1e-2", "--epochs", "1", "--hidden-size", "8",
              "--out", str(tmp_path / "search"), "--quiet"]
    assert main([*search, "--trials", "1"]) == 0
    capsys.readouterr()
    path.write_text(LEARNER.read_text() + "# edited\n")
    assert main(search) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"was begun with other code in {path} (it has changed since" in err, err
    path.write_text(LEARNER.read_text())
    assert main(search) == 0
    assert len((tmp_path / "search" / "trials.csv").read_text().splitlines()) == 3
