"""Dropout, label smoothing, the momentum/Nesterov/Adam rules, warm-up
schedules, augmentation and ZCA whitening: each checked by hand or by
numerical gradients."""

import numpy as np
import pytest

from twolayer import TwoLayerNet
from twolayer.data.augment import flip_and_crop
from twolayer.data.preprocess import Preprocessor
from twolayer.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from twolayer.layers import dropout_backward, dropout_forward, softmax_loss, softmax_loss_forward
from twolayer.optim import make_optimizer
from twolayer.schedules import cosine, onecycle

rng = np.random.default_rng(7)


def test_inverted_dropout_keeps_the_expected_value():
    x = np.ones((2000, 50))
    out, mask = dropout_forward(x, 0.3, np.random.default_rng(0))
    assert set(np.unique(out)) == {0.0, 1 / 0.7}
    assert abs((out == 0).mean() - 0.3) < 0.01 and abs(out.mean() - 1.0) < 0.02
    np.testing.assert_array_equal(dropout_backward(np.full_like(x, 2.0), mask), 2 * mask)


def test_dropout_gradient_with_a_fixed_mask():
    x, dout = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    _, mask = dropout_forward(x, 0.5, np.random.default_rng(1))
    numeric = numerical_gradient_array(lambda v: dropout_forward(v, 0.5, np.random.default_rng(1))[0], x, dout)
    assert rel_error(dropout_backward(dout, mask), numeric) < 1e-9


def test_label_smoothing_by_hand_and_by_gradient():
    # two classes, equal scores: p = (1/2, 1/2); every target gives -log(1/2)
    loss, _ = softmax_loss(np.zeros((1, 2)), np.array([0]), smoothing=0.2)
    assert loss == pytest.approx(np.log(2))
    scores, y = rng.normal(size=(7, 4)), rng.integers(0, 4, size=7)
    loss, dscores = softmax_loss(scores, y, smoothing=0.1)
    plain, _ = softmax_loss(scores, y)
    uniform = np.mean(np.log(np.exp(scores).sum(1)) - scores.mean(1))
    assert loss == pytest.approx(0.9 * plain + 0.1 * uniform)
    numeric = numerical_gradient(lambda s: softmax_loss_forward(s, y, 0.1)[0], scores)
    assert rel_error(dscores, numeric) < 1e-7


def test_model_gradients_with_dropout_and_smoothing(toy):
    net, X, y = toy
    kwargs = dict(reg=0.05, dropout_input=0.2, dropout_hidden=0.3, label_smoothing=0.1)
    _, grads = net.loss(X, y, rng=np.random.default_rng(3), **kwargs)
    for name in ("W1", "b1", "W2", "b2"):
        numeric = numerical_gradient(lambda _: net.loss(X, y, rng=np.random.default_rng(3), **kwargs)[0],
                                     net.params[name])
        assert rel_error(numeric, grads[name]) < 1e-7, name
    # scores (evaluation) never drop anything
    np.testing.assert_array_equal(net.loss(X, dropout_hidden=0.9), net.loss(X))


def two_steps(name, **kwargs):
    params = {"W1": np.array([1.0, -2.0])}
    opt = make_optimizer(name, **kwargs)
    for g in ([0.5, 1.0], [0.25, -1.0]):
        opt.update(params, {"W1": np.array(g)}, lr=0.1)
    return params["W1"], opt


def test_momentum_by_hand():
    # v1 = -0.1 g1 = (-0.05, -0.1); p1 = (0.95, -2.1)
    # v2 = 0.9 v1 - 0.1 g2 = (-0.07, 0.01); p2 = (0.88, -2.09)
    p, opt = two_steps("momentum", momentum=0.9)
    np.testing.assert_allclose(p, [0.88, -2.09])
    np.testing.assert_allclose(opt.state["v.W1"], [-0.07, 0.01])


def test_nesterov_equals_the_course_formula():
    p, _ = two_steps("nesterov", momentum=0.9)
    q, v = np.array([1.0, -2.0]), np.zeros(2)
    for g in ([0.5, 1.0], [0.25, -1.0]):  # v_prev = v; v = mu v - lr g; q += -mu v_prev + (1 + mu) v
        v_prev = v.copy()
        v = 0.9 * v - 0.1 * np.array(g)
        q += -0.9 * v_prev + 1.9 * v
    np.testing.assert_allclose(p, q)


