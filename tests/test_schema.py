"""What a bundle or checkpoint holds is checked, not only its checksum.

Each property test takes a good file, breaks one thing in it (a key dropped,
a dtype or shape changed, parts that disagree, values out of range), signs
the arrays again with `bundles.checksum` so that the checksum passes, and
asserts one BundleError whose one-line message names the file: never
another exception, never a model or state that loads.

Every test here is listed in TESTING.md."""

import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twolayer import TrainConfig, TwoLayerNet, bundles, fit
from twolayer.checkpoint import check_state, load_checkpoint, save_checkpoint
from twolayer.data.preprocess import KINDS, Preprocessor
from twolayer.errors import BundleError
from twolayer.optim import OPTIMIZERS
from twolayer.trainer import new_state

DATA = Path(__file__).parent / "data"
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
D, H, C, IMAGE = 6, 4, 3, (2, 3, 1)  # no two sizes equal, so no transpose or swap keeps a shape right


def read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def write_signed(path: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """As the package writes it, with a checksum that matches the arrays."""
    meta = {**meta, "checksum": bundles.checksum(arrays)}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def assert_one_line_naming(error: pytest.ExceptionInfo, path: Path) -> None:
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message


# -- ways to break an array ---------------------------------------------------------------------

NOT_FLOAT = ["object", "str", "complex", "int", "bool", "float16", "big-endian"]
NOT_INT = ["object", "str", "complex", "float", "bool"]
NOT_NUMBER = ["object", "str", "complex", "bool"]


def retyped(a: np.ndarray, target: str) -> np.ndarray:
    return {
        "object": lambda: a.astype(object),
        "str": lambda: a.astype(str),
        "complex": lambda: a.astype(np.complex64),
        "int": lambda: a.astype(np.int64),
        "bool": lambda: a.astype(bool),
        "float16": lambda: a.astype(np.float16),
        "float": lambda: a.astype(np.float64),
        "float64": lambda: a.astype(np.float64),
        "big-endian": lambda: a.astype(a.dtype.newbyteorder(">")),
    }[target]()


def reshaped(a: np.ndarray, how: str) -> np.ndarray:
    return {
        "add a dimension": lambda: a[None],
        "scalar": lambda: np.asarray(a.ravel()[0]),
        "one more row": lambda: np.concatenate([a, a[:1]]),
        "one fewer row": lambda: a[:-1],
        "transpose": lambda: a.T,
    }[how]()


def shape_faults(a: np.ndarray, rows: bool = True) -> list[str]:
    faults = ["add a dimension"] + (["scalar"] if a.ndim else [])
    if rows and a.ndim:
        faults += ["one more row", "one fewer row"]
    if a.ndim == 2 and a.shape[0] != a.shape[1]:
        faults.append("transpose")
    return faults


def set_one(a: np.ndarray, value, draw) -> np.ndarray:
    a = a.copy()
    a.flat[draw(st.integers(0, a.size - 1))] = value
    return a


# -- bundles ---------------------------------------------------------------------------------------


@cache
def good_bundle_file(kind: str, folder: str) -> Path:
    images = np.random.default_rng(0).integers(0, 256, size=(8, *IMAGE), dtype=np.uint8)
    bundle = bundles.Bundle(TwoLayerNet(D, H, C, seed=0, dtype=np.float32), Preprocessor.fit(kind, images),
                            ["a", "b", "c"], IMAGE, {"lr": 0.1, "hidden_size": H})
    path = Path(folder) / f"good-{kind}.npz"
    bundles.save_bundle(path, bundle)
    return path


BAD_IMAGE_SHAPES = st.one_of(
    st.lists(st.integers(-2, 7), max_size=5).filter(
        lambda s: not (len(s) == 3 and min(s) >= 1 and s[0] * s[1] * s[2] == D and s[2] in (1, 3))),
    st.sampled_from(["2x3x1", None, {"h": 2}, [2.0, 3.0, 1.0], [2, 3, True], [True, 6, 1], 6]),
)
BAD_CONFIGS = st.sampled_from([[], ["lr", 0.1], "lr=0.1", 3, None, True, {"hidden_size": -3}, {"lr": "fast"},
                               {"batch_size": 0}, {"optimizer": "nope"}, {"dtype": "int8"}, {"lr": [0.1]}])
BAD_NAMES = st.sampled_from([["a", "b"], ["a", "b", "c", "d"], [], "abc", ["a", "b", 3], {"a": 1}, None,
                             [["a"], "b", "c"]])


def bundle_fault(meta: dict, arrays: dict, draw) -> None:
    """Break one thing in a bundle's (meta, arrays)."""
    fault = draw(st.sampled_from(["drop", "dtype", "shape", "non-finite", "scale", "class names", "image shape",
                                  "config", "preprocess", "extra array"]))
    key = draw(st.sampled_from(sorted(arrays)))
    a = arrays[key]  # the array a fault acts on, if it acts on one
    if fault == "drop":
        key = draw(st.sampled_from([*sorted(arrays), "class_names", "image_shape", "preprocess", "config",
                                    "version", "format"]))
        (arrays if key in arrays else meta).pop(key)
    elif fault == "dtype":  # one parameter of another float type is wrong too: they must agree
        arrays[key] = retyped(a, draw(st.sampled_from(NOT_FLOAT + (["float64"] if key.startswith("param.") else []))))
    elif fault == "shape":
        how = draw(st.sampled_from(shape_faults(a)))
        if key == "pre.matrix" and how == "transpose":  # a symmetric matrix: transposed, it is the same
            how = "one more row"
        arrays[key] = reshaped(a, how)
    elif fault == "non-finite":
        arrays[key] = set_one(a, draw(st.sampled_from([np.nan, np.inf, -np.inf])), draw)
    elif fault == "scale":
        arrays["pre.scale"] = set_one(arrays["pre.scale"], draw(st.sampled_from([0.0, -1.0])), draw)
    elif fault == "class names":
        meta["class_names"] = draw(BAD_NAMES)
    elif fault == "image shape":
        meta["image_shape"] = draw(BAD_IMAGE_SHAPES)
    elif fault == "config":
        meta["config"] = draw(BAD_CONFIGS)
    elif fault == "preprocess":  # only zca has a matrix; the other kinds share their arrays
        others = ["whiten", 3, None, ["mean"]] + (["mean", "none"] if meta["preprocess"] == "zca" else ["zca"])
        meta["preprocess"] = draw(st.sampled_from(others))
    else:
        arrays[draw(st.sampled_from(["param.W3", "pre.extra", "opt.v.W1"]))] = np.zeros(3, np.float32)


@PROPERTY
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_structurally_wrong_bundles_with_valid_checksums_give_one_line(tmp_path_factory, tmp_path, kind, data):
    meta, arrays = read(good_bundle_file(kind, str(tmp_path_factory.getbasetemp())))
    bundle_fault(meta, arrays, data.draw)
    path = tmp_path / "model.npz"
    write_signed(path, meta, arrays)
    with pytest.raises(BundleError) as error:
        bundles.load_bundle(path)
    assert_one_line_naming(error, path)


def test_a_bundle_says_which_parts_disagree(tmp_path):
    meta, arrays = read(good_bundle_file("mean", str(tmp_path)))
    meta["class_names"] = [str(i) for i in range(10)]
    path = tmp_path / "model.npz"
    write_signed(path, meta, arrays)
    with pytest.raises(BundleError, match=f"^{re.escape(str(path))} is an inconsistent model bundle: param.W2 has "
                                          "3 columns but there are 10 class names$"):
        bundles.load_bundle(path)


# -- checkpoints -------------------------------------------------------------------------------------


@cache
def good_checkpoint_file(optimizer: str, validation: bool, folder: str) -> tuple[Path, np.ndarray, np.ndarray]:
    """A real run's checkpoint (2 epochs of 4 steps), and its training data."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, D)).astype(np.float32), rng.integers(0, C, size=40)
    config = TrainConfig(optimizer=optimizer, batch_size=10, epochs=2, lr=0.05, seed=1)
    net, state = TwoLayerNet(D, H, C, seed=0, dtype=np.float32), new_state(len(y), config, eval_size=30)
    fit(net, X, y, X[:10] if validation else None, y[:10] if validation else None, config, state=state,
        restore_best=False)
    path = Path(folder) / f"good-{optimizer}-{validation}.npz"
    save_checkpoint(path, net, state)
    return path, X, y


CHECKPOINTS = st.tuples(st.sampled_from(sorted(OPTIMIZERS)), st.booleans())
BAD_RNG = st.sampled_from([None, "PCG64", [1, 2], 7, {}, {"bit_generator": "MT19937"},
                           {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}, "has_uint32": 0,
                            "uinteger": 0},
                           {"bit_generator": "PCG64", "state": {"state": 1, "inc": 1}},
                           {"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}, "has_uint32": 0,
                            "uinteger": 0}])
NOT_AN_INT = st.sampled_from([1.0, "3", None, True, [1], {"n": 1}])


def checkpoint_fault(meta: dict, arrays: dict, n_train: int, draw) -> None:
    """Break one thing in a checkpoint's (meta, arrays)."""
    best = meta["best_index"] is not None
    fault = draw(st.sampled_from(["drop", "dtype", "shape", "meta", "history", "eval_iteration", "rows",
                                  "optimizer", "extra array"] + (["best"] if best else [])))
    if fault == "drop":  # not the optional ones: the batch order, and what 0.1 did not write
        optional = {"order", "history.train_loss", "history.val_loss"}
        key = draw(st.sampled_from([k for k in sorted(arrays) if k not in optional]
                                   + ["iteration", "optimizer", "momentum", "weight_decay", "rng", "noise_seed"]
                                   + (["best_index"] if best else [])))
        (arrays if key in arrays else meta).pop(key)
    elif fault == "dtype":
        key = draw(st.sampled_from(sorted(arrays)))
        a = arrays[key]
        targets = NOT_INT if a.dtype.kind in "iu" else NOT_NUMBER if key.startswith("history.") else NOT_FLOAT
        arrays[key] = retyped(a, draw(st.sampled_from(targets + (["float64"] if a.dtype == np.float32 else []))))
    elif fault == "shape":  # fewer or duplicated evaluation rows are still evaluation rows
        key = draw(st.sampled_from(sorted(arrays)))
        arrays[key] = reshaped(arrays[key], draw(st.sampled_from(shape_faults(arrays[key], key != "eval_rows"))))
    elif fault == "meta":
        key = draw(st.sampled_from(["iteration", "best_index", "momentum", "weight_decay", "noise_seed", "rng",
                                    "first_loss", "stop_reason", "early_stop"]))
        if key == "iteration":
            value = draw(st.one_of(NOT_AN_INT, st.sampled_from([-1, meta["iteration"] + 1, meta["iteration"] - 1,
                                                                 10**30])))
        elif key == "best_index":
            n_evals = len(arrays["history.val_acc"])
            # None is right for a run that kept no best epoch, 0 wrong: then there are no best.* arrays
            value = draw(st.sampled_from([1.0, "3", True, [1], -1, n_evals, 10**30, None if best else 0]))
        elif key in ("momentum", "weight_decay"):
            value = draw(st.sampled_from([-0.5, "0.9", None, True, [0.9], float("nan"), float("inf")]))
        elif key == "noise_seed":
            value = draw(NOT_AN_INT)
        elif key == "rng":
            value = draw(BAD_RNG)
        elif key == "first_loss":
            value = draw(st.sampled_from(["2.3", [2.3], True, {"loss": 2.3}]))
        else:
            value = draw(st.sampled_from([3, 1.5, True, ["why"], {"why": "x"}]))
        meta[key] = value
    elif fault == "history":  # one list longer or shorter than those it goes with
        key = "history." + draw(st.sampled_from(["loss", "lr", "eval_iteration", "train_acc", "val_acc",
                                                 "train_loss", "val_loss"]))
        arrays[key] = reshaped(arrays[key], draw(st.sampled_from(["one more row", "one fewer row"])))
    elif fault == "eval_iteration":
        evals = arrays["history.eval_iteration"].copy()
        how = draw(st.sampled_from(["fraction", "decreasing", "beyond", "negative", "nan"]))
        if how == "decreasing":
            evals[-1] = evals[0] - 1
        else:
            evals[-1] = {"fraction": evals[-1] - 0.5, "beyond": meta["iteration"] + 1, "negative": -1,
                         "nan": np.nan}[how]
        arrays["history.eval_iteration"] = evals
    elif fault == "rows":  # row numbers below 0 fail at load, at or past n_train once the data is there
        key = draw(st.sampled_from(["eval_rows", "order", "order twice"]))
        if key == "order twice":  # one row twice, another never
            order, i = arrays["order"].copy(), draw(st.integers(0, n_train - 2))
            order[i] = order[i + 1]
            arrays["order"] = order
        else:
            arrays[key] = set_one(arrays[key], draw(st.sampled_from([-1, n_train, n_train + 7, 2**40])), draw)
    elif fault == "optimizer":  # a rule whose state is made of other arrays, or no rule at all
        mine = OPTIMIZERS[meta["optimizer"]]
        others = [n for n, r in OPTIMIZERS.items() if (r.slots, r.counters) != (mine.slots, mine.counters)]
        meta["optimizer"] = draw(st.sampled_from([*others, "rmsprop", None, 3, ["sgd"]]))
    elif fault == "best":
        key = draw(st.sampled_from([k for k in sorted(arrays) if k.startswith("best.")]))
        arrays[key] = set_one(arrays[key], draw(st.sampled_from([np.nan, np.inf, -np.inf])), draw)
    else:
        arrays[draw(st.sampled_from(["param.W3", "opt.q.W1", "best", "history.grad_norm"]))] = np.zeros(3)


@PROPERTY
@given(which=CHECKPOINTS, data=st.data())
def test_structurally_wrong_checkpoints_with_valid_checksums_give_one_line(tmp_path_factory, tmp_path, which, data):
    good, X, y = good_checkpoint_file(*which, str(tmp_path_factory.getbasetemp()))
    meta, arrays = read(good)
    checkpoint_fault(meta, arrays, len(y), data.draw)
    path = tmp_path / "checkpoint.npz"
    write_signed(path, meta, arrays)
    with pytest.raises(BundleError) as error:
        net, state = load_checkpoint(path)
        check_state(path, net, state, X, y)  # what needs the data: rows and batch order within it
    assert_one_line_naming(error, path)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("validation", [True, False])
def test_good_checkpoints_and_their_older_forms_load(tmp_path, optimizer, validation):
    """The unbroken files pass, so the refusals above are the faults' doing;
    so do forms the format allows: no batch order, no per-evaluation losses
    (before 0.2), and a run whose loss exploded between two reads."""
    good, X, y = good_checkpoint_file(optimizer, validation, str(tmp_path))
    meta, arrays = read(good)
    variants = [{}, {"drop": ["order", "history.train_loss", "history.val_loss"]},
                {"meta": {"stop_reason": "loss exploded", "iteration": meta["iteration"] + 3}},
                {"meta": {"first_loss": None, "early_stop": None}}]
    for i, variant in enumerate(variants):
        m, a = dict(meta), dict(arrays)
        for key in variant.get("drop", []):
            a.pop(key)
        m.update(variant.get("meta", {}))
        path = tmp_path / f"variant{i}.npz"
        write_signed(path, m, a)
        net, state = load_checkpoint(path)
        check_state(path, net, state, X, y)
        assert state.iteration == m["iteration"] and net.sizes == (D, H, C)


def test_a_checkpoint_that_does_not_fit_the_data_names_it(tmp_path):
    good, X, y = good_checkpoint_file("momentum", True, str(tmp_path))
    net, state = load_checkpoint(good)
    fewer_rows = "(training split has 30 rows|30 training rows)"
    with pytest.raises(BundleError, match=f"^{re.escape(str(good))} does not fit the run's data .*{fewer_rows}"):
        check_state(good, net, state, X[:30], y[:30])
    with pytest.raises(BundleError, match="takes? 6 values per image and the data has 5"):
        check_state(good, net, state, X[:, :5], y)


def test_files_of_0_1_0_pass_the_schema():
    bundle = bundles.load_bundle(DATA / "v0.1.0-model.npz")
    assert bundle.image_shape == (8, 8, 1) and len(bundle.class_names) == 10
    net, state = load_checkpoint(DATA / "v0.1.0-checkpoint.npz")
    check_state(DATA / "v0.1.0-checkpoint.npz", net, state, np.zeros((100, 6), np.float32), np.zeros(100, int))
    assert state.history.train_loss == [] or np.isnan(state.history.train_loss).all()
