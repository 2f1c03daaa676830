import numpy as np
import pytest


@pytest.fixture
def toy():
    """The assignment's toy problem: net 4-10-3 and five points, float64."""
    from twolayer import TwoLayerNet

    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    return net, X, y


@pytest.fixture
def blobs():
    """A small, easy 3-class problem as float32 rows (train, val)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, size=(3, 20))
    y = rng.integers(0, 3, size=600)
    X = (centers[y] + rng.normal(0, 1, size=(600, 20))).astype(np.float32)
    return X[:500], y[:500], X[500:], y[500:]
