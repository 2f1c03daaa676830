"""Where to look when a check fails: the signatures of the assignment's
typical mistakes, read from numbers.

Each function gets what a check measured and returns one short sentence.
The references come from twolayer's own network on the learner's weights,
so a hint stays right even where those weights are not the assignment's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twolayer.layers import softmax


def _close(a: float, b: float, rtol: float = 1e-6) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-12)


def scores_hint(scores: np.ndarray, params: dict[str, Any], X: np.ndarray, reference: np.ndarray,
                assignment_scores: np.ndarray) -> str:
    """scores: the learner's; reference: twolayer's on its weights;
    assignment_scores: the assignment's reference values."""
    p = params
    if not np.allclose(reference, assignment_scores, atol=1e-7):
        return "its weights are not the assignment's draws (see construct), so its scores can't match"
    if np.allclose(scores, (X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"], atol=1e-7):
        return "no ReLU: hidden = np.maximum(0, X @ W1 + b1), then scores = hidden @ W2 + b2"
    if np.allclose(scores, softmax(reference), atol=1e-7):
        return "these are probabilities: without y, loss returns the raw scores, before the softmax"
    return "scores = np.maximum(0, X @ W1 + b1) @ W2 + b2"


def loss_hint(loss: float, loss_at_0: float | None, data_loss: float, params: dict[str, Any], reg: float,
              n: int, scores_right: bool) -> str:
    """loss, loss_at_0: the learner's at `reg` and at 0; data_loss: the right
    loss at reg 0 on its weights (twolayer's); scores_right: whether its
    scores are right on its weights."""
    w1, w2 = (float(np.sum(params[k] ** 2)) for k in ("W1", "W2"))
    term, right = (loss - loss_at_0 if loss_at_0 is not None else None), reg * (w1 + w2)
    if not scores_right:
        return "its scores are wrong (see scores), so its loss can't be right"
    if _close(loss, data_loss + right, 1e-9):
        return "the loss is right for its weights, but they are not the assignment's draws (see construct)"
    if loss_at_0 is None:
        return "the loss at reg 0 could not be computed either"
    if _close(loss_at_0, n * data_loss):
        return (f"at reg 0 the loss is {n} times the right one: average the cross-entropy over the batch "
                f"(divide the sum by N = {n})")
    if _close(loss_at_0, data_loss / n):
        return f"at reg 0 the loss is 1/{n} of the right one: it is divided by N twice"
    if not _close(loss_at_0, data_loss):
        return (f"at reg 0 the loss is {loss_at_0:.11g}, the right one {data_loss:.11g}: the loss is the mean over "
                "the batch of -log(softmax(scores)[i, y[i]]); subtract each row's max score before exp")
    known = [(0.5 * right, "it is 0.5 * reg * sum(W**2) (the 0.5 convention); the assignment's is "
                           "reg * (sum(W1**2) + sum(W2**2)), whose gradient is 2 * reg * W"),
             (0.0, "there is none: add reg * (np.sum(W1 * W1) + np.sum(W2 * W2))"),
             (2 * right, "it is counted twice: it is reg * (sum(W1**2) + sum(W2**2))"),
             (reg * w1, "only W1 is regularized: it is reg * (sum(W1**2) + sum(W2**2))"),
             (reg * w2, "only W2 is regularized: it is reg * (sum(W1**2) + sum(W2**2))")]
    start = "the loss is right at reg 0, so its L2 term is wrong: "
    for value, text in known:
        if abs(term - value) <= 1e-6 * right:
            return start + text
    return start + f"it adds {term:.6g}, reg * (sum(W1**2) + sum(W2**2)) is {right:.6g}"


def bias_hint(loss: float, right: float, params: dict[str, Any], reg: float) -> str:
    """The loss right at zero biases but not at b2 near 1000 (right: the
    right loss there)."""
    if not np.isfinite(loss):
        return ("exp(scores) overflows at scores near 1000: subtract each row's max score before exp (the softmax "
                "is the same)")
    if _close(loss - right, reg * float(np.sum(params["b1"] ** 2) + np.sum(params["b2"] ** 2)), 1e-6):
        return "the L2 term includes the biases: it is reg * (sum(W1**2) + sum(W2**2)), weights only"
    return "the biases: hidden = max(0, X @ W1 + b1), scores = hidden @ W2 + b2, and only W1 and W2 are regularized"


def shape_hint(key: str, shape: tuple[int, ...], expected: tuple[int, ...], n: int) -> str:
    """A gradient of the wrong shape (n: the batch size)."""
    d = "d" + key
    if key.startswith("b"):
        if shape == (n,):
            return f"{d} was summed over the wrong axis: sum the upstream gradient over the batch, axis=0"
        if len(shape) == 2 and shape[0] == n:
            return f"{d} is not summed over the batch: np.sum(upstream, axis=0)"
        if shape == (1, *expected):
            return f"{d} keeps a dimension: np.sum(upstream, axis=0) without keepdims"
    elif shape == expected[::-1]:
        return f"{d} is transposed: {d} = {'X' if key == 'W1' else 'hidden'}.T @ upstream"
    return f"{d} must have the shape of {key}, {expected}"


def gradient_hint(errors: dict[str, float], analytic: dict[str, Any], numeric: dict[str, Any],
                  params: dict[str, Any], reg: float, n: int, bar: float) -> str:
    """Which gradients are wrong, and what that pattern points to."""
    wrong = [k for k, e in errors.items() if not e < bar]
    right = [k for k in errors if k not in wrong]
    l2 = _l2_factor(wrong, analytic, numeric, params, reg)
    if l2 is not None:
        if _close(l2, -1, 1e-3):
            return ("dW1 and dW2 carry reg * W, but the gradient of reg * sum(W**2) is 2 * reg * W: "
                    "a factor 2 is missing")
        if _close(l2, -2, 1e-3):
            return "dW1 and dW2 lack the L2 gradient 2 * reg * W"
        return (f"dW1 and dW2 are off by {l2:+.3g} * reg * W: the loss's L2 term and the gradients' must "
                "agree (reg * sum(W**2) has the gradient 2 * reg * W)")
    l2 = _l2_factor(wrong, analytic, numeric, params, reg, ("b1", "b2"))
    if l2 is not None:
        biases = " and ".join("d" + k for k in wrong) + (" are" if len(wrong) > 1 else " is")
        if l2 < 0:  # its loss holds reg * sum(b**2), its gradients don't
            return (f"{biases} off by {l2:+.3g} * reg * b: its loss regularizes the "
                    "biases (see loss), its gradients don't; the L2 term is of the weights only")
        return (f"{biases} off by {l2:+.3g} * reg * b: the L2 term reg * (sum(W1**2) + sum(W2**2)) is of the "
                "weights only, so the biases get no L2 gradient")
    ratio = _bias_ratio(analytic, numeric)
    if ratio is not None and _close(ratio, -1, 1e-3):
        return ("db1 and db2 are -1 times the numerical ones: the gradients point uphill; dscores = "
                "softmax(scores) - onehot(y), not onehot(y) - softmax(scores)")
    if ratio is not None and (_close(ratio, 1 / n, 1e-3) or _close(ratio, n, 1e-3)):
        return (f"every gradient is {ratio:.3g} times the numerical one: the loss and its gradients disagree on "
                f"averaging over the batch (divide both by N = {n})")
    named = f"{', '.join('d' + k for k in wrong)} wrong" + (f", {', '.join('d' + k for k in right)} right"
                                                              if right else "")
    if not {"W2", "b2"} & set(wrong):
        where = "the backward pass through the ReLU (the upstream gradient is 0 where the hidden input is <= 0)"
        if wrong == ["b1"]:
            where = "db1 = dhidden.sum(axis=0), dhidden taken after the ReLU's backward"
        return f"{named}: look at {where}"
    return (f"{named}: look at the output layer: dscores = (softmax(scores) - onehot(y)) / N, "
            "dW2 = hidden.T @ dscores + 2 * reg * W2, db2 = dscores.sum(axis=0)")


def _l2_factor(wrong: list[str], analytic, numeric, params, reg: float,
               keys: tuple[str, str] = ("W1", "W2")) -> float | None:
    """k where each wrong gradient is off by k * reg * its parameter, all of
    them among keys (the weights, or the biases), else None."""
    if not wrong or set(wrong) - set(keys) or not reg:
        return None
    factors = []
    for key in wrong:
        step = reg * params[key]
        diff = analytic[key] - numeric[key]
        k = float(np.vdot(diff, step) / np.vdot(step, step))
        if abs(k) < 0.1 or np.abs(diff - k * step).max() > 1e-3 * np.abs(step).max():
            return None
        factors.append(k)
    return factors[0] if all(_close(k, factors[0], 1e-3) for k in factors) else None


def _bias_ratio(analytic, numeric) -> float | None:
    """s where both bias gradients are s times the numerical ones, else None."""
    ratios = []
    for key in ("b1", "b2"):
        a, b = analytic[key].ravel(), numeric[key].ravel()
        if not np.vdot(b, b):
            return None
        s = float(np.vdot(a, b) / np.vdot(b, b))
        if np.abs(a - s * b).max() > 1e-4 * np.abs(b).max():
            return None
        ratios.append(s)
    return ratios[0] if _close(ratios[0], ratios[1], 1e-3) else None
