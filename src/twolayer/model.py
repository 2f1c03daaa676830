"""TwoLayerNet: input -> affine -> ReLU -> affine -> softmax loss, with L2.

The interface is the classic course assignment's, so code written for it
runs unchanged: `params` is a dict with W1, b1, W2, b2; `loss(X, y, reg)`
returns scores or (loss, grads); `train(...)` returns the histories;
`predict(X)` returns labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twolayer.arrays import labels, rows
from twolayer.backend import array_module
from twolayer.config import OptionError, TrainConfig, check_std, given_flag, is_number, options
from twolayer.errors import ConfigError
from twolayer.layers import (
    affine_backward,
    affine_backward_params,
    affine_forward,
    decays,
    dropout_backward,
    dropout_forward,
    l2_penalty,
    relu_backward,
    relu_forward,
    softmax_loss,
)
from twolayer.memory import shortfall

PARAM_NAMES = ("W1", "b1", "W2", "b2")
# the assignment's argument names for the options of `train`
CLASSIC_NAMES = {"lr": "learning_rate", "lr_decay": "learning_rate_decay", "iters": "num_iters"}


class TwoLayerNet:
    """A fully-connected network with one hidden ReLU layer.

    Shapes: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).

    Weights start as `std * standard normal` and biases as zeros. With
    `seed=None` the draws come from NumPy's global state, exactly as in the
    assignment (so `np.random.seed(0)` before construction reproduces its toy
    model); pass a seed or a `numpy.random.Generator` for an independent
    stream. `dtype` defaults to float64 like the assignment, which its exact
    reference checks need; the trainer and command line use float32.
    """

    # The trainer adds the L2 term itself and folds it into the update (no
    # weight-sized temporary); a learner's network (learner.py) adds its own.
    l2_in_loss = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        std: float = 1e-4,
        seed: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
    ) -> None:
        for name, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("output_size", output_size),
        ):
            if not (is_number(value, int) and value >= 1):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        input_size, hidden_size, output_size = int(input_size), int(hidden_size), int(output_size)
        if not (is_number(std) and std > 0):
            raise ConfigError(f"std must be a number > 0, got {std!r}")
        dtype = float_dtype(dtype)
        check_std(std, dtype)
        # the normal draws are float64 before the cast: both exist for a moment
        weights = input_size * hidden_size + hidden_size * output_size
        problem = shortfall(weights * (8 + dtype.itemsize))
        if problem:
            raise ConfigError(f"a {input_size} x {hidden_size} x {output_size} network {problem}")
        if seed is None:
            normal = np.random.randn
        else:
            try:
                rng = np.random.default_rng(seed)
            except (TypeError, ValueError):
                raise ConfigError(f"seed must be a whole number >= 0, a numpy.random.Generator or None, got "
                                  f"{seed!r}") from None
            normal = lambda *shape: rng.standard_normal(shape)  # noqa: E731
        self.params: dict[str, Any] = {
            "W1": (std * normal(input_size, hidden_size)).astype(dtype),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": (std * normal(hidden_size, output_size)).astype(dtype),
            "b2": np.zeros(output_size, dtype=dtype),
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TwoLayerNet:
        """A net holding the given arrays (W1, b1, W2, b2), shapes and float
        types checked (a missing one was a KeyError, a list an AttributeError)."""
        for key in PARAM_NAMES:
            value = params.get(key) if isinstance(params, Mapping) else None
            if getattr(value, "dtype", None) is None or value.dtype.kind != "f":
                what = "missing" if value is None else f"of {getattr(value, 'dtype', type(value).__name__)}"
                raise ConfigError(f"params must hold float arrays {', '.join(PARAM_NAMES)}; {key} is {what}")
        if params["W1"].ndim != 2 or params["W2"].ndim != 2:
            raise ConfigError(f"W1 and W2 must be 2-D, got shapes {params['W1'].shape} and {params['W2'].shape}")
        d, h = params["W1"].shape
        c = params["W2"].shape[1]
        expected = {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}
        for key, shape in expected.items():
            if params[key].shape != shape:
                raise ConfigError(f"{key} has shape {params[key].shape}, expected {shape}")
        net = cls.__new__(cls)
        net.params = {k: params[k] for k in PARAM_NAMES}
        return net

    @property
    def dtype(self) -> Any:
        return self.params["W1"].dtype

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(D, H, C)."""
        d, h = self.params["W1"].shape
        return d, h, self.params["W2"].shape[1]

    def weights(self) -> list[Any]:
        """The weight matrices (what L2 and weight decay act on): W1, W2."""
        return [p for p in self.params.values() if decays(p)]

    def loss(self, X: Any, y: Any = None, reg: float = 0.0, grads_out: dict[str, Any] | None = None, *,
             dropout_input: float = 0.0, dropout_hidden: float = 0.0, label_smoothing: float = 0.0,
             rng: Any = None) -> Any:
        """Scores (N, C) when y is None, else (loss, grads) with loss a float.

        loss = mean softmax cross-entropy + reg * (sum(W1**2) + sum(W2**2)),
        so each weight gradient carries 2 * reg * W. Biases are not
        regularized. The other arguments are `gradients`'.
        """
        X = self._rows(X)  # one ValueError for data the net can't take
        for name, value in (("reg", reg), ("dropout_input", dropout_input), ("dropout_hidden", dropout_hidden),
                            ("label_smoothing", label_smoothing)):
            options()[name].check(value)  # the option table's rule: reg=-1 or reg="0.1" is one line
        if y is None:
            return self._scores(X)
        loss, grads = self.gradients(X, y, reg, grads_out, dropout_input=dropout_input,
                                     dropout_hidden=dropout_hidden, label_smoothing=label_smoothing, rng=rng)
        return float(loss), grads

    def scores(self, X: Any) -> Any:
        """Class scores (N, C), no dropout."""
        return self._scores(self._rows(X))

    def _rows(self, X: Any) -> Any:
        """X checked as rows the net takes: its width, finite, within its float type's range."""
        return rows(X, self.params["W1"].shape[0], finite=True, dtype=self.params["W1"].dtype)

    def _scores(self, X: Any) -> Any:
        p = self.params
        hidden, _ = relu_forward(affine_forward(X.astype(p["W1"].dtype, copy=False), p["W1"], p["b1"])[0])
        return affine_forward(hidden, p["W2"], p["b2"])[0]

    def gradients(self, X: Any, y: Any, reg: float = 0.0, grads_out: dict[str, Any] | None = None, *,
                  dropout_input: float = 0.0, dropout_hidden: float = 0.0, label_smoothing: float = 0.0,
                  rng: Any = None) -> tuple[Any, dict[str, Any]]:
        """(loss, grads) of `loss`, the loss left as a 0-d array where the
        params live (reading it from a GPU would wait for the device).

        grads_out: arrays shaped like the params to write the gradients into
        (the trainer reuses one set per run: a fresh (D, H) array every step
        costs page faults). Without it, new arrays are returned.

        Inverted dropout on the input and on the hidden layer draws its masks
        from `rng` (a twolayer.noise.Noise or a numpy.random.Generator);
        label smoothing mixes the target with the uniform distribution.

        X and y are checked for shape and type, and y for labels the net has
        outputs for (-1 was read as the last class), but X's values are not
        read (loss checks them): the trainer calls this every step on rows
        it has checked.
        """
        p = self.params
        X = rows(X, p["W1"].shape[0])
        y = labels(y, len(X), p["W2"].shape[1])
        if len(X) == 0:  # a mean over no rows: a ZeroDivisionError in the softmax
            raise ConfigError("X has no rows: the loss of no rows is undefined")
        X = X.astype(p["W1"].dtype, copy=False)
        if dropout_input:
            X, _ = dropout_forward(X, dropout_input, rng)  # no gradient flows to the input
        hidden_in, cache1 = affine_forward(X, p["W1"], p["b1"])
        hidden, relu_cache = relu_forward(hidden_in, out=hidden_in)  # the pre-activations are not needed again
        if dropout_hidden:
            hidden, hidden_mask = dropout_forward(hidden, dropout_hidden, rng)
        scores, cache2 = affine_forward(hidden, p["W2"], p["b2"])

        loss, dscores = softmax_loss(scores, y, label_smoothing)
        if reg:
            penalty, slope = l2_penalty(self.weights(), reg)
            loss = loss + penalty

        dhidden, dW2, db2 = affine_backward(dscores, cache2)
        if dropout_hidden:
            dhidden = dropout_backward(dhidden, hidden_mask)
        dhidden_in = relu_backward(dhidden, relu_cache, out=dhidden)
        out = grads_out or {}
        dW1, db1 = affine_backward_params(dhidden_in, cache1, out.get("W1"), out.get("b1"))
        if reg:
            dW1 += slope * p["W1"]
            dW2 += slope * p["W2"]
        return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    def predict(self, X: Any, batch_size: int | None = None) -> Any:
        """Labels (N,): the argmax of the scores, computed in chunks so that
        a large split never needs an (N, H) matrix all at once (by default
        chunks of about 64 MB of hidden activations)."""
        X = self._rows(X)  # NaN rows were labeled 0, the argmax of NaN
        if batch_size is not None and not (is_number(batch_size, int) and batch_size >= 1):
            raise ConfigError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        xp = array_module(self.params["W1"])
        batch_size = int(batch_size or chunk_rows(self.params["W1"].shape[1]))
        out = xp.empty(X.shape[0], dtype=np.int64)
        for start in range(0, X.shape[0], batch_size):
            out[start : start + batch_size] = self._scores(X[start : start + batch_size]).argmax(axis=1)
        return out

    def train(
        self,
        X: Any,
        y: Any,
        X_val: Any,
        y_val: Any,
        learning_rate: float = 1e-3,
        learning_rate_decay: float = 0.95,
        reg: float = 5e-6,
        num_iters: int = 100,
        batch_size: int = 200,
        verbose: bool = False,
        seed: int | None = None,
    ) -> dict[str, list[float]]:
        """Minibatch SGD, the assignment's signature; returns loss_history,
        train_acc_history and val_acc_history.

        A thin wrapper over `twolayer.trainer.fit`, which does the work (and
        keeps the parameters of the best validation epoch). Without a seed the
        batches come from NumPy's global state, like the assignment's.
        """
        from twolayer.trainer import fit  # trainer imports this module

        if seed is None:
            seed = int(np.random.randint(2**31))
        try:
            # the assignment's loop: plain SGD with per-epoch step decay, whatever the tool's defaults
            config = TrainConfig(optimizer="sgd", schedule="step", lr=learning_rate, lr_decay=learning_rate_decay,
                                 reg=reg, iters=num_iters,
                                 batch_size=batch_size, seed=seed).validate()
        except OptionError as e:  # named as this method's arguments are
            raise e.renamed(CLASSIC_NAMES.get(e.name, e.name)) from None
        verbose = given_flag(verbose, "verbose")
        history = fit(self, X, y, X_val, y_val, config, on_iteration=_print_every(100) if verbose else None)
        return history.classic()


def float_dtype(dtype: Any) -> np.dtype:
    """dtype as a NumPy float type; ConfigError for any other (an int
    network trained into a casting error deep in the first update)."""
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = None
    if kind != "f":
        raise ConfigError(f"dtype must be a float type (np.float32 or np.float64), got {dtype!r}")
    return np.dtype(dtype)


def chunk_rows(hidden_size: int) -> int:
    """Rows scored at a time: about 64 MB of float32 hidden activations."""
    return max(256, 2**24 // hidden_size)


def _print_every(n: int):
    def report(iteration: int, num_iters: int, loss: float, lr: float) -> None:
        if iteration % n == 0:
            print(f"iteration {iteration} / {num_iters}: loss {loss:f}")

    return report
