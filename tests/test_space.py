"""Search spaces from the command line and from TOML files."""

import re

import pytest

from twolayer.errors import ConfigError
from twolayer.space import Dimension, build_space


def test_lists_ranges_and_fixed_values():
    space = build_space({"lr": "1e-4,1e-3,1e-2", "reg": "0.1:1:log", "hidden_size": "50:500", "iters": "1000",
                         "dataset": "folder:/data/x", "schedule": "step,cosine"})
    assert space.dimensions["lr"] == Dimension("lr", values=(1e-4, 1e-3, 1e-2))
    assert space.dimensions["reg"] == Dimension("reg", low=0.1, high=1.0, log=True)
    hidden = space.dimensions["hidden_size"]
    assert (hidden.low, hidden.high, hidden.log) == (50, 500, False) and isinstance(hidden.low, int)
    assert space.dimensions["schedule"].values == ("step", "cosine")  # any training option can be searched
    assert space.fixed == {"iters": 1000, "dataset": "folder:/data/x"}  # a path with ':' is one value
    assert space.config({"lr": 1e-3, "reg": 0.5, "hidden_size": 60, "schedule": "step"}).iters == 1000


def test_grid_is_every_combination_in_a_fixed_order():
    space = build_space({"lr": "1e-4,1e-3,1e-2", "reg": "0.3,0.4,0.5"})
    grid = space.grid()
    assert len(grid) == 9 and len({tuple(p.items()) for p in grid}) == 9
    assert grid[0] == {"lr": 1e-4, "reg": 0.3} and grid[-1] == {"lr": 1e-2, "reg": 0.5}
    # `tune --reg 0.1:1` said only `the grid sampler needs lists, not ranges: reg`, not which sampler takes one
    with pytest.raises(ConfigError, match=r"^the grid sampler \(the default\) needs lists, not ranges: reg; give "
                                          r"--sampler random or tpe to draw from a range, or a list a,b,c$"):
        build_space({"lr": "1e-3,1e-2", "reg": "0.1:1"}).grid()


