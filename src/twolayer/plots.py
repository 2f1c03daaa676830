"""Figures from a history, a model and a study (matplotlib, no pyplot state).

Each function returns a matplotlib Figure; `png_bytes` gives one as a PNG file's bytes.
Nothing in the model or the trainer imports this module.
"""

from __future__ import annotations

import io
import logging
import math
import os
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

import matplotlib.figure  # noqa: E402

from twolayer.metrics import smooth  # noqa: E402


class Figure(matplotlib.figure.Figure):
    """matplotlib's Figure, which a notebook shows as its picture: drawn
    without pyplot, a figure showed as `<Figure size 1100x400 with 2 Axes>`
    unless `%matplotlib inline` had run (which, when it has, shows it itself)."""

    def _repr_png_(self) -> bytes:
        return png_bytes(self)


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


NAMED = 60  # classes a confusion matrix names; beyond, it is drawn as dots of a bounded figure, axes by index
COUNTED = 20  # classes a confusion matrix writes its counts in (a report tables the largest, beyond)
LONGEST = 40  # characters of a name a figure shows


def plain(text: str) -> str:
    """User text (a class name) as matplotlib shows it literally: a `$` would
    otherwise start TeX math, and a stray one makes the figure fail. Cut to
    LONGEST characters, its middle left out: a tight figure grows with its
    labels (a name of 20,000 characters asked for gigabytes), and names
    that differ at the end (`..._v1`, `..._v2`) stay apart."""
    text = str(text)
    half = LONGEST // 2
    text = text if len(text) <= LONGEST else text[: half - 1] + "\u2026" + text[-half:]
    return text.replace("$", r"\$")


FEW = 60  # points a line marks one by one; more are drawn as a line alone (thousands of markers were a smear)


def _marks(n: int, size: float = 3) -> dict[str, Any]:
    """Markers for a line of n points: a line of one point is not drawn at all without them."""
    return {"marker": "o", "markersize": size} if n <= FEW else {}


def _nothing(ax, title: str, why: str) -> None:
    """An empty panel that says why it is empty, instead of bare axes around 0."""
    ax.set_title(title)
    ax.set(xticks=[], yticks=[])
    ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center", color="#666")


