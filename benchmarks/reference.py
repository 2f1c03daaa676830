"""The classic assignment's training loop as students write it: float64,
batches drawn with replacement, new arrays every step, the learning rate
decayed whenever the iteration count is a multiple of an epoch. The
baseline for benchmarks/speed.py (its time) and benchmarks/classic.py
--reference (its accuracy)."""

from __future__ import annotations

import numpy as np


class ClassicNet:
    def __init__(self, input_size: int, hidden_size: int, output_size: int, std: float = 1e-4,
                 seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.W1 = std * self.rng.standard_normal((input_size, hidden_size))
        self.b1 = np.zeros(hidden_size)
        self.W2 = std * self.rng.standard_normal((hidden_size, output_size))
        self.b2 = np.zeros(output_size)

    def step(self, X: np.ndarray, y: np.ndarray, batch_size: int, lr: float, reg: float) -> None:
        idx = self.rng.choice(len(X), batch_size)
        Xb, yb = X[idx], y[idx]
        h = np.maximum(0, Xb @ self.W1 + self.b1)
        scores = h @ self.W2 + self.b2
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        dscores = probs.copy()
        dscores[np.arange(batch_size), yb] -= 1
        dscores /= batch_size
        dW2 = h.T @ dscores + 2 * reg * self.W2
        db2 = dscores.sum(axis=0)
        dh = dscores @ self.W2.T
        dh[h <= 0] = 0
        dW1 = Xb.T @ dh + 2 * reg * self.W1
        db1 = dh.sum(axis=0)
        self.W1, self.b1 = self.W1 - lr * dW1, self.b1 - lr * db1
        self.W2, self.b2 = self.W2 - lr * dW2, self.b2 - lr * db2

    def train(self, X, y, lr: float, lr_decay: float, reg: float, num_iters: int, batch_size: int) -> None:
        per_epoch = max(len(X) / batch_size, 1)
        for it in range(num_iters):
            self.step(X, y, batch_size, lr, reg)
            if it % per_epoch == 0:
                lr *= lr_decay

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (np.maximum(0, X @ self.W1 + self.b1) @ self.W2 + self.b2).argmax(axis=1)
