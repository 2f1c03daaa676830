"""The device code path (`--device cuda`), run on a strict stand-in for CuPy
(tests/fakecupy.py): the same trainer on device arrays must give exactly
what it gives on NumPy, never mix host and device arrays, and hand back
NumPy arrays. tests/test_gpu.py runs the same checks on a real GPU."""

import json
import sys

import numpy as np
import pytest

import fakecupy
from configs import config
from twolayer import TwoLayerNet, fit
from twolayer.backend import array_module, device_module, to_device, to_numpy
from twolayer.checkpoint import load_checkpoint, save_checkpoint
from twolayer.cli import main
from twolayer.data.augment import flip_and_crop
from twolayer.errors import ConfigError
from twolayer.noise import Noise
from twolayer.trainer import new_state

HARD = dict(optimizer="nesterov", schedule="onecycle", reg=1e-3, weight_decay=1e-3, dropout_input=0.1,
            dropout_hidden=0.3, label_smoothing=0.1, flip=True, crop=1)
SHAPE = (4, 5, 1)


@pytest.fixture
def cupy(monkeypatch):
    return fakecupy.install(monkeypatch)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) > 0).astype(np.int64) + (X[:, 3] > 1)
    return X[:240], y[:240], X[240:], y[240:]


def test_the_fake_is_as_strict_as_cupy(cupy):
    a = cupy.asarray(np.arange(4.0))
    with pytest.raises(TypeError):
        np.asarray(a)
    with pytest.raises(TypeError):
        a + np.ones(4)
    with pytest.raises(TypeError):
        a[np.array([0, 1])]
    assert array_module(a) is cupy and array_module(a.sum()) is cupy
    assert float(a.sum()) == 6.0
    assert type(to_numpy(a)) is np.ndarray


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_training_on_the_device_equals_training_on_numpy(cupy, images, optimizer):
    X, y, Xv, yv = images
    runs = {}
    for device in ("cpu", "cuda"):
        net = TwoLayerNet(20, 16, 3, std=0.1, seed=1, dtype=np.float32)
        history = fit(net, X, y, Xv, yv, config(lr=0.05, iters=75, batch_size=32, seed=2, device=device,
                                                  **{**HARD, "optimizer": optimizer}), image_shape=SHAPE)
        assert all(type(p) is np.ndarray for p in net.params.values())  # results come back as NumPy
        runs[device] = (net.params, history)
    (cpu_params, cpu_history), (gpu_params, gpu_history) = runs["cpu"], runs["cuda"]
    for key in cpu_params:
        np.testing.assert_array_equal(cpu_params[key], gpu_params[key])
    assert cpu_history.loss == gpu_history.loss and len(cpu_history.loss) == 75
    assert cpu_history.val_acc == gpu_history.val_acc


def test_device_losses_are_read_in_blocks_and_callbacks_see_whole_states(cupy, images):
    X, y, Xv, yv = images
    state = new_state(len(X), config(seed=0))
    seen = []
    net = TwoLayerNet(20, 8, 3, std=0.1, seed=1, dtype=np.float32)
    fit(net, X, y, Xv, yv, config(lr=0.05, iters=50, batch_size=32, device="cuda"), state=state,
        on_iteration=lambda it, total, loss, lr: seen.append((it, len(state.history.loss), loss,
                                                              array_module(net.params["W1"]))))
    # 7 batches per epoch: read every 20th iteration and at each epoch's end
    assert [it for it, *_ in seen] == sorted({*range(20, 51, 20), *range(7, 51, 7), 50})
    assert all(it == n for it, n, *_ in seen)  # the history is whole whenever a callback runs
    assert all(loss == state.history.loss[it - 1] for it, _, loss, _ in seen)
    assert all(xp is cupy for *_, xp in seen)  # the weights lived on the device while training
    assert array_module(net.params["W1"]) is np


def test_checkpoints_taken_on_the_device_hold_numpy_arrays(cupy, images, tmp_path):
    X, y, Xv, yv = images
    net = TwoLayerNet(20, 8, 3, std=0.1, seed=1, dtype=np.float32)
    fit(net, X, y, Xv, yv, config(lr=0.05, iters=14, batch_size=32, seed=0, device="cuda", optimizer="momentum"),
        on_epoch_end=lambda state: save_checkpoint(tmp_path / "c.npz", net, state))
    loaded, state = load_checkpoint(tmp_path / "c.npz")
    np.testing.assert_array_equal(loaded.params["W1"], net.params["W1"])
    assert all(type(v) is np.ndarray for v in state.optimizer.state.values())


def test_noise_and_augmentation_are_the_same_numbers_on_both_devices(cupy):
    host, device = Noise(np, 5, 9), Noise(cupy, 5, 9)
    np.testing.assert_array_equal(host.random((3, 7)), to_numpy(device.random((3, 7))))
    batch = np.random.default_rng(0).normal(size=(6, 4 * 5 * 3)).astype(np.float32)
    on_host = flip_and_crop(batch, (4, 5, 3), Noise(np, 1, 1), flip=True, pad=2)
    on_device = flip_and_crop(to_device(batch, cupy), (4, 5, 3), Noise(cupy, 1, 1), flip=True, pad=2)
    np.testing.assert_array_equal(on_host, to_numpy(on_device))


def test_without_cupy_the_cuda_device_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    with pytest.raises(ConfigError, match="needs CuPy, which is not installed: pip install cupy"):
        device_module("cuda")


def test_without_a_gpu_the_cuda_device_is_a_one_line_error(cupy):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient\nmore detail")

    cupy.cuda.runtime.getDeviceCount = no_driver
    with pytest.raises(ConfigError, match=r"no usable CUDA GPU \(RuntimeError: cudaErrorInsufficientDriver[^\n]*\)$"):
        device_module("cuda")
    cupy.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        device_module("cuda")


def test_cli_rejects_cuda_without_cupy_before_any_work(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)
    code = main(["train", "--device", "cuda", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "needs CuPy" in err
    assert not (tmp_path / "run").exists()


def test_cli_trains_on_the_device_and_matches_the_cpu_run(cupy, tmp_path):
    metrics = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        args = ["train", "--device", device, "--out", str(out), "--quiet", "--epochs", "3", "--dropout-hidden", "0.2"]
        assert main(args) == 0
        metrics[device] = json.loads((out / "metrics.json").read_text())
        assert json.loads((out / "config.json").read_text())["device"] == device
    for key in ("train_accuracy", "val_accuracy", "test_accuracy", "final_loss"):
        assert metrics["cpu"][key] == metrics["cuda"][key]
