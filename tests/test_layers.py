"""Each layer's backward against numerical gradients of its forward (float64)."""

import numpy as np
import pytest

from twolayer.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from twolayer.layers import (
    affine_backward,
    affine_backward_params,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    softmax_loss_backward,
    softmax_loss_forward,
)

rng = np.random.default_rng(231)


def test_affine_forward_hand_worked():
    # x = [[1, 2]], w = [[1, 0, -1], [2, 1, 0]], b = [0.5, 0, 0]
    # out = [1*1 + 2*2 + 0.5, 1*0 + 2*1 + 0, 1*-1 + 2*0 + 0] = [5.5, 2, -1]
    out, _ = affine_forward(np.array([[1.0, 2.0]]), np.array([[1.0, 0, -1], [2, 1, 0]]), np.array([0.5, 0, 0]))
    np.testing.assert_allclose(out, [[5.5, 2.0, -1.0]])


def test_affine_backward_matches_numerical():
    x, w, b = rng.normal(size=(10, 6)), rng.normal(size=(6, 5)), rng.normal(size=5)
    dout = rng.normal(size=(10, 5))
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    assert rel_error(dx, numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)) < 1e-8
    assert rel_error(dw, numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)) < 1e-8
    assert rel_error(db, numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)) < 1e-8
    dw2, db2 = affine_backward_params(dout, cache)
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


def test_relu_forward_and_backward():
    x = np.array([[-1.0, 0.0, 2.0]])
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu_backward(np.array([[5.0, 5.0, 5.0]]), cache), [[0.0, 0.0, 5.0]])
    # away from the kink, the numerical gradient agrees
    x = rng.normal(size=(8, 7))
    x[np.abs(x) < 1e-3] = 0.5
    dout = rng.normal(size=x.shape)
    _, cache = relu_forward(x)
    assert rel_error(relu_backward(dout, cache), numerical_gradient_array(lambda v: relu_forward(v)[0], x, dout)) < 1e-8


def test_softmax_loss_uniform_scores_give_log_c():
    # all-equal scores: p = 1/C for every class, so the loss is log(C)
    loss, _ = softmax_loss(np.zeros((4, 10)), np.array([0, 3, 5, 9]))
    assert loss == pytest.approx(np.log(10))


def test_softmax_loss_gradient_matches_numerical():
    scores, y = rng.normal(size=(12, 10)), rng.integers(0, 10, size=12)
    loss, dscores = softmax_loss(scores, y)
    assert rel_error(dscores, numerical_gradient(lambda s: softmax_loss_forward(s, y)[0], scores)) < 1e-7
    _, cache = softmax_loss_forward(scores, y)
    np.testing.assert_allclose(softmax_loss_backward(2.0, cache), 2 * dscores)


def test_softmax_loss_is_stable_for_huge_scores():
    loss, dscores = softmax_loss(np.array([[1000.0, 0.0], [0.0, 1e4]]), np.array([0, 1]))
    assert np.isfinite(loss) and loss == pytest.approx(0.0)
    assert np.all(np.isfinite(dscores))
