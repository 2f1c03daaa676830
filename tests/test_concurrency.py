"""Several twolayer processes, or threads, on the same files at once: two
writers of one new output file, readers of a run folder that another
process is continuing or replacing, claims of one folder as another is
released, and the process's umask under threads. Processes meet at
barriers made of files, never after a sleep."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import twolayer
from twolayer import TrainConfig, runs
from twolayer.cli import main
from twolayer.errors import TwolayerError
from twolayer.files import atomic_write_text, write_making_folders

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
    try:
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:  # one stuck past the timeout is not left running
        for p in procs:
            p.kill()
            p.wait()
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


@pytest.mark.parametrize("refusal", [errno.EPERM, errno.EACCES, errno.EXDEV], ids=["EPERM", "EACCES", "EXDEV"])
def test_a_new_output_on_a_file_system_without_hard_links_is_written(two_runs, tmp_path, monkeypatch, capsys,
                                                                     refusal):
    """`report RUN --out p.html` where the file system makes no hard link:
    vfat says EPERM, which put_new knew, but an SMB share may say EACCES
    and other mounts other things, which put_new passed on as the page's
    own error (`p.html: Permission denied`). Any such refusal is checked,
    then renamed, as before put_new; a file there by then is still kept."""
    def no_links(source, target, *args, **kwargs):
        raise OSError(refusal, os.strerror(refusal))

    monkeypatch.setattr(os, "link", no_links)
    page = tmp_path / "p.html"
    assert main(["report", str(two_runs[0]), "--out", str(page)]) == 0, capsys.readouterr().err
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.html"]  # no temporary file
    with pytest.raises(TwolayerError, match="exists: another process wrote it while this one ran"):
        write_making_folders(page, lambda f: f.write(b"second"), replace=False)
    assert page.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("command", ["report", "export"])
def test_an_output_that_is_a_link_to_nothing_is_refused_as_a_link(two_runs, tmp_path, capsys, command):
    """`report RUN --out p.html` (or export) where p.html is a link to a
    file that does not exist: taken for absent, then put_new, which puts a
    file only where no name is, refused it as `written by another process
    while this one ran`. It is said to be a link; --force replaces the link
    (its target is never made)."""
    out = tmp_path / ("p.html" if command == "report" else "m.onnx")
    out.symlink_to("gone")
    assert main([command, str(two_runs[0]), "--out", str(out)]) == 1
    assert capsys.readouterr().err == (f"twolayer {command}: error: {out} exists, a link to gone, which does not "
                                       "exist; pass --force to replace the link\n")
    assert out.is_symlink()
    assert main([command, str(two_runs[0]), "--out", str(out), "--force"]) == 0
    assert out.is_file() and not out.is_symlink() and not (tmp_path / "gone").exists()


def test_two_runs_decoding_one_new_image_folder_at_once_share_its_cache(tmp_path):
    """Two `train` runs on one image folder that no run has decoded, with
    no --out, started together: each decodes it and both write its cache
    file at once (they meet just before). Both runs train on the same
    data, in folders of their own; one cache file, whole, is left, and a
    third run reads it."""
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(tmp_path / "pics" / name / f"{i}.png")
    (tmp_path / "barrier").mkdir()
    train = ["train", "--dataset", "folder:pics", "--data-dir", "data", "--epochs", "1", "--val-size", "2",
             "--test-size", "2", "--quiet"]
    done = together(tmp_path / "barrier", "twolayer.data.folder:save_cached", [train, train], cwd=tmp_path)
    assert [code for code, _, _ in done] == [0, 0], done
    assert all(err == "" for _, _, err in done)
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2
    digests = {json.loads((f / "config.json").read_text())["data_sha256"] for f in folders}
    assert len(digests) == 1
    [cache] = (tmp_path / "data" / "cache").iterdir()  # no temporary file beside it
    assert cache.suffix == ".npz"
    written = cache.stat().st_mtime_ns
    data = twolayer.load_dataset("folder:" + str(tmp_path / "pics"), tmp_path / "data")
    assert data.splits["train"][0].shape == (12, 6, 5, 3)
    assert [p.name for p in (tmp_path / "data" / "cache").iterdir()] == [cache.name]
    assert cache.stat().st_mtime_ns == written  # read, not decoded and written again


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


def holding(run: Path) -> subprocess.Popen:
    """Another process holding `run` as a run continued in it does (runs.hold), until killed."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from twolayer import runs; "
                               "held = runs.hold(sys.argv[1]); print('held', flush=True); time.sleep(300)", str(run)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_finished_run_being_continued_is_read_as_such(two_runs, tmp_path, capsys):
    """A finished run that another process is continuing (--resume
    --epochs N): report wrote a page of the old model, which the run's end
    left beside the new one (or read one model's figures beside the
    other's metrics); export wrote model.onnx of the model about to be
    replaced; evaluate and predict said nothing. Now report refuses, export
    refuses to write beside the model, and the others say what they read."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    picture = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(picture)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}  # a finished run keeps no lock file
    holder = holding(run)
    try:
        for argv in (["report", str(run)], ["report", str(run), "--out", str(tmp_path / "p.html")]):
            assert main(argv) == 1
            assert capsys.readouterr().err == (f"twolayer report: error: {run} cannot be reported now: a twolayer "
                                               "process is training or searching in it now, and writes its model, "
                                               "metrics and report anew when it finishes; wait for it\n")
        assert main(["export", str(run)]) == 1
        assert "so model.onnx beside it would be of the model replaced; wait for it, or give --out elsewhere\n" in \
            capsys.readouterr().err
        note = (f"note: {run} is in use: a twolayer process is training or searching in it now; this is the model "
                "it holds until that process writes its new one\n")
        for argv in (["evaluate", str(run)], ["predict", str(run), str(picture)],
                     ["export", str(run / "model.npz"), "--out", str(tmp_path / "m.onnx")]):
            assert main(argv) == 0
            assert capsys.readouterr().err == f"twolayer {argv[0]}: {note}"
    finally:
        holder.kill()
        holder.wait()
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.name != runs.LOCK} == before
    assert not (tmp_path / "p.html").exists()
    assert main(["report", str(run), "--out", str(tmp_path / "p.html")]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("taken_by", ["force", "resume"])
def test_a_run_taken_by_another_process_while_it_is_read_is_said_to_be_in_use(two_runs, tmp_path, monkeypatch,
                                                                               capsys, taken_by):
    """`train --out RUN --force` (or --resume) claiming the run as report
    read its files: `RUN/history.csv: No such file` as they moved aside, or
    a page of files some of which the new run was writing; evaluate's
    model moved aside between its check and its read was `cannot read
    RUN/model.npz`. Each says the folder is in use."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    taken = []

    def take():
        if not taken:  # another process's claim: its own lock file handle, as a second process holds it
            taken.append(runs.claim(run, "run", force=True) if taken_by == "force" else runs.hold(run))

    real_history, real_resolve = runs.read_history_csv, twolayer.bundles.resolve_model_path
    monkeypatch.setattr(runs, "read_history_csv", lambda path: (take(), real_history(path))[1])
    try:
        assert main(["report", str(run)]) == 1
        assert capsys.readouterr().err.startswith(f"twolayer report: error: {run} cannot be reported now: a twolayer "
                                                  "process is training or searching in it now")
    finally:
        taken.pop().abandon()
    assert (run / "metrics.json").is_file()
    if taken_by == "force":
        monkeypatch.setattr(twolayer.bundles, "resolve_model_path", lambda path: (real_resolve(path), take())[0])
        try:
            assert main(["evaluate", str(run)]) == 1
            assert capsys.readouterr().err == (f"twolayer evaluate: error: no model in {run} now: a twolayer process "
                                               "is training or searching in it now, which moved the model aside as "
                                               "it was read; wait for it to finish\n")
        finally:
            taken.pop().abandon()
        assert (run / "model.npz").is_file()


