"""`--device cuda` on a real GPU, with CuPy. Skipped where there is none (CI
has none: tests/test_device.py checks the same code path there on a strict
stand-in for CuPy). benchmarks/device_check.sh runs these on a lent GPU."""

import json

import numpy as np
import pytest

from configs import config
from twolayer import TwoLayerNet, fit
from twolayer.backend import to_numpy
from twolayer.cli import main
from twolayer.data.augment import flip_and_crop
from twolayer.noise import Noise
from twolayer.optim import OPTIMIZERS, make_optimizer

cupy = pytest.importorskip("cupy", reason="the GPU tests need CuPy and a CUDA GPU")
try:
    GPUS = cupy.cuda.runtime.getDeviceCount()
except Exception:  # no driver
    GPUS = 0
pytestmark = pytest.mark.skipif(GPUS == 0, reason="CuPy sees no CUDA GPU")


def test_noise_and_augmentation_draw_the_same_numbers_on_the_gpu():
    np.testing.assert_array_equal(Noise(np, 3, 4).bits((64, 33)), to_numpy(Noise(cupy, 3, 4).bits((64, 33))))
    batch = np.random.default_rng(0).normal(size=(8, 6 * 5 * 3)).astype(np.float32)
    on_host = flip_and_crop(batch, (6, 5, 3), Noise(np, 1, 1), flip=True, pad=2)
    on_gpu = flip_and_crop(cupy.asarray(batch), (6, 5, 3), Noise(cupy, 1, 1), flip=True, pad=2)
    np.testing.assert_array_equal(on_host, to_numpy(on_gpu))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_fused_gpu_update_equals_the_reference_on_the_gpu(name):
    # fused_cuda.py's kernels, compiled without fused multiply-add, round as CuPy's separate operations do
    shapes = {"W1": (70, 24), "b1": (24,), "W2": (24, 3), "b2": (3,)}
    runs = {}
    for fused in (True, False):
        rng = np.random.default_rng(0)
        params = {k: cupy.asarray(rng.normal(size=s).astype(np.float32)) for k, s in shapes.items()}
        opt = make_optimizer(name, momentum=0.9, weight_decay=0.1)
        for step in range(3):
            grads = {k: cupy.asarray(np.random.default_rng(step).normal(size=s).astype(np.float32))
                     for k, s in shapes.items()}
            sums = opt.update(params, grads, lr=0.05, l2=0.2, fused=fused)
        runs[fused] = params, opt.state, sums
    for a, b in zip(runs[True][:2], runs[False][:2], strict=True):
        for key in a:
            np.testing.assert_array_equal(to_numpy(a[key]), to_numpy(b[key]), err_msg=key)
    assert {k: float(v) for k, v in runs[True][2].items()} == {k: float(v) for k, v in runs[False][2].items()}


def test_training_on_the_gpu_follows_training_on_the_cpu():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 48)).astype(np.float32)
    y = (X[:, :4].sum(axis=1) > 0).astype(np.int64)
    runs = {}
    for device in ("cpu", "cuda"):
        net = TwoLayerNet(48, 64, 2, std=0.05, seed=1, dtype=np.float32)
        history = fit(net, X[:500], y[:500], X[500:], y[500:],
                      config(lr=0.05, iters=40, batch_size=50, seed=0, optimizer="nesterov", dropout_hidden=0.2,
                               flip=True, crop=1, device=device), image_shape=(4, 4, 3))
        assert all(type(p) is np.ndarray for p in net.params.values())
        runs[device] = (net.params, history)
    # GPU matrix products sum in another order: equal to rounding, not bit for bit
    np.testing.assert_allclose(runs["cpu"][1].loss, runs["cuda"][1].loss, rtol=1e-3)
    for key, value in runs["cpu"][0].items():
        np.testing.assert_allclose(value, runs["cuda"][0][key], rtol=1e-3, atol=1e-5)


def test_cli_trains_digits_on_the_gpu(tmp_path):
    assert main(["train", "--device", "cuda", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.95
