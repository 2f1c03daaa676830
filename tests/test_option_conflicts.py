"""Options each valid alone but wrong against the data or against each
other: refused in one line by every door (the command line, --config,
tune's lists and ranges, TrainConfig, fit, the estimator), before any work
where it can be said then."""

import sys

import numpy as np
import pytest

from test_datasets import write_folder
from twolayer import TrainConfig, TwoLayerNet, fit
from twolayer.cli import main
from twolayer.errors import ConfigError
from twolayer.sklearn import TwoLayerClassifier
from twolayer.workflow import train


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    return code, *capsys.readouterr()


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    return tmp_path


CROP_TOO_WIDE = "must be below 8 for the 8x8 images of"


@pytest.mark.parametrize("argv", [
    ["train", "--crop", "8"],
    ["train", "--crop", "100", "--flip"],
    ["train", "--recipe", "cpu", "--crop", "8"],
    ["train", "--dataset", "folder:pics", "--image-size", "8", "--crop", "8"],
    ["train", "--config", "crop.toml"],
    ["tune", "--crop", "0:10", "--lr", "0.1,0.01"],
    ["tune", "--crop", "2,8"],
    ["tune", "--dataset", "folder:pics", "--image-size", "8,32", "--crop", "8"],
])
def test_a_crop_as_wide_as_the_images_is_refused_before_any_work(argv, capsys, cwd):
    """--crop 8 on the 8x8 digits trained silently on reflections of
    reflections (0.29 accuracy instead of 0.97); PyTorch's reflect padding
    refuses a pad of the side or more."""
    (cwd / "crop.toml").write_text("crop = 8\n")
    code, _, err = run(argv, capsys)
    assert code == 2
    assert CROP_TOO_WIDE in one_line(err)
    assert ("--crop " if "--crop" in argv else "error: crop ") in err  # named as it was written
    assert sorted(p.name for p in cwd.iterdir()) == ["crop.toml"]  # no run folder, nothing read or decoded


def test_a_crop_as_wide_as_a_folders_own_images_is_refused_once_they_are_read(capsys, cwd):
    """A folder's own size is known only once it is read: the run stops
    there, before it starts, so --force leaves the run it would replace."""
    write_folder(cwd / "pics", size=(6, 5))  # 6 wide, 5 high
    assert run(["train", "--dataset", "folder:pics", "--epochs", "1", "--out", "run", "--quiet"], capsys)[0] == 0
    kept = {p.name: p.read_bytes() for p in (cwd / "run").iterdir() if p.is_file()}
    for argv in (["train", "--crop", "5", "--out", "run", "--force"], ["tune", "--crop", "1,5", "--out", "search"]):
        code, _, err = run([*argv, "--dataset", "folder:pics"], capsys)
        assert code == 2
        assert "--crop must be below 5 for the 6x5 images of folder:" in one_line(err)
    assert {p.name: p.read_bytes() for p in (cwd / "run").iterdir() if p.is_file()} == kept
    assert not (cwd / "search").exists()


def test_a_bad_option_found_in_a_tune_worker_is_still_a_bad_option(capsys, cwd):
    """With --jobs 2 the folder is read in the worker processes, which sent
    their error to the parent as text: `tune --jobs 2 --crop 5` on 6x5
    images exited 1 with `error: crop must be ...` (exit 2 and --crop with --jobs 1)."""
    write_folder(cwd / "pics", size=(6, 5))
    code, _, err = run(["tune", "--dataset", "folder:pics", "--crop", "1,5", "--jobs", "2", "--epochs", "1",
                        "--out", "search", "--quiet"], capsys)
    assert code == 2
    assert "error: --crop must be below 5 for the 6x5 images of folder:" in one_line(err)
    assert not (cwd / "search").exists()
    assert run(["train", "--dataset", "folder:pics", "--crop", "4", "--epochs", "1", "--out", "run4", "--quiet"],
               capsys)[0] == 0  # below the side: trains


def test_split_sizes_that_leave_no_training_image_are_a_bad_option_for_train_and_every_trial(capsys, cwd):
    """Sizes too large for the data were exit 1, as broken data; and a
    search of --val-size 2,20 ran its first trial, then stopped at the second."""
    write_folder(cwd / "pics")
    n = sum(1 for _ in (cwd / "pics").rglob("*.png"))
    for argv in (["train", "--val-size", str(n - 1), "--out", "run"],
                 ["tune", "--val-size", f"2,{n - 1}", "--epochs", "1", "--out", "search"],
                 ["tune", "--test-size", f"2:{n}", "--sampler", "random", "--epochs", "1", "--out", "search"]):
        code, out, err = run([*argv, "--dataset", "folder:pics"], capsys)
        assert code == 2 and "sizes leave no training images out of" in one_line(err), (argv, err)
        assert "trial" not in out
    assert not (cwd / "run").exists() and not (cwd / "search").exists()


