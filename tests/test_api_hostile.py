"""The Python API given what a data scientist's script may hand it: rows
beyond the network's float type, arrays of another shape, read-only
weights, a `state` or callbacks that are not the run's, text where a flag
belongs, NumPy scalars in a TrainConfig. Each is trained as meant or is
one ValueError naming the argument, never a silently wrong result or an
error from deep inside NumPy or numba.

Every test here is listed in TESTING.md."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from twolayer import TrainConfig, TwoLayerNet, fit, workflow
from twolayer.errors import ConfigError, UsageError
from twolayer.report import report
from twolayer.sklearn import TwoLayerClassifier
from twolayer.trainer import new_state


def data(n=60, d=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)), np.arange(n) % 3


def net(hidden=5, dtype=np.float32):
    return TwoLayerNet(8, hidden, 3, seed=0, dtype=dtype)


ONE_EPOCH = TrainConfig(epochs=1, val_size=0, batch_size=20)


def test_rows_beyond_the_networks_float_type_are_refused_by_every_entry():
    """1e300 in a float32 network: fit stopped at its first step blaming
    std, reg or the scale, predict labeled the row 0 (the argmax of NaN)."""
    X, y = data()
    X[4, 2] = -1e300
    message = re.escape("X holds values too large for the network's float32 (row 4: -1e+300; float32 holds at "
                        "most 3.4e+38): scale them down")
    model = net()
    for call in (lambda: fit(model, X, y, config=ONE_EPOCH), lambda: model.predict(X), lambda: model.scores(X),
                 lambda: model.loss(X, y)):
        with pytest.raises(ConfigError, match=message):
            call()
    with pytest.raises(ConfigError, match="X_val holds values too large"):
        fit(model, data()[0], y, X, y, config=ONE_EPOCH)
    with pytest.raises(ConfigError, match="float16 holds at most 6.55e"):  # an int32 beyond float16's 65504
        net(dtype=np.float16).predict(np.full((2, 8), 70000, dtype=np.int32))
    good = data()[0]  # float64 rows within float32's range, ints within float16's: taken as before
    assert model.predict(good).shape == (60,) and net(dtype=np.float16).predict(good.astype(np.int32)).shape == (60,)


def test_scores_and_gradients_check_their_arguments_as_loss_does():
    """scores(list) was an AttributeError, scores of another width a matmul
    error; gradients read a label of -1 as the last class (silently) and
    one of 5 was an IndexError."""
    X, y = data()
    model = net(dtype=np.float64)
    np.testing.assert_array_equal(model.scores(X.tolist()), model.scores(X))
    assert model.gradients(X.tolist(), y.tolist())[0] == model.gradients(X, y)[0]
    with pytest.raises(ConfigError, match="X has 4 values per row but the network takes 8"):
        model.scores(X[:, :4])
    for wrong, found in ((y - 1, "-1..1"), (y + 5, "5..7")):
        with pytest.raises(ConfigError, match=re.escape(f"y must hold labels 0..2 (the network has 3 outputs), "
                                                        f"found {found}")):
            model.gradients(X, wrong)


@pytest.mark.parametrize(("shape", "hint"), [
    ((60, 2, 2, 2), "images (N, H, W, C) as rows: X.reshape(len(X), -1)"),
    ((8,), "one row: X.reshape(1, -1)"),
    ((60,), "one row: X.reshape(1, -1), or one feature: X.reshape(-1, 1)"),
])
def test_arrays_of_another_shape_say_how_to_make_rows(shape, hint):
    X = np.zeros(shape)
    for call in (lambda: fit(net(), X, np.zeros(len(X), int), config=ONE_EPOCH), lambda: net().predict(X)):
        with pytest.raises(ConfigError, match=re.escape(f"got shape {shape}; {hint}")):
            call()


@pytest.mark.parametrize("hidden", [5, 10_000])  # 10,000: W1 is large enough for numba's fused update
def test_a_net_of_read_only_weights_trains_and_the_arrays_given_stay_as_they_were(hidden):
    """The update wrote in place: 'output array is read-only' from NumPy, or
    a numba TypingError (no setitem for a readonly array)."""
    X, y = data()
    given = {k: v.copy() for k, v in net(hidden).params.items()}
    for value in given.values():
        value.setflags(write=False)
    frozen, plain = TwoLayerNet.from_params(given), net(hidden)
    assert fit(frozen, X, y, config=ONE_EPOCH).loss == fit(plain, X, y, config=ONE_EPOCH).loss
    for key, value in given.items():
        np.testing.assert_array_equal(frozen.params[key], plain.params[key])
        np.testing.assert_array_equal(value, net(hidden).params[key])  # untouched


def test_fit_refuses_a_state_that_is_not_the_runs():
    """A state of other rows trained on some of them, another optimizer's
    state was used in place of the config's, another net's was a broadcast
    error, and a dict an AttributeError."""
    X, y = data()
    state = new_state(60, ONE_EPOCH)
    fit(net(), X, y, config=ONE_EPOCH, state=state)
    cases = [
        ({"state": {"iteration": 0}}, "state must be a TrainState (twolayer.trainer.new_state(len(X), config) makes "
                                      "one), got dict"),
        ({"X": X[:30], "y": y[:30]}, "state is not of a run on these 30 rows of X (eval_rows holds row"),
        ({"config": TrainConfig(epochs=2, val_size=0, batch_size=20, optimizer="adam")},
         "state continues a run with optimizer='nesterov', but config has optimizer='adam'"),
        ({"config": TrainConfig(epochs=2, val_size=0, batch_size=20, momentum=0.5)},
         "state continues a run with momentum=0.9, but config has momentum=0.5"),
        ({"model": net(hidden=7)}, "state's optimizer holds v.W1 of shape (8, 5), but the net's W1 is (8, 7)"),
    ]
    for change, message in cases:
        given = {"model": net(), "X": X, "y": y, "config": TrainConfig(epochs=2, val_size=0, batch_size=20),
                 "state": state, **change}
        with pytest.raises(ConfigError, match=re.escape(message)):
            fit(given["model"], given["X"], given["y"], config=given["config"], state=given["state"])
    assert state.iteration == 3  # refused before any step


def test_fit_refuses_callbacks_and_flags_of_the_wrong_kind_before_any_step():
    """on_iteration=5 was a TypeError after the first update; progress="no"
    showed a bar, restore_best="no" restored."""
    X, y = data()
    model = net()
    before = {k: v.copy() for k, v in model.params.items()}
    cases = [({"on_iteration": 5}, "on_iteration must be a function or None, got int 5"),
             ({"on_epoch_end": "print"}, "on_epoch_end must be a function or None, got str 'print'"),
             ({"progress": "no"}, "progress must be True or False, got str 'no'"),
             ({"restore_best": "False"}, "restore_best must be True or False, got str 'False'")]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=re.escape(message)):
            fit(model, X, y, config=ONE_EPOCH, **kwargs)
    with pytest.raises(ConfigError, match="verbose must be True or False, got str 'no'"):  # the assignment's train
        model.train(X, y, X, y, num_iters=5, verbose="no")
    for key, value in before.items():
        np.testing.assert_array_equal(model.params[key], value)
    assert fit(model, X, y, config=ONE_EPOCH, progress=0, restore_best=np.True_).loss  # 0, 1 and NumPy's bools


def test_a_callback_that_changes_a_parameters_shape_is_named():
    """The next step failed with NumPy's 'operands could not be broadcast
    together'; a callback changing the values is trained on as before."""
    X, y = data()
    model = net()

    def widen(state):
        model.params["W1"] = np.zeros((8, 6), np.float32)

    with pytest.raises(ConfigError, match=re.escape("on_epoch_end changed the net's W1 from shape (8, 5) to (8, 6); "
                                                    "a callback may change the parameters' values")):
        fit(model, X, y, config=TrainConfig(epochs=2, val_size=0), on_epoch_end=widen)
    scaled = net()
    fit(scaled, X, y, config=ONE_EPOCH, on_iteration=lambda *_: scaled.params["W2"].__imul__(0.5))


