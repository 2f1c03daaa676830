"""The one-pass updates (numba on the CPU: fused_cpu.py) against the NumPy
reference of each rule in optim.py: the same weights, states and sum of
squares, bit for bit, for every rule, with and without the L2 slope and the
decoupled decay, in float32 and float64. On the GPU, tests/test_gpu.py
checks fused_cuda.py the same way; tests/test_device.py checks that whole
runs on the reference path (its CuPy stand-in has no kernels) equal runs on
the fused path."""

import math
import sys

import numpy as np
import pytest

import fakecupy
from configs import config
from twolayer import TwoLayerNet, backend, fit
from twolayer.backend import fused_update
from twolayer.layers import SUM_BLOCK, as_rows, l2_penalty, sum_squares
from twolayer.optim import OPTIMIZERS, make_optimizer

# rows not a multiple of the sum's block, more than one block, a lone column, biases, and a
# narrow matrix that as_rows sees with its rows merged (W4: as (69, 192), still more than one block)
SHAPES = {"W1": (2 * SUM_BLOCK + 5, 24), "b1": (24,), "W2": (24, 1), "b2": (1,), "W3": (3, 40),
          "W4": (8 * (2 * SUM_BLOCK + 5), 24)}


@pytest.fixture(autouse=True)
def fuse_every_size(monkeypatch):
    """Small arrays take the kernels too here (they normally take the reference)."""
    monkeypatch.setattr(backend, "FUSED_MIN_SIZE", 0)


def params_and_grads(dtype, seed):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=shape).astype(dtype) for k, shape in SHAPES.items()}
    grads = [{k: rng.normal(size=shape).astype(dtype) for k, shape in SHAPES.items()} for _ in range(3)]
    return params, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("l2, weight_decay", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.2), (0.3, 0.2)])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fused_update_equals_the_reference_bit_for_bit(name, l2, weight_decay, dtype):
    runs = {}
    for fused in (True, False):
        params, grads = params_and_grads(dtype, seed=1)
        opt = make_optimizer(name, momentum=0.9, weight_decay=weight_decay)
        for step, g in enumerate(grads):  # three steps: the states matter from the second on
            sums = opt.update(params, {k: v.copy() for k, v in g.items()}, lr=0.05 * (step + 1), l2=l2, fused=fused)
        runs[fused] = params, opt.state, sums
    (params, state, sums), (ref_params, ref_state, ref_sums) = runs[True], runs[False]
    for key in SHAPES:
        np.testing.assert_array_equal(params[key], ref_params[key], err_msg=key)
        assert params[key].dtype == dtype
    assert state.keys() == ref_state.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], ref_state[key], err_msg=key)
    # the sums of squares come back for the weight matrices only, equal to sum_squares of the new weights
    assert list(sums) == list(ref_sums) == ["W1", "W2", "W3", "W4"]
    for key in sums:
        assert sums[key] == ref_sums[key] == sum_squares(params[key])


def test_the_cpu_path_is_fused_and_the_weights_change():
    params, grads = params_and_grads(np.float32, seed=2)
    before = {k: v.copy() for k, v in params.items()}
    assert fused_update("sgd", params["W1"], grads[0]["W1"]) is not None
    make_optimizer("nesterov").update(params, grads[0], lr=0.1, l2=0.1)
    assert all(not np.array_equal(before[k], params[k]) for k in params)


def test_what_the_kernels_do_not_take_goes_to_the_reference(monkeypatch):
    w = np.ones((4, 3), dtype=np.float32)
    assert fused_update("sgd", w, np.ones((4, 3), dtype=np.float64)) is None  # mixed dtypes
    assert fused_update("sgd", w, np.ones((3, 4), dtype=np.float32).T) is None  # not C-ordered
    assert fused_update("sgd", w.astype(np.float16), w.astype(np.float16)) is None
    assert fused_update("sgd", np.ones(4, dtype=np.int64), np.ones(4, dtype=np.int64)) is None
    cupy = fakecupy.install(monkeypatch)  # a CuPy without elementwise kernels: the reference
    assert fused_update("sgd", cupy.asarray(w), cupy.asarray(w)) is None


