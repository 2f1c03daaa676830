"""The Python API off the paved road: data in containers NumPy reads
wrong, arguments of the wrong type, images of another scale, gradient
checks of mismatched shapes. Each is read as meant or refused in one
ValueError naming the argument, never a silently wrong result."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twolayer import TrainConfig, TwoLayerNet, fit
from twolayer.bundles import Bundle, load_bundle, save_bundle
from twolayer.config import OptionError
from twolayer.data.preprocess import Preprocessor
from twolayer.errors import ConfigError
from twolayer.gradcheck import numerical_gradient, numerical_gradient_array, rel_error, scaled_error
from twolayer.recipes import RECIPES
from twolayer.workflow import predict


def data(n=60, d=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)), np.arange(n) % 3


def one_epoch(X, y):
    return fit(TwoLayerNet(8, 5, 3, seed=0, dtype=np.float32), X, y, config=TrainConfig(epochs=1, val_size=0))


def _masked(X):
    return np.ma.masked_array(X, mask=X > 2)


def _pandas_na(X, dtype):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X.round()).astype(dtype)
    return frame.mask(pd.DataFrame(X) > 2)


def _labels_na(y, row):
    pd = pytest.importorskip("pandas")
    labels = pd.Series(y).astype("Int64")
    labels[row] = pd.NA
    return labels


def _sparse(X):
    sparse = pytest.importorskip("scipy.sparse")
    return sparse.csr_matrix(X)


MISREAD = {  # name: (X, y) -> (X, y) as given, a piece of the message; each was read wrong or said "got shape ()"
    "a sparse matrix (got shape ())": (lambda X, y: (_sparse(X), y), "X is a sparse matrix; the network takes dense "
                                       "rows: X.toarray()"),
    "sparse labels": (lambda X, y: (X, _sparse(y)), "y is a sparse matrix"),
    "masked values (the mask was dropped)": (lambda X, y: (_masked(X), y), "X has masked values (row"),
    "masked labels (the mask was dropped)": (lambda X, y: (X, np.ma.masked_array(y, mask=y == 2)),
                                             "y has masked values (row 2)"),
    "a generator (got shape ())": (lambda X, y: ((row for row in X), y), "got a generator; make a list of it first"),
    "None": (lambda X, y: (None, y), "X must be an array of numbers, got None"),
    "a structured array (got shape (60,))": (
        lambda X, y: (np.array([tuple(r) for r in X], dtype=[(f"f{i}", "f8") for i in range(8)]), y),
        "X is a structured array (fields f0, f1"),
    "Int64 columns with NA (got dtype object)": (lambda X, y: (_pandas_na(X, "Int64"), y),
                                                 "X has a missing value (NA) in row"),
    "Float64 columns with NA": (lambda X, y: (_pandas_na(X, "Float64"), y), "X has a missing value (NA) in row"),
    "Int64 labels with NA (got dtype float64)": (lambda X, y: (X, _labels_na(y, 4)),
                                                 "y has a missing value (NA) in row 4"),
    "a column of labels": (lambda X, y: (X, y[:, None]), "a column of labels: y.ravel()"),
}


@pytest.mark.parametrize("name", list(MISREAD))
def test_containers_numpy_reads_wrong_are_one_value_error(name):
    make, message = MISREAD[name]
    X, y = make(*data())
    with pytest.raises(ConfigError, match=re.escape(message)):
        one_epoch(X, y)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("kind", ["matrix", "masked without masked values", "Int64 columns", "boolean columns"])
def test_good_data_in_other_containers_is_trained_as_given(kind):
    """np.matrix was a TypeError deep in the softmax (a matrix's max keeps
    two dimensions), a DataFrame of nullable numbers was refused as objects."""
    X, y = data()
    X = np.round(X)
    if kind in ("Int64 columns", "boolean columns"):
        pd = pytest.importorskip("pandas")
        given = pd.DataFrame(X).astype("Int64") if kind == "Int64 columns" else pd.DataFrame(X > 0).astype("boolean")
        X = X if kind == "Int64 columns" else (X > 0).astype(float)
    else:
        given = np.matrix(X) if kind == "matrix" else np.ma.masked_array(X, mask=np.zeros_like(X, bool))
    assert one_epoch(given, y).loss == one_epoch(X, y).loss
    net = TwoLayerNet(8, 5, 3, seed=0)
    np.testing.assert_array_equal(net.predict(given), net.predict(X))


def test_rows_with_nan_are_refused_by_predict_and_loss():
    """predict labeled a NaN row class 0 (the argmax of NaN scores)."""
    X, y = data()
    X[7, 3] = np.nan
    net = TwoLayerNet(8, 5, 3, seed=0)
    for call in (net.predict, net.loss, lambda X: net.loss(X, y)):
        with pytest.raises(ConfigError, match=re.escape("X holds NaN or infinity (row 7)")):
            call(X)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "10"])
def test_predict_refuses_a_batch_size_that_is_not_a_positive_integer(batch_size):
    """-1 made no batch at all: predict returned uninitialized memory as labels."""
    X, _ = data()
    with pytest.raises(ConfigError, match=f"batch_size must be a positive integer or None, got {batch_size!r}"):
        TwoLayerNet(8, 5, 3, seed=0).predict(X, batch_size=batch_size)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"input_size": None}, "input_size must be a positive integer, got None"),  # TypeError from int()
    ({"input_size": True}, "input_size must be a positive integer, got True"),  # NumPy's TypeError
    ({"std": "0.1"}, "std must be a number > 0, got '0.1'"),  # '>' not supported
    ({"std": float("inf")}, "std must be a number > 0, got inf"),  # weights of infinities
    ({"std": 1e300, "dtype": np.float32}, "std must be at most 3.4e+37 in float32"),  # the same, after the cast
    ({"dtype": np.int32}, "dtype must be a float type"),  # weights of zeros, then a casting error in fit
    ({"dtype": "floaty"}, "dtype must be a float type (np.float32 or np.float64), got 'floaty'"),
    ({"seed": -1}, "seed must be a whole number >= 0, a numpy.random.Generator or None, got -1"),
    ({"seed": "a"}, "seed must be a whole number >= 0"),
])
def test_bad_arguments_to_twolayernet_are_one_value_error(kwargs, message):
    args = {"input_size": 4, "hidden_size": 5, "output_size": 3, **kwargs}
    with pytest.raises(ConfigError, match=re.escape(message)):
        TwoLayerNet(**args)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"reg": -1}, "reg must be >= 0, got -1"),  # a negative L2 term, silently
    ({"reg": "0.1"}, "reg must be a number >= 0, got '0.1'"),  # a TypeError in the L2 term
    ({"reg": float("nan")}, "reg must be >= 0, got nan"),  # a loss of NaN
    ({"dropout_hidden": 1.0}, "dropout_hidden must be in [0, 1), got 1.0"),
])
def test_loss_checks_its_options_by_the_option_table(kwargs, message):
    X, y = data()
    with pytest.raises(OptionError, match=re.escape(message)):
        TwoLayerNet(8, 5, 3, seed=0).loss(X, y, **kwargs)


def test_fit_given_something_else_as_the_net_names_it():
    X, y = data()
    for net in ("net.py", None, X):
        with pytest.raises(ConfigError, match="net must be a TwoLayerNet"):  # AttributeError: no attribute 'params'
            fit(net, X, y)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": "0.1"}, "lr must be a number > 0, got '0.1'"),  # it said "must be > 0" of '0.1'
    ({"momentum": None}, "momentum must be a number in [0, 1), got None"),
    ({"reg": [0.1]}, "reg must be a number >= 0, got [0.1]"),
    ({"lr": -1}, "lr must be > 0, got -1"),  # a number out of range is said as before
    ({"optimizer": 5}, "optimizer must be text, got 5"),  # it said "must be text without a NUL character"
    ({"dataset": Path("pets")}, "dataset must be a dataset spec, text (a folder of images is 'folder:pets'), got "
                                "PosixPath('pets')"),
])
def test_options_of_the_wrong_type_say_a_number_is_expected(kwargs, message):
    with pytest.raises(OptionError, match=re.escape(message)):
        TrainConfig(**kwargs).validate()


def test_a_recipe_named_in_trainconfig_applies_its_values_under_the_ones_given():
    """TrainConfig(recipe="classic") had the table's defaults (lr 0.01, 100
    hidden units) under the recipe's name: a silently different run."""
    config = TrainConfig(recipe="classic", lr=5e-4).validate()
    assert config.lr == 5e-4 and config.recipe == "classic"
    for name, value in RECIPES["classic"].items():
        if name != "lr":
            assert getattr(config, name) == value, name
    cpu = TrainConfig(recipe="cpu", iters=10)  # --iters drops the recipe's epochs, as on the command line
    assert cpu.iters == 10 and cpu.epochs == TrainConfig().epochs and cpu.hidden_size == RECIPES["cpu"]["hidden_size"]
    assert TrainConfig(**config.to_dict()) == config
    # a recorded config lacking an option (one newer than the run) takes its default, not the recipe's
    record = {k: v for k, v in TrainConfig(recipe="cpu").to_dict().items() if k != "flip"}
    assert TrainConfig.from_dict(record).flip is False
    with pytest.raises(TypeError, match="unexpected keyword argument 'lrr'"):
        TrainConfig(lrr=0.1)
    assert inspect.signature(TrainConfig).parameters["lr"].default == 1e-2  # help() lists the options
    with pytest.raises(OptionError, match="unknown recipe 'nope'"):
        TrainConfig(recipe="nope").validate()


