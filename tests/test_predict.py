"""A trained model used on new data off the paved road: what `predict` is
given besides image files (a FIFO, standard input, names that begin with
a dash, patterns that match folders), how it reads many files, what a
bundle says of the arrays a user has at hand, and class names that differ
in case.

Every test here is listed in TESTING.md."""

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twolayer import workflow
from twolayer.bundles import load_bundle
from twolayer.cli import main
from twolayer.errors import BundleError, DataError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small model of digits (8 x 8 gray images)."""
    out = tmp_path_factory.mktemp("predict") / "run"
    assert main(["train", "--iters", "30", "--out", str(out), "--quiet"]) == 0
    return out


def picture(path: Path, level: int = 100) -> Path:
    Image.fromarray(np.full((8, 8), level, np.uint8)).save(path)
    return path


def twolayer(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    """The command in a process of its own: a hang is a timeout, not a stuck test run."""
    return subprocess.run([sys.executable, "-m", "twolayer", *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}, **kwargs)


def test_a_fifo_that_nothing_writes_to_is_one_line_not_a_hang(run, tmp_path):
    """open() of a FIFO waits for a writer: `predict RUN x.png` (x.png made by
    mkfifo) and `train --config c.toml` waited forever."""
    os.mkfifo(tmp_path / "x.png")
    os.mkfifo(tmp_path / "c.toml")
    done = twolayer("predict", str(run), str(tmp_path / "x.png"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"twolayer predict: error: cannot read image {tmp_path / 'x.png'}: a FIFO (named pipe) "
                           "that nothing writes to\n")
    done = twolayer("train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "new"))
    assert done.returncode == 1 and "c.toml: a FIFO (named pipe) that nothing writes to" in done.stderr
    assert not (tmp_path / "new").exists()
    # a pipe that has a writer (bash's <(...), here /dev/stdin) is read as before
    image = picture(tmp_path / "a.png").read_bytes()
    done = twolayer("predict", str(run), "/dev/stdin", input=image.decode("latin-1"), encoding="latin-1")
    assert done.returncode == 0 and done.stdout.startswith("/dev/stdin\t")


def test_a_damaged_tiff_that_pillow_logs_is_one_line(run, tmp_path):
    """A TIFF whose header says 32767 samples a pixel: Pillow logs "More
    samples per pixel than can be decoded" before it raises, and Python
    wrote that to stderr above the error's line (seen only in a process of
    its own: pytest's logging captures it)."""
    data = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(data, "TIFF")
    entry = struct.pack("<HHII", 277, 3, 1, 3)  # SamplesPerPixel, SHORT, one value: 3
    assert data.getvalue().count(entry) == 1
    (tmp_path / "x.tif").write_bytes(data.getvalue().replace(entry, struct.pack("<HHII", 277, 3, 1, 32767)))
    done = twolayer("predict", str(run), str(tmp_path / "x.tif"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"twolayer predict: error: cannot read image {tmp_path / 'x.tif'}: not an image file, "
                           "or a damaged one (Pillow cannot identify its format)\n")


class Terminal(io.TextIOWrapper):
    def isatty(self) -> bool:
        return True


def test_dash_reads_one_image_from_standard_input(run, tmp_path, monkeypatch, capsys):
    """`-` was taken for a file's name: `no such image file: -`."""
    image = picture(tmp_path / "a.png").read_bytes()
    assert main(["predict", str(run), str(tmp_path / "a.png")]) == 0
    from_file = capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(image)))
    assert main(["predict", str(run), "-"]) == 0
    assert capsys.readouterr().out == from_file.replace(str(tmp_path / "a.png"), "-")
    refusals = [(io.TextIOWrapper(io.BytesIO(image)), ["-", "-"], "and none came (it can be read once)"),
                (io.TextIOWrapper(io.BytesIO(b"")), ["-"], "and none came"),
                (io.TextIOWrapper(io.BytesIO(b"hello")), ["-"], "cannot read image -: not an image file"),
                (Terminal(io.BytesIO(image)), ["-"], "which is a terminal here"),  # it would wait for typing
                (None, ["-"], "which is closed")]  # started with <&-
    for stdin, args, message in refusals:
        monkeypatch.setattr(sys, "stdin", stdin)
        assert main(["predict", str(run), *args]) == 1
        out, err = capsys.readouterr()
        assert message in err and err.count("\n") == 1 and "0x" not in err  # no file object's address
    # ./- is a file of that name (Path("./-") is Path("-"): it read standard input, here closed)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_bytes(image)
    assert main(["predict", str(run), "./-"]) == 0
    assert capsys.readouterr().out == from_file.replace(str(tmp_path / "a.png"), "./-")


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's own refusals
        return e.code