def test_a_continued_run_leaves_no_export_or_report_of_the_model_it_replaced(two_runs, tmp_path, capsys):
    """`export RUN`, then `train --resume RUN --epochs 3`: RUN/model.onnx
    stayed, the first model's, beside the new model.npz, and `export RUN`
    refused to replace it (`exists; pass --force`). The run's end removes
    what was made from the model it replaces (runs.drop_made_from_model);
    the command line then writes the new report."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    assert main(["export", str(run)]) == 0
    assert main(["export", str(run), "--format", "torch"]) == 0
    twolayer.resume(run, quiet=True, length={"epochs": 2})
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.npz", "config.json", "history.csv", "metrics.json",
                                                     "model.npz"]
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    assert (run / "report.html").is_file() and (run / "history.png").is_file()
    capsys.readouterr()
    assert main(["export", str(run)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("fails", ["after its model", "at its history"])
def test_a_continued_run_stopped_as_it_writes_its_end_is_finished_by_resume(two_runs, tmp_path, monkeypatch,
                                                                           capsys, fails):
    """`train --resume RUN --epochs 3` of an exported run, its end's
    writing failing (a full disk) just after the new model.npz, or at
    history.csv: the old metrics.json stayed beside the new model, so the
    remedy the error gave, `train --resume RUN`, said `RUN has finished`,
    and report paired the new model with the old metrics; failing just
    after the model, the old model.onnx stayed beside it too. What was made
    from the old model, metrics.json first, now goes before the new model
    is written: the remedy finishes the run."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    assert main(["export", str(run)]) == 0
    where = (twolayer.bundles, "save_bundle") if fails == "after its model" else (runs, "write_history_csv")
    real = getattr(*where)

    def full(path, *args):
        if fails == "after its model":
            real(path, *args)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(*where, full)
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 1
    assert capsys.readouterr().err.endswith(f"continue with: twolayer train --resume {run}\n")
    monkeypatch.undo()
    assert not {"metrics.json", "model.onnx", "report.html"} & {p.name for p in run.iterdir()}
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["iterations"] == 3 * json.loads((two_runs[0] / "metrics.json").read_text())["iterations"]
    assert (run / "report.html").is_file()


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


