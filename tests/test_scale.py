"""Sizes that are legal but far from CIFAR-10's: many classes, a class of
one image beside hundreds, images of extreme shapes, runs of many tiny
epochs, searches of many trials. Each must work, or refuse in one line,
with a report that stays bounded and readable. TESTING.md lists each case."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from test_datasets import write_folder
from twolayer import workflow
from twolayer.checkpoint import read_checkpoint
from twolayer.cli import main
from twolayer.data import Dataset, load_dataset
from twolayer.data.splits import carve
from twolayer.plots import confusion_figure, heatmap_figure, plain, png_bytes, weights_figure
from twolayer.sklearn import TwoLayerClassifier


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "cache"))


def carving_out(dataset: Dataset, cls: int, test_size: float = 0.1) -> int:
    """A split seed whose carve (0.1 for validation, test_size for test) leaves class `cls` no training row."""
    return next(seed for seed in range(1000) if cls not in carve(dataset, 0.1, test_size, seed)["train"][1])


def test_a_class_the_carve_takes_whole_is_refused_or_said(tmp_path, capsys):
    # a class of one image beside 30: a carve (not stratified) that put it in the test split trained a model of
    # the one class left, without a word (the check of two classes looked at the images before the carve)
    pics = tmp_path / "pics"
    write_folder(pics, classes=("a",), n=1)
    write_folder(pics, classes=("b",), n=30)
    seed = carving_out(load_dataset(f"folder:{pics}"), 0)
    run = tmp_path / "run"
    argv = ["train", "--dataset", f"folder:{pics}", "--epochs", "1", "--out", str(run), "--quiet"]
    assert main([*argv, "--split-seed", str(seed)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hold every image of class 'a', leaving only 'b' to train on" in err
    assert not run.exists()

    # three classes, one carved out whole: trained, and said; the report's table shows it
    write_folder(pics, classes=("c",), n=30)
    seed = carving_out(load_dataset(f"folder:{pics}"), 0)
    assert main([*argv[:-1], "--split-seed", str(seed)]) == 0  # not --quiet: notes are said
    out = capsys.readouterr().out
    assert "1 of 3 classes have no training image (the validation and test carve took all of theirs)" in out
    assert "class 'a'" in out
    assert "<td>a</td><td class=\"num\">0</td>" in (run / "report.html").read_text()  # its training images

    X = np.random.default_rng(0).normal(size=(31, 4))
    y = np.array(["cat"] + ["dog"] * 30)
    seed = carving_out(Dataset("arrays", [], {"train": (X, (y == "dog").astype(int))}), 0, test_size=0)
    with pytest.raises(ValueError, match="holds out every sample of class 'cat', leaving one class to train on"):
        TwoLayerClassifier(epochs=1, split_seed=seed).fit(X, y)
    # beside two classes left it trains, as train does, and says so (it was silent)
    X, y = np.concatenate([X, X[1:]]), np.concatenate([y, ["fox"] * 30])
    seed = carving_out(Dataset("arrays", [], {"train": (X, np.unique(y, return_inverse=True)[1])}), 0, test_size=0)
    with pytest.warns(UserWarning, match=f"^val_size=0.1 \\(split_seed={seed}\\) holds out every sample of class "
                                         "'cat', so the network cannot learn it \\(1 of 3 classes have no training "
                                         "sample\\); pass more samples of it, another split_seed, or val_size=0$"):
        model = TwoLayerClassifier(epochs=1, split_seed=seed).fit(X, y)
    assert model.classes_.tolist() == ["cat", "dog", "fox"]


@pytest.mark.parametrize("seeds", [["--split-seed", "0,{seed}", "--sampler", "grid"],
                                   ["--split-seed", "0:{seed}", "--sampler", "random", "--trials", "3"],
                                   ["--split-seed", "0,{seed}", "--val-size", "0.05,0.1", "--sampler", "grid"]])
def test_tune_checks_every_split_seed_before_any_trial(tmp_path, capsys, seeds):
    """A list (or a range) of split seeds, one of which carves every image
    of a class out: the search stopped at that seed's first trial, after
    the trials before it had run (and left its folder)."""
    pics = tmp_path / "pics"
    write_folder(pics, classes=("a",), n=1)
    write_folder(pics, classes=("b",), n=30)
    seed = carving_out(load_dataset(f"folder:{pics}"), 0)
    out = tmp_path / "search"
    argv = ["tune", "--dataset", f"folder:{pics}", "--epochs", "1", "--out", str(out),
            *(a.format(seed=seed) for a in seeds)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "trial" not in captured.out and not out.exists()
    assert captured.err.count("\n") == 1 and f"(--val-size 0.1, --test-size 0.1, chosen by --split-seed {seed}) " \
        "hold every image of class 'a', leaving only 'b' to train on" in captured.err


def test_a_report_of_many_classes_stays_readable_and_bounded(tmp_path):
    # 100 classes of 1 to 3 images: the confusion matrix was a 3,000-pixel square with each cell a third of a
    # pixel (the images invisible), the per-class table 'nan' where a class had no image in the split
    rng = np.random.default_rng(0)
    for c in range(100):
        write_folder(tmp_path / "many" / f"c{c:03d}", classes=("",), n=int(rng.integers(1, 4)), size=(4, 4))
    run = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{tmp_path / 'many'}", "--epochs", "2", "--out", str(run),
                 "--quiet"]) == 0
    page = (run / "report.html").read_text()
    assert "nan" not in page
    assert "<h2>Most frequent confusions (val)</h2>" in page and "<h2>Most frequent confusions (test)</h2>" in page
    assert "<details><summary>Per-class accuracy: 100 classes</summary>" in page
    for split in ("val", "test"):
        assert max(Image.open(run / f"confusion_{split}.png").size) <= 1000
    assert len(page) < 1_000_000

    fig = confusion_figure(np.eye(1000, dtype=int), [f"c{i}" for i in range(1000)], "t")
    dots = sum(len(collection.get_offsets()) for collection in fig.axes[0].collections)
    assert dots == 1000  # each pair with images drawn, however many classes
    assert max(Image.open(io.BytesIO(png_bytes(fig))).size) <= 1000


def test_first_layer_weights_of_strip_images_are_drawn_bounded_and_visible():
    # 2,000 x 1 images drew a figure of 795 x 14,465 pixels; 1 x 3,000 ones a figure 41 pixels high
    rng = np.random.default_rng(0)
    for shape in ((2000, 1, 3), (1, 3000, 3), (1, 1, 1)):
        W1 = rng.normal(size=(int(np.prod(shape)), 100)).astype(np.float32)
        width, height = Image.open(io.BytesIO(png_bytes(weights_figure(W1, shape)))).size
        assert 200 <= width <= 1000 and 200 <= height <= 2000, (shape, width, height)


def test_a_long_run_of_tiny_epochs_writes_a_bounded_number_of_checkpoints(tmp_path, monkeypatch):
    # --epochs 10000 on 20 images wrote a checkpoint, holding the whole history, at every epoch's end:
    # 15 GB in all, 163 s of which 140 s writing; now at most 1/100 of the run's iterations apart
    write_folder(tmp_path / "pics", n=10, size=(4, 4))
    writes = []
    save = workflow.save_checkpoint
    monkeypatch.setattr(workflow, "save_checkpoint", lambda path, net, s, record: (writes.append(s.iteration),
                                                                                  save(path, net, s, record)))
    run = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{tmp_path / 'pics'}", "--epochs", "1000", "--batch-size", "16",
                 "--out", str(run), "--quiet"]) == 0
    assert writes[:100] == list(range(1, 101))  # every epoch's, for the first hundred
    assert len(writes) < 400 and writes[-1] == 1000
    assert all(100 * (b - a) >= b for a, b in zip(writes[100:-2], writes[101:-1], strict=True))  # the last: the end
    assert read_checkpoint(run / "checkpoint.npz")[1].iteration == 1000  # the finished run's, to continue it


def test_a_trials_last_epoch_is_not_pruned(tmp_path):
    # a search of one epoch a trial: the median pruner stopped trials after their last epoch, so that 81 of 200
    # trials that had run to the end were tabled as pruned and their models thrown away
    rng = np.random.default_rng(0)
    for c, name in enumerate(("dark", "light")):  # told apart at a good learning rate, not at a tiny one
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(15):
            pixels = np.clip(rng.normal(60 + 120 * c, 30, (4, 4, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pics" / name / f"{i}.png")
    out = tmp_path / "search"
    assert main(["tune", "--dataset", f"folder:{tmp_path / 'pics'}", "--lr", "1e-4:1:log", "--sampler", "random",
                 "--val-size", "0.3", "--trials", "20", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    with open(out / "trials.csv", newline="") as f:
        states = {row["state"] for row in csv.DictReader(f)}
    assert states <= {"complete", "diverged"}, states
    assert json.loads((out / "tune.json").read_text())["trials"] == 20


def test_a_heatmap_of_many_values_turns_its_labels():
    # twenty learning rates side by side ran into each other (0.00384160.0053782)
    rows = [{"lr": 0.001 * 1.4**i, "reg": r, "val_accuracy": 0.5} for i in range(20) for r in (0.1, 0.2)]
    labels = heatmap_figure(rows, "lr", "reg").axes[0].get_xticklabels()
    assert len(labels) == 20 and all(label.get_rotation() == 45 for label in labels)


def test_long_class_names_that_differ_at_the_end_stay_apart_in_the_figures():
    # names were cut to their first 39 characters: 'a' * 200 and 'a' * 199 + 'b' were one label
    names = ["a" * 200, "a" * 199 + "b", "run_2024_" + "x" * 100 + "_v1", "run_2024_" + "x" * 100 + "_v2"]
    labels = [plain(name) for name in names]
    assert len(set(labels)) == 4 and all(len(label) == 40 for label in labels)
    assert plain("short") == "short"
