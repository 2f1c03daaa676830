"""A run interrupted at any moment (kill -9, SIGTERM, Ctrl-C), then carried
on as twolayer says, ends bit for bit as the run left alone, with nothing
left behind; report, evaluate and predict of it in between answer in one
line. The moments are file operations drawn from a seeded generator over
those of a whole run (killing.py); benchmarks/kill_soak.py draws many more."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import random
import shutil
import signal
import sys
import types

import numpy as np
import pytest
from PIL import Image

from killing import Kill, carry_on, no_leftovers, operations, run, same_run
from twolayer import runs
from twolayer.cli import main
from twolayer.files import atomic_write_text
from twolayer.signals import Signalled

# digits, 4 epochs of 14 iterations: a run of about 3 s, most of it the report
TRAIN = ["train", "--out", "run", "--epochs", "4", "--hidden-size", "16", "--batch-size", "100", "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The run left alone, and how many file operations it makes."""
    where = tmp_path_factory.mktemp("alone")
    n, _ = operations(TRAIN, where)
    picture = where / "8.png"
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(picture)
    return where / "run", n, picture


def points(n: int, k: int, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(n), k))


def carried(tmp_path, reference, kills, readers=False):
    ref, _, picture = reference
    story = carry_on(TRAIN, "run", tmp_path, kills, pictures=picture, readers=readers)
    same_run(tmp_path / "run", ref)
    return story


@pytest.mark.parametrize("at", points(56, 6, seed=1))
def test_kill_9_at_any_file_operation_then_what_twolayer_says_finishes_the_run_exactly(tmp_path, reference, at):
    _, n, _ = reference
    assert n == 56, "the run's file operations changed: draw the points over the new count"
    carried(tmp_path, reference, [Kill(signal.SIGKILL, at=at)], readers=True)


@pytest.mark.parametrize("signum,at", [(signal.SIGTERM, at) for at in points(56, 3, seed=2)]
                         + [(signal.SIGINT, at) for at in points(56, 3, seed=3)])
def test_sigterm_or_ctrl_c_at_any_file_operation_says_one_line_and_the_run_finishes_exactly(tmp_path, reference,
                                                                                           signum, at):
    story = carried(tmp_path, reference, [Kill(signum, at=at)])
    first = story.commands[0]
    assert first.code in (0, 128 + signum), first.err  # 0: it came as the run ended, after its last check


def test_kill_9_during_the_resume_too_then_the_run_finishes_exactly(tmp_path, reference):
    """Killed twice: mid-run, then while its resume (or the same command run again) writes its files."""
    _, n, _ = reference
    draw = random.Random(4)
    mid_run, as_it_resumes = draw.randrange(n // 4, n // 2), draw.randrange(0, n // 3)
    carried(tmp_path, reference, [Kill(at=mid_run), Kill(), Kill(at=as_it_resumes)])  # the report between: left


def test_kill_9_at_any_moment_of_a_run_then_it_finishes_exactly(tmp_path, reference):
    """Kills at times, not operations: inside a computation as well as a write."""
    _, _, picture = reference
    for i, delay in enumerate(random.Random(5).uniform(0.3, 3.0) for _ in range(2)):
        folder = tmp_path / str(i)
        folder.mkdir()
        carried(folder, reference, [Kill(signal.SIGKILL, delay=delay)])


class Importing(types.ModuleType):
    """twolayer.report while it is imported (matplotlib's import: a second) and SIGTERM comes."""

    def __getattr__(self, name):
        raise Signalled(signal.SIGTERM)


@pytest.mark.parametrize("when", ["written", "imported"])
def test_sigterm_while_a_finished_runs_report_is_written_is_said_as_sigterm(tmp_path, monkeypatch, capsys, when):
    """It said `(it was interrupted)`, as of Ctrl-C, with exit 143; while
    the report's code was imported, only `twolayer train: terminated
    (SIGTERM)`, and the same command then refused the finished run's folder."""
    import twolayer.report

    def terminated(*args, **kwargs):
        raise Signalled(signal.SIGTERM)

    if when == "written":
        monkeypatch.setattr(twolayer.report, "report", terminated)
    else:
        monkeypatch.setitem(sys.modules, "twolayer.report", Importing("twolayer.report"))
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 143
    err = capsys.readouterr().err
    assert "but its report was not written (it was terminated (SIGTERM))" in err and err.count("\n") == 1, err


def test_a_killed_writes_temporary_file_is_removed_by_the_next_write_of_that_file(tmp_path):
    """A report.html (or an exported model, a page written with --out into
    one's own folder) killed as it was written left its .NAME.XXXX.tmp for
    good: only --resume and a run's end removed a run folder's. The next
    write of the same file removes it, unless a write holds it now."""
    target = tmp_path / "page.html"
    killed = tmp_path / ".page.html.ab12cd34.tmp"
    killed.write_text("half a page")
    live = tmp_path / ".page.html.zz99yy88.tmp"
    live.write_text("a page being written")
    others = [tmp_path / ".other.html.ab12cd34.tmp", tmp_path / ".page.html.mine.tmp"]
    for p in others:
        p.write_text("not this write's")
    with open(live, "rb") as writing:
        fcntl.flock(writing, fcntl.LOCK_EX)  # as a write under way holds its file
        atomic_write_text(target, "the page")
    assert target.read_text() == "the page" and not killed.exists()
    assert live.exists() and all(p.exists() for p in others)


def test_report_of_a_run_whose_report_was_killed_leaves_no_temporary_file(tmp_path, reference):
    ref, _, _ = reference
    shutil.copytree(ref, tmp_path / "run")
    for name in ("report.html", "history.png"):
        (tmp_path / "run" / f".{name}.ab12cd34.tmp").write_bytes(b"half")
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / ".p.html.ab12cd34.tmp").write_bytes(b"half")
    assert main(["report", str(tmp_path / "run")]) == 0
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "page" / "p.html")]) == 0
    no_leftovers(tmp_path)


