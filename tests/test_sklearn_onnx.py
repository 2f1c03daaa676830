"""skl2onnx converts a whole Pipeline holding TwoLayerClassifier
(register_skl2onnx, sklearn_onnx.py), the graph run in onnxruntime.

Probabilities are compared within 1e-5: the graph computes the scaler and
the network (its preprocessing folded into W1, b1) in float32, or float64
for float64 rows, where predict_proba standardizes in float64 and runs its
float32 network, so they differ by a few float32 roundings (2.3e-7 at most
here, float32's epsilon being 1.2e-7); a wrong weight, a missing step or
classes in another order moves them by tenths."""

from __future__ import annotations

import subprocess
import sys
import traceback

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from twolayer.sklearn import TwoLayerClassifier, register_skl2onnx

TOLERANCE = 1e-5
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def skl2onnx():
    module = pytest.importorskip("skl2onnx", reason="needs skl2onnx (the export extra: pip install 'twolayer[export]')")
    register_skl2onnx()
    return module


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


def run(graph, X):
    """The graph's outputs on X in onnxruntime, by name."""
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": X}), strict=True))


@pytest.mark.parametrize("names", [False, True], ids=["integer labels", "string labels"])
def test_a_pipeline_converts_to_its_predictions_in_onnxruntime(skl2onnx, digits, names):
    """StandardScaler + TwoLayerClassifier on digits, declared float32 or
    float64 (digits' own rows: skl2onnx's classifiers gave a graph
    onnxruntime refuses, a ZipMap of float64), with ZipMap (the default)
    and without: the label is predict's, the probabilities predict_proba's."""
    X, X_test, y, _ = digits
    labels = NAMES[y] if names else y
    pipe = Pipeline([("scale", StandardScaler()), ("net", TwoLayerClassifier(epochs=5))]).fit(X, labels)
    expected, proba = pipe.predict(X_test), pipe.predict_proba(X_test)
    for dtype in (np.float32, np.float64):
        rows = X_test.astype(dtype)
        out = run(skl2onnx.to_onnx(pipe, X[:1].astype(dtype)), rows)
        np.testing.assert_array_equal(out["output_label"], expected)
        got = np.array([[row[label] for label in pipe.classes_] for row in out["output_probability"]])
        assert np.abs(got - proba).max() < TOLERANCE

        out = run(skl2onnx.to_onnx(pipe, X[:1].astype(dtype), options={"zipmap": False}), rows)
        np.testing.assert_array_equal(out["label"], expected)
        assert out["probabilities"].dtype == dtype and np.abs(out["probabilities"] - proba).max() < TOLERANCE
        assert out["label"].dtype == (object if names else np.int64)


def test_features_far_from_zero_give_predict_probas_in_float32(skl2onnx, digits):
    """Digits + 1e4 (exact in float32): the mean was folded into b1, and
    x @ W1 + b1 summed two terms of 1e4 in float32, so the graph's
    probabilities were 0.006 off predict_proba's (to_onnx and skl2onnx's
    float32 graph); the shift is now subtracted from the rows first."""
    X, X_test, y, _ = digits
    model = TwoLayerClassifier(epochs=5).fit(X + 1e4, y)
    rows = (X_test + 1e4).astype(np.float32)
    expected = model.predict_proba(X_test + 1e4)
    assert np.abs(run(model.to_onnx(), rows)["probabilities"] - expected).max() < TOLERANCE
    out = run(skl2onnx.to_onnx(model, rows[:1], options={"zipmap": False}), rows)
    assert np.abs(out["probabilities"] - expected).max() < TOLERANCE


