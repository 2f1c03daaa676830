"""`twolayer tune` on Optuna: grids run once each, divergence is pruned, interrupted
searches continue, and a PostgreSQL study is shared by several workers."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from twolayer.cli import main
from twolayer.studies import mask_url, scrub

POSTGRES = os.environ.get("TWOLAYER_TEST_POSTGRES")
FAST = ["--dataset", "digits", "--epochs", "5", "--quiet"]


def rows(out: Path) -> list[dict]:
    return list(csv.DictReader(open(out / "trials.csv")))


def journal_trials(out: Path, study: str = "twolayer-digits"):
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.journal")))
    return optuna.load_study(study_name=study, storage=storage).get_trials()


def grid_points_done(trials) -> list[int]:
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    return sorted(t.user_attrs["grid_index"] for t in trials if t.state in done and "grid_index" in t.user_attrs)


def test_grid_runs_each_point_once_prunes_divergence_and_saves_the_best(tmp_path, capsys):
    out = tmp_path / "tune"
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3,50", "--reg", "0.01,0.1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = rows(out)
    assert len(table) == 6
    assert sorted((float(r["lr"]), float(r["reg"])) for r in table) == sorted(
        (lr, reg) for lr in (1e-2, 3e-3, 50) for reg in (0.01, 0.1))
    assert {r["state"] for r in table if float(r["lr"]) == 50} == {"diverged"}
    finite = [r for r in table if float(r["lr"]) != 50]
    assert {r["state"] for r in finite} <= {"complete", "pruned"}  # the median pruner may stop a laggard
    complete = [r for r in finite if r["state"] == "complete"]
    assert complete and all(float(r["val_accuracy"]) > 0.5 for r in complete)
    best = max(complete, key=lambda r: float(r["val_accuracy"]))
    assert f"best: trial {best['trial']}" in printed and "lr" in printed.splitlines()[0]
    # the best trial's run folder works with evaluate
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert metrics["val_accuracy"] == pytest.approx(float(best["val_accuracy"]))
    assert main(["evaluate", str(out / "best"), "--dataset", "digits", "--split", "val", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(metrics["val_accuracy"])
    # the same command again continues the study: nothing new to run
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3,50", "--reg", "0.01,0.1", "--out", str(out)]) == 0
    assert len(journal_trials(out)) == 6


def test_random_sampler_draws_from_ranges(tmp_path):
    out = tmp_path / "tune"
    assert main(["tune", *FAST, "--sampler", "random", "--trials", "4", "--lr", "1e-3:3e-2:log",
                 "--hidden-size", "20:80", "--out", str(out), "--pruner", "none"]) == 0
    table = rows(out)
    assert len(table) == 4
    for r in table:
        assert 1e-3 <= float(r["lr"]) <= 3e-2 and 20 <= int(r["hidden_size"]) <= 80


def test_two_jobs_share_one_grid(tmp_path):
    out = tmp_path / "tune"
    assert main(["tune", *FAST, "--lr", "1e-3,3e-3,1e-2", "--reg", "0.01,0.1", "--jobs", "2", "--out", str(out)]) == 0
    trials = journal_trials(out)
    assert grid_points_done(trials) == list(range(6))
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # both workers ran trials
    # workers x BLAS threads stays within the cores
    assert {t.user_attrs["blas_threads"] for t in trials} == {max(1, len(os.sched_getaffinity(0)) // 2)}


def counted(out: Path, state: TrialState) -> int:
    """How many of the journal's trials are in `state` (0 before the study is written)."""
    if not (out / "study.journal").exists():
        return 0
    try:
        return sum(t.state == state for t in journal_trials(out))
    except KeyError:  # the study is not in the journal yet
        return 0


def completed(out: Path) -> int:
    return counted(out, TrialState.COMPLETE)


def wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


SLOW = ["--dataset", "digits", "--epochs", "400", "--lr", "1e-3,3e-3,1e-2", "--pruner", "none"]