def test_a_crop_as_wide_as_the_images_is_refused_by_the_python_api(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 64)).astype(np.float32), rng.integers(0, 2, size=40)
    with pytest.raises(ConfigError, match="crop must be below 8 for the 8x8 images of image_shape \\(8, 8, 1\\)"):
        fit(TwoLayerNet(64, 5, 2), X, y, config=TrainConfig(crop=8, epochs=1), image_shape=(8, 8, 1))
    with pytest.raises(ValueError, match="crop must be below 4 for the 16x4 images"):
        TwoLayerClassifier(crop=4, image_shape=(4, 16, 1)).fit(X, y)
    with pytest.raises(ConfigError, match=f"crop {CROP_TOO_WIDE} digits"):
        train(TrainConfig(crop=8), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    fit(TwoLayerNet(64, 5, 2), X, y, config=TrainConfig(crop=7, epochs=1), image_shape=(8, 8, 1))


@pytest.mark.parametrize("argv,line", [
    (["train", "--optimizer", "sgd", "--momentum", "0.5"],
     "--momentum 0.5 does nothing with optimizer sgd: only optimizer momentum and nesterov use it"),
    (["train", "--recipe", "classic", "--momentum", "0.5"], "--momentum 0.5 does nothing with optimizer sgd"),
    (["train", "--warmup", "0.1"], "--warmup 0.1 does nothing with schedule step: only schedule cosine and onecycle"),
    (["train", "--schedule", "cosine", "--lr-decay", "0.9"],
     "--lr-decay 0.9 does nothing with schedule cosine: only schedule step uses it"),
    (["train", "--zca-epsilon", "0.1"], "--zca-epsilon 0.1 does nothing with preprocess standardize"),
    (["train", "--config", "adam.toml"], "error: momentum 0.8 does nothing with optimizer adam"),
    (["tune", "--optimizer", "sgd", "--momentum", "0.5,0.9"], "--momentum 0.5,0.9 does nothing with optimizer sgd"),
    (["tune", "--warmup", "0,0.1", "--lr", "0.1,0.01"], "--warmup 0.0,0.1 does nothing with schedule step"),
    (["tune", "--optimizer", "sgd,adam", "--momentum", "0.5"], "--momentum 0.5 does nothing with optimizer sgd,adam"),
    (["tune", "--space", "adam.toml"], "error: momentum 0.8 does nothing with optimizer adam"),
])
def test_an_option_the_run_would_not_use_is_refused(argv, line, capsys, cwd):
    """They trained without it, saying nothing (--warmup 0.1 on the default
    step schedule warmed nothing up), and a search over one ran the same
    trial again and again."""
    (cwd / "adam.toml").write_text('optimizer = "adam"\nmomentum = 0.8\n')
    code, _, err = run(argv, capsys)
    assert code == 2 and line in one_line(err)
    assert sorted(p.name for p in cwd.iterdir()) == ["adam.toml"]


@pytest.mark.parametrize("argv", [
    ["--warmup", "0", "--optimizer", "sgd", "--momentum", "0.9", "--schedule", "cosine", "--lr-decay", "0.95"],
    ["--recipe", "classic", "--optimizer", "adam"],  # the recipe's values are not given
    ["--schedule", "onecycle", "--warmup", "0.1", "--optimizer", "momentum", "--momentum", "0.5"],
])
def test_options_at_their_defaults_or_from_a_recipe_are_not_refused_where_unused(argv, capsys, cwd):
    assert run(["train", *argv, "--epochs", "1", "--quiet", "--out", "run"], capsys)[0] == 0
    assert run(["tune", *argv, "--epochs", "1", "--quiet", "--out", "search", "--lr", "0.1,0.2"], capsys)[0] == 0
    TrainConfig(optimizer="sgd", momentum=0.5).validate()  # a config may hold it: fit and train refuse it


@pytest.mark.parametrize("options,line", [
    ({"optimizer": "sgd", "momentum": 0.5},
     "momentum 0.5 does nothing with optimizer sgd: only optimizer momentum and nesterov use it"),
    ({"optimizer": "adam", "momentum": 0.5}, "momentum 0.5 does nothing with optimizer adam"),
    ({"recipe": "classic", "momentum": 0.5}, "momentum 0.5 does nothing with optimizer sgd"),
    ({"warmup": 0.1}, "warmup 0.1 does nothing with schedule step: only schedule cosine and onecycle use it"),
    ({"schedule": "cosine", "lr_decay": 0.9}, "lr_decay 0.9 does nothing with schedule cosine"),
    ({"zca_epsilon": 0.1}, "zca_epsilon 0.1 does nothing with preprocess standardize"),
    ({"iters": 10, "epochs": 5}, "iters and epochs both set the run's length; give one of them"),
])
def test_fit_and_train_refuse_an_option_the_run_would_not_use_as_the_command_line_does(options, line, tmp_path):
    """TrainConfig(optimizer="sgd", momentum=0.5) trained without momentum,
    and TrainConfig(iters=10, epochs=5) for 10 iterations, saying nothing,
    in fit and train, where the command line (and a --config file) refuses
    them."""
    X, y = np.eye(4), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=f"^{line}"):
        fit(TwoLayerNet(4, 3, 2), X, y, config=TrainConfig(**{"iters": 2, **options}))
    with pytest.raises(ValueError, match=f"^{line}"):
        train(TrainConfig(**{"epochs": 1, **options}), out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_a_recipes_own_values_and_the_estimator_are_not_refused_where_unused(tmp_path):
    """A recipe's values are not given (the cpu recipe's warmup under a step
    schedule); the estimator keeps MLPClassifier's way (its momentum under
    Adam), so that a grid over optimizer and momentum runs."""
    X, y = np.eye(4), np.array([0, 1, 0, 1])
    config = TrainConfig(recipe="cpu", schedule="step", optimizer="sgd", preprocess="mean", flip=False, crop=0,
                         label_smoothing=0.0, hidden_size=3, iters=2)
    fit(TwoLayerNet(4, 3, 2), X, y, config=config)
    TwoLayerClassifier(optimizer="adam", momentum=0.5, epochs=1, val_size=0).fit(X, y)


@pytest.mark.parametrize("argv", [["train", "--patience", "2", "--val-size", "0"],
                                  ["tune", "--patience", "2", "--val-size", "0", "--lr", "0.1,0.2"]])
def test_patience_without_a_validation_split_is_refused(argv, capsys, cwd):
    """It never stopped a run: with no validation split no epoch is compared."""
    code, _, err = run(argv, capsys)
    assert code == 2 and "--patience 2 stops a run on its validation accuracy, but the validation size is 0" in \
        one_line(err)
    assert not list(cwd.iterdir())
    with pytest.raises(ValueError, match="^patience 2 stops a run on its validation accuracy"):
        TwoLayerClassifier(patience=2, val_size=0).fit(np.eye(4), [0, 1, 0, 1])
    # fit takes its validation rows as given: none, and patience never compared an epoch, silently
    with pytest.raises(ValueError, match="^patience=2 stops a run on its validation accuracy, but no validation "
                                         "rows were given"):
        fit(TwoLayerNet(4, 3, 2), np.eye(4), np.array([0, 1, 0, 1]), config=TrainConfig(patience=2, iters=5))


@pytest.mark.parametrize("argv", [["train", "--recipe", "gpu"], ["tune", "--recipe", "gpu", "--lr", "0.1,0.2"]])
def test_the_gpu_recipe_without_a_gpu_says_so_before_any_work(argv, capsys, cwd, monkeypatch):
    """It trained hidden 8,192 for 200 epochs on the CPU, saying nothing;
    --device cpu still runs it there on purpose."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    code, _, err = run(argv, capsys)
    assert code == 1
    assert "--device cuda needs CuPy" in one_line(err) and "the gpu recipe trains on a GPU (--device cpu runs it" in err
    assert not list(cwd.iterdir())
    assert TrainConfig(recipe="gpu", device="cpu").validate().hidden_size == 8192


def test_zca_on_fewer_training_images_than_values_in_each_is_refused(capsys, cwd):
    """Their covariance has rank n - 1 at most: whitening amplified what the
    images never vary in (1,000 CIFAR-10 images: 0.18 test accuracy, 0.36
    with standardize); 8 images of 32x32x3 spent 20 s on the eigenvectors
    first."""
    write_folder(cwd / "pics", size=(6, 5), n=10)  # 90 values, 16 training images
    line = "--preprocess zca needs more training images than values in each, got 16 images of 90 values"
    for argv in (["train", "--preprocess", "zca", "--out", "run"],
                 ["tune", "--preprocess", "standardize,zca", "--out", "search"],
                 ["tune", "--preprocess", "zca,standardize", "--out", "search"]):
        code, _, err = run([*argv, "--dataset", "folder:pics", "--quiet"], capsys)
        assert code == 2 and line in one_line(err)
    assert sorted(p.name for p in cwd.iterdir()) == ["data", "pics"]  # the decode cache alone
    code, _, err = run(["train", "--recipe", "cpu", "--dataset", "digits", "--val-size", "0.97", "--test-size", "0",
                        "--out", "run"], capsys)
    assert code == 2 and "error: preprocess zca needs more training images than values in each, got 54" in err
    X, y = np.random.default_rng(0).normal(size=(64, 64)), np.arange(64) % 2
    with pytest.raises(ValueError, match="^preprocess zca needs more training images than values in each, got 58 "):
        TwoLayerClassifier(preprocess="zca").fit(X, y)
    TwoLayerClassifier(preprocess="zca", epochs=1).fit(np.vstack([X, X]), np.concatenate([y, y]))


def test_a_zca_refusal_comes_before_train_announces_the_fitting(capsys, cwd, monkeypatch):
    """train said `fitting ZCA whitening to 16 training images of 90 values`, then refused them (too few, or
    their matrices too large for memory): a line announcing work that never came, above the one error."""
    from twolayer import memory

    write_folder(cwd / "pics", size=(6, 5), n=10)  # 90 values, 16 training images
    code, out, err = run(["train", "--preprocess", "zca", "--dataset", "folder:pics", "--out", "run"], capsys)
    assert code == 2 and "zca needs more training images than values in each" in one_line(err)
    assert "ZCA" not in out
    monkeypatch.setattr(memory, "available_bytes", lambda: 200_000)  # the network fits; ZCA's 324 kB do not
    code, out, err = run(["train", "--preprocess", "zca", "--dataset", "folder:pics", "--out", "run"], capsys)
    assert code == 1 and "ZCA whitening of images of 5x6x3 (90 values) needs about" in one_line(err)
    assert "ZCA" not in out and not (cwd / "run").exists()


def test_zca_is_checked_at_the_largest_image_size_a_search_takes(capsys, cwd):
    """Each trial checked the search against its own data: the first, at
    --image-size 2, passed ZCA on 16 images of 12 values, trained, and the
    second, at 4 (48 values), stopped the search."""
    write_folder(cwd / "pics", size=(6, 5), n=10)  # 16 training images, color
    code, out, err = run(["tune", "--image-size", "2,4", "--preprocess", "zca", "--iters", "2", "--dataset",
                          "folder:pics", "--out", "search"], capsys)
    assert code == 2 and "zca needs more training images than values in each, got 16 images of 48 values" in \
        one_line(err)
    assert "trial" not in out and not (cwd / "search").exists()


@pytest.mark.parametrize("argv", [["tune", "--val-size", "0.1:100"], ["tune", "--space", "sizes.toml"]])
def test_a_range_of_split_sizes_from_a_fraction_to_a_count_is_refused(argv, capsys, cwd):
    """A trial drew 54.93, neither a count nor a fraction, and failed,
    perhaps after others had run."""
    (cwd / "sizes.toml").write_text("test_size = {low = 0.1, high = 10}\n")
    code, _, err = run([*argv, "--sampler", "random", "--trials", "3", "--epochs", "1", "--quiet"], capsys)
    assert code == 2 and "size: a range of sizes is of fractions (0.05:0.2) or of counts (100:500), got 0.1:" in \
        one_line(err)
    assert sorted(p.name for p in cwd.iterdir()) == ["sizes.toml"]
    assert run(["tune", "--val-size", "100:300", "--sampler", "random", "--trials", "2", "--epochs", "1", "--quiet",
                "--out", "search"], capsys)[0] == 0


def test_a_config_file_giving_both_iters_and_epochs_is_refused(cwd, capsys):
    """The command line refuses --iters 5 --epochs 1, and a --space file the two together; a --config file
    holding both trained 5 iterations, saying nothing of its epochs."""
    (cwd / "both.toml").write_text("epochs = 1\niters = 5\n")
    code, _, err = run(["train", "--config", "both.toml", "--out", "r", "--quiet"], capsys)
    assert code == 2 and "both.toml: epochs and iters both set the run's length; give one of them" in one_line(err)
    assert not (cwd / "r").exists()
    (cwd / "one.toml").write_text("epochs = 1\n")  # the command line's length over the file's, as over a recipe's
    code, printed, err = run(["train", "--config", "one.toml", "--iters", "3", "--out", "r", "--quiet"], capsys)
    assert code == 0 and err == "" and "3 iterations" in printed
