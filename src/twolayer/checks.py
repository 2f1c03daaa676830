"""twolayer check: the course assignment's checks, run on a learner's own
TwoLayerNet, each one line: pass, or fail with a number and where to look.

In order, on the assignment's toy problem (a net 4-10-3 built with std 0.1
after np.random.seed(0); five points drawn after np.random.seed(1)):

    construct  the params dict: keys, shapes, and the assignment's draws
    scores     loss(X) against the reference scores (max abs difference)
    loss       loss(X, y, reg=0.05) against 1.30378789133
    gradients  each gradient against a numerical one (relative error)
    training   100 iterations at lr 0.1 end below loss 0.02: with the class's
               own train() when it takes the assignment's arguments, else
               with twolayer's trainer (the same loop twolayer's own net uses)
    predict    labels of shape (N,), integers, the argmax of the scores

Each check builds a fresh net, so a failure never spills into the next.
`run_checks` runs them in a child process (spawned, so a hung loop can be
killed) with a time limit per check; `checks_here` runs them in this one.
"""

from __future__ import annotations

import contextlib
import inspect
import multiprocessing
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twolayer import here, hints
from twolayer.errors import LearnerError
from twolayer.gradcheck import numerical_gradient, scaled_error
from twolayer.learner import (
    InterfaceFault,
    LearnerNet,
    call_confined,
    construct,
    describe,
    guarded,
    is_real,
    kind_of,
    load_class,
    loss_value,
    parse_spec,
    predict_fault,
    reference,
    retype,
    unpack_loss,
)
from twolayer.model import PARAM_NAMES

SIZES = (4, 10, 3)  # the toy net: input, hidden, classes
STD = 1e-1
REG = 0.05
REFERENCE_SCORES = np.array([
    [-0.81233741, -1.27654624, -0.70335995],
    [-0.17129677, -1.18803311, -0.47310444],
    [-0.51590475, -1.01354314, -0.8504215],
    [-0.15419291, -0.48629638, -0.52901952],
    [-0.00618733, -0.12435261, -0.15226949],
])
REFERENCE_LOSS = 1.30378789133
# gradients: the largest difference against the largest gradient (gradcheck.scaled_error); a
# correct net measures about 1e-10, a mistake 1e-3 or more.
BARS = {"scores": 1e-7, "loss": 1e-10, "gradients": 1e-7, "training": 0.02}
# a net whose params are not float64 (written in float32) rounds its weights, and maybe its input, to float32
BARS_FLOAT32 = {"scores": 1e-5, "loss": 1e-6}
TRAINING = {"learning_rate": 1e-1, "reg": 5e-6, "num_iters": 100}  # the assignment's toy training
CHECKS = ("construct", "scores", "loss", "gradients", "training", "predict")


@dataclass
class Verdict:
    check: str
    ok: bool
    detail: str  # what was measured
    hint: str = ""  # where to look, when it failed
    final: bool = False  # the checks after this one can't run

    def line(self) -> str:
        return f"{'pass' if self.ok else 'FAIL'}  {self.check:<9}  {self.detail}" + (
            f" -> {self.hint}" if self.hint else "")


def toy(cls: type, spec: str) -> tuple[Any, np.ndarray, np.ndarray]:
    """The net, X and y exactly as the assignment makes them."""
    np.random.seed(0)
    net = construct(cls, spec, SIZES, STD)
    np.random.seed(1)
    return net, 10 * np.random.randn(5, SIZES[0]), np.array([0, 1, 2, 2, 1])


def toy64(cls: type, spec: str) -> tuple[Any, np.ndarray, np.ndarray, bool]:
    """toy(), its params in float64, and whether they were float64 already.
    A net written in float32 is checked on the same weights computed in
    float64, against twolayer's own on them: float32 rounding would swamp
    the bars and the numerical gradients (false alarms)."""
    net, X, y = toy(cls, spec)
    exact = all(net.params[k].dtype == np.float64 for k in PARAM_NAMES)
    for k in PARAM_NAMES:
        if net.params[k].dtype != np.float64:
            retype(net, k, net.params[k].astype(np.float64))
    return net, X, y, exact