def test_trainconfig_takes_numpy_float_types_and_paths():
    """dtype=np.float32 was 'dtype must be text', a pathlib.Path data_dir 'must be text'."""
    from pathlib import Path

    config = TrainConfig(dtype=np.float64, data_dir=Path("/tmp")).validate()
    assert config.dtype == "float64" and config.data_dir == "/tmp"
    with pytest.raises(OptionError, match="unknown dtype 'int8'"):
        TrainConfig(dtype=np.int8).validate()


def digits_bundle(path):
    """A bundle for 8x8 gray images, fitted on pixels 0..255."""
    images = np.random.default_rng(1).integers(0, 256, (50, 8, 8, 1)).astype(np.uint8)
    net = TwoLayerNet(64, 6, 3, std=0.05, seed=1, dtype=np.float32)
    save_bundle(path, Bundle(net, Preprocessor.fit("standardize", images), ["a", "b", "c"], (8, 8, 1),
                             {"preprocess": "standardize"}))
    return path


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda im: im / 255.0, "images look scaled to [0, 1] (the largest value is 1), but the model takes pixel "
                            "values 0..255: multiply them by 255"),
    (lambda im: (im - 128.0) / 64, "images must hold pixel values 0..255, as the images the model was trained on, "
                                   "found -2..1.98"),
    (lambda im: im.astype(np.uint16) * 257, "found 0..65535"),
    (lambda im: im > 128, "images must hold pixel values 0..255, got dtype bool"),
    (lambda im: np.where(im > 250, np.nan, im.astype(float)), "images hold NaN or infinity (image"),
    (lambda im: im.astype(complex), "got dtype complex128"),  # its imaginary part was dropped, with a warning
])
def test_images_of_another_scale_are_refused_by_bundle_probabilities(tmp_path, wrong, message):
    """Every bundle's preprocessing is fitted on pixels 0..255: images in
    [0, 1] or standardized were scored silently wrong (and NaN gave NaN)."""
    bundle = load_bundle(digits_bundle(tmp_path / "model.npz"))
    images = np.random.default_rng(2).integers(0, 256, (5, 8, 8, 1)).astype(np.uint8)
    images[0, 0, 0, 0] = 255
    images[0, 0, 1, 0] = 0
    with pytest.raises(ConfigError, match=re.escape(message)):
        bundle.probabilities(wrong(images))
    expected = bundle.probabilities(images)
    for same in (images.astype(np.float32), images.astype(np.int64), images.tolist()):
        np.testing.assert_allclose(bundle.probabilities(same), expected, rtol=1e-6)  # a list was an AttributeError
    assert bundle.probabilities(images[:0]).shape == (0, 3)


