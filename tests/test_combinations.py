"""Features met together: a run moved without its data and then resumed,
evaluated and reported; a model scored on a dataset of another kind; a
run's recorded options given where a file of options goes."""

import json

from test_datasets import write_folder
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
