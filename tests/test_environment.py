"""The environment as hostile input: output that cannot be written, odd
settings of the process (umask, thread counts, terminal size), a current
folder deleted under the process. Every test here is listed in TESTING.md."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twolayer import TrainConfig, TwoLayerNet, fit
from twolayer.cli import main

TWOLAYER = [sys.executable, "-m", "twolayer"]


class Unwritable:
    """A standard output whose every write fails as /dev/full's does (or with `code`)."""

    encoding = "utf-8"

    def __init__(self, code: int = errno.ENOSPC) -> None:
        self.code = code
        self.fd = os.open(os.devnull, os.O_WRONLY)  # what a dropped stream's descriptor is pointed at

    def write(self, text: str) -> int:
        raise OSError(self.code, os.strerror(self.code))

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self.fd

    @property
    def buffer(self) -> Unwritable:  # its bytes fail as its text does
        return self

    def isatty(self) -> bool:
        return False


@pytest.mark.parametrize("argv", [["help"], ["--version"], ["train", "--help"], ["predict", "RUN", "IMG"],
                                  ["report", "RUN", "--out", "-"]],
                         ids=["help", "version", "train-help", "predict", "report-page"])
def test_output_that_cannot_be_written_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys, argv):
    """`twolayer help > /dev/full` (or `1< file`: EBADF) exited 0, the help
    lost: the error came at the interpreter's last flush, which was silenced;
    predict and `report RUN --out -` (the page's bytes) said `error: No space
    left on device`, naming no file. Now: one line naming standard output,
    exit 1. The work goes on to its end."""
    if "RUN" in argv:
        assert main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]) == 0
        from PIL import Image

        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
        argv = [{"RUN": str(tmp_path / "run"), "IMG": str(tmp_path / "a.png")}.get(word, word) for word in argv]
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", Unwritable())
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's --help and --version
        code = e.code
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "standard output: No space left on device" in err, err


def test_a_run_whose_output_fills_the_disk_finishes_and_says_so(tmp_path):
    """`twolayer train > /dev/full`: the first progress line's ENOSPC ended
    the run, saying `no checkpoint was saved yet; free some space` of a disk
    that had room. Now the run finishes, then one line, exit 1."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    out = tmp_path / "run"
    with open("/dev/full", "w") as full:
        done = subprocess.run([*TWOLAYER, "train", "--epochs", "2", "--out", str(out)], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "standard output: No space left on device; the command did its work" in done.stderr
    assert (out / "metrics.json").is_file() and (out / "report.html").is_file()


@pytest.mark.parametrize("stdout", [None, Unwritable(), Unwritable(errno.EPIPE)], ids=["none", "full", "pipe"])
def test_the_api_trains_whatever_its_standard_output(blobs, monkeypatch, stdout):
    """`twolayer.fit(..., progress=True)` or `twolayer.train` in a program with
    no stdout (pythonw, a service: sys.stdout is None), or one that is full or
    whose reader has gone: an AttributeError from the progress line, or the
    write's OSError, ended the training. Now the lines stop, not the work."""
    X, y, X_val, y_val = blobs
    monkeypatch.setattr(sys, "stdout", stdout)
    net = TwoLayerNet(X.shape[1], 10, 3, seed=0)
    history = fit(net, X, y, X_val, y_val, TrainConfig(epochs=2, batch_size=100), progress=True)
    assert len(history.val_acc) == 2


