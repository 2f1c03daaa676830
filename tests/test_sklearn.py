"""The scikit-learn estimator: scikit-learn's own estimator checks, then
pipelines, grid search, pickling, warm starts and labels of every kind."""

from __future__ import annotations

import inspect
import json
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from twolayer.config import TrainConfig, options
from twolayer.recipes import RECIPES
from twolayer.sklearn import NOT_PARAMETERS, OWN_PARAMETERS, TwoLayerClassifier

# Checks expected to fail, each with its reason (none at present: every check
# scikit-learn runs on this estimator passes).
EXPECTED_FAILED: dict[str, str] = {}


@parametrize_with_checks([TwoLayerClassifier(), TwoLayerClassifier(val_size=0, epochs=5)],
                         expected_failed_checks=lambda estimator: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    # check_array_api_input skips itself unless this is set (it then runs
    # with array API dispatch on, which must not change the NumPy results)
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


def test_parameters_are_the_option_table():
    params = inspect.signature(TwoLayerClassifier).parameters
    table = options(TrainConfig)
    assert set(params) == (set(table) - set(NOT_PARAMETERS)) | set(OWN_PARAMETERS)
    for name, opt in table.items():
        if name not in NOT_PARAMETERS:
            assert params[name].default == RECIPES["sklearn"].get(name, opt.default), name
    assert TwoLayerClassifier().get_params()["lr"] == RECIPES["sklearn"]["lr"]


@pytest.mark.parametrize(("params", "message"), [
    ({"lr": -1}, "lr must be > 0, got -1"),
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; choose from sgd, momentum, nesterov, adam"),
    ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
    ({"flip": True}, "flip and crop need image_shape=(H, W, C)"),
    ({"crop": 2}, "flip and crop need image_shape=(H, W, C)"),
    ({"image_shape": (8, 8, 2)}, "image_shape (8, 8, 2) holds 128 values, but X has 64 features"),
    ({"image_shape": "8x8"}, "image_shape must be (H, W, C)"),
    ({"image_shape": ((8,), 8, 1)}, "image_shape must be (H, W, C), three positive integers, got ((8,), 8, 1)"),
    ({"image_shape": np.ones((3, 2))}, "image_shape must be (H, W, C), three positive integers, got [[1.0, 1.0], "),
    ({"image_shape": (2**40,) * 3}, "holds 1329227995784915872903807060280344576 values, but X has 64 features"),
    ({"warm_start": "yes"}, "warm_start must be true or false, got 'yes'"),
    ({"verbose": -1}, "verbose must be true or false (or a level 0, 1, 2...), got -1"),
    ({"val_size": 2000}, "val_size=2000 holds out 2000 of n_samples=1437"),
])
def test_bad_parameters_are_one_line_value_errors(digits, params, message):
    X, _, y, _ = digits
    with pytest.raises(ValueError) as e:
        TwoLayerClassifier(epochs=1, **params).fit(X, y)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_flips_and_crops_with_an_image_shape(digits):
    X, X_test, y, y_test = digits
    plain = TwoLayerClassifier(image_shape=(8, 8, 1), epochs=15).fit(X, y)
    model = TwoLayerClassifier(image_shape=(8, 8, 1), flip=True, crop=1, epochs=15).fit(X, y)
    assert model.loss_curve_ != plain.loss_curve_  # the batches were flipped and cropped
    assert model.score(X_test, y_test) > 0.7


def test_pipeline_with_standard_scaler(digits):
    X, X_test, y, y_test = digits
    model = make_pipeline(StandardScaler(), TwoLayerClassifier(epochs=20)).fit(X, y)
    assert model.score(X_test, y_test) > 0.93


def test_grid_search_in_two_processes(digits):
    X, _, y, _ = digits
    search = GridSearchCV(make_pipeline(StandardScaler(), TwoLayerClassifier(epochs=5)),
                          {"twolayerclassifier__hidden_size": [20, 50], "twolayerclassifier__lr": [1e-3, 3e-3]},
                          cv=2, n_jobs=2)
    search.fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert np.all(search.cv_results_["mean_test_score"] > 0.5)
    assert search.best_estimator_[-1].hidden_size == search.best_params_["twolayerclassifier__hidden_size"]


def test_pickles_with_pickle_and_joblib(digits, tmp_path):
    X, X_test, y, _ = digits
    model = TwoLayerClassifier(epochs=3).fit(X, y)
    expected = model.predict_proba(X_test)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X_test), expected)
    joblib.dump(model, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict_proba(X_test), expected)
    # a pickled fitted model can go on training where it stopped
    again.set_params(warm_start=True, epochs=2).fit(X, y)
    assert len(again.loss_curve_) == 5


