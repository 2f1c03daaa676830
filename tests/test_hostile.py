"""Property and fuzz tests: random shapes for the math, random and truncated
bytes for every reader. Each reader may only raise the package's own errors.

Every test here is listed in TESTING.md (checked by the last test)."""

import gzip
import io
import json
import os
import pickle
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from twolayer import TrainConfig, TwoLayerNet, bundles, fit
from twolayer.data import load_dataset
from twolayer.data.cifar10 import binary_arrays, read_batch
from twolayer.data.idx import parse_idx, read_idx
from twolayer.data.images import read_image
from twolayer.data.preprocess import Preprocessor
from twolayer.errors import BundleError, DataError
from twolayer.gradcheck import numerical_gradient, numerical_gradient_array
from twolayer.layers import affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss
from twolayer.workflow import evaluate

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
dims = st.integers(min_value=1, max_value=6)


def scaled_error(a, b):
    """The largest difference over the largest magnitude: on random shapes a
    few gradient entries are near zero, where the elementwise relative error
    of a numerical gradient measures its rounding, not the analytic one."""
    return float(np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-12))


@FUZZ
@given(n=dims, d=dims, m=dims, seed=st.integers(0, 2**32 - 1))
def test_layer_gradients_on_random_shapes(n, d, m, seed):
    rng = np.random.default_rng(seed)
    x, w, b, dout = rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m), rng.normal(size=(n, m))
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    assert scaled_error(dx, numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)) < 1e-6
    assert scaled_error(dw, numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)) < 1e-6
    assert scaled_error(db, numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)) < 1e-6
    h = rng.normal(size=(n, m))
    h[np.abs(h) < 1e-3] = 0.5  # away from ReLU's kink
    dh = relu_backward(dout, relu_forward(h)[1])
    assert scaled_error(dh, numerical_gradient_array(lambda v: relu_forward(v)[0], h, dout)) < 1e-6
    y = rng.integers(0, m, size=n)
    _, dscores = softmax_loss(h, y)
    assert scaled_error(dscores, numerical_gradient(lambda s: softmax_loss(s, y)[0], h)) < 1e-6


def fake_batch() -> bytes:
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    return pickle.dumps({b"data": data, b"labels": [1, 2]}, protocol=2)


@FUZZ
@given(data=st.binary(max_size=400))
def test_cifar_batch_reader_on_random_bytes(data):
    try:
        read_batch(data, "batch")
    except DataError:
        pass


@FUZZ
@given(cut=st.integers(0, len(fake_batch()) - 1))
def test_cifar_batch_reader_on_truncated_batches(cut):
    try:
        read_batch(fake_batch()[:cut], "batch")
    except DataError:
        pass


