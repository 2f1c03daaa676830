"""Features met together: a run moved without its data and then resumed,
evaluated and reported; a model scored on a dataset of another kind; a
run's recorded options given where a file of options goes."""

import json

from test_datasets import write_folder
from test_hostile_cli import resign_bundle
from twolayer.cli import main


def test_a_run_moved_away_from_its_image_folder_says_where_to_name_it(tmp_path, monkeypatch, capsys):
    """A project (its image folder and run) moved: the run records the folder's
    old absolute path. --resume said `no image folder at OLD: give
    folder:PATH`, which --resume refuses; evaluate said the same; report
    failed whole. Now each says the data is gone and how to name it, the
    report is written without today's images, and the folder named anew in
    config.json resumes the run."""
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    write_folder(tmp_path / "project" / "pics", n=6)
    assert main(["train", "--dataset", f"folder:{tmp_path / 'project' / 'pics'}", "--epochs", "1", "--val-size",
                 "2", "--test-size", "2", "--out", str(tmp_path / "project" / "run"), "--quiet"]) == 0
    (tmp_path / "project").rename(tmp_path / "moved")
    run = tmp_path / "moved" / "run"
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"folder:{tmp_path / 'project' / 'pics'}, is no longer there" in err and \
        f"name their new place in {run / 'config.json'}" in err, err
    # a run recording no data fingerprint (an earlier twolayer's) cannot be named elsewhere: config.json's
    # dataset then disagrees with its checkpoint, so it was a remedy that was refused
    record = (run / "config.json").read_text()
    (run / "config.json").write_text(json.dumps({k: v for k, v in json.loads(record).items() if k != "data_sha256"}))
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "if its images moved, put them back there (the run records no fingerprint" in err
    (run / "config.json").write_text(record)
    assert main(["evaluate", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is no longer there (moved or deleted?): give --dataset folder:PATH" in err, err
    assert main(["evaluate", str(run), "--dataset", f"folder:{tmp_path / 'moved' / 'pics'}"]) == 0
    assert main(["report", str(run)]) == 0
    assert "is no longer there (moved or deleted?), so its per-class results" in (run / "report.html").read_text()
    config = json.loads((run / "config.json").read_text())
    config["dataset"] = f"folder:{tmp_path / 'moved' / 'pics'}"
    (run / "config.json").write_text(json.dumps(config))
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0


def test_the_best_trial_trained_again_by_its_options_is_the_same_model(tmp_path, capsys):
    """A search's best trial, trained again by `train` with the search's fixed
    options and its values (as README says), is the same model bit for bit;
    its config.json given as --config was TOML's `Invalid statement (at line
    1, column 1)`, and now says what the file is and what --config reads;
    --resume of it says how to train it longer (it said only that it kept
    no training state)."""
    search = tmp_path / "search"
    assert main(["tune", "--epochs", "2", "--lr", "0.01,0.1", "--out", str(search), "--quiet"]) == 0
    best = json.loads((search / "tune.json").read_text())["best"]
    assert main(["train", "--epochs", "2", "--lr", str(best["lr"]), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    assert (tmp_path / "again" / "model.npz").read_bytes() == (search / "best" / "model.npz").read_bytes()
    capsys.readouterr()
    assert main(["train", "--config", str(search / "best" / "config.json"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.json: it is JSON (a run's config.json?), and a config file is TOML" in err
    assert not (tmp_path / "x").exists()
    assert main(["train", "--resume", str(search / "best"), "--epochs", "4"]) == 1  # a trial keeps no checkpoint
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a search keeps no trial's training state; to train this one again or longer, " \
        "give train the options in its config.json" in err, err


def test_a_model_recording_its_folder_relative_is_not_said_to_be_moved(tmp_path, monkeypatch, capsys):
    """A model made before paths were recorded absolute records `folder:imgs`:
    evaluated from another folder it was said to be `no longer there (moved
    or deleted?)`, though it is where it was; the loader's line names the
    folder it looked in."""
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "imgs", n=6)
    run = tmp_path / "run"
    assert main(["train", "--dataset", "folder:imgs", "--epochs", "1", "--val-size", "2", "--test-size", "2",
                 "--out", str(run), "--quiet"]) == 0
    relative = lambda meta, arrays: meta["config"].update(dataset="folder:imgs")  # noqa: E731
    resign_bundle(run / "model.npz", run / "model.npz", relative)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no longer there" not in err and str(tmp_path / "elsewhere" / "imgs") in err, err
    assert main(["report", str(run), "--out", "page.html"]) == 0
    page = (tmp_path / "elsewhere" / "page.html").read_text()
    assert "no longer there" not in page and "folder:imgs, cannot be read here (no image folder at" in page
