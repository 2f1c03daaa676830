"""The fit loop: reproducibility, epochs, histories, best-epoch restore, guards."""

import math

import numpy as np
import pytest

from configs import config
from twolayer import TwoLayerNet, fit
from twolayer.errors import ConfigError
from twolayer.optim import SGD, make_optimizer
from twolayer.schedules import constant, cosine, step_decay
from twolayer.trainer import accuracy


def make_net(seed=0, dtype=np.float32):
    return TwoLayerNet(20, 16, 3, std=1e-2, seed=seed, dtype=dtype)


def test_same_seed_same_weights_bit_for_bit(blobs):
    X, y, Xv, yv = blobs
    nets = [make_net(), make_net()]
    for net in nets:
        fit(net, X, y, Xv, yv, config(lr=1e-2, iters=30, batch_size=64, seed=5))
    for k in nets[0].params:
        np.testing.assert_array_equal(nets[0].params[k], nets[1].params[k])
    other = make_net()
    fit(other, X, y, Xv, yv, config(lr=1e-2, iters=30, batch_size=64, seed=6))
    assert not np.array_equal(other.params["W1"], nets[0].params["W1"])


def test_learns_an_easy_problem_in_float32(blobs):
    X, y, Xv, yv = blobs
    net = make_net()
    history = fit(net, X, y, Xv, yv, config(lr=5e-2, iters=100, batch_size=50, seed=0))
    assert net.params["W1"].dtype == np.float32
    assert accuracy(net, Xv, yv) > 0.95
    assert history.loss[-1] < history.loss[0] / 5


def test_epoch_bookkeeping(blobs):
    X, y, Xv, yv = blobs  # 500 rows, batch 100: 5 iterations per epoch
    history = fit(make_net(), X, y, Xv, yv, config(lr=1e-2, iters=12, batch_size=100, seed=0))
    assert len(history.loss) == len(history.lr) == 12
    # epochs end at 5 and 10, and the last partial epoch is evaluated too
    assert history.eval_iteration == [5, 10, 12]
    assert len(history.train_acc) == len(history.val_acc) == 3
    # the classic decay: one factor per completed epoch
    assert history.lr[:5] == [1e-2] * 5
    assert history.lr[5] == pytest.approx(1e-2 * 0.95)
    assert history.lr[10] == pytest.approx(1e-2 * 0.95**2)


def test_train_accuracy_uses_a_fixed_sample_not_the_batch(blobs):
    X, y, Xv, yv = blobs
    net = make_net()
    history = fit(net, X, y, Xv, yv, config(lr=1e-2, iters=5, batch_size=100, seed=0), eval_size=200)
    # after a single epoch the sample's accuracy is a multiple of 1/200
    assert (history.train_acc[0] * 200) == pytest.approx(round(history.train_acc[0] * 200))


def test_best_validation_epoch_is_restored(blobs):
    X, y, Xv, yv = blobs
    net = make_net()
    snapshots = []
    history = fit(net, X, y, Xv, yv, config(lr=1e-2, iters=40, batch_size=100, seed=0),
                  on_epoch_end=lambda s: snapshots.append(net.params["W1"].copy()))
    best = history.best_index
    assert history.val_acc[best] == max(history.val_acc)
    np.testing.assert_array_equal(net.params["W1"], snapshots[best])
    assert accuracy(net, Xv, yv) == history.val_acc[best]


def test_diverging_run_stops_with_a_message_and_keeps_best(blobs):
    X, y, Xv, yv = blobs
    net = make_net(dtype=np.float64)
    history = fit(net, X * 1000, y, Xv * 1000, yv, config(lr=10.0, iters=500, batch_size=50, seed=0))
    assert history.stop_reason is not None
    assert "at iteration" in history.stop_reason and "lower learning rate" in history.stop_reason
    assert len(history.loss) < 500
    assert all(math.isfinite(v) for v in history.loss)
    assert all(np.all(np.isfinite(p)) for p in net.params.values())


@pytest.mark.parametrize("options", [dict(reg=1e30), dict(reg=30.0, lr=0.05), dict(weight_decay=1e10)])
def test_a_run_blown_up_by_its_l2_or_weight_decay_is_told_to_lower_them(blobs, options):
    # the learning rate is an ordinary one: the advice to lower it (and only it) sent the user the wrong way
    X, y, Xv, yv = blobs
    history = fit(make_net(), X, y, Xv, yv, config(**{"lr": 0.01, **options}, iters=50, batch_size=50, seed=0))
    assert "overshoots zero: lower reg or the weight decay" in history.stop_reason
    assert "try a lower learning rate" not in history.stop_reason


