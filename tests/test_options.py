"""The option table: one declaration reaches the command line, validation,
tuning and the run folder; files written before the table still load."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from twolayer.bundles import load_bundle
from twolayer.checkpoint import load_checkpoint
from twolayer.cli import main
from twolayer.config import ABOVE_ZERO, OptionError, TrainConfig, option, options
from twolayer.errors import UsageError
from twolayer.sklearn import TwoLayerClassifier
from twolayer.space import build_space, config_file

DATA = Path(__file__).parent / "data"


@dataclass
class MoreOptions(TrainConfig):
    """A test copy of the table with one more option."""

    temperature: float = option(1.0, "reg", "divide the scores by this before the softmax",
                                "1: the scores as they are", ABOVE_ZERO, metavar="T")


def run(argv, capsys):
    try:
        code = main(argv, config_class=MoreOptions)
    except SystemExit as e:
        code = e.code
    return code, *capsys.readouterr()


def test_a_new_option_is_on_both_command_lines_with_its_help_and_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one line per option
    code, out, _ = run(["train", "--help"], capsys)
    assert code == 0
    assert "--temperature T" in out and "divide the scores by this before the softmax (default: 1.0)" in out
    code, out, _ = run(["tune", "--help"], capsys)
    assert code == 0 and "--temperature T" in out and "a list a,b,c or a range low:high[:log]" in out
    assert "temperature" not in options(TrainConfig)  # the real table is untouched


@pytest.mark.parametrize("argv,line", [
    (["train", "--temperature", "0"], "twolayer train: error: --temperature must be > 0, got 0.0"),
    (["train", "--temperature", "warm"], "argument --temperature: expected a number, got 'warm'"),
    (["tune", "--temperature", "1,-2"], "twolayer tune: error: --temperature must be > 0, got -2.0"),
])
def test_a_new_option_is_validated_in_one_line_spelled_as_typed(argv, line, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv, capsys)
    assert code != 0
    assert err.count("\n") == 1 and line in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # checked before any work


def test_a_new_option_in_python_and_toml_is_spelled_as_in_python(tmp_path):
    with pytest.raises(OptionError, match="^temperature must be > 0, got -1$"):
        MoreOptions(temperature=-1).validate()
    space_file = tmp_path / "space.toml"
    space_file.write_text("temperature = [0.5, -1]\nlr_decay = 0.9\n")
    with pytest.raises(OptionError, match="^temperature must be > 0, got -1"):
        build_space({}, space_file, MoreOptions)
    with pytest.raises(OptionError, match="^lr_decay must be in"):
        build_space({"lr": "0.1,0.2"}, _toml(tmp_path, "lr_decay = 2.0"), MoreOptions)
    with pytest.raises(OptionError, match="^--lr-decay must be in"):
        build_space({"lr": "0.1,0.2", "lr_decay": "2"}, None, MoreOptions)


def _toml(folder, text):
    path = folder / "more.toml"
    path.write_text(text)
    return path


def test_a_new_option_is_searched_by_tune_and_recorded_in_config_json(capsys, tmp_path):
    space = build_space({"temperature": "0.5:2:log"}, None, MoreOptions)
    assert space.dimensions["temperature"].log and space.config({"temperature": 0.7}).temperature == 0.7

    out = tmp_path / "search"
    code, printed, err = run(["tune", "--temperature", "0.5,2", "--iters", "20", "--out", str(out), "--quiet"],
                             capsys)
    assert code == 0, err
    rows = (out / "trials.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["trial", "state", "temperature"] and len(rows) == 3
    recorded = sorted(json.loads((run_dir / "config.json").read_text())["temperature"]
                      for run_dir in (out / "trials").iterdir())
    assert recorded == [0.5, 2.0]

    code, printed, err = run(["train", "--temperature", "3", "--iters", "20", "--out", str(tmp_path / "run")],
                             capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["temperature"] == 3.0


def test_every_option_is_declared_with_a_reason_help_and_a_valid_default():
    table = options()
    assert list(table) == [name for name in TrainConfig.__dataclass_fields__]
    for opt in table.values():
        assert opt.help and opt.reason, opt.name
        opt.check(opt.default)  # the defaults pass their own rules
    TrainConfig().validate()


def test_files_written_before_the_option_table_still_load():
    bundle = load_bundle(DATA / "v0.1.0-model.npz")
    config = TrainConfig.from_dict(bundle.config).validate()
    assert config.hidden_size == 8 and config.optimizer == "nesterov"
    assert bundle.net.predict(np.zeros((2, 64), np.float32)).shape == (2,)
    net, state = load_checkpoint(DATA / "v0.1.0-checkpoint.npz")
    assert state.iteration == 8 and state.optimizer.name == "momentum" and set(state.optimizer.state) == {
        "v.W1", "v.b1", "v.W2", "v.b2"}
    assert net.sizes == (6, 5, 3)


def test_whole_numbers_are_exact_and_plain_ints_through_every_door(tmp_path):
    big = 2**64 - 1  # through a float it became 2**64: another run, recorded as the wrong seed
    seed = options()["seed"]
    assert seed.convert(str(big)) == big and seed.convert(2**53 + 1) == 2**53 + 1
    assert config_file(_toml(tmp_path, f"seed = {big}\nsplit_seed = 9007199254740993\n")) == {
        "seed": big, "split_seed": 2**53 + 1}
    assert build_space({"seed": f"{big},1"}).dimensions["seed"].values == (big, 1)
    assert TrainConfig(seed=10**400).validate().seed == 10**400  # float(10**400) was an OverflowError traceback
    with pytest.raises(OptionError, match="^lr must be"):
        TrainConfig(lr=10**400).validate()
    with pytest.raises(UsageError, match="lr: expected a number"):
        config_file(_toml(tmp_path, "lr = 1" + "0" * 400))
    # 5.0 passed validation and was a TypeError deep in the trainer (np.zeros((64, 5.0)))
    config = TrainConfig(hidden_size=5.0, batch_size=np.float64(50), crop=1.0, epochs=np.int64(1)).validate()
    assert [type(v) for v in (config.hidden_size, config.batch_size, config.crop, config.epochs)] == [int] * 4
    X, y = np.random.default_rng(0).normal(size=(120, 16)), np.arange(120) % 3
    TwoLayerClassifier(hidden_size=5.0, batch_size=50.0, crop=1.0, image_shape=(4, 4, 1), epochs=1).fit(X, y)
    # NumPy's booleans, as a grid search over np.array([True, False]) passes them, were "must be true or false"
    assert type(TrainConfig(flip=np.True_, crop=1).validate().flip) is bool
    TwoLayerClassifier(flip=np.False_, warm_start=np.False_, epochs=1).fit(X, y)


@pytest.mark.parametrize(("text", "said"), [("lr = inf", "lr must be > 0, got inf"),
                                             ("hidden_size = 0", "hidden_size must be a positive integer, got 0"),
                                             ("momentum = 1.5", "momentum must be")])
def test_a_config_files_value_out_of_range_names_the_file(tmp_path, text, said):
    """A value of the right type but out of range was refused without the file's name (`lr must be > 0, got
    inf`), where a value of the wrong type named it."""
    path = _toml(tmp_path, text + "\n")
    with pytest.raises(UsageError, match=re.escape(f"{path}: {said}")):
        config_file(path)


def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufefflr = 0.1\r\nepochs = 2\r\n".encode())  # Notepad's UTF-8: "Invalid statement"
    assert config_file(path) == {"lr": 0.1, "epochs": 2}


def test_weights_that_overflow_before_the_loss_does_keep_finite_parameters(capsys, tmp_path):
    # lr 1e300: iteration 1's loss is finite, its update makes the weights infinite; the run wrote
    # a model.npz of NaN that its own report refused (exit 1), and fit returned NaN parameters
    for extra in ([], ["--val-size", "0"]):
        out = tmp_path / f"run{len(extra)}"
        code, printed, err = run(["train", "--lr", "1e300", "--epochs", "2", "--out", str(out), *extra], capsys)
        assert code == 3 and err.count("\n") == 1 and "overflowed, so the run's starting parameters are kept" in err
        assert "kept the last parameters" not in printed
        assert np.isfinite(load_bundle(out / "model.npz").net.params["W1"]).all()


def test_scales_that_overflow_are_refused_by_every_door_or_named_when_the_first_loss_overflows(capsys, tmp_path):
    # --std 1e300 in float32: infinite initial weights, a NaN model.npz its report refused (exit 1)
    with pytest.raises(OptionError, match=r"^std must be at most 3.4e\+37 in float32"):
        TrainConfig(std=1e300).validate()
    TrainConfig(std=1e300, dtype="float64").validate()
    # --zca-epsilon 1e-300: whitening overflowed, "X holds NaN or infinity (row 0)" (exit 1), a run folder left
    with pytest.raises(OptionError, match="^--zca-epsilon must be >= 1e-12, got 0.0"):
        build_space({"zca_epsilon": "0:1"})
    with pytest.raises(UsageError, match="zca_epsilon must be >= 1e-12"):
        config_from_file = config_file(_toml(tmp_path, "zca_epsilon = 1e-300"))
        TrainConfig(**config_from_file).validate()
    with pytest.raises(ValueError, match="^zca_epsilon must be >= 1e-12"):
        TwoLayerClassifier(preprocess="zca", zca_epsilon=1e-300).fit(np.eye(4), np.arange(4) % 2)
    # a loss that is not finite before any update is not the learning rate's fault (it said to lower it)
    code, _, err = run(["train", "--reg", "1e300", "--epochs", "1", "--out", str(tmp_path / "run")], capsys)
    assert code == 3 and "at iteration 1; before any update, so not the learning rate: lower std" in err
    assert "lower learning rate" not in err and err.count("\n") == 1


def test_scales_too_small_for_the_float_type_are_refused_by_every_door(capsys, tmp_path):
    """--lr 1e-50 is 0 in float32 (no update changed a weight) and --std 1e-50
    made every weight 0: each trained to 0.10 on digits, saying nothing."""
    from twolayer import TwoLayerNet

    tiny = "must be at least 1.18e-38 in float32, its smallest normal number"
    for given in ({"lr": 1e-50}, {"std": 1e-40}):
        with pytest.raises(OptionError, match=f"^{next(iter(given))} {tiny}"):
            TrainConfig(**given).validate()
        TrainConfig(**given, dtype="float64").validate()  # float64 holds them
    with pytest.raises(OptionError, match=f"^std {tiny}"):
        TwoLayerNet(4, 5, 3, std=1e-50, dtype=np.float32)
    for argv in (["train", "--lr", "1e-50"], ["tune", "--lr", "1e-50:1e-1:log"], ["train", "--std", "1e-40"]):
        code, _, err = run([*argv, "--epochs", "1", "--out", str(tmp_path / "run")], capsys)
        assert code == 2 and err.count("\n") == 1 and f"{argv[1]} {tiny}" in err, err
    assert not (tmp_path / "run").exists()