@pytest.mark.parametrize("params", [{}, {"optimizer": "nesterov", "lr": 0.01, "std": 1e-2},
                                    {"val_size": 0, "dropout_hidden": 0.2}])
def test_warm_start_continues_exactly(digits, params):
    """Fitting 5 epochs, then 5 more with warm_start, is bit for bit one fit of
    10: weights, optimizer state, batch order, history, best epoch."""
    X, _, y, _ = digits
    once = TwoLayerClassifier(epochs=10, **params).fit(X, y)
    twice = TwoLayerClassifier(epochs=5, warm_start=True, **params).fit(X, y)
    first = twice._net.params["W1"].copy()
    twice.fit(X, y)
    assert not np.array_equal(first, twice._net.params["W1"])  # the second fit did train
    for key in once.net_.params:
        np.testing.assert_array_equal(twice.net_.params[key], once.net_.params[key])
        np.testing.assert_array_equal(twice._net.params[key], once._net.params[key])
    for key in once._state.optimizer.state:
        np.testing.assert_array_equal(twice._state.optimizer.state[key], once._state.optimizer.state[key])
    assert twice.history_.loss == once.history_.loss
    assert twice.loss_curve_ == once.loss_curve_ and len(once.loss_curve_) == 10
    assert twice.validation_scores_ == once.validation_scores_
    assert twice.best_validation_score_ == once.best_validation_score_


def test_without_warm_start_fit_starts_over(digits):
    X, _, y, _ = digits
    model = TwoLayerClassifier(epochs=3).fit(X, y)
    first = model.net_.params["W1"].copy()
    model.fit(X, y)
    np.testing.assert_array_equal(model.net_.params["W1"], first)
    assert len(model.loss_curve_) == 3