@FUZZ
@given(data=st.binary(max_size=7000), cut=st.integers(0, 2 * 3073))
def test_cifar_binary_batch_reader_on_random_and_truncated_bytes(data, cut):
    good = bytes([3]) + bytes(3072) + bytes([9]) + bytes(range(256)) * 12
    for candidate in (data, good[:cut]):
        try:
            images, labels = binary_arrays(candidate, "batch.bin")
            assert len(candidate) % 3073 == 0 and images.shape == (len(candidate) // 3073, 32, 32, 3)
            assert labels.max() <= 9
        except DataError as e:
            assert "batch.bin" in str(e) and "\n" not in str(e)


def fake_idx() -> bytes:
    return bytes([0, 0, 8, 3]) + np.array([2, 3, 4], ">u4").tobytes() + bytes(range(24))


@FUZZ
@given(data=st.binary(max_size=200), ndim=st.integers(1, 3))
def test_idx_parser_on_random_bytes(data, ndim):
    try:
        parse_idx(data, "file", ndim)
    except DataError:
        pass


@FUZZ
@given(cut=st.integers(0, len(fake_idx()) - 1), gz=st.booleans())
def test_idx_reader_on_truncated_files(tmp_path, cut, gz):
    raw = fake_idx()
    data = gzip.compress(raw)[:cut] if gz else raw[:cut]
    path = tmp_path / "f-idx3-ubyte"
    path.write_bytes(data)
    try:
        read_idx(path, 3)
        raise AssertionError("a truncated IDX file was accepted")
    except DataError:
        pass


def fake_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(buffer, "PNG")
    return buffer.getvalue()


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.integers(0, len(fake_png()) - 1).map(lambda c: fake_png()[:c])))
def test_image_reader_on_random_and_truncated_bytes(tmp_path, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    try:
        read_image(path, (4, 4, 3))
    except DataError:
        pass


def fake_bundle(tmp_path: Path) -> bytes:
    images = np.zeros((2, 2, 2, 1), np.uint8)
    bundle = bundles.Bundle(TwoLayerNet(4, 3, 2, seed=0), Preprocessor.fit("mean", images), ["a", "b"],
                              (2, 2, 1), {})
    bundles.save_bundle(tmp_path / "good.npz", bundle)
    return (tmp_path / "good.npz").read_bytes()


@FUZZ
@given(data=st.binary(max_size=300), cut=st.floats(0, 1, exclude_max=True), flip=st.integers(0, 10**6))
def test_bundle_loader_on_random_truncated_and_flipped_bytes(tmp_path, data, cut, flip):
    good = fake_bundle(tmp_path)
    flipped = bytearray(good)
    flipped[flip % len(good)] ^= 0x55
    for i, candidate in enumerate((data, b"PK\x03\x04" + data, good[: int(cut * len(good))], bytes(flipped))):
        path = tmp_path / f"m{i}.npz"
        path.write_bytes(candidate)
        try:
            bundles.load_bundle(path)
            # a flip inside zip padding or an unused header byte can leave every array intact
            assert i == 3
        except BundleError:
            pass


def test_files_that_declare_more_than_the_memory_are_refused_before_they_are_read(tmp_path, monkeypatch):
    """A few kB on disk can declare gigabytes (a zip of compressed zeros, a
    gzipped IDX file): each reader checks what it would hold against the
    memory available before reading, and says so in one line."""
    import twolayer.memory

    monkeypatch.setattr(twolayer.memory, "available_bytes", lambda: 2**20)
    bundles.save_bundle(tmp_path / "model.npz", fake_bundle_object())
    with zipfile.ZipFile(tmp_path / "big.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        for name in zipfile.ZipFile(tmp_path / "model.npz").namelist():
            archive.writestr(name, zipfile.ZipFile(tmp_path / "model.npz").read(name))
        archive.writestr("zeros.npy", bytes(4 * 2**20))  # 4 MB of zeros: 4 kB compressed
    assert (tmp_path / "big.npz").stat().st_size < 50_000
    with pytest.raises(BundleError, match=r"big.npz needs about 4.2 MB of memory to read; this machine has 1.0 MB"):
        bundles.load_bundle(tmp_path / "big.npz")
    bundles.load_bundle(tmp_path / "model.npz")  # a bundle that fits is read as ever

    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in (2000, 28, 28))  # 1.6 MB
    (tmp_path / "images.gz").write_bytes(gzip.compress(header + bytes(2000 * 28 * 28)))
    with pytest.raises(DataError, match=r"images.gz: the header's dimensions 2000x28x28 = 1568000 bytes need more "
                                        r"memory than this machine has available \(1.0 MB\)"):
        read_idx(tmp_path / "images.gz", 3)
    (tmp_path / "short.gz").write_bytes(gzip.compress(header + bytes(1000)))  # the header lies: the file is short
    with pytest.raises(DataError, match=r"short.gz is truncated or padded: 1000 data bytes, header says 2000x28x28"):
        read_idx(tmp_path / "short.gz", 3)


def test_a_config_file_may_be_a_pipe(tmp_path, monkeypatch, capsys):
    """Reading is bounded, not refused for what is not a regular file: bash's
    <(...) gives a pipe, read like a file, and a FIFO's writer may open it
    a moment after twolayer does."""
    import threading

    from twolayer.cli import main

    os.mkfifo(tmp_path / "config.toml")

    def write_late() -> None:  # a writer that opens the FIFO after twolayer has (it was "nothing writes to")
        time.sleep(0.5)
        (tmp_path / "config.toml").write_text("iters = 3\nhidden_size = 8\n")

    writer = threading.Thread(target=write_late, daemon=True)  # left blocked if the read fails: not a hang
    writer.start()
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    assert main(["train", "--config", str(tmp_path / "config.toml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    writer.join(timeout=60)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["hidden_size"] == 8


def fake_bundle_object():
    images = np.random.default_rng(0).integers(0, 256, size=(10, 2, 2, 1), dtype=np.uint8)
    return bundles.Bundle(TwoLayerNet(4, 3, 2, seed=0), Preprocessor.fit("mean", images), ["a", "b"], (2, 2, 1), {})


def _api_data():
    X = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    return X, np.arange(60) % 3


API_MISUSE = {  # name: (call(net, X, y), a piece of the message)
    "y as text": (lambda net, X, y: fit(net, X, y.astype(str)), "integer class labels 0..2, got dtype <U"),
    "y as floats": (lambda net, X, y: fit(net, X, y + 0.5), "got dtype float64"),
    "y of -1 (read as the last class)": (lambda net, X, y: fit(net, X, y - 1), "found -1..1"),
    "y beyond the outputs": (lambda net, X, y: fit(net, X, y + 5), "the network has 3 outputs"),
    "y of booleans": (lambda net, X, y: fit(net, X, y > 0), "got dtype bool"),
    "y as a column": (lambda net, X, y: fit(net, X, y[:, None]), "1-D array of labels"),
    "no rows": (lambda net, X, y: fit(net, X[:0], y[:0]), "X has no rows"),
    "X of one dimension": (lambda net, X, y: fit(net, X[:, 0], y), "2-D array of rows"),
    "X of three dimensions": (lambda net, X, y: fit(net, X.reshape(60, 2, 4), y), "got shape (60, 2, 4)"),
    "X of another width": (lambda net, X, y: fit(net, X[:, :5], y), "X has 5 values per row but the network takes 8"),
    "X as text (it was parsed)": (lambda net, X, y: fit(net, X.astype(str), y), "must hold real numbers"),
    "X complex (its imaginary part was dropped)": (lambda net, X, y: fit(net, X + 1j, y), "got dtype complex"),
    "X with NaN (it was called divergence)": (lambda net, X, y: fit(net, np.where(X > 2, np.nan, X), y),
                                              "X holds NaN or infinity (row"),
    "ragged lists": (lambda net, X, y: fit(net, [[1.0, 2.0], [3.0]], [0, 1]), "X cannot be read as an array"),
    "validation rows of another width": (lambda net, X, y: fit(net, X, y, X[:, :4], y), "X_val has 4 values"),
    "validation labels of another length": (lambda net, X, y: fit(net, X, y, X, y[:5]),
                                            "X_val has 60 rows but y_val has 5 labels"),
    "validation rows without labels": (lambda net, X, y: fit(net, X, y, X, None), "X_val needs its labels"),
    "a dict as config": (lambda net, X, y: fit(net, X, y, config={"epochs": 1}), "config must be a TrainConfig"),
    "loss with labels out of range": (lambda net, X, y: net.loss(X, y + 10), "found 10..12"),
    "predict on rows of another width": (lambda net, X, y: net.predict(X[:, :5]), "X has 5 values per row"),
    "train with text labels": (lambda net, X, y: net.train(X, y.astype(str), X, y, num_iters=2), "dtype <U"),
    "load_dataset of a number": (lambda net, X, y: load_dataset(5), "a dataset spec is text"),
    # a new user's first tries: each was an error about something else
    "X as a path (got shape ())": (lambda net, X, y: fit(net, "pics/cat.png", y),
                                   "X must be an array of numbers, got the path or text 'pics/cat.png'"),
    "the config in X_val's place (X_val needs its labels)": (
        lambda net, X, y: fit(net, X, y, TrainConfig(epochs=1)), "a TrainConfig was given in the validation"),
    "flips without image_shape": (lambda net, X, y: fit(net, X, y, config=TrainConfig(flip=True)),
                                  "flip and crop need image_shape=(H, W, C)"),
    "evaluate on an unknown split (KeyError: 'testing')": (
        lambda net, X, y: evaluate("nowhere", "digits", split="testing"), "split must be one of train, val, test"),
}


@pytest.mark.parametrize("name", list(API_MISUSE))
def test_python_api_misuse_is_one_value_error(name):
    """Each misuse of fit, TwoLayerNet and load_dataset is one ValueError
    naming the argument (it was an IndexError, AttributeError or
    ZeroDivisionError from deep inside, or a silently wrong run)."""
    call, message = API_MISUSE[name]
    X, y = _api_data()
    with pytest.raises(ValueError, match=re.escape(message)):
        call(TwoLayerNet(8, 5, 3), X, y)


@pytest.mark.parametrize("kind", ["list", "fortran", "strided", "read-only", "memmap", "float16", "int8", "pandas"])
def test_python_api_takes_any_layout_of_good_data(kind, tmp_path):
    X, y = _api_data()
    if kind == "memmap":
        np.save(tmp_path / "x.npy", X)
    given = {"list": lambda: X.tolist(), "fortran": lambda: np.asfortranarray(X),
             "strided": lambda: np.repeat(X, 2, axis=1)[:, ::2], "read-only": lambda: _read_only(X),
             "memmap": lambda: np.load(tmp_path / "x.npy", mmap_mode="r"), "float16": lambda: X.astype(np.float16),
             "int8": lambda: (X * 10).astype(np.int8), "pandas": lambda: _pandas(X)}[kind]()
    if kind == "pandas":  # a shuffled index, as train_test_split leaves it, and a nullable integer column
        pd = pytest.importorskip("pandas")
        y = pd.Series(y, index=np.random.default_rng(0).permutation(len(y)), dtype="Int64")
    history = fit(TwoLayerNet(8, 5, 3), given, y, config=TrainConfig(epochs=2, val_size=0))
    assert len(history.loss) == 2 and all(np.isfinite(history.loss))


def test_labels_in_a_pandas_series_are_checked_like_any_others():
    pd = pytest.importorskip("pandas")
    X, _ = _api_data()
    with pytest.raises(ValueError, match=re.escape("y must hold labels 0..2")):
        TwoLayerNet(8, 5, 3).loss(X[:5], pd.Series([0, 1, 2, -1, 0]))


def _pandas(X):
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(X, index=np.random.default_rng(1).permutation(len(X)))


def _read_only(X):
    X = X.copy()
    X.setflags(write=False)
    return X


HOSTILE_FILES = ("tests/test_schema.py", "tests/test_readers.py", "tests/test_hostile_cli.py", "tests/test_heldout.py",
                 "tests/test_formats.py", "tests/test_predict.py", "tests/test_own_images.py",
                 "tests/test_environment.py", "tests/test_extremes.py", "tests/test_api_hostile.py",
                 "tests/test_scale.py", "tests/test_concurrency.py", "tests/test_portable.py")


def test_testing_md_lists_every_hostile_test():
    """TESTING.md's table names tests that exist, and every test here is in it."""
    text = (Path(__file__).resolve().parents[1] / "TESTING.md").read_text()
    named = set(re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", text))
    this = "test_testing_md_lists_every_hostile_test"
    here = {name for name in globals() if name.startswith("test_") and name != this}
    assert here <= {test for file, test in named if file == "tests/test_hostile.py"}
    root = Path(__file__).resolve().parents[1]
    for neighbour in HOSTILE_FILES:  # the files beside this one that hold nothing but hostile inputs
        tests = set(re.findall(r"^def (test_\w+)\(", (root / neighbour).read_text(), re.M))
        assert tests <= {test for file, test in named if file == neighbour}, neighbour
    for file, test in named:
        assert re.search(rf"^def {test}\(", (root / file).read_text(), re.M), f"{file}::{test} is not a test"