def call(net: Any, *args: Any, **kwargs: Any) -> Any:
    """net.loss(...), its inputs and params read-only while it runs (a
    change in place fails at its line: learner.call_confined)."""
    return call_confined(net, "loss", *args, **kwargs)


def with_biases(net: Any, b2: float = 0.0) -> None:
    """Non-zero biases (the toy net's are zeros, which hide a bias left out
    or regularized): b1 about 0.1, b2 about `b2` (a constant added to every
    score leaves the softmax as it is, but exp(1000) overflows)."""
    rng = np.random.default_rng(0)
    net.params["b1"][...] = 0.1 * rng.standard_normal(SIZES[1])
    net.params["b2"][...] = b2 + 0.1 * rng.standard_normal(SIZES[2])


def check_construct(cls: type, spec: str) -> Verdict:
    try:
        net, _, _ = toy(cls, spec)
    except LearnerError as e:
        hint = "" if "the assignment's constructor" in str(e) else (
            "the assignment's constructor is __init__(self, input_size, hidden_size, output_size, std=1e-4), "
            "filling self.params with W1, b1, W2, b2")
        return Verdict("construct", False, str(e), hint, final=True)
    np.random.seed(0)
    draws = {"W1": STD * np.random.randn(*SIZES[:2]), "W2": STD * np.random.randn(*SIZES[1:])}
    shapes = ", ".join(f"{k} {net.params[k].shape}" for k in PARAM_NAMES)
    dtype = net.params["W1"].dtype
    # a float32 net may round twice (std * randn().astype(float32)): within a unit in the last place of its draws
    rtol = 0 if dtype == np.float64 else 2 * np.finfo(dtype).eps
    same = all(np.allclose(net.params[k], v.astype(dtype), rtol=rtol, atol=0) for k, v in draws.items()) and not any(
        net.params[k].any() for k in ("b1", "b2"))
    if same:
        return Verdict("construct", True, f"{shapes}, the assignment's draws" + (f" in {dtype}" if dtype != np.float64
                                                                                 else ""))
    hint = "W1 = std * np.random.randn(input_size, hidden_size) first, then W2 likewise; biases zeros"
    again = construct(cls, spec, SIZES, STD)  # NumPy's generator goes on from the first net's draws
    if np.array_equal(again.params["W1"], net.params["W1"]):
        hint = ("two networks built one after the other get the same weights: its __init__ seeds its draws "
                "(np.random.seed, a seeded generator); take that out, the caller seeds (here np.random.seed(0))")
    return Verdict("construct", False, f"{shapes}, but not the assignment's values", hint)


def check_scores(cls: type, spec: str) -> Verdict:
    net, X, _, exact = toy64(cls, spec)
    scores = call(net, X)
    if not isinstance(scores, np.ndarray) or scores.shape != REFERENCE_SCORES.shape:
        got = kind_of(scores) if not isinstance(scores, np.ndarray) else f"shape {scores.shape}"
        return Verdict("scores", False, f"loss(X) returned {got}",
                       "without y, loss returns the scores only, an array (N, C) = (5, 3)")
    ref = reference(net).scores(X)
    expected = REFERENCE_SCORES if exact else ref  # a float32 net's rounded weights: twolayer's on them
    diff, bar = float(np.abs(scores - expected).max()), (BARS if exact else BARS_FLOAT32)["scores"]
    detail = f"max abs difference from the reference {diff:.3g} (bar {bar:g})"
    if diff < bar:
        return Verdict("scores", True, detail)
    return Verdict("scores", False, detail, hints.scores_hint(scores, net.params, X, ref, expected))