@pytest.mark.parametrize("kwargs,message", [
    ({"lr": -1}, "lr must be > 0, got -1"),
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"iters": 0}, "iters must be a positive integer"),
    ({"lr_decay": 1.5}, "lr_decay must be in"),
    ({"reg": float("nan")}, "reg must be >= 0"),
    ({"schedule": "zigzag"}, "unknown schedule 'zigzag'"),
    ({"optimizer": "magic"}, "unknown optimizer 'magic'"),
    ({"dropout_hidden": 1.0}, "dropout_hidden must be in \\[0, 1\\)"),
    ({"momentum": -0.1}, "momentum must be in"),
    ({"crop": 1.5}, "crop must be a whole number"),
    ({"flip": True}, "flip and crop need image_shape=\\(H, W, C\\)"),
])
def test_bad_hyperparameters_are_rejected(blobs, kwargs, message):
    X, y, Xv, yv = blobs
    with pytest.raises(ConfigError, match=message):
        fit(make_net(), X, y, Xv, yv, config(**kwargs))


def test_batch_larger_than_data_uses_all_rows(toy):
    net, X, y = toy
    history = fit(net, X, y, config=config(lr=0.1, iters=3, batch_size=200, seed=0))
    assert history.eval_iteration == [1, 2, 3]  # each iteration is a whole epoch
    assert math.isnan(history.val_acc[0]) and history.best_index is None


def test_sgd_step_is_p_minus_lr_grad():
    params = {"w": np.array([1.0, 2.0])}
    SGD().update(params, {"w": np.array([0.5, -1.0])}, lr=0.1)
    np.testing.assert_allclose(params["w"], [0.95, 2.1])
    with pytest.raises(ConfigError):
        make_optimizer("nope")


def test_schedules():
    assert step_decay(9, 1.0, 10, 100, 0.5) == 1.0
    assert step_decay(10, 1.0, 10, 100, 0.5) == 0.5
    assert step_decay(25, 1.0, 10, 100, 0.5) == 0.25
    assert constant(99, 0.3, 10, 100, 0.5) == 0.3
    assert cosine(0, 1.0, 10, 100, 0.5) == 1.0
    assert cosine(50, 1.0, 10, 100, 0.5) == pytest.approx(0.5)
    assert cosine(100, 1.0, 10, 100, 0.5) == pytest.approx(0.0)


def test_the_fast_step_is_the_plain_gradient_step(toy):
    """fit gathers into buffers, reuses gradient arrays and folds L2 into the
    update; one full-batch step must equal loss(X, y, reg) and p -= lr * grad."""
    net, X, y = toy
    plain = {k: v.copy() for k, v in net.params.items()}
    loss, grads = net.loss(X, y, reg=0.3)
    for k in plain:
        plain[k] -= 0.05 * grads[k]
    history = fit(net, X, y, config=config(lr=0.05, reg=0.3, iters=1, batch_size=5, seed=0),
                  restore_best=False)
    assert history.loss[0] == pytest.approx(loss, rel=1e-12)
    for k in plain:
        np.testing.assert_allclose(net.params[k], plain[k], rtol=1e-12, atol=1e-15)


def test_gradients_written_into_given_arrays_match_new_ones(toy):
    net, X, y = toy
    _, fresh = net.loss(X, y, reg=0.1)
    out = {"W1": np.full_like(net.params["W1"], np.nan), "b1": np.full_like(net.params["b1"], np.nan)}
    _, reused = net.loss(X, y, reg=0.1, grads_out=out)
    assert reused["W1"] is out["W1"] and reused["b1"] is out["b1"]
    for k in fresh:
        np.testing.assert_allclose(reused[k], fresh[k], rtol=1e-12)


def test_the_classic_interface_names_its_own_arguments_in_errors(toy):
    net, X, y = toy
    with pytest.raises(ConfigError, match="num_iters must be a positive integer at most 1,000,000,000,000, got 0"):
        net.train(X, y, X, y, num_iters=0)
    with pytest.raises(ConfigError, match="learning_rate must be > 0, got -1"):
        net.train(X, y, X, y, learning_rate=-1)


def test_the_classic_interface_trains_with_plain_sgd_whatever_the_tools_defaults():
    """The assignment's toy training, as the README shows it: its number
    pins the classic loop (plain SGD with step decay), not the CLI's defaults."""
    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    np.random.seed(1)
    X, y = 10 * np.random.randn(5, 4), np.array([0, 1, 2, 2, 1])
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100, verbose=False)
    assert stats["loss_history"][-1] == pytest.approx(0.0156349876, rel=1e-6)


def test_a_run_whose_start_overflows_says_so_once_without_numpys_warnings(tmp_path):
    """std 3e37 (legal in float32) stops at iteration 1 in one line; the run's final accuracies, scored on its
    kept starting weights, added NumPy's 'overflow encountered in matmul' warnings under that line."""
    import warnings

    from twolayer.config import TrainConfig
    from twolayer.workflow import train

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = train(TrainConfig(std=3e37, epochs=1), out=tmp_path / "run", quiet=True)
    assert "before any update" in result.history.stop_reason
