"""Windows, from Linux: the commands run under tests/windowslike,
which plays Windows where it matters to twolayer (no fcntl, no renaming or
removing an open file, no O_CLOEXEC or fchdir, descriptors opened in text
mode without O_BINARY, no symbolic links...), and the few calls that differ
are tested with the system's API taken away. Every test here is listed in
TESTING.md."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twolayer import files, portable, streams, studies
from windowslike.fakemsvcrt import msvcrt

HERE = Path(__file__).parent
TWOLAYER = [sys.executable, "-m", "twolayer"]


def as_on_windows(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`twolayer ARGS` under tests/windowslike (its spawned children too),
    run in `cwd`: a relative PYTHONPATH (src) made absolute, or the twolayer
    installed in the environment ran instead of the one under test."""
    given = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    path = os.pathsep.join([str(HERE / "windowslike"), *given])
    return subprocess.run([*TWOLAYER, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": path})


def test_every_command_runs_as_on_windows(tmp_path):
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).save(tmp_path / "digit.png")
    commands = [
        (0, "train", "--epochs", "1", "--quiet", "--out", "run"),
        (1, "train", "--epochs", "1", "--quiet", "--out", "run"),  # a run there: refused in one line
        (0, "train", "--epochs", "2", "--quiet", "--out", "run", "--force"),
        (0, "evaluate", "run"),
        (0, "predict", "run", "digit.png"),
        (0, "report", "run", "--out", "page.html"),
        (0, "tune", "--lr", "0.01,0.1", "--epochs", "1", "--jobs", "2", "--quiet", "--out", "search"),
        (0, "check", str(HERE / "learners" / "neural_net.py")),
    ]
    for code, *args in commands:
        if "--force" in args:  # a write killed midway (kill -9) left its temporary file: removed as the run begins
            (tmp_path / "run" / ".model.npz.0123abcd.tmp").write_bytes(b"PK")
            os.utime(tmp_path / "run" / ".model.npz.0123abcd.tmp", (time.time() - 60,) * 2)
        done = as_on_windows(*args, cwd=tmp_path)
        assert done.returncode == code, (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        assert len(done.stderr.splitlines()) == code, (args, done.stderr)  # an error is one line
    assert "already holds a training run" in as_on_windows(*commands[1][1:], cwd=tmp_path).stderr
    for folder in ("run", "search"):  # no lock or temporary file left behind (Windows removes no open file)
        left = [p.name for p in (tmp_path / folder).iterdir() if p.name.startswith(".") or p.name.endswith(".lock")]
        assert left == [], folder
    assert (tmp_path / "run" / "model.npz").stat().st_size > 0


@pytest.fixture
def windows_locks(monkeypatch):
    """portable.lock as on Windows: msvcrt's locks, no fcntl."""
    monkeypatch.setattr(portable, "fcntl", None)
    monkeypatch.setattr(portable, "msvcrt", msvcrt, raising=False)


def test_a_windows_lock_is_held_by_one_open_file_at_a_time(tmp_path, windows_locks):
    path = tmp_path / "lock"
    path.write_bytes(b"x")  # opened to append, a file is at its end: Windows locks from there
    first, second, third = (open(path, mode) for mode in ("a", "rb", "a"))  # noqa: SIM115
    portable.lock(first, wait=False)
    for shared in (False, True):  # Windows has no shared lock: a reader holds it alone for a moment
        with pytest.raises(BlockingIOError):
            portable.lock(second, wait=False, shared=shared)
    threading.Timer(0.2, first.close).start()
    started = time.monotonic()
    portable.lock(third)  # waits for the first to close
    assert time.monotonic() - started >= 0.1
    with pytest.raises(BlockingIOError):
        portable.lock(second, wait=False)
    third.close()
    portable.lock(second, wait=False)
    second.close()


def test_a_write_about_to_be_renamed_on_windows_is_left_to_its_writer(tmp_path, monkeypatch):
    """Windows renames no open file, so a write closes its temporary file,
    and so lets go of its lock, before renaming it: another process's write
    of the same file, beginning then, took it for a killed write's and
    removed it (the rename failed: `page.html: No such file or directory`),
    or held it open, which alone makes the rename fail there. A killed
    write's, older, still goes."""
    monkeypatch.setattr(files, "WINDOWS", True)
    monkeypatch.setattr(portable, "WINDOWS", True)
    path = tmp_path / "page.html"
    killed = tmp_path / ".page.html.0123abcd.tmp"
    killed.write_bytes(b"<html")
    os.utime(killed, (time.time() - 60,) * 2)
    rename = os.replace

    def another_write_begins(source, target):
        files.remove_abandoned(path)  # what another process's write of page.html does first
        rename(source, target)

    monkeypatch.setattr(os, "replace", another_write_begins)
    files.atomic_write(path, lambda f: f.write(b"<html></html>"))
    assert path.read_bytes() == b"<html></html>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_a_pipe_whose_reader_left_on_windows_loses_only_output(monkeypatch):
    class Gone:  # Windows says EINVAL where POSIX says EPIPE (cpython issue 79935)
        encoding = "utf-8"

        def write(self, text: str) -> int:
            raise OSError(errno.EINVAL, "Invalid argument")

        def fileno(self) -> int:
            raise OSError(errno.EBADF, "no descriptor")

    monkeypatch.setattr(streams, "WINDOWS", True)
    stream = streams.Lasting(Gone(), 1)
    stream.write("a line\n")
    assert stream.failed is None and streams.lost(stream) is None
    monkeypatch.setattr(streams, "WINDOWS", False)  # elsewhere EINVAL is a fault of its own: said, exit 1
    stream = streams.Lasting(Gone(), 1)
    stream.write("a line\n")
    assert streams.lost(stream) == "standard output: Invalid argument"


def test_a_trial_process_is_never_sent_signal_0_on_windows(monkeypatch):
    def ctrl_c(pid: int, sig: int) -> None:
        raise AssertionError("os.kill(pid, 0) sends Ctrl-C to a process group on Windows")

    monkeypatch.setattr(studies, "WINDOWS", True)
    monkeypatch.setattr(os, "kill", ctrl_c)
    assert studies._alive(os.getpid())


def test_a_journal_lock_left_by_a_killed_append_on_windows_is_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(studies, "WINDOWS", True)
    journal = tmp_path / studies.JOURNAL
    journal.write_bytes(b'{"op_code": 0}\n')
    lock = tmp_path / f"{studies.JOURNAL}{studies.LOCK_SUFFIX}"
    lock.touch()  # Optuna's JournalFileOpenLock, a file: the next append waited its grace period first
    studies.mend_journal(journal)
    assert not lock.exists() and journal.read_bytes() == b'{"op_code": 0}\n'


def test_a_command_suggested_on_windows_is_quoted_as_its_shells_read_it(monkeypatch):
    monkeypatch.setattr(streams, "WINDOWS", True)  # cmd.exe takes no single quotes: 'runs\x' named a folder 'runs\x'
    assert streams.shell_word("runs\\20240101-120000-digits") == "runs\\20240101-120000-digits"
    assert streams.shell_word("C:\\Users\\Ann Lee\\runs\\a") == '"C:\\Users\\Ann Lee\\runs\\a"'
    assert streams.shell_word("D:\\my runs\\") == '"D:\\my runs\\\\"'  # \" would escape the closing quote
    assert streams.shell_word("-run") == "./-run"
    assert streams.shell_word("runs,old") == '"runs,old"'  # PowerShell read runs,old bare as two words
    assert streams.shell_word("@runs") == '"@runs"'  # and @runs as the splat of a variable $runs
    monkeypatch.setattr(streams, "WINDOWS", False)
    assert streams.shell_word("my runs/a") == "'my runs/a'"