def test_toml_file_and_command_line_override(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('lr = [1e-4, 1e-3]\nreg = {low = 0.1, high = 1.0, log = true}\niters = 500\nhidden_size = 50\n')
    space = build_space({"iters": "1000"}, path)
    assert space.dimensions["lr"].values == (1e-4, 1e-3)
    assert space.dimensions["reg"].log is True
    assert space.fixed == {"iters": 1000, "hidden_size": 50}


@pytest.mark.parametrize("options,message", [
    ({"lr": ","}, "--lr: empty item"),
    ({"lr": "-1,1e-3"}, "lr must be > 0, got -1.0"),
    ({"lr": "0:1:log"}, "log range needs low > 0"),
    ({"reg": "1:0.5"}, "range low must be below high"),
    ({"lr": "1e-3,1e-3"}, "repeated values"),
    ({"hidden_size": "10.5,20"}, "expected a whole number"),
    ({"batch_size": "0,10"}, "batch-size must be a positive integer, got 0"),
    ({"colour": "red,blue"}, "unknown training option 'colour'"),
    ({"lr": "0.1", "reg": "0", "iters": "100"}, "nothing to search"),
    ({"lr": "1:2:lin"}, "LOW:HIGH or LOW:HIGH:log"),
])
def test_bad_spaces_are_refused_before_any_trial(options, message):
    with pytest.raises(ConfigError, match=message):
        build_space(options)


def test_bad_toml_files(tmp_path):
    with pytest.raises(ConfigError, match="no space file"):
        build_space({}, tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("lr = [1e-3,")
    with pytest.raises(ConfigError, match="cannot read space file"):
        build_space({}, tmp_path / "bad.toml")
    (tmp_path / "empty.toml").write_text("lr = []")
    with pytest.raises(ConfigError, match="lr: empty list"):
        build_space({}, tmp_path / "empty.toml")


def test_nothing_given_to_search_searches_the_rate_and_l2_around_the_runs_values():
    space = build_space({})
    assert space.by_default and space.fixed == {}
    assert space.dimensions["lr"].values == (0.001, 0.01, 0.1)  # the defaults: lr 0.01, reg 0.001
    assert space.dimensions["reg"].values == (0.0001, 0.001, 0.01)
    classic = build_space({"recipe": "classic"})  # a recipe's values are the centre
    assert classic.dimensions["reg"].values == (0.04, 0.4, 4.0)
    only_reg = build_space({"lr": "0.05", "iters": "10"})  # what is given is not searched
    assert list(only_reg.dimensions) == ["reg"] and only_reg.fixed["lr"] == 0.05
    no_l2 = build_space({"reg": "0"})  # an option that is off stays off
    assert list(no_l2.dimensions) == ["lr"]
    assert not build_space({"lr": "0.1,0.2"}).by_default


def test_tune_with_nothing_to_search_says_what_it_searches(tmp_path, monkeypatch, capsys):
    from twolayer.cli import main

    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    assert main(["tune", "--iters", "2", "--reg", "0", "--out", str(tmp_path / "search")]) == 0
    out = capsys.readouterr().out
    assert ("searching lr 0.001,0.01,0.1: nothing was given to search, so the learning rate at a tenth, one and "
            "ten times the run's value") in out  # it said 'the learning rate and L2 strength' of --reg 0's search
    assert len((tmp_path / "search" / "trials.csv").read_text().splitlines()) == 4  # a header, three trials


@pytest.mark.parametrize("given,file,message", [
    ({"std": "none:1"}, "", "--std: a range's ends are numbers; none is a value of a list"),  # a TypeError
    ({}, "flip = {low = false, high = true}", "flip takes a list of values, not a range"),  # drew 0 and 1
    ({}, 'schedule = {low = "a", high = "b"}', "schedule takes a list of values, not a range"),  # a TypeError
    # its draws (37.5) are neither a fraction nor a count: the first trial failed on a value nobody gave
    ({"val_size": "0.5:200"}, "", "--val-size: a range of sizes is of fractions (0.05:0.2) or of counts"),
    # iters decides a run's length: every trial trained alike, and the search compared nothing
    ({"iters": "5", "epochs": "1,2"}, "", "--iters and --epochs both set the run's length; give one of them"),
    ({}, "iters = [10, 20]\nepochs = 3", "iters and epochs both set the run's length"),
    # each value was checked (a million: 45 s) and written into every trial's record
    ({}, f"seed = [{', '.join(map(str, range(10_001)))}]", "seed: a list of 10,001 values, more than the 10,000"),
    ({}, "hidden-size = [10, 20]", "unknown training option 'hidden-size'; did you mean 'hidden_size'?"),
])
def test_ranges_and_lists_that_cannot_be_searched_are_one_line(tmp_path, given, file, message):
    path = tmp_path / "space.toml"
    path.write_text(file)
    with pytest.raises(ConfigError) as caught:
        build_space(given, path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_command_line_sets_a_runs_length_over_the_space_file(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text("iters = 1000\n")
    space = build_space({"epochs": "1,2"}, path)  # the file's iters would have decided every trial's length
    assert "iters" not in space.fixed and space.dimensions["epochs"].values == (1, 2)
    assert build_space({"iters": "none,5", "epochs": "3"}).fixed == {"epochs": 3}  # iters none: epochs decide


def test_long_lists_of_crops_and_image_sizes_are_checked_at_their_extremes(monkeypatch):
    """Space.check_images validated every pairing of the crops, image sizes
    and preprocessings (a thousand crops by a thousand sizes: a minute before
    the search, and again before each trial); a crop fails first at its
    widest on the smallest images and ZCA on the largest, so those are what
    is checked, and what is refused is the same."""
    from twolayer import memory
    from twolayer.config import TrainConfig

    monkeypatch.setattr(memory, "available_bytes", lambda: None)  # which sizes are checked, whatever ZCA's memory
    calls = []
    check_images = TrainConfig.check_images
    monkeypatch.setattr(TrainConfig, "check_images", lambda self, *args: calls.append(1) or check_images(self, *args))
    given = {"dataset": "folder:/data/x", "crop": ",".join(map(str, range(100))),
             "image_size": ",".join(map(str, range(100, 1100))), "preprocess": "standardize,zca"}
    space = build_space(given)
    assert len(calls) <= 8
    space.check_images((100, 100, 3), 10**7)  # the data's, once read: before each trial
    space.check_images((100, 100, 3), 10**7)
    assert len(calls) <= 24
    with pytest.raises(ConfigError, match="zca needs more training images .* got 800,000 images of 3,623,403 values"):
        space.check_images((100, 100, 3), 10**6)  # too few for the largest size, 1099 x 1099, whichever trial reads
    with pytest.raises(ConfigError, match="^--crop must be below 50 for the 50x50 images of folder:/data/x, got 99"):
        build_space({**given, "image_size": "none,50,1000"})


def test_slips_in_a_list_or_range_are_read_or_said_with_the_syntax():
    # spaces around a range's colons were `a range is LOW:HIGH or LOW:HIGH:log, got '1e-3 : 1e-1 : log'`
    assert build_space({"lr": " 1e-3 : 1e-1 : LOG "}).dimensions["lr"] == Dimension("lr", low=1e-3, high=0.1, log=True)
    # a minus sign pasted from a typeset page (U+2212) was `expected a number, got '1e−3'`
    assert build_space({"lr": "1e\u22123,1e\u22122"}).dimensions["lr"].values == (1e-3, 1e-2)
    with pytest.raises(ConfigError, match="--seed must be a whole number >= 0, got -1"):
        build_space({"seed": "\u22121,5"})
    # other ways of writing a list or range were `expected a number, got '1e-3..1e-1'`, the way to write one unsaid
    for text in ("1e-3..1e-1", "0.1-0.2", "[0.1,0.2]", "0.1 0.2", "0.1;0.2"):
        with pytest.raises(ConfigError, match="expected a number, got .*; a list is written a,b,c and a range "
                                              "LOW:HIGH or LOW:HIGH:log"):
            build_space({"lr": text})


def test_build_space_in_python_takes_a_space_files_values_and_refuses_the_rest_in_one_line(tmp_path):
    # a list, a number or a range as Python values was `AttributeError: 'list' object has no attribute 'strip'`
    space = build_space({"lr": [0.01, 0.1], "reg": (0.1, 0.2), "hidden_size": 50, "flip": True,
                         "dropout_hidden": {"low": 0.1, "high": 0.5}})
    assert space.dimensions["lr"].values == (0.01, 0.1) and space.dimensions["reg"].values == (0.1, 0.2)
    assert space.dimensions["dropout_hidden"] == Dimension("dropout_hidden", low=0.1, high=0.5)
    assert space.fixed == {"hidden_size": 50, "flip": True}
    for given, toml_file, message in [
        ("lr=0.1", None, "a space is a dict of option names to values"),  # `'str' object has no attribute 'items'`
        ({5: "0.1"}, None, "unknown training option '5'"),  # `'int' object has no attribute 'replace'`
        ({"lr": "0.1,0.2"}, 5, "the space file must be text or a pathlib.Path, got int 5"),  # a TypeError from open
        ({"lr": None}, None, "--lr: expected a number, got None"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            build_space(given, toml_file)