@pytest.mark.parametrize("how", ["ctrl-c", "kill-9"])
def test_interrupted_search_continues_with_the_same_command(tmp_path, how):
    out = tmp_path / "tune"
    command = [sys.executable, "-m", "twolayer", "tune", *SLOW, "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # one trial recorded complete and the next one running (a signal between trials interrupts none)
    wait_for(lambda: completed(out) >= 1 and counted(out, TrialState.RUNNING) == 1)
    proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    if how == "ctrl-c":
        assert proc.returncode == 130 and "Run the same command again to continue" in err, err
        assert "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    first = journal_trials(out)
    assert TrialState.COMPLETE in {t.state for t in first}
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    trials = journal_trials(out)
    assert grid_points_done(trials) == [0, 1, 2]  # every point exactly once
    kept = [t for t in first if t.state == TrialState.COMPLETE]
    assert all(trials[t.number].state == TrialState.COMPLETE for t in kept)  # completed trials were kept
    assert any(t.state == TrialState.FAIL for t in trials)  # the interrupted one was retried


def test_killed_worker_is_retried_in_the_same_run(tmp_path):
    out = tmp_path / "tune"
    proc = subprocess.Popen([sys.executable, "-m", "twolayer", "tune", *SLOW, "--jobs", "2", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: completed(out) >= 1)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    workers = [int(pid) for pid in children if "twolayer" in Path(f"/proc/{pid}/cmdline").read_text()
               or "multiprocessing" in Path(f"/proc/{pid}/cmdline").read_text()]
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert grid_points_done(journal_trials(out)) == [0, 1, 2]


@pytest.mark.parametrize("argv,message", [
    (["--lr", ","], "--lr: empty item"),
    (["--lr=-1,1e-3"], "lr must be > 0, got -1.0"),
    (["--lr", "1e-3,1e-2", "--sampler", "bogus"], "invalid choice: 'bogus'"),
    (["--lr", "1e-3:1e-2"], "needs lists, not ranges: lr; give --sampler random or tpe"),
    (["--lr", "1e-3,1e-2", "--storage", "postgresql://me:hunter2@127.0.0.1:1/db"], "cannot use the database"),
    (["--lr", "1e-3,1e-2", "--jobs", "0"], "jobs must be >= 1"),
    # no validation split: every trial ended unscored ("complete", then "fail"), and a rerun ran them again
    (["--lr", "1e-3,1e-2", "--val-size", "0"], "--val-size 0 leaves none"),
    (["--lr", "1e-3,1e-2", "--val-size", "0,100"], "--val-size 0 leaves none"),
    (["--lr", "1e-3,1e-2", "--val-size", "0:0.2", "--sampler", "random"], "--val-size 0 leaves none"),
    # a grid of a million points was queued silently for minutes (counted now before it is built)
    (["--seed", ",".join(map(str, range(1000))), "--hidden-size", ",".join(map(str, range(1, 1001)))],
     "the grid has 1,000,000 points (1000 x 1000), more than the 10,000 a search runs"),
    # NumPy's `Seed must be between 0 and 2**32 - 1`, a traceback from the first trial's sampler
    (["--lr", "1e-3:1e-2", "--sampler", "random", "--sampler-seed", "-1"], "--sampler-seed must be in [0, 4294966]"),
    (["--lr", "1e-3:1e-2", "--sampler", "tpe", "--sampler-seed", str(10**20)], "--sampler-seed must be in"),
])
def test_bad_tune_input_is_one_line(tmp_path, argv, message, capsys):
    try:
        code = main(["tune", "--dataset", "digits", "--out", str(tmp_path / "t"), *argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert "hunter2" not in err
    assert not (tmp_path / "t").exists()  # refused before any folder or trial


def test_passwords_are_masked():
    url = "postgresql://alice:s3cr3t@db.example:5432/studies"
    assert mask_url(url) == "postgresql://alice:***@db.example:5432/studies"
    assert mask_url("postgresql://alice@db/studies") == "postgresql://alice@db/studies"
    assert scrub("auth failed for s3cr3t", url) == "auth failed for ***"


@pytest.mark.skipif(not POSTGRES, reason="needs TWOLAYER_TEST_POSTGRES (.ci/run starts PostgreSQL and sets it)")
def test_two_workers_share_a_postgres_grid_study(tmp_path):
    study = f"ci-{os.getpid()}-{time.time_ns()}"
    procs = []
    for i in range(2):
        out = tmp_path / f"machine{i}"
        command = [sys.executable, "-m", "twolayer", "tune", "--dataset", "digits", "--epochs", "30",
                   "--lr", "1e-3,3e-3,1e-2", "--reg", "0.01,0.1", "--storage", POSTGRES, "--study", study,
                   "--out", str(out)]
        procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    trials = optuna.load_study(study_name=study, storage=POSTGRES).get_trials()
    assert grid_points_done(trials) == list(range(6))
    assert len({t.user_attrs["pid"] for t in trials if "pid" in t.user_attrs}) == 2
    # the password appears nowhere: not in output, not in any file written
    secret = POSTGRES.split(":")[2].split("@")[0]
    for out, err in outputs:
        assert secret not in out and secret not in err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_machine_that_dies_mid_trial_has_its_trial_run_again(tmp_path, monkeypatch, capsys):
    # a machine killed mid-trial left it "running" forever: the others ended (exit 0) without its point
    from twolayer import studies

    monkeypatch.setattr(studies, "HEARTBEAT", 1)
    monkeypatch.setattr(studies, "GRACE", 1)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    command = ["tune", *FAST, "--lr", "1e-2,3e-3", "--storage", url, "--study", "s"]
    assert main([*command, "--trials", "1", "--out", str(tmp_path / "a")]) == 0
    storage = studies.make_storage(url, tmp_path)
    with pytest.warns(UserWarning):  # Optuna: heartbeats are meant for optimize; here a trial is only begun
        dead = optuna.load_study(study_name="s", storage=storage).ask()  # point 1, on a machine that then dies
    storage.record_heartbeat(dead._trial_id)
    assert main([*command, "--out", str(tmp_path / "b")]) == 0
    trials = optuna.load_study(study_name="s", storage=url).get_trials()
    assert grid_points_done(trials) == [0, 1]
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_the_database_going_away_mid_search_is_one_line(tmp_path, monkeypatch, capsys):
    # the server stopped under a running search: a traceback of 200 lines ending in Optuna's UnboundLocalError
    import sqlalchemy.exc

    from twolayer import tune

    def server_gone(self, trial):
        try:
            raise sqlalchemy.exc.OperationalError("SELECT", {}, Exception("server closed the connection hunter2"))
        except sqlalchemy.exc.OperationalError:
            raise UnboundLocalError("cannot access local variable 'updated_state'") from None

    monkeypatch.setattr(tune.Objective, "__call__", server_gone)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--storage", url, "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "lost the database" in err and "run the same command again" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_machines_running_another_twolayer_cannot_join_a_study(tmp_path, monkeypatch, capsys):
    # another version or other code joined silently: their trials were compared as one search
    import twolayer
    from twolayer import studies

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    command = ["tune", *FAST, "--lr", "1e-2,3e-3", "--storage", url, "--study", "s"]
    assert main([*command, "--out", str(tmp_path / "a")]) == 0
    monkeypatch.setattr(twolayer, "__version__", "9.9.9")
    assert main([*command, "--out", str(tmp_path / "b")]) == 1
    assert "was begun by another twolayer (its twolayer version differs)" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(studies, "code_digest", lambda: "edited")
    assert main([*command, "--out", str(tmp_path / "c")]) == 1
    assert "was begun by another twolayer (its twolayer code differs)" in capsys.readouterr().err


def test_a_search_begun_by_an_earlier_twolayer_says_so_and_how_to_start_afresh(tmp_path, monkeypatch, capsys):
    """The same tune command after an upgrade (a search folder of 9f11bf2's
    twolayer) said `already holds a different search (its options or search
    space, twolayer code); use another --study name or --out folder`: no
    options had changed, and --force, which starts it afresh, went unsaid."""
    from twolayer import studies

    command = ["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(tmp_path / "s")]
    assert main(command) == 0
    capsys.readouterr()
    monkeypatch.setattr(studies, "code_digest", lambda: "earlier")
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "was begun by another twolayer (its twolayer code differs)" in err and "different search" not in err
    assert "continue it with that twolayer, or pass --force to start it afresh in" in err
    assert len(err.strip().splitlines()) == 1
    assert main([*command, "--force"]) == 0


def test_a_search_with_no_trial_left_to_run_here_keeps_what_it_wrote(tmp_path):
    # a study whose trials were all run elsewhere: no trial began here, so the claim of --out
    # never started; its summary was written beside the held files, and the next claim of
    # the folder took it for a killed claim's: the summary removed, the old files put back
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    command = ["tune", *FAST, "--lr", "1e-2", "--storage", url, "--study", "s"]
    assert main([*command, "--out", str(tmp_path / "a")]) == 0
    out = tmp_path / "b"
    out.mkdir()
    (out / "trials.csv").write_text("an old search's\n")
    (out / "tune.json").write_text("{}")
    assert main([*command, "--out", str(out), "--force"]) == 0  # nothing left to run here
    assert not [p.name for p in out.iterdir() if p.name.startswith(".twolayer.") and p.is_dir()]
    assert main([*command, "--out", str(out)]) == 0
    assert len(rows(out)) == 3  # this study's table (the run's reg and a tenth and ten times it), not the old one


def _take_waiting_trials(url: str, taken) -> None:
    from twolayer import studies

    study = optuna.load_study(study_name="race", storage=studies.make_storage(url, Path(".")))
    got = []
    while (trial_id := study._pop_waiting_trial_id()) is not None:  # how optimize takes a queued grid point
        got.append(trial_id)
    taken.put(got)


def test_an_sqlite_storage_gives_each_waiting_trial_to_one_worker(tmp_path):
    # SQLite has no SELECT ... FOR UPDATE: two workers took the same grid point (of 100, 111 were taken), and
    # `tune --jobs 2 --storage sqlite:///...` died in one run of two on `ValueError: Cannot tell a PRUNED trial`
    import multiprocessing

    from twolayer import studies

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    study = optuna.create_study(study_name="race", storage=studies.make_storage(url, tmp_path))
    for x in range(100):
        study.enqueue_trial({"x": x})
    context = multiprocessing.get_context("spawn")
    taken = context.SimpleQueue()
    workers = [context.Process(target=_take_waiting_trials, args=(url, taken)) for _ in range(3)]
    for w in workers:
        w.start()
    got = [trial for _ in workers for trial in taken.get()]
    for w in workers:
        w.join()
    assert sorted(got) == sorted(t._trial_id for t in study.get_trials())  # each exactly once


def test_a_database_in_memory_or_one_that_never_answers_is_one_line_at_once(tmp_path, monkeypatch, capsys):
    import socket
    import threading

    from twolayer import studies

    command = ["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(tmp_path / "s")]
    # each process opened its own empty database: a traceback (KeyError: 'Record does not exist.')
    assert main([*command, "--storage", "sqlite://"]) == 2
    err = capsys.readouterr().err
    assert "is a database in memory" in err and len(err.strip().splitlines()) == 1
    # a server that takes the connection and never answers (a firewall, a wrong port): psycopg waited 130 s
    monkeypatch.setattr(studies, "CONNECT_TIMEOUT", 2)
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    silent = socket.create_server(("127.0.0.1", 0))
    held = []
    threading.Thread(target=lambda: held.append(silent.accept()), daemon=True).start()
    started = time.monotonic()
    url = f"postgresql://me:hunter2@127.0.0.1:{silent.getsockname()[1]}/db"
    assert main([*command, "--storage", url]) == 1
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err
    assert "cannot use the database at postgresql://me:***@" in err and "timeout" in err and "hunter2" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "s").exists()
    silent.close()


def test_a_journal_whose_last_record_was_cut_short_goes_on(tmp_path, capsys):
    # a record half-written (a full disk, a machine lost): Optuna skips it, then wrote its next record onto
    # it, a line nobody can read; the same command said `not a study journal twolayer can read`, every trial lost
    out = tmp_path / "s"
    command = ["tune", *FAST, "--lr", "1e-2,3e-3,5e-3", "--out", str(out)]
    assert main(command) == 0
    journal = out / "study.journal"
    cut = journal.read_bytes()[:-20]  # the last trial's completion, cut short
    journal.write_bytes(cut)
    assert main(command) == 0, capsys.readouterr().err
    trials = journal_trials(out)
    assert grid_points_done(trials) == [0, 1, 2]
    assert [t.state for t in trials[:2]] == [TrialState.COMPLETE] * 2  # the finished ones kept
    assert journal.read_bytes().startswith(cut[:cut.rindex(b"\n") + 1])  # only the unfinished record went


def test_the_best_trial_is_copied_from_its_own_search_folder(tmp_path, capsys):
    # best/ was copied from the path a trial was recorded at: a search folder copied elsewhere took the
    # original's trial (or none, once that was gone), and a best trial's folder deleted was said to be
    # `on the machine that ran it`
    import shutil

    first, copy = tmp_path / "first", tmp_path / "copy"
    command = ["tune", *FAST, "--lr", "1e-2,3e-3"]
    assert main([*command, "--out", str(first)]) == 0
    best = json.loads((first / "tune.json").read_text())["best"]["trial"]
    shutil.copytree(first, copy)
    shutil.rmtree(first)
    shutil.rmtree(copy / "best")
    capsys.readouterr()
    assert main([*command, "--out", str(copy)]) == 0
    assert f"-> {copy / 'best'}" in capsys.readouterr().out
    assert (copy / "best" / "model.npz").read_bytes() == (copy / "trials" / f"{best:04d}" / "model.npz").read_bytes()
    shutil.rmtree(copy / "trials" / f"{best:04d}")
    assert main([*command, "--out", str(copy)]) == 0
    assert f"(its run folder {copy / 'trials' / f'{best:04d}'} is missing" in capsys.readouterr().out


def test_a_search_folder_is_never_written_over_by_another_study(tmp_path, capsys):
    # a new study numbers its trials from 0 again: with the journal gone, or another --study in a --storage
    # database, it wrote its trials into the first search's trials/NNNN, whose config.json (lr 0.01) then
    # stood beside a model trained at lr 0.005, copied so to best/, and its summary replaced the first's
    def lr_of(folder: Path) -> float:
        return json.loads((folder / "config.json").read_text())["lr"]

    out = tmp_path / "s"
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(out)]) == 0
    (out / "study.journal").unlink()
    other = ["tune", *FAST, "--lr", "5e-3,4e-3", "--out", str(out)]
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert main(other) == 1
    err = capsys.readouterr().err
    assert "holds a search's trials but not its study.journal" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before and lr_of(out / "trials" / "0000") == 1e-2
    assert main([*other, "--force"]) == 0 and lr_of(out / "trials" / "0000") == 5e-3

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    shared = tmp_path / "shared"
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--storage", url, "--study", "a", "--out", str(shared)]) == 0
    capsys.readouterr()
    second = ["tune", *FAST, "--lr", "5e-3,4e-3", "--storage", url, "--study", "b", "--out", str(shared)]
    assert main(second) == 1
    assert "holds the search of study 'a', whose trials a study named 'b' would overwrite" in capsys.readouterr().err
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--storage", url, "--out", str(out)]) == 1
    assert "holds a search kept in its own study.journal" in capsys.readouterr().err
    (shared / "tune.json").unlink()  # a search killed before its summary: nothing says whose trials these are
    assert main(second) == 0
    assert lr_of(shared / "trials" / "0000") == 5e-3  # written whole by study b's trial 0, its record with its model


def test_a_search_with_other_options_names_them_and_how_to_start_afresh(tmp_path, capsys):
    """The default folder runs/twolayer-DATASET holds the last search: the same
    tune command with --epochs changed said only `already holds a different
    search (its options or search space); use another --study name or --out
    folder`, naming neither the option nor --force."""
    out = tmp_path / "s"
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(out)]) == 0
    capsys.readouterr()
    other = ["tune", "--dataset", "digits", "--epochs", "3", "--quiet", "--lr", "1e-2", "--sampler", "random",
             "--trials", "1", "--out", str(out)]
    assert main(other) == 1
    err = capsys.readouterr().err
    assert ("already holds a different search (--epochs 5 in it, 3 here; --lr 0.01,0.003 searched in it, 0.01 here; "
            "--reg not given in it, 0.0001,0.001,0.01 searched here; --sampler grid in it, random here): give the "
            f"same options to continue it, or pass --force to start it afresh in {out}, or choose another --out") in err
    assert len(err.strip().splitlines()) == 1
    assert main([*other, "--force"]) == 0


@pytest.mark.parametrize("url, message", [
    # sqlalchemy's `Can't load plugin: sqlalchemy.dialects:ftp` and `invalid literal for int()`, exit 1
    ("ftp://host/studies", "ftp:// is no kind of database twolayer keeps a study in"),
    ("postgres://me:hunter2@db/studies", "(PostgreSQL's is written postgresql://)"),
    ("postgresql://me:hunter2@[::1/studies", "cannot be read as a database URL"),
    ("postgresql://me:hunter2@db:port/studies", "its form is postgresql://USER[:PASSWORD]@HOST[:PORT]/DB"),
    # SQLite's URI forms of a database in memory: with --jobs 2, `KeyError: 'Record does not exist.'`
    ("sqlite:///file::memory:?cache=shared&uri=true", "is a database in memory"),
    ("sqlite:///file:x?mode=memory&uri=true", "is a database in memory"),
])
def test_a_storage_url_of_no_database_is_a_bad_option(tmp_path, url, message, capsys):
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(tmp_path / "s"), "--storage", url]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "hunter2" not in err
    assert not (tmp_path / "s").exists()