def test_a_model_path_as_bytes_is_read_and_predict_needs_an_image(tmp_path):
    """A bytes path (a model's, or images') was pathlib's TypeError; predict of no images NumPy's 'need at least
    one array to stack'."""
    path = digits_bundle(tmp_path / "model.npz")
    assert load_bundle(bytes(path)).class_names == ["a", "b", "c"]
    assert load_bundle(bytes(tmp_path)).image_shape == (8, 8, 1)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")  # images as bytes too, as open() takes them
    for images in (bytes(tmp_path / "a.png"), [bytes(tmp_path / "a.png")], bytes(tmp_path)):
        assert [row["path"] for row in predict(path, images)] == [str(tmp_path / "a.png")]
    with pytest.raises(ConfigError, match="no image files given to predict"):
        predict(path, [])
    from twolayer import load_dataset  # a data directory as bytes too (it was pathlib's TypeError)

    assert load_dataset("digits", data_dir=bytes(tmp_path)).class_names[0] == "0"


def test_a_path_argument_that_is_not_a_path_or_is_empty_is_one_usage_error(tmp_path, monkeypatch):
    """Each was os's or pathlib's TypeError, naming no argument (`expected str, bytes or os.PathLike object,
    not NoneType`), or for an array of pixels given as the images, `'int' object is not iterable` and the like;
    an empty run folder or page was '.', the current folder."""
    import twolayer
    from twolayer.checks import print_checks
    from twolayer.errors import LearnerError, TwolayerError, UsageError
    from twolayer.report import report
    from twolayer.workflow import evaluate, resume, train

    monkeypatch.chdir(tmp_path)
    model = digits_bundle(tmp_path / "model.npz")
    calls = {
        "the model's path must be text or a pathlib.Path, got NoneType None": lambda: evaluate(None),
        "the model's path must be text or a pathlib.Path, got int 5": lambda: load_bundle(5),
        "image_paths must be a path or a list of paths, got ndarray; images already in memory are scored by "
        "load_bundle(model).probabilities(images)": lambda: predict(model, np.zeros((8, 8))),
        "image_paths must be a path or a list of paths, got NoneType": lambda: predict(model, None),
        "an image's path must be text or a pathlib.Path, got NoneType None": lambda: predict(model, [None]),
        "--resume must be text or a pathlib.Path, got NoneType None": lambda: resume(None),
        "--out must be text or a pathlib.Path, got int 5; give a folder for the run":
            lambda: train(TrainConfig(epochs=1), out=5, quiet=True),
        "the path to report must be text or a pathlib.Path, got NoneType None": lambda: report(None),
        "--out must be text or a pathlib.Path, got int 5; give the page's file name": lambda: report(tmp_path, out=5),
        "data_dir must be text or a pathlib.Path, got int 5": lambda: twolayer.load_dataset("digits", data_dir=5),
        "the path of the learner's file must be text or a pathlib.Path, got NoneType None": lambda: print_checks(None),
        "the model's path holds a NUL character, got 'm\\x00.npz'": lambda: evaluate("m\0.npz"),
        "an image's path holds a NUL character, got 'a\\x00.png'": lambda: predict(model, ["a\0.png"]),
        "--out holds a NUL character, got 'p\\x00.html'": lambda: report(tmp_path, out="p\0.html"),
        # the run's data, which train passes on: anything else was an AttributeError ('str' object has no attribute 'y')
        "data must be the run's Prepared data (workflow.prepare(config)), or None to load it again, got str":
            lambda: report(tmp_path, data="digits"),
    }
    for message, call in calls.items():
        with pytest.raises(UsageError, match=re.escape(message)):
            call()
    empty = {
        "--out is empty; give a folder for the run": (UsageError, lambda: train(TrainConfig(epochs=1), out="")),
        "--resume is empty; give the run's folder": (UsageError, lambda: resume("")),
        "the path to report is empty": (TwolayerError, lambda: report("")),
        "the path of the learner's file is empty": (LearnerError, lambda: print_checks("")),
    }
    for message, (kind, call) in empty.items():
        with pytest.raises(kind, match=re.escape(message)):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no run made here, nothing written


