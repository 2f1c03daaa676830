"""Every training option at the edges of what the option table accepts, and
in random combinations drawn from the table itself (so a new option is
covered without a line here): a configuration the tool accepts trains to
its end (finite weights, a model.npz, or a stop it explains in one line),
and one it does not accept is refused in one line before a run folder is
left behind; a run stopped after its first epoch resumes to the very same
weights.

Every test here is listed in TESTING.md."""

import json
import math
import sys
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from twolayer import TrainConfig, fit, workflow
from twolayer.bundles import load_bundle
from twolayer.cli import main
from twolayer.config import Interval, OneOf, OptionError, SplitSize, options
from twolayer.errors import TwolayerError
from twolayer.memory import describe
from twolayer.space import build_space
from twolayer.trainer import initial_net

SIDE, CLASSES, PER_CLASS = 6, 3, 8  # the made-up folder: 24 color images of 6 x 6 pixels
# Options whose values are the test's own: its data, on this machine, with the table's network.
OWN = {"data_dir": None, "net": None, "device": "cpu"}
# Options drawn from their low edge up to a few: those that set how much work a run is, so that each example
# trains in a fraction of a second (their high edges are refused or checked by test_the_length_of_a_run_...,
# test_a_hidden_layer_too_wide_...), and crop up to the widest the folder's images allow.
WORK = {"iters": 3, "epochs": 2, "hidden_size": 12, "image_size": 8, "crop": SIDE - 1}
EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


def _inside(opt) -> st.SearchStrategy:
    """Values of a number option that its rule allows: its edges, the next values in from them, huge ones
    where it has no upper edge, and some between."""
    rule, whole = opt.rule, opt.kind is int
    if isinstance(rule, SplitSize):
        return st.one_of(st.integers(0, CLASSES * PER_CLASS + 1), st.floats(0, 1, exclude_max=True),
                         st.sampled_from([5e-324, 1e-9, 0.5, math.nextafter(1.0, 0.0)]))
    low, high = (rule.low, rule.high) if isinstance(rule, Interval) else (None, None)
    high = WORK.get(opt.name, high)  # at most a few: a run's work has its own test (..._length_of_a_run_...)
    inward = (lambda x, to: x + (1 if to > x else -1)) if whole else math.nextafter
    edges = []
    if low is not None:
        edges += [low, inward(low, math.inf)] if rule.allows(low) else [inward(low, math.inf)]
    if high is not None:
        edges += [high, inward(high, -math.inf)] if opt.name in WORK or rule.allows(high) else \
            [inward(high, -math.inf)]
    lo = -5 if low is None else low
    between = st.integers(lo, lo + 20 if high is None else high) if whole else \
        st.floats(lo, 10.0 if high is None else high, exclude_min=low is not None and not rule.allows(low),
                  exclude_max=high is not None and not rule.allows(high))
    values = [st.sampled_from(edges), between]
    if high is None:  # no upper edge: huge values are allowed
        values.append(st.sampled_from([2**64 - 1, 10**30, 10**400] if whole else [1e10, 1e300, sys.float_info.max]))
    return st.one_of(*values)


def _beyond(opt) -> st.SearchStrategy | None:
    """Values just beyond a number option's edges, which its rule refuses (None: it has none)."""
    rule = opt.rule
    if isinstance(rule, SplitSize):
        return st.sampled_from([-1, -5e-324, 1.5, 1e300])
    if not isinstance(rule, Interval):
        return None
    outward = (lambda x, to: x + (1 if to > x else -1)) if opt.kind is int else math.nextafter
    values = [v for end, to in ((rule.low, -math.inf), (rule.high, math.inf)) if end is not None
              for v in (end, outward(end, to)) if not rule.allows(v)]
    return st.sampled_from(values) if values else None


def _values(opt) -> st.SearchStrategy:
    if opt.name in OWN:
        return st.just(OWN[opt.name])
    if opt.kind is bool:
        values = st.booleans()
    elif isinstance(opt.rule, OneOf):
        values = st.sampled_from(opt.choices())
    elif opt.kind in (int, float):
        values = _inside(opt)
    else:  # free text (the dataset): the test's folder
        values = st.just(opt.default)
    return st.one_of(st.none(), values) if opt.nullable else values


@st.composite
def configurations(draw, dataset: str) -> dict:
    """Option values drawn from the option table: each option left out (its default, or its recipe's) or
    given a value its rule allows, at or near its edges; now and then one just beyond an edge; the test's
    own data; the work options always given."""
    table = options()
    drawn = {"dataset": dataset}
    for name, opt in table.items():
        if name != "dataset" and (name in OWN or name in WORK or draw(st.booleans())):
            drawn[name] = draw(_values(opt))
    if draw(st.booleans()) and draw(st.booleans()):  # one value out of range, one time in four
        name = draw(st.sampled_from([name for name, opt in table.items() if _beyond(opt) is not None]))
        drawn[name] = draw(_beyond(table[name]))
    if drawn.get("iters") is not None:
        drawn.pop("epochs", None)  # the command line takes one of the two
    return drawn