def test_a_file_whose_name_begins_with_a_dash_is_named_in_the_refusal(run, tmp_path, monkeypatch, capsys):
    """argparse reads -x.png as an option: the refusal said `the following
    arguments are required: IMAGE`, though an image was given."""
    monkeypatch.chdir(tmp_path)
    picture(tmp_path / "-x.png")
    picture(tmp_path / "a.png")
    for args in (["-x.png"], ["a.png", "-x.png"]):
        assert exit_code(["predict", str(run), *args]) == 2
        err = capsys.readouterr().err
        assert "-x.png is read as an option: give a file whose name begins with - as ./-x.png, or after --" in err
    for args in (["--", "-x.png"], ["./-x.png"]):
        assert main(["predict", str(run), *args]) == 0
        assert "-x.png\t" in capsys.readouterr().out
    assert exit_code(["predict", str(run), "-y.png"]) == 2  # no such file: no hint
    assert "read as an option" not in capsys.readouterr().err


def test_a_quoted_pattern_gives_the_images_the_shell_would(run, tmp_path, capsys):
    """'pics/*' matching folders was `no image files in pattern pics/*`
    (pics/* unquoted predicted their images), and a pattern matching
    notes.txt beside the images failed on it."""
    for name in ("cat", "dog"):
        (tmp_path / "pics" / name).mkdir(parents=True)
        picture(tmp_path / "pics" / name / "1.png")
    (tmp_path / "pics" / "cat" / "notes.txt").write_text("not an image")
    expected = [str(tmp_path / "pics" / name / "1.png") for name in ("cat", "dog")]
    for pattern, paths in [("pics/*", expected), ("pics/**", expected), ("pics/cat/*", expected[:1])]:
        assert main(["predict", str(run), str(tmp_path / pattern)]) == 0
        assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == paths
    assert main(["predict", str(run), str(tmp_path / "pics" / "*" / "*.txt")]) == 1
    assert "no image files" in capsys.readouterr().err


