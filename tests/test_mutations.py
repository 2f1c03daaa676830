"""Files twolayer wrote, edited one field at a time, then read back: a
representative mutation or two of each class benchmarks/mutate_soak.py
found mishandled. Each is refused in one line naming the file and the fault."""

import json
import shutil

import numpy as np
import pytest

from twolayer.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", "--out", str(out), "--epochs", "1", "--hidden-size", "8", "--quiet"]) == 0
    return out


def copy(folder, tmp_path):
    new = tmp_path / folder.name
    shutil.copytree(folder, new)
    return new


def edit_meta(path, edit):
    """An .npz file's JSON metadata edited (it is not under the arrays' checksum)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    edit(meta)
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("key, value", [("schedule", 1e308), ("lr", []), ("hidden_size", "abc")])
def test_a_bad_option_in_a_checkpoints_own_config_names_the_checkpoint(run_dir, tmp_path, capsys, key, value):
    """The options a checkpoint keeps are checked as a bundle's are: a value no
    option takes was blamed on config.json (`config.json disagrees with its
    checkpoint (lr is 0.01 in config.json and [] in the checkpoint): it was
    changed since the run started; restore it`), which was as the run wrote it."""
    run = copy(run_dir, tmp_path)
    edit_meta(run / "checkpoint.npz", lambda meta: meta["config"].__setitem__(key, value))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 1
    err = one_error_line(capsys)
    assert f"{run / 'checkpoint.npz'} is an inconsistent checkpoint: its config: {key}" in err \
        and "config.json" not in err, err



def test_an_option_this_twolayer_does_not_know_in_a_checkpoints_config_is_no_disagreement(run_dir, tmp_path, capsys):
    """A key of a later version (or a renamed one) in the options a checkpoint keeps: config.json, which
    this twolayer reads into its own options, never holds it, so the resume was refused, blaming config.json
    (`a_later_option is None in config.json and 1 in the checkpoint: it was changed since the run started`)."""
    run = copy(run_dir, tmp_path)
    edit_meta(run / "checkpoint.npz", lambda meta: meta["config"].update(a_later_option=1))
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0, capsys.readouterr().err

@pytest.mark.parametrize("key, value", [("val_accuracy", [1, 2]), ("test_accuracy", float("nan")),
                                        ("n_train", -1), ("train_accuracy", 7), ("network", 5)])
def test_a_metric_no_run_writes_is_one_line_naming_metrics_json(run_dir, tmp_path, capsys, key, value):
    """metrics.json is shown by report as it reads it: an accuracy of [1, 2],
    NaN or 7 was put on the page without a word; now each value is checked
    as history.csv's are, and the remedy (the run keeps its checkpoint) given."""
    run = copy(run_dir, tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, key: value}))
    capsys.readouterr()
    assert main(["report", str(run)]) == 1
    err = one_error_line(capsys)
    assert err.startswith(f"twolayer report: error: cannot read {run / 'metrics.json'}: {key} is ") \
        and f"remove it, and twolayer train --resume {run} writes it again" in err, err


def test_metrics_of_every_kind_a_run_writes_are_reported(run_dir, tmp_path):
    """null where a run has no validation split or best epoch, a NaN loss where it diverged, and keys of a
    later version are all still reported."""
    run = copy(run_dir, tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "val_accuracy": None, "best_iteration": None,
                                                  "final_loss": float("nan"), "stopped_early": "loss became nan",
                                                  "a_later_key": [1]}))
    assert main(["report", str(run)]) == 0