def check_loss(cls: type, spec: str) -> Verdict:
    net, X, y, exact = toy64(cls, spec)
    loss = loss_value(call(net, X, y, reg=REG))
    changing = _changing(net, X, y, loss)
    if changing:
        return Verdict("loss", False, changing, CHANGING_HINT)
    expected = REFERENCE_LOSS if exact else float(reference(net).loss(X, y, reg=REG)[0])
    diff, bar = loss - expected, (BARS if exact else BARS_FLOAT32)["loss"]
    detail = f"{loss:.12g} at reg {REG:g}, reference {expected:.12g} (difference {diff:.3g}, bar {bar:g})"
    if abs(diff) < bar:
        return _loss_with_biases(net, X, y, detail, bar)
    try:
        at_0 = loss_value(call(net, X, y, reg=0.0))
    except Exception:  # its reg=0 path fails too: the hint says so
        at_0 = None
    ref = reference(net)
    scores_right = bool(np.allclose(call(net, X), ref.scores(X), rtol=0, atol=BARS["scores"]))
    data_loss = float(ref.loss(X, y, reg=0.0)[0])
    return Verdict("loss", False, detail,
                   hints.loss_hint(loss, at_0, data_loss, net.params, REG, len(y), scores_right))


def _loss_with_biases(net: Any, X: np.ndarray, y: np.ndarray, detail: str, bar: float) -> Verdict:
    """The loss check's second part: right at the toy net's zero biases, is
    the loss right with b2 near 1000 (a softmax without the max shift
    overflows) and biases that a wrong L2 term would count?"""
    with_biases(net, b2=1000.0)
    loss = loss_value(call(net, X, y, reg=REG))
    right = float(reference(net).loss(X, y, reg=REG)[0])
    if abs(loss - right) < bar * max(1.0, abs(right)):
        return Verdict("loss", True, f"{detail}; right with biases too (b2 near 1000)")
    return Verdict("loss", False, f"right at the toy net's zero biases, but {loss:.12g} with b2 near 1000, reference "
                   f"{right:.12g}", hints.bias_hint(loss, right, net.params, REG))


def _numerical_gradient(net: Any, X: np.ndarray, y: np.ndarray, key: str) -> np.ndarray:
    """The numerical gradient of its loss for params[key], each perturbation
    written into the array its params hold at the time of the call (a loss
    may put new arrays there, self.params = {...}: perturbing the first
    array changed nothing, a gradient of zeros)."""
    def loss_at(w: np.ndarray) -> float:
        net.params[key][...] = w
        return loss_value(call(net, X, y, reg=REG))

    w = np.array(net.params[key], dtype=np.float64)
    try:
        return numerical_gradient(loss_at, w)
    finally:
        net.params[key][...] = w


CHANGING_HINT = ("it draws random numbers (np.random without a fixed seed, dropout) or keeps state between calls: "
                 "the assignment's loss gives the same value for the same input and weights")


def _changing(net: Any, X: np.ndarray, y: np.ndarray, first: float) -> str:
    """What its loss gave twice on the same input and weights, where the two differ; else ""."""
    again = loss_value(call(net, X, y, reg=REG))
    if again == first or (np.isnan(again) and np.isnan(first)):
        return ""
    return f"loss(X, y, reg) gave {first:.12g}, then {again:.12g}, on the same input and weights"


def check_gradients(cls: type, spec: str) -> Verdict:
    net, X, y, _ = toy64(cls, spec)
    with_biases(net)  # zero biases hide a bias gradient left out or regularized
    try:
        _, grads = unpack_loss(call(net, X, y, reg=REG), net.params)
    except InterfaceFault as e:
        hint = ""
        if e.shape is not None:
            hint = hints.shape_hint(e.key, e.shape, net.params[e.key].shape, len(y))
        elif "NaN" in str(e):
            hint = "look for 0 * inf, a division by zero or log(0): subtract each row's max score before exp"
        return Verdict("gradients", False, str(e), hint)
    grads = {k: np.array(g, dtype=np.float64) for k, g in grads.items()}  # later calls may reuse their arrays
    numeric = {k: _numerical_gradient(net, X, y, k) for k in PARAM_NAMES}
    errors = {k: scaled_error(numeric[k], grads[k]) for k in PARAM_NAMES}
    detail = "relative error " + ", ".join(f"{k} {e:.2g}" for k, e in errors.items()) + f" (bar {BARS['gradients']:g})"
    if all(e < BARS["gradients"] for e in errors.values()):
        return Verdict("gradients", True, detail)
    if _changing(net, X, y, loss_value(call(net, X, y, reg=REG))):  # its numerical gradients are noise
        return Verdict("gradients", False, detail, CHANGING_HINT)
    return Verdict("gradients", False, detail,
                   hints.gradient_hint(errors, grads, numeric, net.params, REG, len(y), BARS["gradients"]))