def _whole_ticks(ax, xs) -> None:
    """Ticks at whole numbers only (iterations, epochs, trials); a single
    point gets its own tick (the locator filled its narrow axis with 0.945, 0.96, ...)."""
    from matplotlib.ticker import MaxNLocator

    if len(set(xs)) == 1:
        ax.set_xticks(list(set(xs)))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def history_figure(history, iters_per_epoch: int | None = None) -> Figure:
    """Loss per iteration (raw and smoothed) with the loss on the fixed
    training sample and on validation at each evaluation; train and
    validation accuracy at each evaluation, against the epoch
    (iteration / iters_per_epoch: a last partial epoch's evaluation falls
    where it was made) or, without iters_per_epoch, the iteration. A panel
    with nothing to show says so."""
    fig = Figure(figsize=(11, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    loss = np.asarray(history.loss, dtype=np.float64)
    iterations = np.arange(1, len(loss) + 1)
    evals = len(history.eval_iteration)
    if len(loss):
        window = max(1, len(loss) // 50)
        ax_loss.plot(iterations, loss, color="tab:blue", alpha=0.3 if window > 1 else 1, linewidth=0.8,
                     label="loss (minibatch)", **_marks(len(loss)))
        if window > 1:
            ax_loss.plot(iterations, smooth(loss, window), color="tab:blue", label=f"mean of {window}")
        for values, color, label in ((history.train_loss, "tab:green", "train sample, per epoch"),
                                     (history.val_loss, "tab:orange", "validation, per epoch")):
            if values and not all(math.isnan(v) for v in values):
                ax_loss.plot(history.eval_iteration, values, color=color, label=label, **_marks(evals))
        ax_loss.set(title="Loss", xlabel="iteration", ylabel="cross-entropy")
        _whole_ticks(ax_loss, iterations)
        ax_loss.legend()
    else:
        _nothing(ax_loss, "Loss", "no iteration finished")
    if evals:
        epochs = np.asarray(history.eval_iteration) / (iters_per_epoch or 1)
        ax_acc.plot(epochs, history.train_acc, label="train (fixed sample)", **_marks(evals, 5))
        if not all(math.isnan(v) for v in history.val_acc):
            ax_acc.plot(epochs, history.val_acc, label="validation", **_marks(evals, 5))
        ax_acc.set(title="Accuracy", xlabel="epoch" if iters_per_epoch else "iteration", ylabel="accuracy")
        if all(float(e).is_integer() for e in epochs):  # else a last partial epoch's evaluation, at 7.5
            _whole_ticks(ax_acc, epochs)
        ax_acc.legend()
        ax_acc.grid(alpha=0.3)
    else:
        _nothing(ax_acc, "Accuracy", "no evaluation:\nthe run ended before its first epoch did")
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
    with a thin gap between them (one image, so no empty bands). An image
    of a shape far from square (a strip of 1 x 3,000 pixels) is drawn at
    most STRETCH times as long as wide: drawn true, a figure of 2,000 x 1
    images was 795 x 14,465 pixels, one of 1 x 3,000 images a line."""
    images = weight_images(W1, image_shape, limit)
    n, h, w, c = images.shape
    cols = min(10, n)
    rows = math.ceil(n / cols)
    gap_y, gap_x = max(1, h // 16), max(1, w // 16)
    mosaic = np.full((rows * (h + gap_y) - gap_y, cols * (w + gap_x) - gap_x, c), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        top, left = (i // cols) * (h + gap_y), (i % cols) * (w + gap_x)
        mosaic[top : top + h, left : left + w] = image
    shown = min(max(h / w, 1 / STRETCH), STRETCH)  # an image's height over its width, as drawn
    fig = Figure(figsize=(cols * 1.0, rows * 1.0 * shown + 0.4))
    ax = fig.subplots()
    ax.imshow(mosaic[..., 0] if c == 1 else mosaic, cmap="gray", interpolation="nearest",
              aspect=shown * w / h)
    ax.axis("off")
    ax.set_title(f"First-layer weights ({n} of {W1.shape[1]} hidden units)")
    return fig


STRETCH = 4  # how many times longer than wide a weight image is drawn at most


def confusion_figure(confusion: np.ndarray, class_names: list[str], title: str) -> Figure:
    """Confusion matrix (rows: true class), with counts in the cells of up
    to COUNTED classes and up to NAMED classes named on the axes; more, by
    index, as one dot per (true, predicted) pair that has images (1,000
    classes drew a figure of 55,000 x 55,000 pixels, 12 GB; then a bounded
    one where each cell was a third of a pixel, the images invisible)."""
    c = len(class_names)
    if c > NAMED:
        return _confusion_dots(confusion, title)
    size = max(4.0, 0.55 * c + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(confusion, cmap="Blues")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    names = [plain(name) for name in class_names]
    ax.set(xticks=range(c), yticks=range(c))
    ax.set_xticklabels(names, rotation=60, ha="right")
    ax.set_yticklabels(names)
    if c <= COUNTED:
        limit = confusion.max() / 2 if confusion.size else 0
        for i in range(c):
            for j in range(c):
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if confusion[i, j] > limit else "black")
    return fig


def images(n: int) -> str:
    return f"{n:,} image" + ("" if n == 1 else "s")


def _confusion_dots(confusion: np.ndarray, title: str) -> Figure:
    """A confusion matrix of many classes: a dot (larger for more images)
    at each (predicted, true) pair that has images, right ones on the
    diagonal apart from wrong ones, in a figure of a fixed size."""
    c = len(confusion)
    fig = Figure(figsize=(8, 8))
    ax = fig.subplots()
    true, predicted = np.nonzero(confusion)
    counts = confusion[true, predicted]
    sizes = 4 + 30 * counts / max(int(counts.max()), 1) if len(counts) else counts
    for right, color, label in ((True, "tab:blue", "right"), (False, "tab:red", "wrong")):
        mask = (true == predicted) == right
        ax.scatter(predicted[mask], true[mask], s=sizes[mask], color=color, linewidths=0,
                   label=f"{label} ({images(int(counts[mask].sum()))})")
    ax.set(xlim=(-0.5, c - 0.5), ylim=(c - 0.5, -0.5), aspect="equal", xlabel="predicted (class index)",
           ylabel="true (class index)", title=f"{title}: {c:,} classes, a dot for each pair with images")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=2, fontsize=9)
    ax.grid(alpha=0.2)
    return fig


GRID = 20  # distinct values per option a heatmap draws as cells; more (a range's draws) are a scatter


def heatmap_figure(rows: list[dict[str, Any]], x: str, y: str) -> Figure:
    """Validation accuracy over two searched options: the classic lr x reg
    grid of cells (blank where no trial finished), or, when an option took
    more than GRID values (a random or TPE search over a range, where every
    trial draws its own; a grid of them was a figure of 1,100 x 800 inches
    for 1,000 trials), one point per trial."""
    xs = sorted({r[x] for r in rows if r.get(x) is not None})
    ys = sorted({r[y] for r in rows if r.get(y) is not None})
    if max(len(xs), len(ys)) > GRID:
        return _scatter_figure(rows, x, y)
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
    many = len(xs) > 8  # side by side, ten values like 0.0053782 ran into each other
    ax.set_xticklabels([f"{v:g}" if isinstance(v, float) else plain(v) for v in xs], rotation=45 if many else 0,
                       ha="right" if many else "center")
    ax.set_yticklabels([f"{v:g}" if isinstance(v, float) else plain(v) for v in ys])
    for i in range(len(ys)):
        for j in range(len(xs)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", color="white", fontsize=9)
    fig.colorbar(image, ax=ax)
    return fig


def _scatter_figure(rows: list[dict[str, Any]], x: str, y: str) -> Figure:
    """Each trial at its two options' values, colored by its validation
    accuracy; trials without one (diverged, pruned early) as gray crosses.
    An option whose values span two decades or more gets a log axis."""
    placed = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    scored = [r for r in placed if r.get("val_accuracy") is not None]
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    unscored = [r for r in placed if r.get("val_accuracy") is None]
    if unscored:
        ax.scatter([r[x] for r in unscored], [r[y] for r in unscored], marker="x", color="0.6",
                   label="no validation accuracy (diverged or pruned early)")
        ax.legend(loc="upper left", fontsize=8)
    if scored:
        points = ax.scatter([r[x] for r in scored], [r[y] for r in scored], c=[r["val_accuracy"] for r in scored],
                            cmap="viridis", edgecolors="black", linewidths=0.3)
        fig.colorbar(points, ax=ax, label="validation accuracy")
    for name, set_scale in ((x, ax.set_xscale), (y, ax.set_yscale)):
        values = [r[name] for r in placed]
        if values and min(values) > 0 and max(values) >= 100 * min(values):
            set_scale("log")
    ax.set(xlabel=plain(x), ylabel=plain(y), title=f"Validation accuracy of each of {len(placed)} trials")
    ax.grid(alpha=0.3)
    return fig


def tune_history_figure(rows: list[dict[str, Any]]) -> Figure:
    """Each trial's validation accuracy in trial order (a pruned trial's
    when it was stopped, apart), and the best complete trial so far; a
    search where no trial has one says so."""
    rows = sorted(rows, key=lambda r: r["trial"])
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    scored = [r for r in rows if r.get("val_accuracy") is not None]
    if not scored:
        _nothing(ax, "Search history", f"none of the {len(rows)} trials has a validation accuracy")
        return fig
    complete = [(r["trial"], r["val_accuracy"]) for r in scored if r.get("state") == "complete"]
    stopped = [(r["trial"], r["val_accuracy"]) for r in scored if r.get("state") != "complete"]
    if complete:
        trials, values = zip(*complete, strict=True)
        ax.plot(trials, values, "o", label="trial")
        ax.step(trials, np.maximum.accumulate(values), where="post", label="best so far")
    if stopped:
        trials, values = zip(*stopped, strict=True)
        ax.plot(trials, values, "x", color="0.5", label="pruned (when it was stopped)")
    ax.legend()
    ax.set(title="Search history", xlabel="trial", ylabel="validation accuracy")
    _whole_ticks(ax, [r["trial"] for r in scored])
    ax.grid(alpha=0.3)
    return fig