def test_a_flag_given_as_text_is_refused_and_replaces_no_run(tmp_path):
    """train(config, out, force="no") replaced the run there: "no" is true."""
    run = tmp_path / "run"
    config = TrainConfig(epochs=1, hidden_size=8)
    workflow.train(config, out=run, quiet=True)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    calls = [(lambda: workflow.train(config, out=run, force="no", quiet=True), "force must be True or False, got "
                                                                                 "str 'no'"),
             (lambda: workflow.train(config, out=tmp_path / "b", quiet="yes"), "quiet must be True or False"),
             (lambda: workflow.resume(run, quiet="no"), "quiet must be True or False"),
             (lambda: report(run, out=tmp_path / "p.html", force="no"), "force must be True or False")]
    for call, message in calls:
        with pytest.raises(UsageError, match=re.escape(message)):
            call()
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_resume_refuses_a_length_it_would_ignore(tmp_path):
    """length={"lr": 7} continued the run as if no length were given, 7 was
    'int' object is not iterable."""
    run = tmp_path / "run"
    workflow.train(TrainConfig(epochs=1, hidden_size=8), out=run, quiet=True)
    for length in ({"lr": 7}, 7, {"epochs": 3, "iters": 5}, [("epochs", 3)]):
        with pytest.raises(UsageError, match=re.escape(f"length must be {{'epochs': N}} or {{'iters': N}}, or None "
                                                       f"for the run's own, got {length!r}")):
            workflow.resume(run, quiet=True, length=length)
    assert workflow.resume(run, quiet=True, length={"epochs": 2}).metrics["iterations"] == 2 * 14


