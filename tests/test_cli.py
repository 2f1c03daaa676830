"""The command line end to end on the built-in digits data."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from twolayer.cli import main
from twolayer.config import TrainConfig, options


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One default `twolayer train`, shared by the tests that read its output."""
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", "--out", str(out), "--quiet"]) == 0
    return out


def test_default_train_writes_a_complete_run(run_dir):
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint.npz", "config.json", "confusion_test.png", "confusion_val.png", "history.csv", "history.png",
        "metrics.json", "model.npz", "report.html", "weights.png"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.95  # the bar for the default run
    assert metrics["n_test"] == 180 and metrics["n_val"] == 180
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "digits" and config["dtype"] == "float32"
    lines = (run_dir / "history.csv").read_text().splitlines()
    assert lines[0] == "iteration,lr,loss,train_acc,val_acc,train_loss,val_loss"
    assert len(lines) == 1 + metrics["iterations"]


def test_evaluate_reproduces_the_runs_test_accuracy(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--dataset", "digits", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result["n"] == 180
    assert result["accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert main(["evaluate", str(run_dir / "model.npz"), "--dataset", "digits", "--split", "val"]) == 0
    assert "val accuracy" in capsys.readouterr().out


def test_predict_reads_image_files(run_dir, tmp_path, capsys):
    from sklearn.datasets import load_digits

    digits = load_digits()
    paths = []
    for i in range(10):
        path = tmp_path / f"digit{i}.png"
        pixels = np.rint(digits.images[i] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((32, 32)).convert("RGB").save(path)  # any size and mode
        paths.append(str(path))
    assert main(["predict", str(run_dir), *paths, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == paths
    predicted = [int(r["class"]) for r in rows]
    assert sum(p == t for p, t in zip(predicted, digits.target[:10], strict=True)) >= 8


def test_same_seed_same_model(tmp_path, run_dir):
    assert main(["train", "--out", str(tmp_path / "again"), "--quiet"]) == 0
    with np.load(run_dir / "model.npz") as a, np.load(tmp_path / "again" / "model.npz") as b:
        np.testing.assert_array_equal(a["param.W1"], b["param.W1"])


def test_existing_run_is_not_overwritten_without_force(run_dir, capsys):
    before = (run_dir / "model.npz").read_bytes()
    assert main(["train", "--out", str(run_dir), "--quiet", "--epochs", "1"]) == 1
    assert "--force" in capsys.readouterr().err
    assert (run_dir / "model.npz").read_bytes() == before


@pytest.mark.parametrize("argv,message", [
    (["train", "--lr", "-1"], "lr must be > 0, got -1.0"),
    # a value beginning with a minus and a digit was taken for an option: `expected one argument`
    (["train", "--lr", "-1e-3"], "--lr must be > 0, got -0.001"),
    (["tune", "--seed", "-1,5"], "--seed must be a whole number >= 0, got -1"),
    (["tune", "--lr", "-1:1:log", "--sampler", "random"], "--lr: a log range needs low > 0, got -1.0:1.0:log"),
    (["train", "--batch-size", "0"], "batch-size must be a positive integer, got 0"),
    (["train", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["train", "--val-size", "x"], "expected a count or a fraction"),
    (["train", "--iters", "5", "--epochs", "2"], "not allowed with"),
    (["evaluate", "/no/such/run", "--dataset", "digits"], "no model at /no/such/run"),
    (["predict", "/no/such/run", "x.png"], "no model at"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse exits for malformed options
        code = e.code
    err = capsys.readouterr().err
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # nothing written


def test_broken_model_and_image_files(run_dir, tmp_path, capsys):
    (tmp_path / "model.npz").write_bytes(b"PK\x03\x04 not really")
    assert main(["evaluate", str(tmp_path / "model.npz"), "--dataset", "digits"]) == 1
    assert "is damaged or cut short" in capsys.readouterr().err
    (tmp_path / "pic.png").write_text("not a picture")
    assert main(["predict", str(run_dir), str(tmp_path / "pic.png")]) == 1
    assert "cannot read image" in capsys.readouterr().err


def test_console_script_help_and_error_have_no_traceback(tmp_path):
    exe = [sys.executable, "-m", "twolayer"]
    for command in ([], ["train"], ["evaluate"], ["predict"]):
        result = subprocess.run([*exe, *command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "usage:" in result.stdout
    result = subprocess.run([*exe, "evaluate", str(tmp_path), "--dataset", "digits"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.startswith("twolayer evaluate: error:")


def test_model_from_one_folder_evaluates_on_another(tmp_path, monkeypatch, capsys):
    """Train on folder:A, evaluate on a folder holding only test/, predict a plain PNG."""
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    rng = np.random.default_rng(0)

    def write(root, n):
        # two easy classes: dark images and bright images
        for label, (lo, hi) in enumerate([(0, 80), (170, 256)]):
            (root / f"class{label}").mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(lo, hi, size=(6, 6, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / f"class{label}" / f"{i}.png")

    write(tmp_path / "A", 30)
    write(tmp_path / "B" / "test", 10)
    run = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{tmp_path / 'A'}", "--out", str(run), "--quiet",
                 "--val-size", "10", "--test-size", "10", "--epochs", "30", "--batch-size", "10"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--dataset", f"folder:{tmp_path / 'B'}", "--split", "test", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 20 and result["accuracy"] == 1.0
    assert main(["predict", str(run), str(tmp_path / "B" / "test" / "class1" / "0.png")]) == 0
    assert "\tclass1\t" in capsys.readouterr().out
    # a folder with other classes is refused with a plain message
    write(tmp_path / "C", 2)
    (tmp_path / "C" / "class2").mkdir()
    Image.new("RGB", (6, 6)).save(tmp_path / "C" / "class2" / "x.png")
    assert main(["evaluate", str(run), "--dataset", f"folder:{tmp_path / 'C'}"]) == 1
    assert "has class 'class2', which the model does not know" in capsys.readouterr().err
    # a held-out folder lacking a class: its classes are matched to the model's by name, not by position
    shutil.copytree(tmp_path / "B" / "test" / "class1", tmp_path / "D" / "test" / "class1")
    assert main(["evaluate", str(run), "--dataset", f"folder:{tmp_path / 'D'}", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["accuracy"] == 1.0 and json.loads(out)["n"] == 10
    assert err.count("\n") == 1 and "(it has no class 'class0')" in err


def test_recipe_sets_options_and_given_options_win(tmp_path):
    from twolayer.recipes import RECIPES

    out = tmp_path / "classic"
    assert main(["train", "--recipe", "classic", "--out", str(out), "--quiet", "--iters", "20"]) == 0
    config = json.loads((out / "config.json").read_text())
    for key, value in RECIPES["classic"].items():
        assert config[key] == (20 if key == "iters" else value), key
    assert config["recipe"] == "classic"
    # --epochs given: the recipe's iteration count must not override it
    out = tmp_path / "epochs"
    assert main(["train", "--recipe", "classic", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["iters"] is None and config["epochs"] == 2


@pytest.mark.parametrize("argv,message", [
    (["--dropout-hidden", "1.5"], "dropout-hidden must be in [0, 1)"),
    (["--crop", "-1"], "crop must be a whole number of pixels >= 0"),
    (["--momentum", "1"], "momentum must be in [0, 1)"),
    (["--recipe", "turbo"], "invalid choice: 'turbo'"),
    (["--flip", "--hidden-size", "8"], ""),  # flips on digits are fine: its rows are images
])
def test_new_options_are_checked(argv, message, tmp_path, capsys):
    try:
        code = main(["train", "--out", str(tmp_path / "r"), "--quiet", "--epochs", "1", *argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    if message:
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    else:
        assert code == 0


def test_predict_takes_a_folder_or_a_quoted_glob_for_its_images(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    for i in range(3):
        (tmp_path / "pics" / "sub").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "pics" / "sub" / f"{i}.png")
    (tmp_path / "pics" / "notes.txt").write_text("not an image")
    (tmp_path / "pics" / "._0.png").write_bytes(b"\x00\x05\x16\x07")
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "pics")]) == 0
    paths = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert paths == [str(tmp_path / "pics" / "sub" / f"{i}.png") for i in range(3)]
    assert main(["predict", str(run), str(tmp_path / "pics" / "*" / "[12].png")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_text_from_outside_never_drives_the_terminal(tmp_path, monkeypatch, capsys):
    """Class names and paths holding ESC sequences (clear the screen, retitle the window), a bell, a
    newline, a right-to-left override and undecodable bytes: printed escaped, one line per file, by
    train, predict, evaluate, report and an error line (ESC reached the terminal as it was)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    odd = ["\x1b[2Jred", "line\nbreak\u202e"]
    for name in odd:
        (tmp_path / "imgs\x1b]0;x\x07" / name).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(
                tmp_path / "imgs\x1b]0;x\x07" / name / f"{i}.png")
    pics = tmp_path / "pics"
    pics.mkdir()
    for name in ("a\x1b[2J.png", "b\nc.png", "d\udcff.png"):
        shutil.copy(tmp_path / "imgs\x1b]0;x\x07" / odd[0] / "0.png", pics / name)
    (pics / "e\x1b[2J.png").write_bytes(b"not an image")
    run = "run\x1b[31m"
    assert main(["train", "--dataset", "folder:imgs\x1b]0;x\x07", "--out", run, "--quiet", "--epochs", "1",
                 "--val-size", "4", "--test-size", "4"]) == 0
    assert main(["evaluate", run]) == 0
    assert main(["report", run]) == 0
    (pics / "e\x1b[2J.png").rename(tmp_path / "e\x1b[2J.png")
    assert main(["predict", run, str(pics)]) == 0
    predicted = capsys.readouterr().out
    assert main(["predict", run, "e\x1b[2J.png"]) == 1
    err = capsys.readouterr().err
    printed = predicted + err
    assert not {"\x1b", "\x07", "\u202e", "\udcff"} & set(printed), printed
    lines = predicted.split("\n")[:-1]
    assert len(lines) == 6 + 3  # train's 4 lines, evaluate's and report's, then one per file
    assert all(line.count("\t") == 2 for line in lines[6:])
    assert "\\x1b[2J" in err and err.count("\n") == 1


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's own refusals, and --help
        return e.code


def test_options_are_never_abbreviated_and_a_slip_names_the_nearest(capsys):
    """`--hid 10` trained with --hidden-size 10 (argparse's abbreviations), a trap for a script the day
    an option --hidden-... is added; `trian` and `--optimizer nestrov` named no command or value."""
    for argv, line in [
        (["train", "--hid", "10"], "unrecognized arguments: --hid 10; did you mean --hidden-size?"),
        (["export", "x", "--f", "torch"], "did you mean --format or --force or --float16?"),
        (["train", "--epocs", "3"], "did you mean --epochs?"),
        (["trian"], "invalid choice: 'trian'; did you mean train?"),
        (["train", "--optimizer", "nestrov"], "invalid choice: 'nestrov'; did you mean nesterov?"),
        (["help", "trian"], "twolayer help: error: unknown command 'trian'; did you mean train?"),
    ]:
        assert exit_code(argv) == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and line in err, (argv, err)


def test_a_positional_argument_given_as_an_option_says_it_is_given_by_its_place(capsys):
    """`predict --model RUN x.png`, as other tools write it, said `did you mean --help?`."""
    for argv, line in [
        (["predict", "--model", "run", "x.png"], "unrecognized arguments: --model; MODEL is given by its place, "
                                                  "without --model: twolayer predict MODEL IMAGE [IMAGE ...]"),
        (["predict", "run", "--images", "x.png"], "IMAGE is given by its place, without --images"),
        (["evaluate", "--model=run"], "MODEL is given by its place, without --model: twolayer evaluate MODEL"),
        (["help", "--topic", "train"], "COMMAND is given by its place, without --topic: twolayer help [COMMAND]"),
    ]:
        assert exit_code(argv) == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and line in err and "did you mean" not in err, (argv, err)


def test_twolayer_alone_names_the_commands(capsys):
    """A newcomer's first word, `twolayer` alone, said `the following arguments are required:
    COMMAND`: which commands there are went unsaid."""
    for argv in ([], ["--quiet"]):
        assert exit_code(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1, err
        assert "give a command: train, check, tune, report, evaluate, predict, export, help; a first run: " \
               "twolayer train" in err


def test_help_command_and_every_option_says_what_it_does_and_its_default(capsys):
    """`twolayer help train` is `twolayer train --help`; every option of every command has a help text
    naming its default (tune's --sampler said only `default: grid`, export's --format `default: onnx`,
    --sampler-seed no default, --jobs `(default 1)`)."""
    import argparse

    from twolayer.cli import build_parser

    assert exit_code(["help", "train"]) == 0
    by_help = capsys.readouterr().out
    assert exit_code(["train", "--help"]) == 0
    assert by_help == capsys.readouterr().out and by_help.startswith("usage: twolayer train")
    assert exit_code(["help"]) == 0 and "help      show a command's help" in capsys.readouterr().out
    for name, command in build_parser().commands.items():
        assert command.description, name
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and not action.help.startswith("default"), (name, action.dest)
            if action.default not in (None, False, argparse.SUPPRESS):
                shown = f"{action.default:g}" if isinstance(action.default, float) else action.default
                assert f"(default: {shown})" in action.help, (name, action.dest, action.help)
            if action.option_strings and not isinstance(action, argparse._StoreTrueAction):
                # an option left unset says what that means (--patience, --iters, --net, --recipe said nothing)
                assert "default: " in action.help, (name, action.dest, action.help)
            assert "overrides" not in action.help, (name, action.dest, action.help)  # --iters with --epochs: refused
    table = options(TrainConfig)
    for action in build_parser().commands["tune"]._actions:  # a range is of numbers: --optimizer offered one
        opt = table.get(action.dest)
        if opt is not None and opt.searchable:
            assert ("low:high" in action.help) == (opt.kind in (int, float)), (action.dest, action.help)


def test_a_search_whose_every_trial_diverged_exits_3_as_a_diverged_run_does(tmp_path, capsys):
    """tune exited 0 when no trial completed; an option refused said first what it would search."""
    assert main(["tune", "--trials", "0", "--out", str(tmp_path / "none")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "twolayer tune: error: --trials must be >= 1, got 0\n"
    assert main(["tune", "--lr", "1e30,1e31", "--epochs", "1", "--out", str(tmp_path / "d"), "--quiet"]) == 3
    out, err = capsys.readouterr()
    assert err == "twolayer tune: no best trial: no trial completed (2 diverged)\n"
    assert "report in" in out


def test_a_download_that_fails_leaves_no_data_folder_made_for_it(tmp_path, monkeypatch, capsys):
    """TWOLAYER_DATA (or --data-dir) naming a folder that is not there, with no network: the folders
    made for the download were left behind, empty (relative to wherever the command ran)."""
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TWOLAYER_DATA", "new/data")
    assert main(["train", "--dataset", "mnist", "--out", "run"]) == 1
    assert "could not download" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_read_only_current_folder_says_to_give_out(tmp_path, monkeypatch, capsys):
    """The default runs/ where nothing can be written: one line naming the remedy (it gave none)."""
    import errno

    from twolayer import runs

    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runs, "make_folders", read_only)
    assert main(["train", "--epochs", "1", "--quiet"]) == 1
    assert capsys.readouterr().err == ("twolayer train: error: cannot make a run folder under runs: Read-only file "
                                       "system; give --out DIR where you can write\n")
    assert main(["tune", "--epochs", "1", "--quiet"]) == 1
    assert capsys.readouterr() == ("", "twolayer tune: error: cannot make --out runs/twolayer-digits: Read-only "
                                       "file system; give --out DIR where you can write\n")


def test_check_of_a_missing_file_says_only_that(tmp_path, capsys):
    """It printed `checking FILE: importing it ...` on stdout before the error."""
    assert main(["check", str(tmp_path / "net.py")]) == 1
    assert capsys.readouterr() == ("", f"twolayer check: error: no such file: {tmp_path / 'net.py'}\n")