def check_training(cls: type, spec: str) -> Verdict:
    net, X, y = toy(cls, spec)
    if _takes_assignment_arguments(net, X, y):
        stats = net.train(X, y, X, y, **TRAINING, verbose=False)
        if not isinstance(stats, dict) or not len(stats.get("loss_history", ())):
            return Verdict("training", False, "its train() returned no loss_history",
                           "train returns a dict whose loss_history lists the loss of each iteration")
        if not is_real(stats["loss_history"][-1]):
            return Verdict("training", False, f"its train()'s loss_history ends with "
                           f"{kind_of(stats['loss_history'][-1])}, not a number",
                           "it lists what loss(X, y, reg) returns, which must be a number (see loss)")
        final, how = float(stats["loss_history"][-1]), "its own train()"
    else:
        from twolayer.config import TrainConfig
        from twolayer.trainer import fit

        config = TrainConfig(optimizer="sgd", lr=TRAINING["learning_rate"], reg=TRAINING["reg"],
                             iters=TRAINING["num_iters"], batch_size=200, seed=0)  # the assignment's SGD
        history = fit(LearnerNet(net, spec), X, y, X, y, config)
        final = history.loss[-1] if history.loss else float("nan")
        how = "twolayer's trainer (its class has no train() taking the assignment's arguments)"
    detail = f"final loss {final:.4g} after {TRAINING['num_iters']} iterations of {how} (bar {BARS['training']:g})"
    if final < BARS["training"]:
        return Verdict("training", True, detail)
    hint = ("if the loss and gradient checks pass, look at the update: params[k] -= learning_rate * grads[k], "
            "every iteration" if how.startswith("its own") else "fix the loss and its gradients first")
    return Verdict("training", False, detail, hint)


def _takes_assignment_arguments(net: Any, X: np.ndarray, y: np.ndarray) -> bool:
    train = getattr(net, "train", None)
    if not callable(train):
        return False
    try:
        inspect.signature(train).bind(X, y, X, y, **TRAINING, verbose=False)
    except (TypeError, ValueError):
        return False
    return True


def check_predict(cls: type, spec: str) -> Verdict:
    net, X, _ = toy(cls, spec)
    if not callable(getattr(net, "predict", None)):
        return Verdict("predict", False, "its class has no predict method",
                       "predict(X) returns np.argmax(scores, axis=1)")
    labels = call_confined(net, "predict", X)
    fault = predict_fault(labels, reference(net).scores(X).argmax(axis=1))
    if fault:
        return Verdict("predict", False, *fault)
    return Verdict("predict", True, f"shape {labels.shape}, dtype {labels.dtype}, the argmax of the scores")


CHECKERS: dict[str, Callable[[type, str], Verdict]] = {
    "construct": check_construct, "scores": check_scores, "loss": check_loss, "gradients": check_gradients,
    "training": check_training, "predict": check_predict}


# -- running them -------------------------------------------------------------------------------


def checks_here(spec: str, catch: tuple[type[BaseException], ...] = (Exception, SystemExit)) -> Iterator[Verdict]:
    """Each check's verdict, in order, run in this process (the learner's
    code included). LearnerError if the file or class can't be loaded.
    `catch`: what the learner's code may raise to fail a check (the child
    process adds KeyboardInterrupt: no real Ctrl-C reaches it)."""
    cls = load_class(spec)
    path = parse_spec(spec)[0]
    for name in CHECKS:
        try:
            with warnings.catch_warnings(), guarded():  # overflow in exp and the like: the verdict says what matters
                warnings.simplefilter("ignore")
                verdict = CHECKERS[name](cls, spec)
        except (InterfaceFault, LearnerError) as e:
            verdict = Verdict(name, False, str(e))
        except catch as e:  # its code: anything
            verdict = Verdict(name, False, f"raised {describe(e, path)}")
        yield verdict
        if verdict.final:
            return