def test_warm_start_refuses_what_it_cannot_continue(digits):
    X, _, y, _ = digits
    model = TwoLayerClassifier(epochs=1, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start continues a net with hidden_size=100, but hidden_size is now 50"):
        model.set_params(hidden_size=50).fit(X, y)
    model.set_params(hidden_size=100)
    with pytest.raises(ValueError, match=r"labels the first fit did not have: \[10\]"):
        model.fit(X, np.where(y == 9, 10, y))
    with pytest.raises(ValueError, match="X has 63 features, but TwoLayerClassifier is expecting 64"):
        model.fit(X[:, 1:], y)


def test_warm_start_refuses_other_rows_or_preprocessing(digits):
    """Fewer rows (or a larger val_size) were an IndexError deep in the
    trainer, more rows trained on the first fit's rows only; another
    preprocess was ignored silently."""
    X, _, y, _ = digits
    model = TwoLayerClassifier(epochs=1, warm_start=True).fit(X, y)
    for params, rows in (({}, 700), ({"val_size": 0.5}, len(y))):
        with pytest.raises(ValueError, match="warm_start continues a fit on 1293 training rows, but X and val_size "
                                             "now give"):
            model.set_params(**params).fit(X[:rows], y[:rows])
        model.set_params(val_size=0.1)
    with pytest.raises(ValueError, match="warm_start continues a net with preprocess='standardize', but preprocess "
                                         "is now 'none'"):
        model.set_params(preprocess="none").fit(X, y)
    assert model.set_params(preprocess="standardize").fit(X, y).n_iter_ == 2


@pytest.mark.parametrize("labels", [[1, "a", 2.0], [None, "a", "b"]])
def test_labels_of_mixed_types_are_one_value_error(digits, labels):
    """np.unique's TypeError: '<' not supported between 'float' and 'str'."""
    X, _, y, _ = digits
    mixed = np.array(labels, dtype=object)[y % 3]
    with pytest.raises(ValueError, match=r"y mixes labels of different types \((float, int, str|NoneType, str)\); "
                                         "give labels of one type"):
        TwoLayerClassifier(epochs=1).fit(X, mixed)


@pytest.mark.parametrize("label", [0.0, "cat", True, 7])
def test_a_single_class_is_refused_as_scikit_learns_classifiers_do(digits, label):
    """One label in y was fitted, every prediction that label (MLPClassifier
    too); LogisticRegression and SVC refuse it, and so does this."""
    X, _, y, _ = digits
    model = TwoLayerClassifier(epochs=1)
    with pytest.raises(ValueError, match=re.escape("TwoLayerClassifier needs samples of at least 2 classes in the "
                                                   f"data, but the data contains only one class: {label!r}")):
        model.fit(X, np.full(len(y), label))
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_labels_that_cannot_be_ordered_are_one_value_error(digits):
    """Labels all None said "y mixes labels of different types (NoneType)"."""
    X, _, y, _ = digits
    with pytest.raises(ValueError, match=r"y's labels are of type NoneType, which cannot be ordered; give labels "
                                         "that are text or numbers"):
        TwoLayerClassifier(epochs=1).fit(X, np.full(len(y), None))


def test_a_failed_fit_leaves_the_estimator_as_it_was(digits):
    """validate_data sets n_features_in_ as it checks X: a fit refused after
    it left an unfitted estimator looking fitted (predict raised
    AttributeError: no net_), and a fitted one expecting 10 features for a
    network of 64 (predict said the preprocessing expects 64 values)."""
    X, X_test, y, _ = digits
    model = TwoLayerClassifier(epochs=1, val_size=5000)
    with pytest.raises(ValueError, match="val_size=5000 holds out"):
        model.fit(X, y)
    assert not hasattr(model, "n_features_in_")
    with pytest.raises(NotFittedError):
        model.predict(X_test)

    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(64)])
    model.set_params(val_size=0.1).fit(frame, y)
    expected = model.predict_proba(frame)
    for bad in ({"X": X[:, :10]}, {"y": np.zeros(len(y))}):  # too many rows held out; one class
        with pytest.raises(ValueError):
            model.set_params(val_size=5000 if "X" in bad else 0.1).fit(bad.get("X", X), bad.get("y", y))
        assert model.n_features_in_ == 64 and list(model.feature_names_in_) == list(frame.columns)
        np.testing.assert_array_equal(model.predict_proba(frame), expected)


def test_random_state_says_the_seed_is_seed():
    with pytest.raises(TypeError, match=r"TwoLayerClassifier got an unexpected keyword argument 'random_state'; its "
                                        r"seed is seed, a whole number >= 0 \(seed=42\)"):
        TwoLayerClassifier(random_state=42)


def test_string_and_sparse_integer_labels(digits):
    X, X_test, y, y_test = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    for labels, expected in ((names[y], names[y_test]), (y * 7 - 3, y_test * 7 - 3)):
        model = make_pipeline(StandardScaler(), TwoLayerClassifier(epochs=10)).fit(X, labels)
        assert list(model.classes_) == sorted(set(labels.tolist()))
        predicted = model.predict(X_test)
        assert predicted.dtype == labels.dtype and set(predicted) <= set(labels.tolist())
        assert np.mean(predicted == expected) > 0.9
        proba = model.predict_proba(X_test)
        np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], predicted)


def test_predict_log_proba_as_scikit_learns_classifiers_give_it(digits):
    """MLPClassifier and LogisticRegression have it (BaggingClassifier
    calls it where its estimators do): it was an AttributeError. From the
    scores, it is finite where a probability rounds to 0."""
    X, X_test, y, _ = digits
    model = TwoLayerClassifier(epochs=3).fit(X, y)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X_test)), model.predict_proba(X_test), atol=1e-12)
    far = X_test * 1000  # scores thousands apart: probabilities of exactly 0
    assert (model.predict_proba(far) == 0).any()
    log = model.predict_log_proba(far)
    assert np.isfinite(log).all() and np.array_equal(log.argmax(axis=1), model.predict_proba(far).argmax(axis=1))


