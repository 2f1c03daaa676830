"""Interrupting twolayer at any moment, then doing what it says.

A command runs as a child process under a prelude that counts the file
operations it makes (os.open of a new file, fsync, rename, replace, unlink,
mkdir, rmdir) and sends itself a signal just before the Nth: kill -9 in the
middle of a checkpoint's write, between a write and its rename, among the
report's figures, wherever a file moves. Or the signal comes after a delay,
at any moment of its run. Then the user's part is played: the command
twolayer's one line suggests (`Resume with: ...`, `... writes it`, `run the
same ... command again`), or, after kill -9, which says nothing,
`twolayer report RUN`, whose line says how to finish the run. In between,
`report`, `evaluate` and `predict` of the folder must answer in one line,
never a traceback.

Used by tests/test_kills.py (a few points) and benchmarks/kill_soak.py (many).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

TWOLAYER = [sys.executable, "-m", "twolayer"]

# runs twolayer's command line, sending itself TWOLAYER_SIGNAL just before file operation TWOLAYER_AT
# (counted from 0; only those named TWOLAYER_ONLY if set; just after it with TWOLAYER_AFTER) and writing
# the number of operations it made to TWOLAYER_COUNT when it ends
PRELUDE = r"""
import os, signal, sys
at, sig = int(os.environ.get("TWOLAYER_AT", "-1")), int(os.environ.get("TWOLAYER_SIGNAL", "9"))
only, after = os.environ.get("TWOLAYER_ONLY"), os.environ.get("TWOLAYER_AFTER") == "1"
count = [0]
def counted(name):
    real = getattr(os, name)
    def op(*args, **kwargs):
        if (name != "open" or (len(args) > 1 and args[1] & os.O_CREAT)) and only in (None, name):
            count[0] += 1
            if count[0] - 1 == at:  # once: the handler may raise here, and the cleanup make more operations
                if after:
                    done = real(*args, **kwargs)
                os.kill(os.getpid(), sig)
                if after:
                    return done
        return real(*args, **kwargs)
    setattr(os, name, op)
for name in ("open", "fsync", "rename", "replace", "unlink", "mkdir", "rmdir", "symlink"):
    counted(name)
def write_count():
    if os.environ.get("TWOLAYER_COUNT"):
        with open(os.environ["TWOLAYER_COUNT"], "w") as f:
            f.write(str(count[0]))