def test_a_run_killed_as_it_began_says_to_run_the_same_command_again(tmp_path, capsys):
    """kill -9 before config.json, or before the run started (its claim
    undone by the reader that found it): the folder holds only the lock
    file. report said `neither a finished run folder (model.npz) nor a
    tuning folder`, evaluate `no model at RUN/model.npz`, --resume `has no
    checkpoint to resume`, none saying what to do."""
    run_dir = tmp_path / "run"
    held = runs.claim(run_dir, "run")
    (run_dir / "config.json").write_text("{}")  # written, then killed before the run started
    held.handle.close()  # the process died
    for args, so in [(["report", str(run_dir)], "there is nothing to report"),
                     (["evaluate", str(run_dir)], "it holds no model"),
                     (["train", "--resume", str(run_dir)], "there is nothing to resume")]:
        assert main(args) == 1
        err = capsys.readouterr().err
        assert f"{run_dir} is empty: no run has written anything in it" in err and so in err, err
        assert "run the same train command again" in err and err.count("\n") == 1, err
    (tmp_path / "mine").mkdir()  # an empty folder no run claimed is only that
    assert main(["report", str(tmp_path / "mine")]) == 1
    assert "neither a finished run folder" in capsys.readouterr().err


def test_a_run_killed_between_its_model_and_its_metrics_is_finished_by_resume(tmp_path, reference, capsys):
    """model.npz written, metrics.json not: report said `metrics.json is
    missing: need a finished run's metrics`, naming no way on."""
    ref, _, _ = reference
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("config.json", "checkpoint.npz", "model.npz"):
        shutil.copy(ref / name, run_dir / name)
    assert main(["report", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert (f"is a run that has not finished (a checkpoint.npz, no metrics.json); finish it with: twolayer train "
            f"--resume {run_dir}") in err and err.count("\n") == 1, err
    done = run(["train", "--resume", str(run_dir), "--quiet"], tmp_path)
    assert done.code == 0, done.err
    same_run(run_dir, ref)
    assert json.loads((run_dir / "metrics.json").read_text())["iterations"] == 56


@pytest.mark.parametrize("where", ["history", "release"])
def test_a_signal_as_a_run_writes_its_last_files_lets_it_finish_and_says_so(tmp_path, monkeypatch, capsys, where):
    """SIGTERM (or Ctrl-C) after the last iteration, as history.csv is
    written or the folder released: it raised among those writes, the line
    said only `terminated (SIGTERM)`, and the same command then refused the
    folder (`already holds a training run`), the run finished or all but.
    Now the run's files are written, then the command stops before its
    report, saying so, and `report` writes it."""
    original = runs.write_history_csv if where == "history" else runs.Claim.release

    sent = []

    def signalled(*args, **kwargs):
        if not sent:  # once, as the first of them runs
            sent.append(os.kill(os.getpid(), signal.SIGTERM))
        return original(*args, **kwargs)

    monkeypatch.setattr(*((runs, "write_history_csv") if where == "history" else (runs.Claim, "release")), signalled)
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 143
    err = capsys.readouterr().err
    assert (f"the run finished (its model and metrics are in {out}) but its report was not written (it was "
            f"terminated (SIGTERM)); twolayer report {out} writes it") in err and err.count("\n") == 1, err
    monkeypatch.undo()
    assert main(["report", str(out)]) == 0 and not (out / runs.LOCK).exists()


def test_tune_after_a_kill_9_mid_append_to_its_journal_goes_on(tmp_path):
    """kill -9 while a trial's record was appended to study.journal left
    Optuna's lock, a link made with the path as given (`S/study.journal`,
    relative to the link's own folder: a target that does not exist); the
    same tune command then spun forever waiting for it."""
    command = ["tune", "--lr", "1e-3,1e-2", "--epochs", "1", "--hidden-size", "16", "--out", "S", "--quiet"]
    killed = run(command, tmp_path, Kill(at=13, only="symlink", after=True))  # as a trial is recorded
    assert killed.code == -signal.SIGKILL and (tmp_path / "S" / "study.journal.lock").is_symlink()
    again = run(command, tmp_path, timeout=120)
    assert again.code == 0, again.err
    rows = list(csv.DictReader((tmp_path / "S" / "trials.csv").read_text().splitlines()))
    done = sorted(row["lr"] for row in rows if row["state"] == "complete")
    assert done == ["0.001", "0.01"] and [row["state"] for row in rows].count("fail") <= 1  # the killed trial, again
    no_leftovers(tmp_path / "S")
    assert not (tmp_path / "S" / "study.journal.lock").is_symlink()


def test_the_run_a_killed_force_replaced_comes_back_without_the_new_runs_half_written_files(tmp_path, reference):
    """kill -9 as a --force run wrote its config.json, before it started:
    evaluate, report or --resume of the folder put the old run back, and
    the new run's `.config.json.XXXX.tmp` stayed beside it."""
    ref, _, _ = reference
    run_dir = tmp_path / "run"
    shutil.copytree(ref, run_dir)
    held = runs.claim(run_dir, "run", force=True)
    (run_dir / ".config.json.ab12cd34.tmp").write_text('{"half": ')  # then killed
    held.handle.close()
    assert main(["report", str(run_dir)]) == 0
    no_leftovers(run_dir)
    same_run(run_dir, ref)


def test_tune_after_a_kill_9_as_a_trial_wrote_its_folder_keeps_no_half_trial(tmp_path):
    """kill -9 before a trial's metrics.json was in place: the same command
    ran the point again as a new trial, but the killed trial's folder stayed
    (trials/0000 with its model and a .metrics.json.XXXX.tmp, marked `fail`
    in trials.csv)."""
    command = ["tune", "--lr", "1e-3,1e-2", "--epochs", "1", "--hidden-size", "16", "--out", "S", "--quiet"]
    killed = run(command, tmp_path, Kill(at=3, only="replace"))  # config, model, history in place; not metrics
    assert killed.code == -signal.SIGKILL
    assert (tmp_path / "S" / "trials" / "0000" / "model.npz").is_file()
    assert not (tmp_path / "S" / "trials" / "0000" / "metrics.json").exists()
    again = run(command, tmp_path)
    assert again.code == 0, again.err
    rows = list(csv.DictReader((tmp_path / "S" / "trials.csv").read_text().splitlines()))
    assert [(row["trial"], row["state"]) for row in rows] == [("0", "fail"), ("1", "complete"), ("2", "complete")]
    assert sorted(p.name for p in (tmp_path / "S" / "trials").iterdir()) == ["0001", "0002"]
    no_leftovers(tmp_path / "S")


def test_tune_after_a_kill_9_as_it_copied_its_best_trial_goes_on(tmp_path, capsys):
    """kill -9 (or a full disk) as tune copied its best trial into best/
    left the copy, .best.tmp/, which no name twolayer writes matched: the
    same command then refused the folder, `holds files twolayer did not
    write ('.best.tmp')`."""
    command = ["tune", "--lr", "1e-3,1e-2", "--epochs", "1", "--hidden-size", "16", "--out", "S", "--quiet"]
    killed = run(command, tmp_path, Kill(at=9, only="replace"))  # the copy made, not yet renamed to best
    assert killed.code == -signal.SIGKILL and (tmp_path / "S" / runs.BEST_COPY).is_dir()
    assert main(["report", str(tmp_path / "S")]) == 1
    assert "run the same twolayer tune command again" in capsys.readouterr().err
    again = run(command, tmp_path)
    assert again.code == 0, again.err
    assert (tmp_path / "S" / "best" / "model.npz").is_file()
    no_leftovers(tmp_path / "S")


def test_tune_after_a_kill_9_as_optuna_released_its_journal_lock_goes_on(tmp_path):
    """Optuna releases its journal lock by renaming it, then removing it:
    kill -9 in between left study.journal.lockUUID.rename, which no name
    twolayer writes matched, and the same command, --force too, refused the
    folder for good (`holds files twolayer did not write`)."""
    command = ["tune", "--lr", "1e-3,1e-2", "--epochs", "1", "--hidden-size", "16", "--out", "S", "--quiet"]
    killed = run(command, tmp_path, Kill(at=0, only="unlink"))  # the first unlink: the released lock's
    assert killed.code == -signal.SIGKILL
    assert [p for p in (tmp_path / "S").iterdir() if runs.RELEASED_LOCK.fullmatch(p.name)]
    again = run(command, tmp_path)
    assert again.code == 0, again.err
    assert not [p for p in (tmp_path / "S").iterdir() if p.name.endswith(".rename")]
    no_leftovers(tmp_path / "S")