@pytest.mark.parametrize("stdout", [None, Unwritable(), Unwritable(errno.EPIPE)], ids=["none", "full", "pipe"])
def test_train_in_python_says_its_notes_or_loses_them_but_trains(tmp_path, monkeypatch, stdout):
    """twolayer.train's notes (images resized, files skipped, ZCA fitting) were plain prints: with sys.stdout
    None, full or gone, the note raised before the training (AttributeError, OSError). streams.say loses the
    line, not the run."""
    from PIL import Image

    import twolayer

    rng = np.random.default_rng(0)
    for k, name in enumerate("ab"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        (tmp_path / "imgs" / name / "notes.txt").write_text("a file of no image: the skip note\n")
        for i in range(24):
            size = (6, 6) if i % 2 else (5, 7)  # two sizes: the resize note
            Image.fromarray((rng.random((*size, 3)) * 80 + 100 * k).astype(np.uint8)).save(
                tmp_path / "imgs" / name / f"{i}.png")
    monkeypatch.setattr(sys, "stdout", stdout)
    config = TrainConfig(dataset=f"folder:{tmp_path / 'imgs'}", preprocess="zca", image_size=3, val_size=4,
                         test_size=4, epochs=1)
    result = twolayer.train(config, out=tmp_path / "run")
    assert (tmp_path / "run" / "model.npz").is_file() and result.history.val_acc


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_thread_count_numba_refuses_trains_with_the_numpy_reference(tmp_path, value):
    """NUMBA_NUM_THREADS=0: numba raised ValueError as it loaded, a traceback
    out of the first update of a network wide enough for its kernels. Now
    the NumPy reference runs instead (the same numbers). (OpenBLAS takes an
    odd count of its own in its stride; libgomp says its own line of
    OMP_NUM_THREADS=0, true, and not twolayer's to hide.)"""
    env = {**os.environ, "NUMBA_NUM_THREADS": value, "OPENBLAS_NUM_THREADS": "abc"}
    done = subprocess.run([*TWOLAYER, "train", "--epochs", "1", "--hidden-size", "1100", "--quiet", "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_numba_with_no_folder_to_keep_its_code_in_compiles_in_memory():
    """A read-only install whose HOME and NUMBA_CACHE_DIR numba cannot write
    (a container's site-packages, run as another user): numba found no
    folder to keep compiled code in (RuntimeError `no locator available`
    as fused_cpu loaded), and every run fell back to the NumPy reference.
    Now the kernels are compiled in memory, and give the same numbers."""
    code = """if True:
        import numba.core.caching as caching
        import numpy as np

        caching.CacheImpl._locator_classes = []  # no folder anywhere to keep compiled code in
        from twolayer import backend

        fused = backend.compiled_cpu()
        assert fused is not None and type(fused.sgd._cache).__name__ == "NullCache"
        rng = np.random.default_rng(0)
        w, g = rng.standard_normal((300, 300)), rng.standard_normal((300, 300))
        mine = w.copy()
        fused.update("sgd", mine, g, [], [np.float64(1.0), np.float64(0.1)])  # shrink, lr
        assert np.array_equal(mine, w * 1.0 - g * 0.1)
        print("ok")
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout == "ok\n", done.stderr


def test_python_m_twolayer_beside_files_named_like_its_modules_runs_twolayer(tmp_path):
    """`python -m twolayer` from a folder holding numpy.py, csv.py or
    optuna.py (an experiment saved under that name): -m puts the current
    folder first on sys.path, and the file was imported in the library's
    place: its code ran (here: a SystemExit), or a traceback from deep inside.
    twolayer now takes the folder off the path, as -P and the installed
    `twolayer` command leave it; tune's worker processes too."""
    for name in ("numpy", "csv", "optuna"):
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the folder\\'s {name}.py ran')\n")
    command = [sys.executable, "-m", "twolayer", "tune", "--jobs", "2", "--lr", "0.1,0.2", "--epochs", "1",
               "--quiet", "--out", "search"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert (tmp_path / "search" / "trials.csv").read_text().count(",complete,") == 2


def test_python_m_of_a_package_that_imports_twolayer_keeps_the_current_folder(tmp_path):
    """`python -m myexp`, whose package imports twolayer and then a module
    of the current folder (helpers.py): twolayer took the folder off
    sys.path for any -m, so the import of helpers failed. Only `python -m
    twolayer` (or one of its modules) has it taken off now."""
    (tmp_path / "myexp").mkdir()
    (tmp_path / "myexp" / "__init__.py").write_text("import twolayer\nimport helpers\n\nprint(helpers.X)\n")
    (tmp_path / "myexp" / "__main__.py").write_text("")
    (tmp_path / "helpers.py").write_text("X = 'helped'\n")
    done = subprocess.run([sys.executable, "-m", "myexp"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout == "helped\n", done.stderr


def test_tune_counts_the_cores_this_process_may_use(tmp_path, monkeypatch, capsys):
    """`taskset -c 0 twolayer tune --jobs 2` (or a container's cpuset of one
    core): --jobs was checked against the machine's cores, so two workers,
    each with its own copy of the data, shared the one core. Now the cores
    of the process's affinity mask."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    code = main(["tune", "--jobs", "2", "--lr", "0.1,0.2", "--epochs", "1", "--quiet", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and err.endswith("error: --jobs 2 is more than the 1 CPU core this process may use; give --jobs "
                                      "1 or fewer\n"), err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("umask", [0o777, 0o277, 0o077], ids=["0777", "0277", "0077"])
def test_a_umask_never_takes_the_owners_rights_to_a_run(tmp_path, umask):
    """`umask 0777; twolayer train`: the run folder was made d---------, and
    twolayer could not write in it (`cannot write in it (Permission denied)
    ... make it writable`), the folder left behind; files it wrote were mode
    000. Now the owner keeps read, write and search on what twolayer makes;
    group and others get what the umask leaves them."""
    out = tmp_path / "run"
    previous = os.umask(umask)
    try:
        assert main(["train", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
        assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0
    finally:
        os.umask(previous)
    assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask | 0o700
    for name in ("model.npz", "config.json", "checkpoint.npz", "report.html"):
        assert os.stat(out / name).st_mode & 0o777 == 0o666 & ~umask | 0o600, name


def test_a_file_size_limit_says_to_raise_it_and_leaves_no_part_file(tmp_path):
    """`ulimit -f 60` under a run whose checkpoint is larger: the write fails
    with EFBIG (Python ignores SIGXFSZ, which would kill the process), said as
    `File too large; ...; fix that`. Now the line says to raise the limit;
    no temporary or partial file is left, and the same command runs again."""
    import resource

    out = tmp_path / "run"
    limit = 60 * 1024

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [*TWOLAYER, "train", "--epochs", "1", "--hidden-size", "300", "--quiet", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=limited)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "checkpoint.npz: File too large; no checkpoint was saved yet; raise the file-size limit (ulimit -f)" \
        in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]  # a run that never started: run it again
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0


@pytest.mark.parametrize("folder", ["-run", "my runs/-a b", "runs/$HOME's"])
def test_a_command_twolayer_suggests_runs_as_printed_whatever_the_folders_name(tmp_path, monkeypatch, capsys,
                                                                               folder):
    """A run folder whose relative path begins with "-" (`--out=-run`): the
    `Resume with: twolayer train --resume -run` that a signal printed was
    refused (`argument --resume: expected one argument`), and train's `twolayer
    report RUN writes it` (its report failed) was not quoted at all. Each
    suggested command, as the shell splits it, now names the folder
    (`streams.shell_word`)."""
    import re
    import shlex

    from twolayer import report
    from twolayer.cli import build_parser
    from twolayer.runs import resume_command

    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as m:
        m.setattr(report, "report", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no figures")))
        assert main(["train", "--epochs", "1", "--quiet", f"--out={folder}"]) == 1
    suggested = re.search(r"; (twolayer report .*) writes it$", capsys.readouterr().err.strip()).group(1)
    assert main(shlex.split(suggested)[1:]) == 0 and (tmp_path / folder / "report.html").is_file()
    words = shlex.split(resume_command(Path(folder)))
    assert words[:1] == ["twolayer"] and Path(build_parser().parse_args(words[1:]).resume) == Path(folder)


@pytest.mark.parametrize("argv", [["train"], ["train", "--dataset", "folder:imgs", "--out", "{abs}"],
                                  ["predict", "{run}", "a.png"], ["tune", "--lr", "0.1,0.2"]],
                         ids=["train-runs", "train-folder", "predict", "tune"])
def test_a_current_folder_deleted_under_the_shell_is_named_as_the_cause(tmp_path, monkeypatch, capsys, argv):
    """`mkdir d; cd d; rmdir ../d; twolayer train`: it said `cannot make a run
    folder under runs: No such file or directory`, and with `--dataset
    folder:imgs` only `error: No such file or directory`, naming nothing.
    Now the one line says the current folder no longer exists. (Absolute
    paths work there as before.)"""
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    argv = [word.format(abs=tmp_path / "new", run=run) for word in argv] + ["--epochs", "1", "--quiet"] * (
        argv[0] in ("train", "tune"))
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("the current folder no longer exists (it was deleted or moved), so "
                                                 "relative paths name nothing: cd to a folder that exists\n"), err
    assert main(["predict", str(run), str(run / "weights.png")]) == 0


@pytest.mark.parametrize("columns", ["1", "2"])
def test_a_terminal_of_one_column_gets_a_bar_that_never_wraps(monkeypatch, columns):
    """A terminal one column wide (or COLUMNS=1 where it reports no size):
    the width left for the bar was 0, which tqdm reads as no limit, and every
    redraw was a 70-character line wrapping down the screen. Now no redraw is
    wider than the terminal less its last column, and never empty."""
    from terminals import drawn

    screen = drawn(columns, 100, [(50, "loss 0.4825 lr 0.00903"), (100, "loss 0.3121 lr 0.00377 val 0.892")],
                   monkeypatch)
    redraws = [part for part in screen.replace("\n", "\r").split("\r") if part]
    assert redraws and all(len(part) <= max(int(columns) - 1, 1) for part in redraws), redraws


@pytest.mark.parametrize("name", ["m" * 250 + ".onnx", "é" * 125 + ".html", "r" * 251 + ".npz"],
                         ids=["export", "report-utf8", "atomic-write"])
def test_an_output_name_of_up_to_255_bytes_is_written(tmp_path, name):
    """`export RUN --out NAME` or `report RUN --out NAME` of a name of 242 to
    255 bytes, which the folder takes: `File name too long`, of the
    temporary file written first (.NAME.XXXXXXXX.tmp, 14 bytes more). Its
    name now holds as much of NAME as fits (files.temporary_stem), and a
    killed write's is still found and removed."""
    from twolayer.files import atomic_write_npz, new_temporary

    out = tmp_path / name
    if name.endswith(".npz"):
        os.close(new_temporary(out, ".tmp")[0])  # a write killed midway, long ago
        os.utime(next(tmp_path.glob(".*.tmp")), (0, 0))
        atomic_write_npz(out, {"a": np.zeros(3)})
    else:
        assert main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]) == 0
        assert main(["export" if name.endswith(".onnx") else "report", str(tmp_path / "run"), "--out", str(out)]) == 0
    assert out.is_file() and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("fault", ["unreadable", "too deep"])
def test_a_search_journal_the_system_cannot_open_is_named_as_such_not_as_foreign(tmp_path, monkeypatch, capsys,
                                                                                 fault):
    """A search's study.journal that cannot be opened (chmod 000, an I/O
    error; under a current folder deeper than PATH_MAX, a path too long):
    `S/study.journal is not a study journal twolayer can read (PermissionError
    ...); move it away, or pass --force to start the search afresh`, which
    would throw a sound search away. Now the system's error, as every
    other file's: `S/study.journal: Permission denied`."""
    from twolayer import tune

    monkeypatch.chdir(tmp_path)
    argv = ["tune", "--lr", "0.1,0.2", "--epochs", "1", "--quiet", "--out", "search"]
    if fault == "unreadable":  # as root, chmod 000 takes nothing away: the error the open then raises
        assert main(argv) == 0

        def unreadable(storage, out):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(out / "study.journal"))

        monkeypatch.setattr(tune, "make_storage", unreadable)
    else:
        _too_deep()
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "search/study.journal: " in err and "--force" not in err, err
    assert ("Permission denied" if fault == "unreadable" else "File name too long") in err


def test_no_home_directory_trains_what_needs_none_and_names_the_remedy_for_the_rest(tmp_path, monkeypatch, capsys):
    """HOME unset for a user id the user database does not know (a
    container's `--user 12345`, a service): `train` on digits, which ship in
    scikit-learn, and on an image folder failed, `cannot use ~/.cache as the
    data directory: Could not determine home directory`. Now they train (the
    folder keeps no decode cache), and a dataset to download says what to
    give (--data-dir, TWOLAYER_DATA)."""
    import pwd

    from PIL import Image

    def unknown(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    for name in ("HOME", "XDG_CACHE_HOME", "TWOLAYER_DATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", unknown)
    for k, name in enumerate("ab"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(np.full((6, 6), 40 + 150 * k + i, np.uint8)).save(tmp_path / "imgs" / name / f"{i}.png")
    assert main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "digits")]) == 0
    assert main(["train", "--dataset", f"folder:{tmp_path / 'imgs'}", "--val-size", "4", "--test-size", "4",
                 "--epochs", "1", "--quiet", "--out", str(tmp_path / "folder")]) == 0
    assert not (tmp_path / "imgs" / "cache").exists()
    capsys.readouterr()
    assert main(["train", "--dataset", "mnist", "--out", str(tmp_path / "mnist")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("mnist: there is no home directory to keep its files in (HOME is not "
                                                 "set, and the user database has none for this user): give --data-dir "
                                                 "DIR, or set TWOLAYER_DATA\n"), err


@pytest.mark.parametrize("name", ["é" * 125 + ".html", "猫" * 83 + ".h", "a" * 255], ids=["e-acute", "cjk", "ascii"])
def test_a_long_output_names_temporary_file_is_cut_between_characters(tmp_path, name):
    """The temporary file of an output name of 242 to 255 bytes holds as
    much of the name as fits: it was cut at a byte, so 125 `é`s kept half
    of one, a name that is not UTF-8 (`.éé...\\xc3.1a2b3c4d.tmp`), which
    macOS and a strict UTF-8 file system refuse. Now whole characters."""
    from twolayer.files import NAME_MAX, new_temporary, remove_abandoned

    fd, temporary = new_temporary(tmp_path / name, ".tmp")
    os.close(fd)
    made = Path(temporary).name
    assert len(os.fsencode(made)) <= NAME_MAX
    assert made.encode("utf-8").decode("utf-8") == made  # strict: half a character is a lone surrogate here
    os.utime(temporary, (0, 0))  # a write killed long ago: still found and removed
    remove_abandoned(tmp_path / name)
    assert not os.path.lexists(temporary)


@pytest.mark.parametrize("columns", ["1000000000", "99999999999999999999"])
def test_a_huge_columns_gets_a_bar_of_a_screens_width(monkeypatch, columns):
    """COLUMNS=1000000000 where the terminal reports no size (a pty nobody
    sized: `script`, `docker exec -t`): each redraw built a bar of a billion
    characters and the run hung; COLUMNS=1e20 was an OverflowError
    traceback from tqdm. Now the bar is at most progress.WIDEST wide."""
    from terminals import drawn
    from twolayer.progress import WIDEST

    screen = drawn(columns, 100, [(50, "loss 0.4825 lr 0.00903"), (100, "loss 0.3121 lr 0.00377 val 0.892")],
                   monkeypatch)
    redraws = [part for part in screen.replace("\n", "\r").split("\r") if part]
    assert redraws and all(len(part) <= WIDEST for part in redraws), [len(part) for part in redraws]


def test_a_network_too_wide_for_ulimit_v_is_refused_before_it_is_allocated(tmp_path):
    """`ulimit -v 800000; twolayer train --hidden-size 400000`: the check of
    the machine's memory passed (it has gigabytes available), and the
    allocation failed: `out of memory; try a smaller --hidden-size`, a run
    folder left behind. The memory available is now no more than the
    address-space limit leaves (`memory.available_bytes`): the line says
    so at once, and nothing is written."""
    import resource

    from twolayer.memory import address_space_left

    assert main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "first")]) == 0  # libraries loaded
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    room = 300 * 2**20
    with open("/proc/self/status") as f:
        used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (used + room, hard))
    try:
        left = address_space_left()
        code = main(["train", "--epochs", "1", "--quiet", "--hidden-size", "400000", "--out", str(tmp_path / "run")])
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert 0 < left <= room
    assert code == 1 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("error", [MemoryError(), ImportError("libx.so: failed to map segment from shared object",
                                                                name="_ufuncs")], ids=["memory", "import"])
def test_memory_that_runs_out_under_ulimit_v_says_so(tmp_path, monkeypatch, capsys, error):
    """Out of memory under `ulimit -v`: `out of memory; try a smaller
    --hidden-size` of the default network; a library that could not be
    mapped was an ImportError traceback. Now one line naming the limit."""
    from twolayer import cli, workflow

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(workflow, "train", fails)
    monkeypatch.setattr(cli, "address_space_limit", lambda: 400 * 10**6)
    assert main(["train", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "this process may map at most 400.0 MB (ulimit -v): raise that limit" in err, err
    assert "failed to map segment" in err if isinstance(error, ImportError) else "or try a smaller" in err


def test_check_with_its_standard_streams_closed_checks(tmp_path):
    """`twolayer check net.py >&- 2>&-`: the pipe that brings the checks'
    results took the free numbers 1 and 2, and the checking child, pointing
    its fd 2 at /dev/null to silence the learner's code, cut it: exit 1 of a
    network that passes. Closed standard descriptors are now /dev/null from
    the start (`streams.open_closed_standard_fds`), so no file takes their
    numbers."""
    net = Path(__file__).parent / "learners" / "neural_net.py"
    done = subprocess.run([*TWOLAYER, "check", str(net)], timeout=300,
                          preexec_fn=lambda: (os.close(1), os.close(2)))
    assert done.returncode == 0


def _cgroup(tmp_path, monkeypatch, membership: str, files: dict[str, str]) -> None:
    """A made-up /proc/self/cgroup and /sys/fs/cgroup tree for memory.cgroup_left to read."""
    from twolayer import memory

    (tmp_path / "proc").write_bytes(os.fsencode(membership))  # a group's name is any bytes
    for name, text in files.items():
        (tmp_path / "sys" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sys" / name).write_text(text)
    monkeypatch.setattr(memory, "CGROUP_OF_PROCESS", str(tmp_path / "proc"))
    monkeypatch.setattr(memory, "CGROUP_ROOT", str(tmp_path / "sys"))


@pytest.mark.parametrize(("membership", "files", "left"), [
    # cgroup v2, the group's own folder: 2 GB limit, 1.5 GB used of which 0.5 GB droppable page cache
    ("0::/user.slice/run-1.scope\n", {"user.slice/run-1.scope/memory.max": "2000000000\n",
                                      "user.slice/run-1.scope/memory.current": "1500000000\n",
                                      "user.slice/run-1.scope/memory.stat": "anon 1\ninactive_file 500000000\n"},
     (1_000_000_000, 2_000_000_000)),
    # a limit set on a parent group only (a systemd slice above the scope): it binds the scope too
    ("0::/user.slice/run-1.scope\n", {"user.slice/memory.max": "800000000\n",
                                      "user.slice/memory.current": "300000000\n",
                                      "user.slice/run-1.scope/memory.max": "max\n",
                                      "user.slice/run-1.scope/memory.current": "100000000\n"},
     (500_000_000, 800_000_000)),
    # inside a container (docker --memory 1g): its group is the mounted root, the path names the host's
    ("0::/docker/3f2a\n", {"memory.max": "1073741824\n", "memory.current": "73741824\n"},
     (1_000_000_000, 1_073_741_824)),
    ("0::/\n", {"memory.max": "max\n", "memory.current": "5\n"}, None),  # no limit
    # cgroup v1: "no limit" is the largest page-aligned number; a set limit is read with its usage
    ("4:memory:/a\n1:cpu:/\n", {"memory/a/memory.limit_in_bytes": "9223372036854771712\n",
                                "memory/a/memory.usage_in_bytes": "10\n"}, None),
    ("4:cpuacct,memory:/a\n", {"memory/a/memory.limit_in_bytes": "500000000\n",
                               "memory/a/memory.usage_in_bytes": "300000000\n",
                               "memory/a/memory.stat": "cache 9\ntotal_inactive_file 100000000\n"},
     (300_000_000, 500_000_000)),
    ("4:memory:/a\n", {"memory/a/memory.limit_in_bytes": "garbage\n"}, None),  # unreadable: no limit known
    ("12:pids:/x\n", {}, None),  # no memory controller
    # a group named in bytes that are not UTF-8 (mkdir under a delegated cgroup): a UnicodeDecodeError traceback
    # out of every memory check; its folder is read under the same bytes
    ("4:memory:/caf\udce9\n", {"memory/caf\udce9/memory.limit_in_bytes": "500000000\n",
                                "memory/caf\udce9/memory.usage_in_bytes": "100000000\n"}, (400_000_000, 500_000_000)),
    # outside the namespace's view (`/../x`): neither the mounted root nor a folder above it is its group
    ("0::/../x\n", {"memory.max": "1000\n", "memory.current": "10\n"}, None),
])
def test_a_control_groups_memory_limit_is_read(tmp_path, monkeypatch, membership, files, left):
    from twolayer import memory

    _cgroup(tmp_path, monkeypatch, membership, files)
    assert memory.cgroup_left() == left


def test_a_network_too_wide_for_its_containers_memory_is_refused_naming_the_limit(tmp_path, monkeypatch, capsys):
    """MemAvailable does not see a container's memory limit (docker --memory, Kubernetes, systemd): a network
    that fits the machine but not the container passed the check and met the kernel's OOM killer."""
    _cgroup(tmp_path, monkeypatch, "0::/\n", {"memory.max": "300000000\n", "memory.current": "100000000\n"})
    out = tmp_path / "run"
    assert main(["train", "--hidden-size", "100000", "--epochs", "1", "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "control group (a container's memory limit) has 200.0 MB left of its limit of " \
        "300.0 MB" in err, err
    assert not out.exists()


CHECK, TRAIN_NET, TUNE_JOBS = (["check", "{net}"], ["train", "--net", "{net}", "--out", "{out}"],
                                ["tune", "--jobs", "2", "--lr", "0.1,0.2", "--out", "{out}"])


@pytest.mark.parametrize(("argv", "folder"), [(CHECK, "deleted"), (TRAIN_NET, "deleted"), (TUNE_JOBS, "deleted"),
                                              (CHECK, "too deep"), (TUNE_JOBS, "too deep")],
                         ids=["check", "train-net", "tune-jobs", "check-too-deep", "tune-jobs-too-deep"])
def test_commands_of_absolute_paths_run_where_the_current_folder_is_gone(tmp_path, monkeypatch, capsys, argv,
                                                                         folder):
    """`mkdir d; cd d; rmdir ../d`, then commands given absolute paths:
    `check /abs/net.py` and `train --net /abs/net.py` failed (`No such file
    or directory`: os.getcwd(), to put the folder back after the learner's
    code), and so did `tune --jobs 2` (multiprocessing's spawn names the
    parent's folder for its child). A folder the child cannot enter (chmod
    a-x, deeper than PATH_MAX) killed the checking child at its start, with
    a traceback, and its parent said `the learner's code ended the checking
    process`. Now the folder is held by a descriptor (here.kept), and the
    children start in / (here.children_can_start)."""
    net = Path(__file__).parent / "learners" / "neural_net.py"
    argv = [word.format(net=net, out=tmp_path / "out") for word in argv]
    argv += ["--epochs", "1", "--quiet"] * (argv[0] != "check")
    _absolute_python_path(monkeypatch)
    monkeypatch.chdir(tmp_path)
    if folder == "deleted":
        os.mkdir("gone")
        os.chdir("gone")
        os.rmdir("../gone")
    else:
        _too_deep()
    code = main(argv)
    assert code == 0, capsys.readouterr().err
    if argv[0] == "tune":  # its workers died at their start, and it said `0 trials`, exit 0
        assert (tmp_path / "out" / "trials.csv").read_text().count(",complete,") == 2


def _absolute_python_path(monkeypatch) -> None:
    """The children's PYTHONPATH made absolute: a relative one (PYTHONPATH=src, run from the project) is
    resolved against the current folder as Python starts, which fails there (`failed to make path absolute`)
    whatever twolayer does."""
    if os.environ.get("PYTHONPATH"):
        entries = os.environ["PYTHONPATH"].split(os.pathsep)
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(os.path.abspath(entry) for entry in entries))


def _too_deep() -> None:
    """Into a folder deeper than PATH_MAX: no process may change into it by its name, root's neither."""
    while len(os.getcwd()) <= 4200:
        os.mkdir("d" * 250)
        os.chdir("d" * 250)


@pytest.mark.parametrize("search", ["new", "continued"])
def test_tuning_workers_that_all_die_are_said_not_taken_for_a_search_done(tmp_path, monkeypatch, capsys, search):
    """Tuning workers that all died before their first trial (killed by the
    out-of-memory killer as they load, or unable to start): the search
    said `0 trials in 0.5 s` and exited 0. A worker that ends well has found
    no trial left, so when none did the one line says so, exit 1. A new
    search whose workers began no trial is removed, as any search that never
    got going: its line said `the finished trials are kept in OUT` of a
    folder no longer there."""
    import contextlib

    from twolayer import here

    out = tmp_path / "out"
    argv = ["tune", "--lr", "0.1,0.2", "--epochs", "1", "--quiet", "--out", str(out)]
    if search == "continued":
        assert main([*argv, "--trials", "1"]) == 0
    monkeypatch.chdir(tmp_path)
    _too_deep()  # the workers cannot start here
    monkeypatch.setattr(here, "children_can_start", contextlib.nullcontext)  # as before here.children_can_start
    capsys.readouterr()
    code = main([*argv, "--jobs", "2", "--trials", "2"])
    err = capsys.readouterr().err
    said = "error: the 2 tuning workers ended before the search did: the first exited with status 1"
    if search == "new":
        assert code == 1 and err.strip().endswith(f"{said}, before any trial began"), err
        assert not out.exists()
    else:
        assert code == 1 and err.strip().endswith(f"{said}; the finished trials are kept in {out}: run the same "
                                                  "command again to continue"), err
        assert (out / "trials.csv").read_text().count(",complete,") == 1
