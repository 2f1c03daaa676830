"""Figures from a history, a model and a study (matplotlib, no pyplot state).

Each function returns a matplotlib Figure; `save_png` writes one atomically.
Nothing in the model or the trainer imports this module.
"""

from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def _quiet_matplotlib() -> None:
    """Before matplotlib is imported: a relative XDG_CONFIG_HOME or
    XDG_CACHE_HOME is ignored, as the XDG specification says (matplotlib made
    its folder in the current directory), and a config folder it cannot make
    (HOME unwritable, a file) is not said on stderr: it uses a temporary one."""
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        if not os.path.isabs(os.environ.get(name) or "/"):
            del os.environ[name]
    logging.getLogger("matplotlib").setLevel(logging.ERROR)


_quiet_matplotlib()

from matplotlib.figure import Figure  # noqa: E402

from twolayer.files import atomic_write  # noqa: E402
from twolayer.metrics import smooth  # noqa: E402


def save_png(fig: Figure, path: str | Path, dpi: int = 100) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


NAMED = 60  # classes a confusion matrix names; beyond, its size stops growing and its axes show indices
LONGEST = 40  # characters of a name a figure shows


def plain(text: str) -> str:
    """User text (a class name) as matplotlib shows it literally: a `$` would
    otherwise start TeX math, and a stray one makes the figure fail. Cut to
    LONGEST characters: a tight figure grows with its labels (a name of
    20,000 characters asked for gigabytes)."""
    text = str(text)
    text = text if len(text) <= LONGEST else text[: LONGEST - 1] + "\u2026"
    return text.replace("$", r"\$")


def history_figure(history) -> Figure:
    """Loss per iteration (raw and smoothed) with the loss on the fixed
    training sample and on validation at each epoch's end; train and
    validation accuracy per epoch."""
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(11, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    loss = history.loss
    iterations = np.arange(1, len(loss) + 1)
    ax_loss.plot(iterations, loss, color="tab:blue", alpha=0.3, linewidth=0.8, label="loss (minibatch)")
    window = max(1, len(loss) // 50)
    ax_loss.plot(iterations, smooth(np.asarray(loss), window), color="tab:blue", label=f"mean of {window}")
    for values, color, label in ((history.train_loss, "tab:green", "train sample, per epoch"),
                                 (history.val_loss, "tab:orange", "validation, per epoch")):
        if values and not all(math.isnan(v) for v in values):
            ax_loss.plot(history.eval_iteration, values, color=color, marker="o", markersize=3, label=label)
    ax_loss.set(title="Loss", xlabel="iteration", ylabel="cross-entropy")
    ax_loss.legend()
    epochs = np.arange(1, len(history.eval_iteration) + 1)
    ax_acc.plot(epochs, history.train_acc, marker="o", label="train (fixed sample)")
    if not all(math.isnan(v) for v in history.val_acc):
        ax_acc.plot(epochs, history.val_acc, marker="o", label="validation")
    ax_acc.set(title="Accuracy per epoch", xlabel="epoch", ylabel="accuracy")
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax_acc.legend()
    ax_acc.grid(alpha=0.3)
    return fig


def weight_images(W1: np.ndarray, image_shape: tuple[int, ...], limit: int = 100) -> np.ndarray:
    """The first `limit` hidden units' weights as uint8 images (H, h, w, c),
    each rescaled to 0..255 on its own, so its pattern shows whatever its scale."""
    h, w, c = image_shape
    units = W1[:, :limit].T.reshape(-1, h, w, c).astype(np.float64)
    low = units.min(axis=(1, 2, 3), keepdims=True)
    high = units.max(axis=(1, 2, 3), keepdims=True)
    return np.rint(255 * (units - low) / np.maximum(high - low, 1e-12)).astype(np.uint8)


def weights_figure(W1: np.ndarray, image_shape: tuple[int, ...], limit: int = 100) -> Figure:
    """First-layer weights drawn as one mosaic of small images, 10 a row,
    with a thin gap between them (one image, so no empty bands)."""
    images = weight_images(W1, image_shape, limit)
    n, h, w, c = images.shape
    cols = min(10, n)
    rows = math.ceil(n / cols)
    gap = max(1, h // 16)
    mosaic = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, c), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        top, left = (i // cols) * (h + gap), (i % cols) * (w + gap)
        mosaic[top : top + h, left : left + w] = image
    fig = Figure(figsize=(cols * 1.0, rows * 1.0 * h / w + 0.4))
    ax = fig.subplots()
    ax.imshow(mosaic[..., 0] if c == 1 else mosaic, cmap="gray", interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"First-layer weights ({n} of {W1.shape[1]} hidden units)")
    return fig


def confusion_figure(confusion: np.ndarray, class_names: list[str], title: str) -> Figure:
    """Confusion matrix (rows: true class) with counts in the cells; up to
    NAMED classes named on the axes, more by index (1,000 classes drew a
    figure of 55,000 x 55,000 pixels, 12 GB)."""
    c = len(class_names)
    size = max(4.0, 0.55 * min(c, NAMED) + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(confusion, cmap="Blues")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if c <= NAMED:
        names = [plain(name) for name in class_names]
        ax.set(xticks=range(c), yticks=range(c))
        ax.set_xticklabels(names, rotation=60, ha="right")
        ax.set_yticklabels(names)
    else:
        ax.set(xlabel="predicted (class index)", ylabel="true (class index)")
    if c <= 20:
        limit = confusion.max() / 2 if confusion.size else 0
        for i in range(c):
            for j in range(c):
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if confusion[i, j] > limit else "black")
    return fig


def heatmap_figure(rows: list[dict[str, Any]], x: str, y: str) -> Figure:
    """Validation accuracy over two searched options (the classic lr x reg plot).
    Cells without a finished trial are left blank."""
    xs = sorted({r[x] for r in rows if r.get(x) is not None})
    ys = sorted({r[y] for r in rows if r.get(y) is not None})
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        if r.get("val_accuracy") is not None and r.get(x) is not None and r.get(y) is not None:
            i, j = ys.index(r[y]), xs.index(r[x])
            grid[i, j] = max(r["val_accuracy"], np.nan_to_num(grid[i, j], nan=-1))
    fig = Figure(figsize=(max(4, 1.1 * len(xs) + 2), max(3, 0.8 * len(ys) + 1.5)))
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
    ax.set(xticks=range(len(xs)), yticks=range(len(ys)), xlabel=plain(x), ylabel=plain(y),
           title="Validation accuracy (blank: diverged or pruned early)")
    ax.set_xticklabels([f"{v:g}" if isinstance(v, float) else plain(v) for v in xs])
    ax.set_yticklabels([f"{v:g}" if isinstance(v, float) else plain(v) for v in ys])
    for i in range(len(ys)):
        for j in range(len(xs)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", color="white", fontsize=9)
    fig.colorbar(image, ax=ax)
    return fig


def tune_history_figure(rows: list[dict[str, Any]]) -> Figure:
    """Each trial's validation accuracy in trial order, and the best so far."""
    rows = sorted(rows, key=lambda r: r["trial"])
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    done = [(r["trial"], r["val_accuracy"]) for r in rows if r.get("val_accuracy") is not None]
    if done:
        trials, values = zip(*done, strict=True)
        ax.plot(trials, values, "o", label="trial")
        ax.step(trials, np.maximum.accumulate(values), where="post", label="best so far")
        ax.legend()
    ax.set(title="Search history", xlabel="trial", ylabel="validation accuracy")
    ax.grid(alpha=0.3)
    return fig
