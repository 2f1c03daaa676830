"""Several twolayer processes, or threads, on the same files at once:
claims of one folder as another is released, and the process's umask
under threads."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import twolayer
from twolayer import TrainConfig, runs
from twolayer.errors import TwolayerError
from twolayer.files import atomic_write_text


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