def test_numpy_scalars_in_a_trainconfig_train_and_are_recorded_as_numbers(tmp_path):
    """TrainConfig(lr=np.float32(0.01)) passed validate, then train() failed
    writing config.json: 'Object of type float32 is not JSON serializable'."""
    config = TrainConfig(epochs=np.int64(1), hidden_size=np.int32(8), lr=np.float32(0.01), flip=np.False_,
                         val_size=np.float64(0.1))
    result = workflow.train(config, out=tmp_path / "run", quiet=True)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert recorded["lr"] == float(np.float32(0.01)) and recorded["hidden_size"] == 8 and recorded["flip"] is False
    assert result.metrics["iterations"] == 14


def test_a_numpy_scalar_reg_of_a_narrow_type_is_the_number_it_holds():
    """loss(X, y, reg=np.float16(65504)): 2 * reg overflowed in float16 (a
    RuntimeWarning, infinite gradients); np.uint64's wrapped."""
    X, y = data()
    model = net(dtype=np.float64)
    for reg in (np.float16(65504), np.uint64(2**64 - 1)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss, grads = model.loss(X, y, reg=reg)
        expected_loss, expected = model.loss(X, y, reg=float(reg))
        assert loss == expected_loss and all(np.array_equal(grads[k], expected[k]) for k in grads)


def test_a_warm_fit_with_another_momentum_or_weight_decay_is_refused():
    """The estimator's warm fit kept the first fit's optimizer, silently
    ignoring a new momentum or weight_decay."""
    X, y = data(90)
    model = TwoLayerClassifier(epochs=1, optimizer="nesterov", warm_start=True).fit(X, y)
    for name, value in (("momentum", 0.5), ("weight_decay", 1e-3)):
        with pytest.raises(ValueError, match=re.escape(f"warm_start continues a net with {name}=")):
            model.set_params(**{name: value}).fit(X, y)
        model.set_params(momentum=0.9, weight_decay=0.0)
    assert model.fit(X, y).n_iter_ == 2


@pytest.mark.parametrize(("name", "meant"), [("learning_rate", "lr"), ("num_iters", "iters"), ("alpha", "reg"),
                                             ("max_iter", "epochs"), ("hiden_size", "hidden_size")])
def test_an_unknown_option_names_the_option_meant(name, meant):
    """TrainConfig(learning_rate=0.1), the assignment's name, said only
    'unexpected keyword argument'; MLPClassifier's alpha likewise."""
    for make in (TrainConfig, TwoLayerClassifier):
        with pytest.raises(TypeError, match=re.escape(f"unexpected keyword argument {name!r}; did you mean {meant}?")):
            make(**{name: 1})


def test_a_net_of_integer_weights_is_named_by_every_entry():
    # weights set by hand as integers were `data type <class 'numpy.int64'> not inexact`, from deep in NumPy
    whole = TwoLayerNet(4, 3, 2)
    whole.params = {k: v.astype(np.int64) for k, v in whole.params.items()}
    X, y = np.random.default_rng(0).random((20, 4)), np.arange(20) % 2
    for call in (lambda: whole.predict(X), lambda: whole.loss(X, y),
                 lambda: fit(whole, X, y, config=TrainConfig(iters=2))):
        with pytest.raises(ValueError, match="the network's weights are int64, not floating point"):
            call()
