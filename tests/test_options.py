"""The option table: one declaration reaches the command line, validation,
tuning and the run folder; files written before the table still load."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from twolayer.bundles import load_bundle
from twolayer.checkpoint import load_checkpoint
from twolayer.cli import main
from twolayer.config import ABOVE_ZERO, OptionError, TrainConfig, option, options
from twolayer.space import build_space

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