def test_a_storage_whose_driver_is_missing_names_it(tmp_path, monkeypatch, capsys):
    # Optuna's own `Failed to import DB access module for the specified storage URL` named no module
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # importing it fails, as where it is not installed
    url = "mysql://me:hunter2@db/studies"
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(tmp_path / "s"), "--storage", url]) == 1
    err = capsys.readouterr().err
    assert "needs a database driver that is not installed (MySQLdb)" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_an_sqlite_storage_that_cannot_hold_a_study_is_one_line(tmp_path, capsys):
    import sqlite3

    theirs = tmp_path / "app.db"
    with sqlite3.connect(theirs) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
    before = theirs.read_bytes()
    (tmp_path / "folder.db").mkdir()
    (tmp_path / "notes.db").write_text("not a database")
    optuna.create_study(study_name="theirs", storage=f"sqlite:///{tmp_path / 'studies.db'}")
    for path, message in [
        # Optuna added its tables to another program's database, beside its own
        (theirs, "app.db is another program's database (its tables: customers)"),
        (tmp_path / "folder.db", "folder.db is a folder; give a file in it"),  # `unable to open database file`
        (tmp_path / "no" / "s.db", f"no folder {tmp_path / 'no'} to hold s.db"),
        (tmp_path / "notes.db", "notes.db is not a SQLite database"),
        # read-only: `StorageInternalError: An exception is raised during the commit. This typically happens due
        # to invalid data in the commit, e.g. exceeding max length`
        (f"file:{tmp_path / 'studies.db'}?mode=ro&uri=true", "attempt to write a readonly database"),
    ]:
        assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(tmp_path / "s"),
                     "--storage", f"sqlite:///{path}"]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "s").exists()
    assert theirs.read_bytes() == before