def test_predict_reads_and_prints_a_chunk_of_files_at_a_time(run, tmp_path, monkeypatch, capsys):
    """All files were decoded before the first row was printed: a folder of
    a million images needed all of them in memory at once. The row of 4.png,
    in the broken file's chunk, was dropped with it."""
    for i in range(5):
        picture(tmp_path / f"{i}.png", 40 * i)
    (tmp_path / "5.png").write_bytes(b"\x89PNG broken")
    monkeypatch.setattr(workflow, "PREDICT_CHUNK", 2)
    bundle = load_bundle(run)
    seen = []
    scores = type(bundle.net).scores
    monkeypatch.setattr(type(bundle.net), "scores", lambda net, X: seen.append(len(X)) or scores(net, X))
    assert main(["predict", str(run), str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 5 and seen == [2, 2, 1]  # every file before the broken one, 4.png included
    assert "cannot read image" in err and "5.png" in err


def test_bundle_probabilities_scores_a_large_batch_in_chunks(run, monkeypatch):
    """The (N, D) rows and (N, H) activations of the whole batch were made at once."""
    bundle = load_bundle(run)
    images = np.random.default_rng(0).integers(0, 256, (1000, 8, 8, 1), dtype=np.uint8)
    whole = bundle.probabilities(images)
    seen = []
    scores = type(bundle.net).scores
    monkeypatch.setattr(type(bundle.net), "scores", lambda net, X: seen.append(len(X)) or scores(net, X))
    monkeypatch.setattr("twolayer.bundles.chunk_rows", lambda hidden: 300)
    np.testing.assert_allclose(bundle.probabilities(images), whole, rtol=1e-6)
    assert seen == [300, 300, 300, 100]
    assert bundle.probabilities(images[:0]).shape == (0, 10)


def test_a_bundle_says_how_to_give_it_the_images_a_user_has(run, tmp_path):
    """Gray images without their channel axis or channel-first, a PIL image, a path, a list
    of paths or of images of several sizes: each said only the shape or
    NumPy's words (a path: `load_dataset('folder:PATH') reads a folder`)."""
    bundle = load_bundle(run)
    gray = np.zeros((5, 8, 8), np.uint8)
    path = str(picture(tmp_path / "a.png"))
    cases = [(gray, r"got \(5, 8, 8\); gray images without their channel axis: images\[..., None\]"),
             # PyTorch's (N, 1, H, W): it was told images[..., None], which made them 5-D
             (gray[:, None], r"got \(5, 1, 8, 8\); these are channel-first \(N, C, H, W\): images.transpose"),
             (Image.open(path), r"one gray image without its channel axis: image\[None, ..., None\]"),
             (path, r"got the path or text '.*a.png'; twolayer.data.images.read_image\(path, bundle.image_shape\)"),
             ([path], r"got text of shape \(1,\); twolayer.data.images.read_image"),
             ([gray[0, ..., None], np.zeros((9, 9, 1))], r"images of several sizes\? twolayer.data.images.read_image"),
             (np.zeros((2, 16, 16, 1)), r"got \(2, 16, 16, 1\); twolayer.data.images.read_image")]
    for images, message in cases:
        with pytest.raises(ValueError, match=message):
            bundle.probabilities(images)
    assert bundle.probabilities(gray[..., None]).shape == (5, 10)


def test_a_held_out_class_named_in_another_case_says_so(tmp_path, capsys):
    """`Cat` for the model's `cat` was refused as a class the model does not know, without a word of case."""
    for root, names in (("train", ("cat", "dog")), ("held", ("Cat", "dog"))):
        for label, name in enumerate(names):
            (tmp_path / root / name).mkdir(parents=True)
            for i in range(6):
                pixels = np.full((4, 4, 3), 60 + 120 * label + i, np.uint8)
                Image.fromarray(pixels).save(tmp_path / root / name / f"{i}.png")
    assert main(["train", "--dataset", f"folder:{tmp_path / 'train'}", "--out", str(tmp_path / "run"), "--quiet",
                 "--iters", "2", "--val-size", "2", "--test-size", "2"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--dataset", f"folder:{tmp_path / 'held'}"]) == 1
    err = capsys.readouterr().err
    assert "has class 'Cat', which the model does not know" in err
    assert "(names are matched exactly: 'Cat' is the model's 'cat' in another case; rename the folder)" in err


def test_an_empty_model_or_image_path_is_said_to_be_empty(run, tmp_path, monkeypatch):
    """An unset shell variable (`predict "$RUN" "$IMG"`): Path("") is ".",
    so `predict RUN ''` predicted every image under the current folder, and
    `evaluate ''` said `no model at model.npz`. The command line refuses any
    empty value (tests/test_hostile_cli.py); the Python API says so too."""
    monkeypatch.chdir(tmp_path)
    picture(tmp_path / "a.png")
    with pytest.raises(DataError, match="^an image's path is empty; give image files, folders or quoted patterns$"):
        workflow.predict(run, ["a.png", ""])
    for call in (lambda: workflow.predict("", "a.png"), lambda: workflow.evaluate(""),
                 lambda: load_bundle("")):
        with pytest.raises(BundleError, match="^the model's path is empty; give a run folder or its model.npz$"):
            call()


def test_a_diverged_runs_model_of_overflowing_weights_is_one_line_not_nan_or_class_0(tmp_path, capsys):
    """`train --std 1e30` stops before any update (exit 3) and keeps its starting weights, finite but too large
    for float32 scores: predict printed probability nan, evaluate scored every image as class 0 (the argmax of
    NaN) and Bundle.probabilities returned NaN. Now each says what the model is."""
    run = tmp_path / "run"
    assert main(["train", "--std", "1e30", "--epochs", "1", "--out", str(run)]) == 3
    image = tmp_path / "x.png"
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(image)
    capsys.readouterr()
    for argv in (["predict", str(run), str(image)], ["evaluate", str(run)]):
        assert main(argv) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "the model's scores are not finite numbers" in err \
            and "a run that diverged" in err, err
    with pytest.raises(BundleError, match="not finite"):
        load_bundle(run).probabilities(np.zeros((2, 8, 8, 1), np.uint8))