def test_fitted_attributes(digits):
    pd = pytest.importorskip("pandas", reason="feature_names_in_ comes from a DataFrame's columns")
    X, _, y, _ = digits
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(X.shape[1])])
    model = TwoLayerClassifier(epochs=4).fit(frame, y)
    assert model.n_features_in_ == 64
    assert list(model.feature_names_in_) == list(frame.columns)
    assert len(model.loss_curve_) == 4 and model.loss_curve_[-1] < model.loss_curve_[0] and model.n_iter_ == 4
    assert len(model.validation_scores_) == 4 and model.best_validation_score_ == max(model.validation_scores_)
    no_val = TwoLayerClassifier(epochs=4, val_size=0).fit(X, y)
    assert no_val.validation_scores_ is None and no_val.best_validation_score_ is None
    # kept: the best validation epoch's parameters (the command line's rule)
    assert model.net_.params is not model._net.params


def test_from_recipe():
    model = TwoLayerClassifier.from_recipe("classic", hidden_size=20)
    assert model.hidden_size == 20 and model.lr == RECIPES["classic"]["lr"] and model.iters == 1000
    assert TwoLayerClassifier.from_recipe("cpu", iters=10).epochs is not None
    with pytest.raises(ValueError, match="unknown recipe 'fast'; choose from classic"):
        TwoLayerClassifier.from_recipe("fast")


def test_clone_keeps_parameters_only(digits):
    X, _, y, _ = digits
    model = TwoLayerClassifier(epochs=1, image_shape=(8, 8, 1)).fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "classes_")


def test_verbose_draws_progress(digits, capsys):
    X, _, y, _ = digits
    TwoLayerClassifier(epochs=2).fit(X, y)
    assert capsys.readouterr() == ("", "")
    for verbose in (True, 1, 2):  # scikit-learn's verbose is a level: verbose=1 was refused
        TwoLayerClassifier(epochs=2, verbose=verbose).fit(X, y)
        printed = capsys.readouterr()
        assert "fit 100%" in printed.out and printed.err == ""  # not a terminal: log lines, on stdout
    TwoLayerClassifier(epochs=2, verbose=0).fit(X, y)
    assert capsys.readouterr() == ("", "")


def test_a_learners_network_is_not_a_parameter_it_would_ignore():
    """net="my_net.py" (the option table's --net) was a parameter that fit
    ignored: it trained twolayer's own network, even for a missing file."""
    assert "net" not in TwoLayerClassifier().get_params()
    with pytest.raises(TypeError, match="'net'"):
        TwoLayerClassifier(net="my_net.py")


def test_values_too_large_for_the_network_are_one_value_error(digits):
    """Finite values beyond float32's range: fit said "X holds NaN or
    infinity (row 0)" and predict_proba gave rows of NaN, and predict class 0.
    Standardized, they fit the network (as far as their sum is finite)."""
    X, _, y, _ = digits
    expected = "X holds values too large for the network: row 0 (largest absolute value 1.6e+301) overflows"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing from NumPy either
        for params in ({"preprocess": "mean"}, {"preprocess": "none"}):
            with pytest.raises(ValueError, match=re.escape(expected)):
                TwoLayerClassifier(epochs=1, **params).fit(X * 1e300, y)
        with pytest.raises(ValueError, match=r"row 0 \(largest absolute value 1.6e\+306\) overflows"):
            TwoLayerClassifier(epochs=1).fit(X * 1e305, y)  # their sum overflows: no mean to subtract
        model = TwoLayerClassifier(epochs=1).fit(X, y)
        with pytest.raises(ValueError, match=r"row 0 \(largest absolute value 1.6e\+39\) overflows"):
            model.predict(X * 1e38)


@pytest.mark.parametrize(("scale", "offset"), [(1e-12, 0), (1, 1.23456789e10), (1e-3, 1e6), (1e-6, 45.0),
                                               (1e300, 0)])