def test_sum_squares_is_close_to_the_exact_sum_and_follows_its_stated_order():
    rng = np.random.default_rng(3)
    W = (rng.normal(size=(3 * SUM_BLOCK + 7, 50)) * 10).astype(np.float32)
    exact = math.fsum(float(v) ** 2 for v in W.ravel())
    assert abs(float(sum_squares(W)) - exact) < 2e-6 * exact  # float32 sums of 32 squares, then float64
    # the order, written out: blocks of rows summed down each column in float32, then float64
    rows = as_rows(W)
    column_sums = np.zeros(rows.shape[1])
    for start in range(0, rows.shape[0], SUM_BLOCK):
        block = np.zeros(rows.shape[1], dtype=np.float32)
        for row in rows[start:start + SUM_BLOCK]:
            block += row * row
        column_sums += block
    assert sum_squares(W) == column_sums.sum()
    assert as_rows(W[:, :1]).shape == (1, W.shape[0]) and as_rows(W[0]).shape == (1, 50)


def test_as_rows_merges_the_rows_of_a_narrow_matrix_into_a_view():
    W = np.zeros((3072, 50), dtype=np.float32)
    rows = as_rows(W)
    assert rows.shape == (384, 400) and np.shares_memory(rows, W)  # the kernels write through it
    assert as_rows(np.zeros((3, 40))).shape == (3, 40)  # an odd row count stops the merging
    assert as_rows(np.zeros((4, 300))).shape == (4, 300)  # wide enough already
    assert as_rows(np.zeros((12, 100))).shape == (3, 400)
    transposed = np.zeros((50, 3072), dtype=np.float32).T  # not C-contiguous: seen as it is, never copied
    assert as_rows(transposed).shape == (3072, 50) and np.shares_memory(as_rows(transposed), transposed)


def test_the_l2_penalty_takes_known_sums_or_computes_them():
    rng = np.random.default_rng(4)
    weights = [rng.normal(size=(40, 8)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32)]
    penalty, slope = l2_penalty(weights, 0.25)
    assert slope == 0.5 and penalty.dtype == np.float32
    assert penalty == 0.25 * np.float32(sum_squares(weights[0]) + sum_squares(weights[1]))
    assert l2_penalty(weights, 0.25, [sum_squares(W) for W in weights])[0] == penalty
    assert penalty == pytest.approx(0.25 * sum(float((W.astype(np.float64) ** 2).sum()) for W in weights), rel=1e-6)


def test_small_parameters_take_the_reference_on_the_cpu(monkeypatch):
    monkeypatch.undo()  # the real threshold
    small, large = np.ones(backend.FUSED_MIN_SIZE - 1), np.ones((2, backend.FUSED_MIN_SIZE // 2))
    assert fused_update("sgd", small, small.copy()) is None
    assert fused_update("sgd", large, large.copy()) is not None


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_whole_runs_fused_and_on_the_reference_are_the_same(monkeypatch, blobs, optimizer):
    X, y, Xv, yv = blobs
    runs = []
    for threshold in (0, np.inf):  # every parameter fused; none
        monkeypatch.setattr(backend, "FUSED_MIN_SIZE", threshold)
        net = TwoLayerNet(20, 16, 3, std=0.1, seed=1, dtype=np.float32)
        history = fit(net, X, y, Xv, yv, config(lr=0.05, reg=1e-3, weight_decay=1e-3, iters=30, batch_size=50,
                                                optimizer=optimizer, seed=3))
        runs.append((net.params, history))
    (fused, fused_history), (reference, reference_history) = runs
    for key in fused:
        np.testing.assert_array_equal(fused[key], reference[key])
    assert fused_history.loss == reference_history.loss and fused_history.val_acc == reference_history.val_acc


def test_without_numba_the_cpu_runs_the_reference(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    monkeypatch.delitem(sys.modules, "twolayer.fused_cpu", raising=False)
    backend.compiled_cpu.cache_clear()
    try:
        w = np.ones((4, 3), dtype=np.float32)
        assert fused_update("sgd", w, w.copy()) is None
        params, grads = params_and_grads(np.float32, seed=5)
        assert set(make_optimizer("adam").update(params, grads[0], lr=0.1, l2=0.1)) == {"W1", "W2", "W3", "W4"}
    finally:
        backend.compiled_cpu.cache_clear()  # later tests import the real one again
