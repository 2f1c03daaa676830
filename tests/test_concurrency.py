"""Several twolayer processes, or threads, on the same files at once: two
writers of one new output file, claims of one folder as another is
released, and the process's umask under threads. Processes meet at
barriers made of files, never after a sleep."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import twolayer
from twolayer import TrainConfig, runs
from twolayer.cli import main
from twolayer.errors import TwolayerError
from twolayer.files import atomic_write_text

# runs twolayer's command line (argv[5:]) meeting another process at a barrier: when it first calls
# MODULE.NAME (argv[4]), it makes BARRIER/ME (argv[1], argv[2]) and waits for BARRIER/OTHER (argv[3])
BARRIER = r"""
import importlib, sys, time
from pathlib import Path
barrier, me, other, (module, name) = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split(":")
module = importlib.import_module(module)
real = getattr(module, name)
def meet(*args, **kwargs):
    (barrier / me).touch()
    deadline = time.monotonic() + 120
    while not (barrier / other).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return real(*args, **kwargs)
setattr(module, name, meet)
from twolayer.cli import main
sys.exit(main(sys.argv[5:]))
"""


def together(barrier: Path, at: str, commands: list[list[str]], cwd: Path | None = None) -> list[tuple[int, str, str]]:
    """Two twolayer commands started at once, meeting at `at` (MODULE:NAME); (exit status, stdout, stderr) of each."""
    procs = [subprocess.Popen([sys.executable, "-c", BARRIER, str(barrier), me, other, at, *argv], cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for argv, me, other in zip(commands, ("a", "b"), ("b", "a"), strict=True)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert (barrier / "a").exists() and (barrier / "b").exists(), outputs  # both came to the barrier
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two finished runs on digits, of different widths."""
    where = tmp_path_factory.mktemp("runs")
    for name, width in (("a", 8), ("b", 12)):
        assert main(["train", "--epochs", "1", "--hidden-size", str(width), "--out", str(where / name),
                     "--quiet"]) == 0
    return where / "a", where / "b"


@pytest.mark.parametrize("command", ["report", "export"])
def test_two_commands_writing_one_new_file_at_once_never_both_write_it(two_runs, tmp_path, command):
    """`report a --out p.html` and `report b --out p.html` (or export) at
    once, both having found no p.html: both said they wrote it, and p.html
    was the page of one, the other's lost. Now the file is put in place
    only if none is there (files.put_new): one writes it, the other says
    so in one line, exit 1."""
    out = tmp_path / ("p.html" if command == "report" else "m.onnx")
    # each meets the other where it writes the file, its absence checked
    commands = [[command, str(run), "--out", str(out)] for run in two_runs]
    done = together(tmp_path, "twolayer.files:make_folders", commands)
    codes = [code for code, _, _ in done]
    assert sorted(codes) == [0, 1], done
    err = done[codes.index(1)][2]
    assert err == (f"twolayer {command}: error: {out} exists: another process wrote it while this one ran; pass "
                   "--force to overwrite it\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a", "b", out.name])  # no temporary file
    winner = two_runs[codes.index(0)]
    if command == "report":
        assert f"twolayer run: {winner.name}<" in out.read_text()
    else:  # the winner's model, whole
        again = tmp_path / "again" / out.name
        assert main(["export", str(winner), "--out", str(again)]) == 0
        assert out.read_bytes() == again.read_bytes()


def test_a_file_written_as_the_page_was_made_is_kept_and_said(two_runs, tmp_path, monkeypatch, capsys):
    """The page's file appearing after report looked for it (another
    process's): refused in one line, that file left as it was."""
    page = tmp_path / "p.html"
    from twolayer import plots

    real = plots.png_bytes

    def another_writes_it(fig, *args, **kwargs):
        if not page.exists():
            page.write_text("theirs")
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(plots, "png_bytes", another_writes_it)
    assert main(["report", str(two_runs[0]), "--out", str(page)]) == 1
    assert capsys.readouterr().err.endswith(f"{page} exists: another process wrote it while this one ran; pass "
                                            "--force to overwrite it\n")
    assert page.read_text() == "theirs"
    assert main(["report", str(two_runs[0]), "--out", str(page), "--force"]) == 0
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_a_claim_released_as_another_opens_the_lock_file_never_gives_the_folder_twice(tmp_path, monkeypatch):
    """A claim's release removes its lock file. A second claim that had
    opened that file just before, then locked it, held a file no one else
    could find: a third claim made a new lock file and held the folder
    too, two runs in one folder at once. The second now locks the file
    that is there."""
    run = tmp_path / "run"
    first = runs.claim(run, "run")
    real = fcntl.flock

    def released_meanwhile(fd, operation):  # the first lets go between the second's open and its lock
        if operation & fcntl.LOCK_EX and not first.handle.closed:
            first.release()
        return real(fd, operation)

    monkeypatch.setattr(fcntl, "flock", released_meanwhile)
    second = runs.claim(run, "run")
    monkeypatch.undo()
    try:
        assert first.handle.closed
        with pytest.raises(TwolayerError, match="is in use by another twolayer process"):
            runs.claim(run, "run")
        assert runs.in_use(run)
    finally:
        second.release()


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the umask from /proc (Linux)")
def test_writing_a_file_never_changes_the_processs_umask(tmp_path, monkeypatch):
    """Every atomic write read the umask by setting it to 0 and back: two
    threads writing at once (twolayer.train in two threads of a notebook)
    could each put back the other's 0, leaving the process at umask 0 for
    good, its files and folders writable by everyone, and a thread's
    folder made in that moment was. The umask is now read, never set."""
    real, set_to = os.umask, []

    def umask(mask):
        set_to.append(mask)
        return real(mask)

    monkeypatch.setattr(os, "umask", umask)
    previous = real(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "a")
    finally:
        real(previous)
    assert set_to == []
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_two_threads_training_at_once_each_write_their_own_run(tmp_path, monkeypatch):
    """twolayer.train and fit in two threads of one program (a notebook):
    no signal handler is taken outside the main thread, the default run
    folders chosen in the same second differ, and the process's umask is
    the one it had."""
    monkeypatch.chdir(tmp_path)
    previous = os.umask(0o022)
    results, errors = [], []

    def work():
        try:
            results.append(twolayer.train(TrainConfig(epochs=1, hidden_size=8), quiet=True))
            X = np.random.default_rng(0).normal(size=(60, 4))
            twolayer.fit(twolayer.TwoLayerNet(4, 5, 3, seed=0), X, np.arange(60) % 3, config=TrainConfig(epochs=2))
        except BaseException as e:  # noqa: BLE001 -- said by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(previous)
    assert errors == []
    folders = {r.run_dir for r in results}
    assert len(folders) == 2 and all((f / "metrics.json").is_file() for f in folders)
    assert {oct(f.stat().st_mode & 0o777) for f in folders} == {"0o755"}