def test_standardize_learns_features_of_any_offset_and_scale(digits, scale, offset):
    """preprocess="standardize" (the default) is StandardScaler's scaling,
    whatever the features' units: features of scale 1e-12 were divided by
    their std + 1e-8 (about 1e-8: no feature reached the network), a spread
    below sqrt(n * eps) of the mean was taken for a constant (E[x^2] - E[x]^2
    cancels) and the mean was subtracted in float32 (off by 52 at 1.2e10):
    each was chance accuracy (0.08), without a word; values of 1e300 were
    refused as too large."""
    X, _, y, _ = digits
    expected = TwoLayerClassifier(epochs=3).fit(X, y).predict_proba(X)
    model = TwoLayerClassifier(epochs=3).fit(X * scale + offset, y)
    assert np.abs(model.predict_proba(X * scale + offset) - expected).max() < 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_features_apart_by_less_than_float32_precision_stay_apart(dtype):
    """1e8 and 1e8 + 0.5 are one float32: the rows were made float32 before
    the mean was subtracted, so they were the same row, even with dtype="float64"."""
    X = 1e8 + np.tile([[0.0], [0.5]], (100, 1))
    y = np.tile([0, 1], 100)
    model = TwoLayerClassifier(preprocess="mean", val_size=0, epochs=10, lr=0.01, dtype=dtype).fit(X, y)
    proba = model.predict_proba(X[:2])
    assert not np.array_equal(proba[0], proba[1])
    assert model.score(X, y) == 1.0


@pytest.mark.parametrize("params", [{}, {"preprocess": "zca"}, {"preprocess": "none", "dtype": "float64"},
                                    {"image_shape": np.array([8, 8, 1]), "flip": True}])
def test_to_onnx_gives_predict_probas_in_onnxruntime(digits, params):
    """The estimator could not be exported (export reads a run's bundle):
    to_onnx folds its preprocessing into the first layer, as export does."""
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    X, X_test, y, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    model = TwoLayerClassifier(epochs=5, **params)
    with pytest.raises(NotFittedError):
        model.to_onnx()
    model.fit(X, names[y])
    expected = model.predict_proba(X_test)
    for float16, tolerance in ((False, 1e-5), (True, 2e-3)):
        graph = model.to_onnx(float16=float16)
        onnx.checker.check_model(graph, full_check=True)
        session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
        assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [("X", ["N", 64], "tensor(float)")]
        assert json.loads(session.get_modelmeta().custom_metadata_map["class_names"]) == list(model.classes_)
        for n in (1, 2, len(X_test)):  # the batch size is free
            got = session.run(None, {"X": X_test[:n].astype(np.float32)})[0]
            assert got.shape == (n, 10) and np.abs(got - expected[:n]).max() < tolerance
        if not float16:
            np.testing.assert_array_equal(model.classes_[got.argmax(axis=1)], model.predict(X_test))


def test_an_interrupted_warm_fit_leaves_the_fitted_attributes_as_they_were(digits, monkeypatch):
    """A warm-started fit interrupted (Ctrl-C) left history_ grown by the
    interrupted steps (it was the trainer's own, still training) beside the
    earlier fit's n_iter_, loss_curve_ and net_; the next warm fit continues
    from where the interrupted one stopped, as the trainer's state allows."""
    import twolayer.sklearn as module

    X, X_test, y, _ = digits
    model = TwoLayerClassifier(epochs=1, warm_start=True).fit(X, y)
    before = (len(model.history_.loss), model.n_iter_, list(model.loss_curve_), model.predict_proba(X_test))

    class Interrupted(module.Progress):
        def update(self, *args, **kwargs):
            if args and args[0] == 3:
                raise KeyboardInterrupt("stopped after iteration 3")
            return super().update(*args, **kwargs)

    monkeypatch.setattr(module, "Progress", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    monkeypatch.undo()
    assert (len(model.history_.loss), model.n_iter_, model.loss_curve_) == before[:3]
    np.testing.assert_array_equal(model.predict_proba(X_test), before[3])
    model.fit(X, y)  # goes on from the interrupted steps
    assert len(model.history_.loss) == 3 + 2 * before[0] and len(model.history_.loss) == model._state.iteration