@pytest.mark.parametrize("proc", ["/proc", "no /proc"])
def test_writing_a_file_never_changes_the_processs_umask(tmp_path, monkeypatch, proc):
    """Every atomic write read the umask by setting it to 0 and back: two
    threads writing at once (twolayer.train in two threads of a notebook)
    could each put back the other's 0, leaving the process at umask 0 for
    good, its files and folders writable by everyone, and a thread's
    folder made in that moment was. Reading it from /proc/self/status left
    that so where there is none (macOS, some containers), and read /proc on
    every write. A write's temporary file is now made with the usual mode,
    which the system gives it (files.new_temporary): the umask is never read."""
    import builtins

    real, set_to, real_open = os.umask, [], builtins.open

    def umask(mask):
        set_to.append(mask)
        return real(mask)

    def no_proc(file, *args, **kwargs):
        if str(file).startswith("/proc"):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "umask", umask)
    if proc == "no /proc":
        monkeypatch.setattr(builtins, "open", no_proc)
    previous = real(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "a")
    finally:
        real(previous)
    monkeypatch.undo()
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

    threads = [threading.Thread(target=work, daemon=True) for _ in range(2)]  # daemon: one stuck never holds pytest
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads), "a thread did not finish in 300 s"
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(previous)
    assert errors == []
    folders = {r.run_dir for r in results}
    assert len(folders) == 2 and all((f / "metrics.json").is_file() for f in folders)
    assert {oct(f.stat().st_mode & 0o777) for f in folders} == {"0o755"}


def test_two_threads_starting_children_where_the_folder_is_gone_leave_multiprocessing_as_it_was(monkeypatch):
    """Two threads of a notebook whose current folder is gone, each starting
    processes (tune's workers, check's child) in here.children_can_start:
    the second's block began inside the first's and ended after it, and
    put back the first's patch of multiprocessing, for good: every child
    spawned later started in /, whatever the folder by then. The blocks now
    take turns."""
    from multiprocessing import spawn

    from twolayer import here

    monkeypatch.setattr(here, "enterable", lambda: False)  # a folder the children cannot enter
    original = spawn.get_preparation_data
    monkeypatch.setattr(spawn, "get_preparation_data", original)  # put back after the test whatever it left
    inside, leave = threading.Event(), threading.Event()

    def second():
        with here.children_can_start():
            inside.set()
            leave.wait(timeout=60)

    first = here.children_can_start()
    first.__enter__()
    thread = threading.Thread(target=second, daemon=True)
    thread.start()
    inside.wait(timeout=0.5)  # at once where nothing holds the second thread back; else it waits for the first
    first.__exit__(None, None, None)
    leave.set()
    thread.join(timeout=60)
    assert spawn.get_preparation_data is original


def test_a_claim_made_while_a_reader_checks_the_folder_waits_for_the_reader(tmp_path, monkeypatch):
    # `report`, `evaluate` and `predict` hold a folder's lock shared for a moment (runs.in_use); a claim at that
    # moment (`train --resume` of a run whose lock file a kill -9 left) said another process was training there
    monkeypatch.setattr(runs, "CLAIM_TRIES", 1000, raising=False)  # up to 10 s: the reader below lets go after 0.05 s
    (tmp_path / runs.LOCK).touch()
    held, reader = threading.Event(), open(tmp_path / runs.LOCK, "rb")  # noqa: SIM115

    def read_a_moment() -> None:
        fcntl.flock(reader, fcntl.LOCK_SH)
        held.set()
        threading.Event().wait(0.05)
        reader.close()

    thread = threading.Thread(target=read_a_moment, daemon=True)
    thread.start()
    assert held.wait(60)
    handle = runs._lock(tmp_path, "--out")
    thread.join(60)
    handle.close()