def test_gradient_checks_refuse_what_would_pass_or_fail_silently():
    f = lambda x: float(np.sum(x**2))  # noqa: E731
    with pytest.raises(ValueError, match="x must be a NumPy float array .* got int64"):  # its steps rounded to 0
        numerical_gradient(f, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=re.escape("cannot compare arrays of shapes (3, 1) and (1, 3)")):
        rel_error(np.ones((3, 1)), np.ones((1, 3)))  # broadcast to (3, 3): 0.0, a pass
    with pytest.raises(ValueError, match=re.escape("cannot compare arrays of shapes (1, 4) and (4,)")):
        scaled_error(np.ones((1, 4)), np.ones(4))  # a (1, H) bias gradient passed
    with pytest.raises(ValueError, match=re.escape("dout has shape (2, 3) but f(x) has shape (3,)")):
        numerical_gradient_array(lambda v: 2 * v, np.ones(3), np.ones((2, 3)))  # twice the gradient
    with pytest.raises(ValueError, match="f must return a number .* got ndarray of shape \\(2,\\)"):
        numerical_gradient(lambda x: x**2, np.array([1.0, 2.0]))
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0 and rel_error(np.ones(0), np.ones(0)) == 0.0
    np.testing.assert_allclose(numerical_gradient(f, np.array([1.0, 2.0])), [2.0, 4.0], rtol=1e-8)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"image_shape": (2, 4)}, "image_shape must be (H, W, C), three positive integers, got (2, 4)"),  # unpacking
    ({"image_shape": "2,4,1"}, "image_shape must be (H, W, C), three positive integers, got '2,4,1'"),  # a ufunc
    ({"image_shape": (-2, -4, 1)}, "got (-2, -4, 1)"),  # negative dimensions not allowed
    ({"image_shape": (2, 2, 1)}, "image_shape (2, 2, 1) holds 4 values, but X has 8 features"),
    ({"eval_size": 0}, "eval_size must be a positive integer, got 0"),  # ZeroDivisionError
    ({"eval_size": -1}, "eval_size must be a positive integer, got -1"),  # all rows but the last, silently
])
def test_fit_checks_its_image_shape_and_eval_size(kwargs, message):
    X, y = data()
    with pytest.raises(ConfigError, match=re.escape(message)):
        fit(TwoLayerNet(8, 5, 3, seed=0), X, y, config=TrainConfig(epochs=1, flip="image_shape" in kwargs), **kwargs)
    history = fit(TwoLayerNet(8, 5, 3, seed=0), X, y, config=TrainConfig(epochs=1, flip=True, crop=1),
                  image_shape=(2.0, np.int64(4), 1))  # whole numbers of any type (floats were a numba TypingError)
    assert len(history.loss) == 1
    history = fit(TwoLayerNet(8, 5, 3, seed=0), X, y, config=TrainConfig(epochs=1), eval_size=5.0)  # a TypeError
    assert len(history.train_acc) == 1