def test_a_study_that_twolayer_did_not_make_is_refused_at_once(tmp_path, capsys):
    # a study of the same name from a plain Optuna script: waited two minutes for it to be made ready, then said
    # `was never made ready by the process that created it`
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name="twolayer-digits", storage=url)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    started = time.monotonic()
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(tmp_path / "s"), "--storage", url]) == 1
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert "study 'twolayer-digits' in sqlite:///" in err and "is no twolayer search" in err
    assert "give another --study name" in err and len(err.strip().splitlines()) == 1


def test_a_study_left_unready_in_its_folder_is_made_again(tmp_path, capsys):
    # a tune killed between creating its study and recording its search (or enqueuing its grid) in the journal:
    # the same command waited two minutes, then refused; under the folder's lock no other process is making it
    out = tmp_path / "s"
    out.mkdir()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.journal")))
    optuna.create_study(study_name="twolayer-digits", storage=storage, direction="maximize")
    started = time.monotonic()
    assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(out)]) == 0
    assert time.monotonic() - started < 60
    assert sorted(r["state"] for r in rows(out)) == ["complete", "complete"]


@pytest.mark.parametrize("field, value, message", [
    ("space", {"lr": [0.1, 0.2]}, "space must be a twolayer.space.Space"),  # an AttributeError
    ("trials", "5", "--trials must be a whole number, got str '5'"),  # a TypeError
    ("trials", 1.5, "--trials must be a whole number, got float 1.5"),  # taken: 1.5 trials
    ("jobs", "2", "--jobs must be a whole number"),
    ("seed", None, "--sampler-seed must be a whole number, got NoneType None"),
    ("storage", Path("studies.db"), "--storage must be a database URL, text"),  # a TypeError from re
    ("study", None, "--study must be a name (text, not empty)"),  # a study under a name Optuna made up
    ("study", "x" * 513, "--study is a name of 513 characters; a study's name has at most 512"),
    ("quiet", "no", "quiet must be True or False"),  # a true string
])
def test_tune_run_given_a_wrong_value_raises_one_usage_error(tmp_path, field, value, message):
    from twolayer import tune
    from twolayer.errors import UsageError
    from twolayer.space import build_space

    space = build_space({"dataset": "digits", "lr": "0.01,0.1", "epochs": "1"})
    opts = tune.TuneOptions(**{"space": space, "out": tmp_path / "s", field: value})
    with pytest.raises(UsageError, match=re.escape(message)):
        tune.run(opts)
    assert not (tmp_path / "s").exists()


