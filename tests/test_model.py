"""TwoLayerNet against the assignment's reference values, and gradient checks."""

import numpy as np
import pytest

from twolayer import TwoLayerNet
from twolayer.checks import REFERENCE_LOSS, REFERENCE_SCORES  # the assignment's numbers, kept once
from twolayer.errors import ConfigError
from twolayer.gradcheck import numerical_gradient, rel_error


def test_toy_scores_match_reference(toy):
    net, X, _ = toy
    scores = net.loss(X)
    assert scores.shape == (5, 3)
    assert np.abs(scores - REFERENCE_SCORES).max() < 1e-7


def test_toy_loss_matches_reference(toy):
    net, X, y = toy
    loss, grads = net.loss(X, y, reg=0.05)
    assert abs(loss - REFERENCE_LOSS) < 1e-10
    assert set(grads) == {"W1", "b1", "W2", "b2"}


def test_toy_params_are_the_assignments_draws(toy):
    net, _, _ = toy
    np.random.seed(0)
    np.testing.assert_array_equal(net.params["W1"], 0.1 * np.random.randn(4, 10))
    np.testing.assert_array_equal(net.params["W2"], 0.1 * np.random.randn(10, 3))
    assert not net.params["b1"].any() and not net.params["b2"].any()


@pytest.mark.parametrize("name", ["W1", "b1", "W2", "b2"])
def test_toy_gradients_match_numerical(toy, name):
    net, X, y = toy
    _, grads = net.loss(X, y, reg=0.05)
    numeric = numerical_gradient(lambda _: net.loss(X, y, reg=0.05)[0], net.params[name])
    assert rel_error(numeric, grads[name]) < 1e-8


def test_regularization_gradient_is_2_reg_w(toy):
    net, X, y = toy
    _, g0 = net.loss(X, y, reg=0.0)
    _, g1 = net.loss(X, y, reg=0.5)
    np.testing.assert_allclose(g1["W1"] - g0["W1"], 2 * 0.5 * net.params["W1"], atol=1e-12)
    np.testing.assert_allclose(g1["b1"], g0["b1"])  # biases are not regularized


def test_toy_training_ends_with_low_loss(toy):
    net, X, y = toy
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100, verbose=False)
    assert stats["loss_history"][-1] < 0.02
    assert len(stats["loss_history"]) == 100
    assert set(stats) == {"loss_history", "train_acc_history", "val_acc_history"}


def test_predict_gives_argmax_labels(toy):
    net, X, _ = toy
    labels = net.predict(X, batch_size=2)  # chunks of 2 must give the same answer
    np.testing.assert_array_equal(labels, net.loss(X).argmax(axis=1))


def test_seeded_construction_is_reproducible_and_typed():
    a = TwoLayerNet(6, 4, 3, seed=7, dtype=np.float32)
    b = TwoLayerNet(6, 4, 3, seed=7, dtype=np.float32)
    assert a.params["W1"].dtype == np.float32
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], TwoLayerNet(6, 4, 3, seed=8).params["W1"])


@pytest.mark.parametrize("args,message", [
    ((0, 4, 3), "input_size must be a positive integer"),
    ((6, -1, 3), "hidden_size must be a positive integer"),
])
def test_bad_sizes_are_rejected(args, message):
    with pytest.raises(ConfigError, match=message):
        TwoLayerNet(*args)


def test_from_params_checks_shapes():
    p = TwoLayerNet(6, 4, 3, seed=0).params
    with pytest.raises(ConfigError, match="b2 has shape"):
        TwoLayerNet.from_params({**p, "b2": np.zeros(5)})
