"""Options each valid alone but wrong against the data or against each
other: refused in one line by every door (the command line, --config,
tune's lists and ranges, TrainConfig, fit, the estimator), before any work
where it can be said then."""

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
    assert run(["train", "--dataset", "folder:pics", "--crop", "4", "--epochs", "1", "--out", "run4", "--quiet"],
               capsys)[0] == 0  # below the side: trains


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