import atexit
atexit.register(write_count)
from twolayer.cli import main
sys.exit(main(sys.argv[1:]))
"""

# what must be gone from a folder once its run or search has finished (a lock file may stay where a
# kill -9 came after the run's last file, before its release: hidden, and taken by the next claim)
LEFTOVER = re.compile(r"(\.tmp|\.part)$|^\.twolayer\.(held|moving|gone)$")
LOCK = ".twolayer.lock"


@dataclass
class Kill:
    """Where to stop a command: just before file operation `at`, or after `delay` seconds."""

    signum: int = signal.SIGKILL
    at: int | None = None
    delay: float | None = None
    only: str | None = None  # count only the operations of this name (os.symlink: Optuna's journal lock)
    after: bool = False  # the signal just after the operation, not before

    def __str__(self) -> str:
        where = f"op {self.at}" if self.at is not None else f"{self.delay:.2f} s"
        return f"{signal.Signals(self.signum).name} at {where}"


@dataclass
class Outcome:
    args: list[str]
    code: int
    err: str
    out: str = ""


def run(args: list[str], cwd: Path, kill: Kill | None = None, count: Path | None = None,
        timeout: float = 300) -> Outcome:
    """twolayer `args` in `cwd` under the prelude, stopped as `kill` says."""
    env = {**os.environ, "TWOLAYER_AT": str(kill.at if kill and kill.at is not None else -1),
           "TWOLAYER_SIGNAL": str(kill.signum if kill else 9), "TWOLAYER_COUNT": str(count or ""),
           "TWOLAYER_AFTER": "1" if kill and kill.after else ""}
    if kill and kill.only:
        env["TWOLAYER_ONLY"] = kill.only
    proc = subprocess.Popen([sys.executable, "-c", PRELUDE, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if kill is not None and kill.delay is not None:
        try:
            proc.wait(kill.delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(kill.signum)
    out, err = proc.communicate(timeout=timeout)
    return Outcome(args, proc.returncode, err, out)


def operations(args: list[str], cwd: Path) -> tuple[int, float]:
    """How many file operations `args` makes when left alone, and its seconds."""
    started = time.monotonic()
    done = run(args, cwd, count=cwd / ".count")
    assert done.code in (0, 3), done.err
    n = int((cwd / ".count").read_text())
    (cwd / ".count").unlink()
    return n, time.monotonic() - started


def one_line(done: Outcome) -> None:
    """A stopped or failed command said one line, no traceback."""
    assert "Traceback" not in done.err, (done.args, done.err)
    assert done.err.count("\n") <= 1 or done.code == 0, (done.args, done.err)


def expected_code(done: Outcome, kill: Kill) -> None:
    """A signal other than kill -9 ends in 128 + its number and one line saying so."""
    if done.code == 0 or kill.signum == signal.SIGKILL:
        return
    assert done.code == 128 + kill.signum, (done.args, done.code, done.err)
    words = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}[kill.signum]
    assert words in done.err, done.err


SUGGESTED = re.compile(r"(?:Resume with|continue it with|continue with|finish it with): (twolayer [^,;\n]+?)"
                       r"(?:,|;|$)|; (twolayer report \S+) writes it", re.M)


def next_command(done: Outcome, first: list[str], folder: str) -> list[str] | None:
    """What the user runs after `done`: the command its line suggests, the
    first command again where it says so, `report` after a silent kill -9;
    None once the run is finished."""
    if done.code in (0, 3):
        return None
    found = SUGGESTED.search(done.err)
    if found:
        return shlex.split(found.group(1) or found.group(2))[1:]
    if "run the same" in done.err or "no such folder" in done.err or (done.code in (130, 143) and done.args == first):
        return first
    if done.code == -signal.SIGKILL or done.code in (130, 143):
        return ["report", folder]
    raise AssertionError(f"no way on from {done.args}: exit {done.code}, {done.err!r}")


def readers_answer(cwd: Path, folder: str, pictures: Path | None) -> None:
    """report, evaluate and predict of a folder left by a stop: each a result or one line."""
    tries = [["evaluate", folder], ["report", folder, "--out", "-"]]
    if pictures is not None:
        tries.append(["predict", folder, str(pictures)])
    for args in tries:
        done = run(args, cwd)
        one_line(done)


@dataclass
class Story:
    """One interrupted run, carried to its end."""

    commands: list[Outcome] = field(default_factory=list)


def carry_on(first: list[str], folder: str, cwd: Path, kills: list[Kill], pictures: Path | None = None,
             readers: bool = True, most: int = 8) -> Story:
    """Run `first` stopped by kills[0], then whatever twolayer says to run, each
    stopped by the next kill (if any), until the run has finished; with
    `readers`, report, evaluate and predict (of `pictures`) the folder as the
    first stop left it."""
    story = Story()
    args: list[str] | None = first
    for step in range(most):
        kill = kills[step] if step < len(kills) else None
        done = run(args, cwd, kill)
        story.commands.append(done)
        one_line(done)
        if kill is not None:
            expected_code(done, kill)
        args = next_command(done, first, folder)
        if args is None:
            return story
        if readers and step == 0 and (cwd / folder).is_dir():
            readers_answer(cwd, folder, pictures)
    raise AssertionError(f"not finished after {most} commands: {[(d.args, d.code, d.err) for d in story.commands]}")


def same_run(run: Path, reference: Path, files=("model.npz", "history.csv", "checkpoint.npz")) -> None:
    """The finished run equals the reference bit for bit (metrics but for its seconds), and holds nothing more."""
    for name in files:
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name
    ours, theirs = (json.loads((d / "metrics.json").read_text()) for d in (run, reference))
    ours.pop("seconds"), theirs.pop("seconds")
    assert ours == theirs
    no_leftovers(run)
    assert sorted(p.name for p in run.iterdir() if p.name != LOCK) == sorted(p.name for p in reference.iterdir())


def no_leftovers(folder: Path) -> None:
    left = [str(p.relative_to(folder)) for p in folder.rglob("*") if LEFTOVER.search(p.name)]
    assert not left, left