def test_adam_by_hand():
    # step 1: m = 0.1 g, s = 0.001 g^2; m_hat = g, s_hat = g^2: p -= lr * g / (|g| + eps)
    params = {"W1": np.array([1.0, -2.0])}
    opt = make_optimizer("adam")
    opt.update(params, {"W1": np.array([0.5, -4.0])}, lr=0.1)
    np.testing.assert_allclose(params["W1"], [0.9, -1.9], atol=1e-7)
    assert int(opt.state["t"]) == 1 and set(opt.state) == {"t", "m.W1", "s.W1"}


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
def test_decoupled_weight_decay_shrinks_weights_not_biases(name):
    # what decays is told by the parameter's shape: a matrix decays, a vector does not
    params = {"W1": np.array([[2.0]]), "b1": np.array([2.0])}
    make_optimizer(name, weight_decay=0.5).update(params, {"W1": np.zeros((1, 1)), "b1": np.zeros(1)}, lr=0.1)
    np.testing.assert_allclose(params["W1"], [[2.0 * (1 - 0.1 * 0.5)]])
    np.testing.assert_allclose(params["b1"], [2.0])


def test_warmup_schedules():
    assert onecycle(0, 1.0, 10, 100, 0.0, 0.2) == pytest.approx(1 / 25)
    assert onecycle(20, 1.0, 10, 100, 0.0, 0.2) == pytest.approx(1.0)
    assert onecycle(100, 1.0, 10, 100, 0.0, 0.2) == pytest.approx(1e-4)
    assert onecycle(10, 1.0, 10, 100, 0.0, 0.2) == pytest.approx(1 / 25 + (1 - 1 / 25) / 2)
    assert cosine(0, 1.0, 10, 100, 0.0, 0.1) == pytest.approx(0.1)
    assert cosine(9, 1.0, 10, 100, 0.0, 0.1) == pytest.approx(1.0)
    assert cosine(55, 1.0, 10, 100, 0.0, 0.1) == pytest.approx(0.5)


def test_flip_and_crop():
    images = rng.normal(size=(64, 5, 6, 2)).astype(np.float32)
    rows = images.reshape(64, -1)
    same = flip_and_crop(rows, (5, 6, 2), np.random.default_rng(0), flip=False, pad=0)
    np.testing.assert_array_equal(same, rows)
    flipped = flip_and_crop(rows, (5, 6, 2), np.random.default_rng(0), flip=True, pad=0).reshape(64, 5, 6, 2)
    is_flipped = [np.array_equal(f, i[:, ::-1]) for f, i in zip(flipped, images, strict=True)]
    assert all(f or np.array_equal(g, i) for f, g, i in zip(is_flipped, flipped, images, strict=True))
    assert 16 < sum(is_flipped) < 48  # about half
    cropped = flip_and_crop(rows, (5, 6, 2), np.random.default_rng(0), flip=False, pad=2).reshape(64, 5, 6, 2)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    for b in range(64):  # each crop is some 5x6 window of the reflect-padded image
        windows = [padded[b, t:t + 5, s:s + 6] for t in range(5) for s in range(5)]
        assert any(np.array_equal(cropped[b], w) for w in windows)
    again = flip_and_crop(rows, (5, 6, 2), np.random.default_rng(0), flip=True, pad=2)
    np.testing.assert_array_equal(again, flip_and_crop(rows, (5, 6, 2), np.random.default_rng(0), True, 2))


def test_zca_whitens_the_training_data():
    base = rng.normal(size=(4000, 12))
    mixed = base @ rng.normal(size=(12, 12))  # correlated pixels
    images = np.clip(128 + 20 * mixed, 0, 255).astype(np.uint8).reshape(4000, 2, 2, 3)
    pre = Preprocessor.fit("zca", images, zca_epsilon=1e-8)
    out = pre.transform(images).astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(np.cov(out, rowvar=False, bias=True), np.eye(12), atol=2e-3)
    np.testing.assert_allclose(pre.matrix, pre.matrix.T, atol=1e-5)  # ZCA's W is symmetric
    again = Preprocessor.from_arrays("zca", pre.to_arrays())
    np.testing.assert_array_equal(again.transform(images[:5]), pre.transform(images[:5]))


def test_every_option_learns_digits():
    from twolayer.config import TrainConfig
    from twolayer.workflow import train

    config = TrainConfig(hidden_size=64, optimizer="nesterov", schedule="onecycle", lr=0.02, std=0.05,
                         preprocess="standardize", flip=True, crop=1, dropout_input=0.1, dropout_hidden=0.2,
                         label_smoothing=0.1, weight_decay=1e-4, reg=1e-4, epochs=30, batch_size=50)
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        metrics = train(config, out, quiet=True).metrics
    assert metrics["test_accuracy"] > 0.9


def test_wide_hidden_layers_predict_in_bounded_chunks():
    net = TwoLayerNet(30, 8192, 3, seed=0, dtype=np.float32)
    X = rng.normal(size=(5000, 30)).astype(np.float32)
    labels = net.predict(X)  # chunks of 2**24 // 8192 = 2048 rows: 64 MB of activations at a time
    np.testing.assert_array_equal(labels[:10], net.loss(X[:10]).argmax(axis=1))