def test_tune_run_takes_its_folder_as_text_and_whole_floats(tmp_path, monkeypatch):
    # out="search" was a TypeError (str / str) once the options were checked
    from twolayer import tune
    from twolayer.space import build_space

    monkeypatch.chdir(tmp_path)
    space = build_space({"dataset": "digits", "lr": "0.01,0.1", "epochs": "1"})
    result = tune.run(tune.TuneOptions(space=space, out="search", trials=2.0, quiet=True))
    assert result.out == Path("search") and len(result.rows) == 2


def test_an_sqlite_storage_inside_the_search_folder_is_refused_before_it_starts(tmp_path, capsys):
    # the search ran, and the same command then refused its folder for good, even with --force: `holds files
    # twolayer did not write ('studies.db')`
    out = tmp_path / "s"
    for url in (f"sqlite:///{out / 'studies.db'}", f"sqlite:///{out / '..' / 's' / 'trials' / 'x.db'}"):
        assert main(["tune", *FAST, "--lr", "1e-2,3e-3", "--out", str(out), "--storage", url]) == 2
        err = capsys.readouterr().err
        assert f"is a file inside --out {out}, a search's folder" in err and len(err.strip().splitlines()) == 1
        assert f"sqlite:///{tmp_path / 'studies.db'}" in err or f"sqlite:///{tmp_path / 'x.db'}" in err
        assert not out.exists()


