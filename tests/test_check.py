"""twolayer check: twolayer's own network and an assignment-style one pass
every check; broken copies of the latter, one mistake each, fail the right
checks with the right hints; bad input gives one line and exit 1."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import twolayer
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
from twolayer.checks import CHECKS, checks_here
from twolayer.cli import main

L2_LOSS = "loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))"
L2_GRADS = [("+ 2 * reg * W2", "+ reg * W2"), ("+ 2 * reg * W1", "+ reg * W1")]

# name: (the mistake as replacements in LEARNER, {failing check: a piece of its hint})
BROKEN = {
    "l2_with_the_half_convention": (
        [(L2_LOSS, "loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))"), *L2_GRADS],
        {"loss": "0.5 * reg * sum(W**2) (the 0.5 convention)"}),
    "l2_gradient_missing_the_factor_2": (
        L2_GRADS, {"gradients": "a factor 2 is missing"}),
    "loss_not_averaged": (
        [(" / N\n", "\n")],
        {"loss": "at reg 0 the loss is 5 times the right one: average",
         "gradients": "every gradient is 0.2 times the numerical one", "training": ""}),
    "loss_and_gradients_not_averaged": (
        [(" / N\n", "\n"), ("        dscores /= N\n", "")],
        {"loss": "at reg 0 the loss is 5 times the right one", "training": ""}),
    "bias_gradient_summed_over_the_wrong_axis": (
        [('grads["b1"] = np.sum(dhidden, axis=0)', 'grads["b1"] = np.sum(dhidden, axis=1)')],
        {"gradients": "db1 was summed over the wrong axis", "training": "ValueError"}),
    "bias_gradient_keeps_its_dimension": (
        [('grads["b2"] = np.sum(dscores, axis=0)', 'grads["b2"] = np.sum(dscores, axis=0, keepdims=True)')],
        {"gradients": "db2 keeps a dimension", "training": "ValueError"}),
    "relu_backward_missing": (
        [("        dhidden[hidden_in <= 0] = 0\n", "")],
        {"gradients": "dW1, db1 wrong, dW2, db2 right: look at the backward pass through the ReLU"}),
    "relu_forward_missing": (
        [("hidden = np.maximum(0, hidden_in)", "hidden = hidden_in")],
        {"scores": "no ReLU", "loss": "its scores are wrong", "gradients": "ReLU", "predict": ""}),
    "weights_drawn_in_another_order": (
        [('self.params["W1"] = std * np.random.randn(input_size, hidden_size)',
          'self.params["W1"] = std * np.random.randn(hidden_size, input_size).T')],
        {"construct": "then W2 likewise", "scores": "not the assignment's draws",
         "loss": "right for its weights"}),
    "softmax_without_the_max_shift": (
        [("shifted = scores - np.max(scores, axis=1, keepdims=True)", "shifted = scores")],
        {"loss": "nan with b2 near 1000, reference 1.30516245076 -> exp(scores) overflows at scores near 1000: "
                 "subtract each row's max score"}),
    "biases_regularized": (
        [(L2_LOSS, L2_LOSS[:-1] + " + np.sum(b1 * b1) + np.sum(b2 * b2))"),
         ('grads["b2"] = np.sum(dscores, axis=0)', 'grads["b2"] = np.sum(dscores, axis=0) + 2 * reg * b2'),
         ('grads["b1"] = np.sum(dhidden, axis=0)', 'grads["b1"] = np.sum(dhidden, axis=0) + 2 * reg * b1')],
        {"loss": "the L2 term includes the biases"}),
    "biases_regularized_in_the_loss_only": (
        [(L2_LOSS, L2_LOSS[:-1] + " + np.sum(b1 * b1) + np.sum(b2 * b2))")],
        {"loss": "the L2 term includes the biases",
         "gradients": "db1 and db2 are off by -2 * reg * b: its loss regularizes the biases"}),
    "biases_regularized_in_the_gradients_only": (
        [('grads["b2"] = np.sum(dscores, axis=0)', 'grads["b2"] = np.sum(dscores, axis=0) + 2 * reg * b2'),
         ('grads["b1"] = np.sum(dhidden, axis=0)', 'grads["b1"] = np.sum(dhidden, axis=0) + 2 * reg * b1')],
        {"gradients": "db1 and db2 are off by +2 * reg * b: the L2 term reg * (sum(W1**2) + sum(W2**2))"}),
    "init_seeds_numpys_generator": (
        [("        self.params = {}\n", "        np.random.seed(42)\n        self.params = {}\n")],
        {"construct": "its __init__ seeds its draws", "scores": "not the assignment's draws",
         "loss": "right for its weights"}),
    "x_changed_in_place": (
        [("        N = X.shape[0]\n", "        N = X.shape[0]\n        X -= X.mean(axis=0)\n")],
        {**{name: "it changes X, y or self.params in place" for name in ("scores", "loss", "gradients", "predict")},
         "training": ""}),
    "params_changed_in_place": (
        [("        return loss, grads\n", "        self.params['b1'] += 1e-3\n        return loss, grads\n")],
        {name: "it changes X, y or self.params in place" for name in ("loss", "gradients")}),
    "grads_with_a_key_too_many": (
        [("        return loss, grads\n", "        grads['w1'] = grads['W1']\n        return loss, grads\n")],
        {"gradients": "grads has 'w1', which is not a parameter"}),
    "gradients_with_the_wrong_sign": (
        [("        dscores /= N\n", "        dscores /= -N\n")],
        {"gradients": "db1 and db2 are -1 times the numerical ones: the gradients point uphill", "training": ""}),
    "loss_returned_as_an_array_of_one": (
        [("        return loss, grads\n", "        return np.array([loss]), grads\n")],
        {"loss": "got an array of shape (1,) and dtype float64; it holds one value: return that number",
         "gradients": "got an array of shape (1,)",
         "training": "its train()'s loss_history ends with an array of shape (1,) and dtype float64, not a number"}),
    "grads_with_a_misspelt_key": (
        [('grads["b2"]', 'grads["B2"]')],
        {"gradients": "grads has 'B2', which is not a parameter, and no b2", "training": "KeyError: 'b2'"}),
    "grads_returned_as_a_list": (
        [("        return loss, grads\n", "        return loss, list(grads.values())\n")],
        {"gradients": "must be a dict, got a list of 4: grads = {'W1': dW1", "training": "TypeError"}),
    "loss_draws_random_numbers": (
        [("        hidden = np.maximum(0, hidden_in)\n",
          "        hidden = np.maximum(0, hidden_in) * (1 + 1e-9 * np.random.randn(*hidden_in.shape))\n")],
        {"loss": "on the same input and weights -> it draws random numbers (np.random without a fixed seed",
         "gradients": "it draws random numbers"}),
    "predict_returns_floats": (
        [("return np.argmax(self.loss(X), axis=1)", "return np.argmax(self.loss(X), axis=1).astype(float)")],
        {"predict": "labels are integers"}),
}


def broken_copy(folder: Path, name: str) -> str:
    text = LEARNER.read_text()
    for old, new in BROKEN[name][0]:
        assert old in text  # the copy really makes the mistake
        text = text.replace(old, new)
    path = folder / f"{name}.py"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_copy_fails_its_checks_with_the_hint(tmp_path, name):
    verdicts = list(checks_here(broken_copy(tmp_path, name)))
    assert [v.check for v in verdicts] == list(CHECKS)
    expected = BROKEN[name][1]
    assert {v.check: v.hint for v in verdicts if not v.ok}.keys() == expected.keys()
    for v in verdicts:
        if not v.ok:
            assert expected[v.check] in v.line(), v.line()


def test_the_assignment_style_learner_passes_every_check_with_its_own_train():
    verdicts = list(checks_here(str(LEARNER)))
    assert all(v.ok for v in verdicts) and len(verdicts) == len(CHECKS)
    assert "its own train()" in verdicts[CHECKS.index("training")].detail


FLOAT32 = "        self.params = {k: v.astype(np.float32) for k, v in self.params.items()}\n"


@pytest.mark.parametrize("cast", ["", "        X = X.astype(np.float32)\n"])
def test_a_correct_learner_in_float32_passes_every_check(tmp_path, cast):
    """Its float32 weights (and input, cast in its loss) are no mistake: the
    checks compare it with twolayer's own on its weights, the gradients in
    float64 (its loss and gradients failed, hinting at its L2 term and the
    output layer)."""
    text = LEARNER.read_text().replace('        self.params["b2"] = np.zeros(output_size)\n',
                                       '        self.params["b2"] = np.zeros(output_size)\n' + FLOAT32)
    path = tmp_path / "float32.py"
    path.write_text(text.replace("        N = X.shape[0]\n", "        N = X.shape[0]\n" + cast))
    verdicts = list(checks_here(str(path)))
    assert all(v.ok for v in verdicts) and len(verdicts) == len(CHECKS), [v.line() for v in verdicts]
    assert "the assignment's draws in float32" in verdicts[0].detail


FLOAT32_AT_HAND = LAST_PARAM + FLOAT32 + KEPT_AT_HAND


def test_a_correct_learner_keeping_its_float32_weights_at_hand_passes_every_check(tmp_path):
    """self.W1 = self.params['W1'] in __init__, read in loss: the checks'
    float64 copies of its params reach those attributes too (they stayed
    float32, so loss and gradients failed, hinting at the biases)."""
    path = tmp_path / "at_hand.py"
    path.write_text(learner_replacing((LAST_PARAM, FLOAT32_AT_HAND), (READ_PARAMS, READ_AT_HAND)))
    verdicts = list(checks_here(str(path)))
    assert all(v.ok for v in verdicts) and len(verdicts) == len(CHECKS), [v.line() for v in verdicts]


@pytest.mark.parametrize("line", ["self.params = {k: v.copy() for k, v in self.params.items()}",
                                  "self.params.update({k: v.astype(np.float64) for k, v in self.params.items()})"])
def test_a_correct_learner_whose_loss_puts_new_arrays_in_its_params_passes_every_check(tmp_path, line):
    """The numerical gradient perturbs the arrays its params hold when its
    loss runs (it perturbed the first ones, which its loss no longer read:
    `relative error W1 1, b1 1, W2 1, b2 1`, hinting at the output layer)."""
    path = tmp_path / "new_arrays.py"
    top = "        N = X.shape[0]\n"
    path.write_text(LEARNER.read_text().replace(top, f"{top}        {line}\n"))
    verdicts = list(checks_here(str(path)))
    assert all(v.ok for v in verdicts) and len(verdicts) == len(CHECKS), [v.line() for v in verdicts]


def test_a_class_without_train_is_trained_by_twolayers_trainer(tmp_path):
    path = tmp_path / "no_train.py"
    path.write_text(LEARNER.read_text() + "\n\nclass NoTrain(TwoLayerNet):\n    train = None\n")
    verdicts = {v.check: v for v in checks_here(f"{path}:NoTrain")}
    assert all(v.ok for v in verdicts.values())
    assert "twolayer's trainer" in verdicts["training"].detail


@pytest.mark.parametrize("spec", [str(LEARNER), "src/twolayer/model.py:TwoLayerNet"])
def test_check_passes_twolayers_own_network_and_the_learners(spec, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check", spec]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "runs its code" in out[0] or "running its code" in out[0]
    assert [line.split()[:2] for line in out[1:-1]] == [["pass", name] for name in CHECKS]
    assert out[-1] == f"{len(CHECKS)} of {len(CHECKS)} checks passed"


@pytest.mark.parametrize("timeout", ["1e7", "1e308"])
def test_a_time_limit_of_any_size_is_waited_not_a_traceback(timeout, capsys):
    assert main(["check", str(LEARNER), "--timeout", timeout]) == 0  # the selector's wait overflowed: a traceback
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.splitlines()[-1] == f"{len(CHECKS)} of {len(CHECKS)} checks passed"


def test_check_of_a_broken_copy_prints_the_hint_and_exits_1(tmp_path, capsys):
    assert main(["check", broken_copy(tmp_path, "l2_gradient_missing_the_factor_2")]) == 1
    out = capsys.readouterr().out
    assert "FAIL  gradients  relative error W1" in out and "a factor 2 is missing" in out
    assert out.splitlines()[-1] == "5 of 6 checks passed; fix gradients first"


def test_help_says_that_check_runs_the_learners_code(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "RUNS ITS CODE" in " ".join(capsys.readouterr().out.split())


# -- bad input: one line on stderr, exit 1 -----------------------------------------------------



BAD_FILES = {
    "syntax_error": ("import numpy as np\n\ndef loss(:\n", "syntax_error.py:3: syntax error"),
    "raises_at_import": ("x = 1\ny = x / 0\n", "importing {path} raised ZeroDivisionError: division by zero "
                                               "({path}:2)"),
    "no_class": ("import numpy as np\n", "has no class TwoLayerNet and 0 classes with a loss method"),
    "no_loss": ("class TwoLayerNet:\n    pass\n", "class TwoLayerNet has no loss method"),
    "hangs": (LEARNER.read_text().replace("        N = X.shape[0]\n", "        while True:\n            pass\n"),
              "check scores took longer than its time limit of 3 s"),
    "kills_itself": (LEARNER.read_text().replace("        N = X.shape[0]\n",
                                                 "        import os\n        os.kill(os.getpid(), 9)\n"),
                     "ended the checking process (exit code -9) during check scores"),
    "interrupts_at_import": ("x = 1\nraise KeyboardInterrupt\n",
                             "importing {path} raised KeyboardInterrupt ({path}:2)"),
    "exits_at_import": ("import sys\nsys.exit(3)\n", "importing {path} raised SystemExit: 3"),
    "hangs_at_import": ("while True:\n    pass\n",
                        "importing {path} and check construct took longer than its time limit of 3 s"),
    "imports_a_missing_module": ("import nosuchmodule_for_twolayer\n",
                                 "No module named 'nosuchmodule_for_twolayer'"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_broken_file_is_one_line_and_exit_1(tmp_path, capsys, name):
    path = tmp_path / f"{name}.py"
    source, message = BAD_FILES[name]
    path.write_text(source)
    started = time.monotonic()
    assert main(["check", str(path), "--timeout", "3"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("twolayer check: error: ") and message.format(path=path) in err
    assert time.monotonic() - started < 30  # a hung check is stopped, not waited for


@pytest.mark.parametrize("spec,message", [
    ("{tmp}/absent.py", "no such file: {tmp}/absent.py"),
    ("{tmp}/net", "no such file: {tmp}/net; did you mean {tmp}/net.py?"),  # as one imports it
    ("{learner}:Nope", "has no class Nope; it defines TwoLayerNet"),
    ("{tmp}", "is a folder"),
    ("{tmp}/net.ipynb", "net.ipynb is not a Python file (.py): it is a notebook; put the class in a .py file"),
    ("{tmp}/net.pyc", "net.pyc is not a Python file (.py): it is compiled bytecode; give the .py file"),
])
def test_a_missing_file_or_class_is_one_line(tmp_path, capsys, spec, message):
    values = {"tmp": tmp_path, "learner": LEARNER}
    for name in ("net.ipynb", "net.pyc", "net.py"):
        (tmp_path / name).write_text("{}")
    assert main(["check", spec.format(**values)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(**values) in err


@pytest.mark.parametrize("body,check,message", [
    ("        return 1.0\n", "loss", "loss(X, y, reg) must return (loss, grads), got float"),
    ("        return (np.zeros((len(X), 3)) if y is None else\n"
     "                (1.0, {k: v * np.nan for k, v in self.params.items()}))\n",
     "gradients", "grads['W1'] holds NaN or infinity"),
    ("        return np.zeros((3, len(X)))\n", "scores", "loss(X) returned shape (3, 5)"),
    ("        return np.complex128(1.0), {}\n", "loss", "must be a real number, got a NumPy complex128"),
    ("        return np.array('1.3'), {}\n", "loss", "must be a real number, got an array of shape () and dtype <U3"),
    ("        raise KeyboardInterrupt\n", "scores", "raised KeyboardInterrupt"),
    ("        import os\n        os._exit(7)\n", "scores",
     "raised SystemExit: os._exit(7) ({path}:13); its code must return, not end the process"),
    ("        return None\n", "scores", "loss(X) returned None (still the placeholder"),
])
def test_loss_returning_the_wrong_things_fails_its_check(tmp_path, capsys, body, check, message):
    path = tmp_path / "wrong.py"
    path.write_text(tiny_learner(body))
    assert main(["check", str(path)]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"FAIL  {check} ")]
    assert len(lines) == 1 and message.format(path=path) in lines[0]


def test_training_options_without_a_dataset_are_refused(capsys, tmp_path):
    assert main(["check", str(LEARNER), "--lr", "0.1"]) == 2
    assert "--lr: training options need --dataset" in capsys.readouterr().err
    # the run's folder too: it was ignored, the checks run and exit 0, no run written where --out said
    assert main(["check", str(LEARNER), "--out", str(tmp_path / "run"), "--force"]) == 2
    assert "--out, --force: training options need --dataset" in capsys.readouterr().err


NOISY = """import os, subprocess, sys, warnings
sys.stderr.write("from its code\\n")
os.write(2, b"from its file descriptor\\n")
warnings.warn("careful")
print("x" * 5_000_000)
child = subprocess.Popen(["sleep", "300"])
open(os.environ["PID_FILE"], "w").write(str(child.pid))
"""


def test_the_checked_code_leaves_nothing_behind(tmp_path):
    """What the learner's code prints, warns or writes to stderr stays in the
    child; a process it starts is killed with it; no __pycache__ appears."""
    learner = tmp_path / "learner"
    learner.mkdir()
    (learner / "noisy.py").write_text(NOISY + LEARNER.read_text())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PID_FILE"] = str(tmp_path / "pid")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(twolayer.__file__).parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "twolayer", "check", "noisy.py"], cwd=learner, env=env,
                          capture_output=True, text=True, timeout=120)  # a process holding its pipes: a hang
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.splitlines()[-1] == f"{len(CHECKS)} of {len(CHECKS)} checks passed"
    assert sorted(p.name for p in learner.iterdir()) == ["noisy.py"]  # no __pycache__ beside it
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(pid), "a process started by the learner's code outlived the check"


HANGS = """import os, subprocess, time
child = subprocess.Popen(["sleep", "300"])
open(os.environ["PID_FILE"], "w").write(f"{os.getpid()} {child.pid}")
time.sleep(300)
"""


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_signal_to_check_stops_it_with_the_code_it_runs(tmp_path, sig, code):
    """`check` stopped by SIGTERM, a closed terminal or Ctrl-C while the
    learner's code hangs: one line, the signal's exit code, and the checking
    process and what the learner's code started are killed with it."""
    (tmp_path / "hangs.py").write_text(HANGS + LEARNER.read_text())
    env = {**os.environ, "PID_FILE": str(tmp_path / "pids")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(twolayer.__file__).parents[1]), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-m", "twolayer", "check", "hangs.py"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "pids").exists() or len((tmp_path / "pids").read_text().split()) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, "the learner's code never started"
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    pids = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in pids), "the checking process or its child outlived the check"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_draws_made_in_float32_pass_construct(tmp_path):
    """std * randn(...).astype(np.float32) rounds twice, a unit in the last
    place off the float32 of std * randn(...): no mistake (construct failed,
    hinting at the very line the learner wrote)."""
    text = LEARNER.read_text()
    for shape in ("input_size, hidden_size", "hidden_size, output_size"):
        text = text.replace(f"np.random.randn({shape})", f"np.random.randn({shape}).astype(np.float32)")
    path = tmp_path / "draws32.py"
    path.write_text(text.replace("np.zeros(hidden_size)", "np.zeros(hidden_size, np.float32)")
                    .replace("np.zeros(output_size)", "np.zeros(output_size, np.float32)"))
    verdicts = list(checks_here(str(path)))
    assert all(v.ok for v in verdicts) and len(verdicts) == len(CHECKS), [v.line() for v in verdicts]
    assert "the assignment's draws in float32" in verdicts[0].detail