def test_the_options_of_skl2onnx_classifiers(skl2onnx, digits):
    """nocl (the label is the class's index), zipmap="columns" (a column
    per class) and output_class_labels, as skl2onnx's classifiers take
    them; integer and boolean rows are cast to float32."""
    X, X_test, y, _ = digits
    model = TwoLayerClassifier(epochs=5).fit(X, NAMES[y])
    rows = X_test.astype(np.float32)
    index = model.predict_proba(X_test).argmax(axis=1)
    out = run(skl2onnx.to_onnx(model, X[:1].astype(np.float32), options={"nocl": True, "zipmap": False}), rows)
    np.testing.assert_array_equal(out["label"], index)
    out = run(skl2onnx.to_onnx(model, X[:1].astype(np.float32), options={"nocl": True}), rows)
    assert sorted(out["output_probability"][0]) == list(range(10))
    out = run(skl2onnx.to_onnx(model, X[:1], options={"zipmap": "columns"}), X_test)
    got = np.stack([out["s" + name] for name in model.classes_], axis=1)
    assert np.abs(got - model.predict_proba(X_test)).max() < TOLERANCE
    options = {"zipmap": False, "output_class_labels": True}
    out = run(skl2onnx.to_onnx(model, X[:1].astype(np.float32), options=options), rows)
    np.testing.assert_array_equal(out["class_labels"], model.classes_)
    out = run(skl2onnx.to_onnx(model, X[:1].astype(np.int64), options={"zipmap": False}), X_test.astype(np.int64))
    np.testing.assert_array_equal(out["label"], model.predict(X_test.astype(np.int64)))


def test_an_unfitted_estimator_is_refused_in_one_line(skl2onnx, digits):
    """It failed deep in skl2onnx: RuntimeError: No known ways to retrieve
    the number of classes for class <class '...TwoLayerClassifier'>."""
    X = digits[0]
    for model in (TwoLayerClassifier(), Pipeline([("scale", StandardScaler()), ("net", TwoLayerClassifier())])):
        with pytest.raises(NotFittedError, match="This TwoLayerClassifier instance is not fitted yet") as e:
            skl2onnx.to_onnx(model, X[:1].astype(np.float32))
        assert "\n" not in str(e.value)


def test_what_onnx_cannot_hold_is_one_line(skl2onnx, digits):
    """Rows of another width than the network's, declared: predict's own
    words (the graph was made and refused by onnxruntime); class labels an
    ONNX label cannot hold (integers beyond int64): the remedy, nocl,
    converts them."""
    X, X_test, y, _ = digits
    model = TwoLayerClassifier(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="^X has 10 features, but TwoLayerClassifier is expecting 64 features"):
        skl2onnx.to_onnx(model, X[:1, :10].astype(np.float32))
    model = TwoLayerClassifier(epochs=1).fit(X, y.astype(np.uint64) + 2**63)
    with pytest.raises(ValueError, match=r"classes_ \[9223372036854775808, .*, ...\] \(uint64\): an ONNX label") as e:
        skl2onnx.to_onnx(model, X[:1].astype(np.float32))
    assert "\n" not in str(e.value) and "'nocl': True" in str(e.value)
    out = run(skl2onnx.to_onnx(model, X[:1].astype(np.float32), options={"nocl": True, "zipmap": False}),
              X_test.astype(np.float32))
    np.testing.assert_array_equal(model.classes_[out["label"]], model.predict(X_test))


class Doubler(TransformerMixin, BaseEstimator):
    """A transformer skl2onnx knows no converter of."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X * 2


def test_a_step_skl2onnx_cannot_convert_gets_skl2onnx_own_error(skl2onnx, digits):
    X, _, y, _ = digits
    pipe = Pipeline([("double", Doubler()), ("net", TwoLayerClassifier(epochs=1))]).fit(X, y)
    from skl2onnx.common.exceptions import MissingShapeCalculator

    with pytest.raises(MissingShapeCalculator, match="Doubler") as e:
        skl2onnx.to_onnx(pipe, X[:1].astype(np.float32))
    assert "twolayer" not in traceback.extract_tb(e.tb)[-1].filename


def test_twolayer_works_without_skl2onnx(tmp_path):
    """twolayer.sklearn does not import skl2onnx (fit, predict and to_onnx
    need none); register_skl2onnx says what to install, in one line."""
    code = """if True:
        import sys
        sys.modules["skl2onnx"] = None  # as if it were not installed: importing it raises ImportError
        from sklearn.datasets import load_digits
        from twolayer.errors import TwolayerError
        from twolayer.sklearn import TwoLayerClassifier, register_skl2onnx
        X, y = load_digits(return_X_y=True)
        model = TwoLayerClassifier(epochs=1).fit(X[:200], y[:200])
        model.predict(X[:5])
        try:
            register_skl2onnx()
        except TwolayerError as e:
            print(e)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "this export needs the skl2onnx package: pip install 'twolayer[export]'\n"