def test_a_random_search_continued_draws_new_points_not_its_first_again(tmp_path):
    """--trials 2, then the same search with --trials 4 (or the same command
    after an interrupt): the continuation draws on, never the points already
    run (each process seeded its sampler alike and drew them again)."""
    out = tmp_path / "tune"
    search = ["tune", *FAST, "--epochs", "1", "--sampler", "random", "--lr", "1e-3:1e-1:log", "--pruner", "none",
              "--out", str(out)]
    assert main([*search, "--trials", "2"]) == 0
    first = [r["lr"] for r in rows(out)]
    assert main([*search, "--trials", "4"]) == 0
    drawn = [r["lr"] for r in rows(out)]
    assert drawn[:2] == first and len(set(drawn)) == 4


def test_a_search_folder_given_for_a_model_names_its_best_trials_run(tmp_path, capsys):
    """evaluate, predict, export and load_bundle of a tuning folder: one line
    naming best/ (they said `no model at SEARCH/model.npz: give a run
    folder`, though the search holds runs)."""
    from twolayer.bundles import load_bundle
    from twolayer.errors import BundleError

    out = tmp_path / "search"
    assert main(["tune", *FAST, "--epochs", "1", "--lr", "1e-2,1e-1", "--out", str(out)]) == 0
    capsys.readouterr()
    for argv in (["evaluate", str(out)], ["predict", str(out), str(tmp_path / "x.png")], ["export", str(out)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{out} is a tuning folder (a search), not a run: give its best trial's " \
            f"run, {out / 'best'}" in err, err
    with pytest.raises(BundleError, match="give its best trial's run"):
        load_bundle(out)
    assert main(["evaluate", str(out / "best")]) == 0
    # a search ended with no trial completed (each diverged): it was told to wait until one had finished
    assert main(["tune", *FAST, "--epochs", "1", "--lr", "1e3,1e4", "--std", "1e30", "--out", str(tmp_path / "x")]) == 3
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none of its trials completed, so it holds no model" in err, err