def _allowed(options_given: dict) -> bool:
    """Whether every value given passes its own option's rule (and type)."""
    table = options()
    for name, value in options_given.items():
        try:
            table[name].check(value)
        except OptionError:
            return False
    return True


@pytest.fixture(scope="module")
def pics(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("extremes")
    rng = np.random.default_rng(0)
    for c in range(CLASSES):
        (root / "pics" / f"c{c}").mkdir(parents=True)
        for i in range(PER_CLASS):
            image = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
            image[..., c] //= 4  # a little signal: class c is darker in channel c
            Image.fromarray(image).save(root / "pics" / f"c{c}" / f"{i}.png")
    (root / "cache").mkdir()
    return root


def _one_line(e: BaseException) -> str:
    text = str(e)
    assert isinstance(e, TwolayerError), f"{type(e).__name__}: {text}"
    assert text and "\n" not in text, text
    return text


def _finite_model(run_dir: Path) -> None:
    bundle = load_bundle(run_dir / "model.npz")
    assert all(np.isfinite(v).all() for v in bundle.net.params.values())
    assert json.loads((run_dir / "metrics.json").read_text())["iterations"] >= 0


def _trained_or_refused(config: dict, out: Path) -> workflow.TrainResult | None:
    """workflow.train on `config`: the result of a run that went to its end (or stopped, saying why in one
    line), or None for a configuration refused in one line that left no run folder."""
    try:
        result = workflow.train(TrainConfig(**config), out, quiet=True)
    except TwolayerError as e:
        event(f"refused: {_one_line(e).split()[0]}")
        assert not out.exists(), f"{out} left behind after: {e}"
        return None
    assert _allowed(config), f"accepted a value its rule refuses: {config}"
    _finite_model(out)
    event("stopped, saying why" if result.history.stop_reason else "trained")
    if result.history.stop_reason:
        assert "\n" not in result.history.stop_reason
    return result


@EXAMPLES
@given(data=st.data())
def test_any_configuration_the_table_accepts_trains_to_its_end_or_is_refused_in_one_line(pics, tmp_path_factory,
                                                                                           data):
    config = data.draw(configurations(f"folder:{pics / 'pics'}"))
    config["data_dir"] = str(pics / "cache")
    _trained_or_refused(config, tmp_path_factory.mktemp("run") / "run")


@EXAMPLES
@given(data=st.data())
def test_fit_on_arrays_trains_any_accepted_configuration_to_finite_weights(pics, data):
    drawn = data.draw(configurations(f"folder:{pics / 'pics'}"))  # fit reads no dataset: its rows are given
    rng = np.random.default_rng(0)
    y = np.arange(30) % CLASSES
    X = (rng.normal(size=(30, SIDE * SIDE * 3)) + y[:, None]).astype(np.float32)
    try:
        config = TrainConfig(**drawn).validate()
        net = initial_net(config, X.shape[1], CLASSES, 24)
    except TwolayerError as e:
        _one_line(e)
        return
    assert _allowed(drawn), f"accepted a value its rule refuses: {drawn}"
    steps = []
    try:
        history = fit(net, X[:24], y[:24], X[24:], y[24:], config, image_shape=(SIDE, SIDE, 3),
                      on_iteration=lambda *a: steps.append(a))
    except TwolayerError as e:  # refused before its first step, never midway
        _one_line(e)
        assert not steps, f"refused after {len(steps)} steps: {e}"
        return
    assert all(np.isfinite(v).all() for v in net.params.values())
    assert len(history.loss) <= (config.iters or config.epochs * 24)
    assert history.stop_reason is None or "\n" not in history.stop_reason


class StopAfterFirstEpoch(Exception):
    pass


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_run_stopped_after_its_first_epoch_resumes_to_the_same_weights(pics, tmp_path_factory, data):
    config = data.draw(configurations(f"folder:{pics / 'pics'}"))
    config.update(data_dir=str(pics / "cache"), iters=None, epochs=data.draw(st.integers(2, 3)))
    whole = tmp_path_factory.mktemp("whole") / "run"
    result = _trained_or_refused(config, whole)
    if result is None or result.history.stop_reason or len(result.history.eval_iteration) < 2:
        return  # refused, diverged, or stopped by patience after one epoch: nothing to resume
    cut = tmp_path_factory.mktemp("cut") / "run"
    real = workflow.save_checkpoint

    def save_then_stop(*args):
        real(*args)
        raise StopAfterFirstEpoch  # as a kill -9 right after the first epoch's checkpoint

    with mock.patch.object(workflow, "save_checkpoint", save_then_stop), pytest.raises(StopAfterFirstEpoch):
        workflow.train(TrainConfig(**config), cut, quiet=True)
    assert not (cut / "model.npz").exists()
    workflow.resume(cut, quiet=True)
    for key, value in load_bundle(whole / "model.npz").net.params.items():
        np.testing.assert_array_equal(load_bundle(cut / "model.npz").net.params[key], value, err_msg=key)
    assert (cut / "history.csv").read_text() == (whole / "history.csv").read_text()


def _argv(config: dict) -> list[str]:
    """The command line of a drawn configuration."""
    table, argv = options(), []
    for name, value in config.items():
        if isinstance(value, bool):
            argv.append(table[name].flag if value else "--no-" + table[name].flag[2:])
        elif value is not None:
            argv += [table[name].flag, repr(value) if isinstance(value, float) else str(value)]
    return argv


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_command_line_trains_or_refuses_any_drawn_configuration_in_one_line(pics, tmp_path_factory, data):
    config = data.draw(configurations(f"folder:{pics / 'pics'}"))
    config["data_dir"] = str(pics / "cache")
    out = tmp_path_factory.mktemp("cli") / "run"
    err, printed = StringIO(), StringIO()
    with redirect_stderr(err), redirect_stdout(printed):
        try:
            code = main(["train", "--out", str(out), "--quiet", *_argv(config)])
        except SystemExit as e:  # argparse's refusals
            code = e.code
    lines = err.getvalue().strip().splitlines()
    assert code in (0, 2, 3) and len(lines) <= 1 and "Traceback" not in err.getvalue(), (code, err.getvalue())
    if code == 2:
        assert not out.exists()
    else:
        _finite_model(out)
        assert (out / "report.html").is_file()


def test_the_length_of_a_run_is_bounded_so_its_schedule_can_be_computed(capsys, tmp_path):
    # --iters 1e400 --schedule cosine trained a moment, then its schedule's float arithmetic overflowed:
    # an OverflowError traceback and a run folder without a model
    huge = str(10**400)
    for argv in (["--iters", huge, "--schedule", "cosine"], ["--epochs", huge, "--schedule", "onecycle"],
                 ["--iters", str(10**12 + 1)]):
        out = tmp_path / "run"
        assert main(["train", "--out", str(out), "--quiet", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{argv[0]} must be a positive integer at most 1,000,000,000,000" in err, err
        assert not out.exists()
    assert TrainConfig(iters=10**12, schedule="cosine").validate().iters == 10**12
    run = tmp_path / "short"
    assert main(["train", "--out", str(run), "--epochs", "1", "--hidden-size", "4", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", huge, "--quiet"]) == 2  # a longer run: the same bound
    assert "epochs must be a positive integer at most 1,000,000,000,000" in capsys.readouterr().err
    (tmp_path / "long.toml").write_text(f"iters = {2**63 - 1}\nschedule = 'cosine'\n")  # TOML's largest integer
    assert main(["train", "--out", str(tmp_path / "run"), "--config", str(tmp_path / "long.toml"), "--quiet"]) == 2
    assert "iters must be a positive integer at most 1,000,000,000,000" in capsys.readouterr().err


def test_a_hidden_layer_too_wide_for_any_float_says_how_much_memory_it_needs(capsys, tmp_path):
    # --hidden-size 1e400: describing its bytes divided a huge int into a float, an OverflowError traceback
    assert main(["train", "--out", str(tmp_path / "run"), "--hidden-size", str(10**400), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs about 2.8e+391 TB of memory" in err, err
    assert describe(2.8e12) == "2.8 TB" and describe(10**405) == "1.0e+393 TB"


def test_a_search_over_a_value_too_large_for_a_float_is_refused_before_any_trial(capsys, tmp_path):
    # tune --seed 1,1e400 (or a range to it) was a traceback from inside Optuna, or from math.isfinite
    huge = str(10**400)
    for value in (f"1,{huge}", f"0:{huge}"):
        with pytest.raises(OptionError, match=r"^--seed: a searched value must be at most 1.8e\+308"):
            build_space({"seed": value})
        assert main(["tune", "--out", str(tmp_path / "search"), "--seed", value, "--epochs", "1", "--quiet"]) == 2
        assert capsys.readouterr().err.count("\n") == 1
        assert not (tmp_path / "search").exists()
    space = build_space({"seed": huge, "lr": "0.1,0.2"})  # one large value is not searched: every trial takes it
    assert space.fixed["seed"] == 10**400
    assert build_space({"seed": f"{2**64 - 1},1"}).dimensions["seed"].values == (2**64 - 1, 1)


@pytest.mark.parametrize("argv", [["--iters", "1", "--lr", "1e300"],
                                  ["--iters", "1", "--lr", "1e300", "--val-size", "0"],
                                  ["--epochs", "2", "--batch-size", "100000", "--weight-decay", "1e300"]])
def test_an_update_that_overflows_the_weights_at_the_end_of_an_epoch_or_run_keeps_finite_ones(argv, capsys, tmp_path):
    # The run's last update overflowing (no loss after it to see it) wrote a model.npz of NaN, which its own
    # report refused; one at an epoch's end was evaluated and kept as the best epoch, then restored.
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--hidden-size", "8", "--quiet", *argv]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the run's starting parameters are kept" in err, err
    _finite_model(out)
    assert (out / "report.html").is_file()
    if argv[0] == "--iters":
        assert "the last update (iteration 1) overflowed the weights; try a lower learning rate than 1e+300" in err


def test_a_search_trial_whose_last_update_overflows_is_diverged_not_complete(capsys, tmp_path):
    # tune --lr 0.1,1e300 --iters 1: the second trial was "complete", its model.npz of NaN a candidate for best
    out = tmp_path / "search"
    assert main(["tune", "--out", str(out), "--lr", "0.1,1e300", "--iters", "1", "--hidden-size", "8", "--quiet"]) == 0
    assert "1,diverged,1e+300" in (out / "trials.csv").read_text()


@pytest.mark.parametrize("hidden", ["1,1000000000", "1:1000000000"])
def test_a_search_whose_widest_network_cannot_fit_in_memory_is_refused_before_any_trial(hidden, capsys, tmp_path):
    # tune --hidden-size 1,1000000000: trial 0 trained and was written, then trial 1 stopped the search (exit 1)
    out = tmp_path / "search"
    sampler = ["--sampler", "random", "--trials", "2"] if ":" in hidden else []
    assert main(["tune", "--out", str(out), "--hidden-size", hidden, "--epochs", "1", "--quiet", *sampler]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a hidden layer of 1,000,000,000 units on 64 inputs needs about" in err, err
    assert not out.exists()


def _text(value) -> str:
    """A value as a command line writes it in a list."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


@st.composite
def searches(draw) -> dict[str, list]:
    """One to three options of the table, each searched over two values drawn as configurations draws them
    (at or near the edges of their rules, now and then beyond)."""
    table = options()
    names = [name for name, opt in table.items() if opt.searchable and opt.on_tune and name not in OWN
             and name != "dataset"]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    lists = {}
    for name in chosen:
        beyond = _beyond(table[name])
        inside = _values(table[name])
        values = inside if beyond is None else st.one_of(inside, inside, inside, beyond)  # beyond: one in four
        lists[name] = draw(st.lists(values, min_size=2, max_size=2, unique_by=_text))
    if "iters" in lists and "epochs" in lists:
        del lists["epochs"]
    return lists


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_search_over_lists_of_extreme_values_runs_or_is_refused_before_any_trial(pics, tmp_path_factory, data):
    lists = data.draw(searches())
    work = [] if {"iters", "epochs"} & set(lists) else ["--iters", "2"]
    work += [] if "hidden_size" in lists else ["--hidden-size", "4"]
    out = tmp_path_factory.mktemp("search") / "search"
    argv = ["tune", "--out", str(out), "--dataset", f"folder:{pics / 'pics'}", "--data-dir", str(pics / "cache"),
            "--quiet", *work]
    for name, values in lists.items():
        argv += [options()[name].flag, ",".join(map(_text, values))]
    err = StringIO()
    with redirect_stderr(err), redirect_stdout(StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's refusals
            code = e.code
    assert len(err.getvalue().strip().splitlines()) <= 1 and "Traceback" not in err.getvalue(), err.getvalue()
    if code in (0, 3):  # every trial ran: complete, diverged (3: none completed) or pruned by the median rule
        states = [line.split(",")[1] for line in (out / "trials.csv").read_text().splitlines()[1:]]
        event(f"searched: {sorted(set(states))}")
        assert len(states) == math.prod(len(v) for v in lists.values())
        assert set(states) <= {"complete", "diverged", "pruned"}, states
    else:
        event(f"refused: exit {code}")
        assert code == 2 and not out.exists(), (code, err.getvalue())


def test_a_learners_loss_beyond_its_float_type_is_the_runs_stop_not_the_learners_fault(capsys, tmp_path):
    # --net FILE --reg 1e300: the L2 term is beyond float32, so the learner's loss is inf; twolayer's
    # reference, in float64, was finite, so the learner was blamed for an unshifted softmax (exit 1, a
    # run folder of config.json alone)
    learner = Path(__file__).parent / "learners" / "neural_net.py"
    out = tmp_path / "run"
    assert main(["train", "--net", str(learner), "--iters", "2", "--reg", "1e300", "--out", str(out), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "loss became inf (inf) at iteration 1; before any update" in err and "softmax" not in err, err
    _finite_model(out)