def _child(spec: str, conn: Any) -> None:
    """The child process: each verdict sent as it comes, then None; a
    loading fault is sent as its one-line message. It leads a process group
    of its own, which the parent kills at the end (with any process the
    learner's code started), and nothing it prints or warns reaches the
    terminal: the parent prints one line per check."""
    if hasattr(os, "setsid"):  # not on Windows, where the process alone is killed at the end
        os.setsid()  # its own group, out of the terminal's: Ctrl-C reaches the parent, which stops it
    _silence()
    try:
        for verdict in checks_here(spec, catch=(Exception, SystemExit, KeyboardInterrupt)):
            conn.send(verdict)
    except LearnerError as e:
        conn.send(str(e))
    except (Exception, SystemExit, KeyboardInterrupt) as e:  # its code, at import: anything
        conn.send(f"importing {parse_spec(spec)[0]} raised {describe(e, parse_spec(spec)[0])}")
    conn.send(None)


def _silence() -> None:
    """Standard output and error of this process to /dev/null (Python's and
    the file descriptors, for C code and child processes), warnings off."""
    warnings.simplefilter("ignore")
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 -- for the process's life


def refuse_plain_faults(spec: str) -> Path:
    """The file of `spec`; LearnerError, without running anything, where it is
    missing or not a file (said before the checks are announced)."""
    path, _ = parse_spec(spec)
    if not path.is_file():
        load_class(spec)
    return path


def run_checks(spec: str, timeout: float = 60.0) -> Iterator[Verdict]:
    """checks_here, in a spawned child process, each check (the first
    includes importing the file) limited to `timeout` seconds. LearnerError,
    one line, for a fault in loading, a check over its time, or a child that
    died."""
    path = refuse_plain_faults(spec)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(spec, sender), daemon=True)
    with here.children_can_start():
        process.start()
    sender.close()
    try:
        for name in CHECKS:
            if not _arrives(receiver, timeout):
                what = f"importing {path} and check {name}" if name == CHECKS[0] else f"check {name}"
                raise LearnerError(f"{what} took longer than its time limit of {timeout:g} s (--timeout); "
                                   "stopped it: look for a loop that never ends")
            try:
                message = receiver.recv()
            except EOFError:
                process.join(5)
                raise LearnerError(f"the learner's code ended the checking process (exit code {process.exitcode}) "
                                   f"during check {name}") from None
            if message is None:
                return
            if isinstance(message, str):
                raise LearnerError(message)
            yield message
    finally:
        _kill_group(process)
        process.join()
        receiver.close()


LONGEST_POLL = 86400.0  # seconds: the selector under poll() takes at most 2**31 - 1 ms (about 24 days)


def _arrives(receiver: Any, timeout: float) -> bool:
    """receiver.poll(timeout), for a time limit of any size: --timeout 1e308
    (or 1e7) overflowed the selector's wait, a traceback after the first
    line; the wait is made in polls of at most a day."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if receiver.poll(min(max(left, 0.0), LONGEST_POLL)):
            return True
        if left <= LONGEST_POLL:
            return False


def _kill_group(process: Any) -> None:
    """Kill the checking process and whatever the learner's code started in
    its process group; the process alone if it has no group yet."""
    if hasattr(os, "killpg"):  # POSIX: a group led by its pid, made by os.setsid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def print_checks(spec: str, timeout: float = 60.0) -> bool:
    """Run the checks (run_checks) and print a line for each, then a
    summary; True if all passed."""
    verdicts = []
    for verdict in run_checks(spec, timeout):
        print(verdict.line(), flush=True)
        verdicts.append(verdict)
    failed = [v.check for v in verdicts if not v.ok] + list(CHECKS[len(verdicts):])
    passed = f"{len(CHECKS) - len(failed)} of {len(CHECKS)} checks passed"
    print(passed if not failed else f"{passed}; fix {failed[0]} first")
    return not failed