def test_the_loss_of_no_rows_is_one_value_error():
    X, y = data()
    with pytest.raises(ConfigError, match="X has no rows"):  # ZeroDivisionError in the softmax
        TwoLayerNet(8, 5, 3, seed=0).loss(X[:0], y[:0])
    assert TwoLayerNet(8, 5, 3, seed=0).loss(X[:0]).shape == (0, 3)  # no rows have no scores


def test_a_net_from_params_of_the_wrong_kind_and_a_dict_to_train_are_one_value_error(tmp_path):
    """A missing array was a KeyError, lists an AttributeError, a 1-D W1 an
    unpacking error, int weights a net that failed in its first update;
    workflow.train of a dict said 'dict' object has no attribute 'validate'."""
    from twolayer.workflow import train

    good = TwoLayerNet(4, 3, 2, seed=0).params
    for params, message in (({"W1": good["W1"]}, "b1 is missing"),
                            ({**good, "W1": good["W1"].tolist()}, "W1 is of list"),
                            ({k: v.astype(int) for k, v in good.items()}, "W1 is of int64"),
                            ({**good, "W1": good["W1"][0]}, "W1 and W2 must be 2-D, got shapes (3,) and (3, 2)")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            TwoLayerNet.from_params(params)
    assert TwoLayerNet.from_params(good).sizes == (4, 3, 2)
    with pytest.raises(ConfigError, match=re.escape("config must be a TrainConfig, got dict; TrainConfig(**options)")):
        train({"epochs": 1}, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_readmes_fit_example_trains_the_net_train_makes(tmp_path):
    """The README's fit example built its net by hand, TwoLayerNet(...) with the
    classic recipe's std=1e-4: a newcomer leaving the recipe out kept that,
    the assignment's default, where the options default to He's scale, and
    reached 0.47 on digits where `train` reached 0.98. new_net(config, data)
    is the net train makes, so fit on it gives train's run."""
    from twolayer.workflow import new_net, prepare, train

    config = TrainConfig(dataset="digits", epochs=3, seed=0)
    data = prepare(config)
    net = new_net(config, data)
    history = fit(net, data.X["train"], data.y["train"], data.X["val"], data.y["val"], config)
    result = train(config, out=tmp_path / "run", quiet=True)
    assert np.array_equal(net.params["W1"], result.bundle.net.params["W1"])
    assert history.best_val_acc == result.metrics["val_accuracy"] > 0.9