GRID = ["tune", "--lr", "0.05,0.1", "--epochs", "1", "--hidden-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("searched") / "search"
    assert main([*GRID, "--out", str(out)]) == 0
    return out


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("notes", [b"my notes\nlast line, unfinished", b"one line without an end",
                                   b'{"event": "login"}\n{"event": "log'])
def test_a_journal_that_links_to_a_users_file_is_never_cut_or_appended_to(search_dir, tmp_path, capsys, notes):
    """study.journal a link to the user's notes (or a file of another program):
    the same tune command cut the notes' last line as an unfinished record,
    then appended a study's first record to them, and only then said the
    journal was not one."""
    search = copy(search_dir, tmp_path)
    (tmp_path / "notes.txt").write_bytes(notes)
    (search / "study.journal").unlink()
    (search / "study.journal").symlink_to("../notes.txt")
    before = snapshot(search)
    capsys.readouterr()
    assert main([*GRID, "--out", str(search)]) == 1
    err = one_error_line(capsys)
    assert f"{search / 'study.journal'} is not a study journal twolayer can read" in err, err
    assert (tmp_path / "notes.txt").read_bytes() == notes and snapshot(search) == before


def test_an_emptied_journal_beside_its_trials_is_refused_as_a_missing_one_is(search_dir, tmp_path, capsys):
    """An empty study.journal (a disk that lost it) beside trials/NNNN: a new study began in it and wrote its
    trials over the old ones, as a missing journal's is refused for."""
    search = copy(search_dir, tmp_path)
    (search / "study.journal").write_bytes(b"")
    before = snapshot(search)
    capsys.readouterr()
    assert main([*GRID, "--out", str(search)]) == 1
    err = one_error_line(capsys)
    assert "holds a search's trials but its study.journal, which numbered them, is empty" in err, err
    assert snapshot(search) == before


def edit_trials(search, edit):
    lines = (search / "trials.csv").read_text().splitlines()
    (search / "trials.csv").write_text("\n".join(edit(lines)) + "\n")


@pytest.mark.parametrize("edit, fault", [
    (lambda lines: [lines[0], lines[1].replace(",complete,", ",-1,"), *lines[2:]], "state is -1"),
    (lambda lines: [lines[0], *[line.rsplit(",", 2)[0] + ",nan," + line.rsplit(",", 1)[1] for line in lines[1:]]],
     "val_accuracy is nan"),
    (lambda lines: [lines[0], lines[1].replace(",0.05,", ",-inf,"), *lines[2:]], "lr must be > 0, got -inf"),
    (lambda lines: [lines[0], lines[1], lines[1], *lines[2:]], "line 3: trial 0 has a row above"),
    (lambda lines: lines[:2], "tune.json is not a search's summary: it counts 2 trials, and trials.csv lists 1"),
])
def test_a_trials_table_holding_what_no_search_writes_is_one_line(search_dir, tmp_path, capsys, edit, fault):
    """Each row of trials.csv is checked as a search writes it: a state of
    -1, an accuracy of NaN, an lr of -inf, a trial listed twice (or one
    fewer than tune.json counts) were put on the page as they stood."""
    search = copy(search_dir, tmp_path)
    edit_trials(search, edit)
    capsys.readouterr()
    assert main(["report", str(search)]) == 1
    err = one_error_line(capsys)
    assert str(search) in err and " is not a " in err and fault in err, err


@pytest.mark.parametrize("edit, fault", [
    (lambda summary: summary.update(pruner=1e308),
     "tune.json is not a search's summary: pruner is 1e+308, where a search writes one of median, hyperband, none"),
    (lambda summary: summary.update(trials="abc"), "trials is 'abc', where a search writes a whole number >= 0"),
    (lambda summary: summary["best"].update(state=float("inf")),
     "its best trial's state is inf, and 'complete' in trials.csv"),
    (lambda summary: summary["best"].update(val_accuracy=0.99), "its best trial's val_accuracy is 0.99, and"),
    (lambda summary: summary["space"]["fixed"].update(hidden_size=0), "hidden_size must be a positive integer, got 0"),
    (lambda summary: summary.update(best=0), "or a best trial that is not a mapping"),  # taken for no best trial
])
def test_a_search_summary_holding_what_no_search_writes_is_one_line(search_dir, tmp_path, capsys, edit, fault):
    """tune.json's values are checked as a search writes them, its fixed
    options by the option table, and its best trial against that trial's
    row: a pruner of 1e308, a best trial whose state is inf (or whose
    accuracy is not its row's), a hidden size of 0 were put on the
    page; a best trial of 0 was said to be none."""
    search = copy(search_dir, tmp_path)
    summary = json.loads((search / "tune.json").read_text())
    edit(summary)
    (search / "tune.json").write_text(json.dumps(summary))
    capsys.readouterr()
    assert main(["report", str(search)]) == 1
    err = one_error_line(capsys)
    assert f"{search / 'tune.json'} is not a search's summary: " in err and fault in err, err
