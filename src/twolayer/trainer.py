"""The fit loop: minibatch SGD with a learning-rate schedule, per-epoch
evaluation, the best validation epoch's parameters kept, and a guard that
stops a diverging run.

Everything that defines where a run is (iteration, batch order, random
generator, optimizer state, history, best parameters) lives in one
TrainState, so a run can be checkpointed at an epoch boundary and resumed.

One loop serves every device: with config.device "cuda", `fit` moves the data and
the parameters to the GPU once, runs the same steps on CuPy arrays, and
hands NumPy arrays back. On a GPU the loss is read back every READ_EVERY
iterations rather than every one, so the GPU never waits for Python.
"""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twolayer.arrays import checked_image_shape, training_arrays, training_config
from twolayer.backend import array_module, device_module, take_rows, to_device, to_numpy
from twolayer.config import TrainConfig, check_used_by, given_flag, is_number
from twolayer.data.augment import flip_and_crop
from twolayer.errors import ConfigError
from twolayer.layers import l2_penalty, softmax_loss_forward
from twolayer.memory import shortfall, training_bytes
from twolayer.model import TwoLayerNet, chunk_rows
from twolayer.noise import Noise
from twolayer.optim import make_optimizer
from twolayer.progress import Progress
from twolayer.schedules import SCHEDULES
from twolayer.signals import StopOnSignal

# A loss this many times the first iteration's loss counts as exploding.
EXPLODE_FACTOR = 100.0
# On a GPU, read the losses back (and check them) every this many iterations.
READ_EVERY = 20


@dataclass
class History:
    """What happened: one entry per iteration (loss, lr) and one per
    evaluation (end of each epoch, and the end of a last partial one)."""

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_iteration: list[int] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    # mean cross-entropy (no L2, no smoothing) at each evaluation: on the fixed
    # training sample, and on the validation split
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_index: int | None = None
    stop_reason: str | None = None  # why the run broke off (its loss exploded)
    early_stop: str | None = None  # why it ended before its length, on purpose (patience)

    @property
    def best_val_acc(self) -> float | None:
        return None if self.best_index is None else self.val_acc[self.best_index]

    def __repr__(self) -> str:
        """One line: a notebook cell ending in `history` printed every loss and rate (thousands of numbers)."""
        parts = [f"{len(self.loss)} iterations", f"{len(self.eval_iteration)} evaluations"]
        if self.loss:
            parts.append(f"last loss {self.loss[-1]:.4g}")
        if self.best_index is not None:
            parts.append(f"best val_acc {self.best_val_acc:.4f} at iteration {self.eval_iteration[self.best_index]}")
        parts += [reason for reason in (self.stop_reason, self.early_stop) if reason]
        return f"History({', '.join(parts)})"

    def classic(self) -> dict[str, list[float]]:
        """The assignment's dict of histories."""
        return {
            "loss_history": self.loss,
            "train_acc_history": self.train_acc,
            "val_acc_history": self.val_acc,
        }


@dataclass
class TrainState:
    """Where a run is; enough to continue it exactly."""

    iteration: int
    rng: np.random.Generator  # draws each epoch's batch order
    order: Any  # this epoch's permutation of the training rows
    optimizer: Any
    eval_rows: Any  # fixed training rows on which train accuracy is measured
    noise_seed: int  # keys dropout masks and augmentations, with the iteration (see noise.py)
    history: History = field(default_factory=History)
    best_params: dict[str, Any] | None = None
    first_loss: float | None = None


def accuracy(net: TwoLayerNet, X: Any, y: Any) -> float:
    """The fraction of rows whose predicted label is y, computed where the
    net's weights are (the rows are moved there if they are elsewhere)."""
    xp = array_module(net.params["W1"])
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged run's weights: its stop line says so, once
        return float((net.predict(to_device(X, xp)) == to_device(y, xp)).mean())


def accuracy_and_loss(net: TwoLayerNet, X: Any, y: Any) -> tuple[float, float]:
    """accuracy(net, X, y) and the mean cross-entropy of the scores (no L2,
    no smoothing), from one pass over the rows in chunks."""
    xp = array_module(net.params["W1"])
    X, y = to_device(X, xp), to_device(y, xp)
    chunk = chunk_rows(net.params["W1"].shape[1])
    correct, loss = 0, 0.0
    for start in range(0, X.shape[0], chunk):
        scores = net.scores(X[start : start + chunk])
        labels = y[start : start + chunk]
        correct += int((scores.argmax(axis=1) == labels).sum())
        loss += float(softmax_loss_forward(scores, labels)[0]) * len(labels)
    return correct / X.shape[0], loss / X.shape[0]


def new_state(n_train: int, config: TrainConfig, eval_size: int = 1000) -> TrainState:
    """A fresh run's state; everything random in it derives from config.seed."""
    eval_rng = np.random.default_rng([config.seed, 2])
    eval_rows = np.sort(eval_rng.permutation(n_train)[: min(eval_size, n_train)])
    return TrainState(
        iteration=0,
        rng=np.random.default_rng([config.seed, 1]),
        order=None,
        optimizer=make_optimizer(config.optimizer, config.momentum, config.weight_decay),
        eval_rows=eval_rows,
        noise_seed=config.seed,
    )


def initial_net(config: TrainConfig, input_size: int, n_classes: int, rows: int | None = None) -> TwoLayerNet:
    """A freshly initialized net for `config`; its seed fixes the weights.
    ConfigError, before anything is allocated, if training it (on `rows`
    training rows, when known) would not fit in memory."""
    check_memory(config, input_size, config.hidden_size, n_classes, rows)
    return TwoLayerNet(input_size, config.hidden_size, n_classes, std=init_scale(config, input_size),
                       seed=np.random.default_rng([config.seed, 0]), dtype=np.dtype(config.dtype))


def check_memory(config: TrainConfig, inputs: int, hidden: int, classes: int, rows: int | None = None) -> None:
    """ConfigError saying how much memory training an inputs x hidden x
    classes network with `config` would need, when that is more than the
    machine has available: a too-wide --hidden-size, or a too-large
    --batch-size (a batch is at most the `rows` there are)."""
    batch = config.batch_size if rows is None else min(config.batch_size, rows)

    def problem(batch: int) -> str | None:
        return shortfall(training_bytes(inputs, hidden, classes, np.dtype(config.dtype).itemsize,
                                        config.optimizer, batch))

    short = problem(batch)
    if short is None:
        return
    if problem(1) is None:  # the network fits; its batches do not
        raise ConfigError(f"a batch of {batch:,} rows of {inputs:,} inputs for {hidden:,} hidden units {short}; "
                          "choose a smaller --batch-size")
    raise ConfigError(f"a hidden layer of {hidden:,} units on {inputs:,} inputs {short}; "
                      "choose a smaller --hidden-size" + (" or --image-size" if config.image_size else ""))


def init_scale(config: TrainConfig, inputs: int) -> float:
    """config.std, or when unset He's scale for ReLU layers, sqrt(2 / inputs):
    it keeps the hidden layer's activations at the inputs' scale, whatever
    the number of pixels."""
    return config.std if config.std is not None else float(np.sqrt(2.0 / inputs))


def num_iters(config: TrainConfig, n_train: int) -> int:
    """The run's length in iterations: config.iters, else its epochs."""
    return config.iters or config.epochs * epoch_length(config, n_train)


def epoch_length(config: TrainConfig, n_train: int) -> int:
    """Iterations in an epoch: the whole batches n_train rows give (at least one)."""
    return max(n_train // min(config.batch_size, n_train), 1)


def fit(
    net: TwoLayerNet,
    X: Any,
    y: Any,
    X_val: Any = None,
    y_val: Any = None,
    config: TrainConfig | None = None,
    *,
    image_shape: tuple[int, ...] | None = None,
    state: TrainState | None = None,
    on_iteration: Callable[[int, int, float, float], None] | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
    eval_size: int = 1000,
    restore_best: bool = True,
    progress: bool = False,
) -> History:
    """Train `net` in place with the options of `config` (a TrainConfig,
    validated here; None: the defaults) and return its History.

    X: (N, D) rows, y: (N,) labels; X_val, y_val likewise (optional). The
    rows are trained on as given: config's data options (dataset, the split
    sizes, preprocess) are workflow.prepare's, which loads, carves and
    preprocesses as the command line does. An epoch is N // batch_size
    batches drawn without replacement from a fresh permutation; the
    learning rate for each iteration comes from the named schedule. After
    every epoch, train accuracy (on a fixed sample of
    `eval_size` training rows, never the current batch) and validation
    accuracy are recorded; at the end the parameters of the best validation
    epoch are restored (unless restore_best is False or there is no
    validation data). Pass `state` to continue an earlier run.

    Regularization and augmentation (all off by default): L2, decoupled
    weight decay, inverted dropout on the input and hidden layer, label
    smoothing, and per-batch random flips and reflect-padded crops (which need
    the rows' image_shape (H, W, C)). Their randomness is keyed by the seed
    and the iteration (twolayer.noise), so a resumed run draws the same masks
    and crops, on either device.

    The computation runs in the net's float type (config.dtype is the type
    the command line and initial_net make a net in; a net of another type is
    not cast).

    config.device: "cpu" (NumPy) or "cuda" (CuPy). The data, parameters and
    optimizer state are moved there once; at the end the net's parameters
    (and the state's arrays) are NumPy arrays again. Callbacks run at the
    iterations where the losses are read: every one on the CPU, every
    READ_EVERY (and each epoch's last) on a GPU.

    config.patience: stop once that many evaluations in a row found no better
    validation accuracy (History.early_stop says so). progress=True shows a
    progress bar (tqdm: a widget in Jupyter, one redrawn line in a terminal).

    Ctrl-C (or a notebook's interrupt) raises KeyboardInterrupt at the end of
    the step under way, not inside it: the net, its optimizer state and
    `state` agree, so `fit(..., state=state)` continues exactly (a second
    Ctrl-C interrupts at once).

    An option given away from its default that the config's settings do
    not use (momentum with optimizer sgd or adam, warmup with the step
    schedule...), or beside another that overrides it (epochs beside iters),
    is refused, as the command line refuses it.
    """
    c = training_config(config)
    check_used_by(c)  # it trained without it, saying nothing
    return fit_as_given(net, X, y, X_val, y_val, c, image_shape=image_shape, state=state, on_iteration=on_iteration,
                        on_epoch_end=on_epoch_end, eval_size=eval_size, restore_best=restore_best, progress=progress)


def fit_as_given(
    net: TwoLayerNet,
    X: Any,
    y: Any,
    X_val: Any = None,
    y_val: Any = None,
    config: TrainConfig | None = None,
    *,
    image_shape: tuple[int, ...] | None = None,
    state: TrainState | None = None,
    on_iteration: Callable[[int, int, float, float], None] | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
    eval_size: int = 1000,
    restore_best: bool = True,
    progress: bool = False,
) -> History:
    """fit, an option that the config's settings leave unused taken without
    a word: a search's trials (momentum listed beside optimizers sgd and
    momentum) and the estimator's parameters (MLPClassifier's way) hold
    such options on purpose, and a run recorded before fit refused them
    must resume."""
    c = training_config(config)
    X, y, X_val, y_val = training_arrays(net, X, y, X_val, y_val)  # one ValueError for data that can't be used
    progress, restore_best = given_flag(progress, "progress"), given_flag(restore_best, "restore_best")
    for name, callback in (("on_iteration", on_iteration), ("on_epoch_end", on_epoch_end)):
        if callback is not None and not callable(callback):  # a TypeError after the first step, the net changed
            raise ConfigError(f"{name} must be a function or None, got {type(callback).__name__} {callback!r}")
    lr_at = SCHEDULES[c.schedule]
    n = X.shape[0]
    total = num_iters(c, n)
    batch_size = min(c.batch_size, n)
    iters_per_epoch = epoch_length(c, n)
    has_val = X_val is not None and len(X_val) > 0
    if c.patience is not None and not has_val:  # it would never stop the run: no epoch is compared
        raise ConfigError(f"patience={c.patience} stops a run on its validation accuracy, but no validation rows "
                          "were given: pass X_val and y_val, or no patience")
    image_shape = checked_image_shape(image_shape, X.shape[1], bool(c.flip or c.crop), crop=c.crop)
    if not (is_number(eval_size, int) and eval_size >= 1):
        raise ConfigError(f"eval_size must be a positive integer, got {eval_size!r}")
    eval_size = int(eval_size)  # 5.0: a slice bound needs an int
    if state is None:
        check_memory(c, *net.params["W1"].shape, net.params["W2"].shape[1], n)  # the net's own width
        state = new_state(n, c, eval_size)
    else:
        check_continued(state, net, c, n)
    history = state.history
    shapes = _shapes(net)  # what a callback may not change

    xp = device_module(c.device)
    X, y = to_device(X, xp), to_device(y, xp)
    if has_val:
        X_val, y_val = to_device(X_val, xp), to_device(y_val, xp)
    _writable(net)
    _move(net, state, xp)
    start = {k: xp.array(v, copy=True) for k, v in net.params.items()}  # kept if the first updates overflow
    eval_rows = xp.asarray(state.eval_rows)
    X_eval, y_eval = X[eval_rows], y[eval_rows]  # gathered once: train accuracy is measured on them every epoch
    X_batch = xp.empty((batch_size, X.shape[1]), dtype=X.dtype)  # the batch's rows (flipped and cropped), every step
    y_batch = xp.empty(batch_size, dtype=y.dtype)
    grads_out = {"W1": xp.empty_like(net.params["W1"]), "b1": xp.empty_like(net.params["b1"])}
    batches = None  # this epoch's batches of row numbers, on the device
    sums = None  # sum(W**2) of each weight matrix, as the last update left it (None: not known yet)
    pending: list[tuple[Any, float]] = []  # (loss on the device, lr) not yet read back
    # each weight's pull toward zero per unit of learning rate, for the advice when a run blows up: Adam
    # normalizes the L2 term's gradient with the rest, so only its decoupled decay pulls so
    shrink = (0.0 if c.optimizer == "adam" else 2 * c.reg) + c.weight_decay
    bar = Progress(total, "train", enabled=progress, start=state.iteration)
    history.early_stop = None  # a continued run goes on past an earlier patience stop
    # overflow as a run diverges is the divergence guard's to report, in one line
    saved_errors = np.seterr(over="ignore", invalid="ignore", divide="ignore")
    handlers = contextlib.ExitStack()  # closed in the finally below
    ctrl_c = handlers.enter_context(StopOnSignal((signal.SIGINT,), unclaimed=True))

    try:
        while state.iteration < total:
            it = state.iteration
            step = it % iters_per_epoch
            if step == 0 or state.order is None:
                state.order = state.rng.permutation(n)
                batches = None
            if batches is None:
                # One upload per epoch. Sorted rows make the gather read memory in
                # order; the batch's contents, and so the gradient, are the same.
                used = state.order[: iters_per_epoch * batch_size].reshape(iters_per_epoch, batch_size)
                batches = xp.asarray(np.sort(used, axis=1))
            rate = lr_at(it, c.lr, iters_per_epoch, total, c.lr_decay, c.warmup)

            rows = batches[step]
            take_rows(y, rows, y_batch)
            noise = Noise(xp, state.noise_seed, it)
            if c.flip or c.crop:  # the batch's rows picked, flipped and cropped in one pass
                batch = flip_and_crop(X, image_shape, noise, c.flip, c.crop, out=X_batch, rows=rows)
            else:
                batch = take_rows(X, rows, X_batch)
            # L2: twolayer's net gives the data term only, and the L2 term is added
            # here and folded into the update; a learner's loss adds its own.
            reg_in_loss = c.reg if net.l2_in_loss else 0.0
            loss, grads = net.gradients(batch, y_batch, reg_in_loss, grads_out=grads_out,
                                        dropout_input=c.dropout_input, dropout_hidden=c.dropout_hidden,
                                        label_smoothing=c.label_smoothing, rng=noise)
            l2 = 0.0
            if c.reg and not net.l2_in_loss:
                penalty, l2 = l2_penalty(net.weights(), c.reg, sums)
                loss = loss + penalty
            pending.append((loss, rate))
            boundary = (it + 1) % iters_per_epoch == 0 or it + 1 == total
            read = xp is np or boundary or (it + 1) % READ_EVERY == 0
            if read and not _read_losses(pending, state, it, shrink):
                break  # checked before this step's update: the exploding step is not applied
            sums = list(state.optimizer.update(net.params, grads, rate, l2).values())  # W1, W2: net.weights()' order
            state.iteration = it + 1
            if boundary:
                _evaluate(net, state, X_eval, y_eval, X_val, y_val, has_val)
                _check_patience(history, c.patience)
                if on_epoch_end is not None:
                    on_epoch_end(state)
                    _check_shapes(net, shapes, "on_epoch_end")
            # Called last, when the state is whole: a callback may raise (Ctrl-C,
            # a pruned trial) and the state can still be saved and resumed.
            if read:
                val = "".join(f" val {v:.3f}" for v in history.val_acc[-1:] if not math.isnan(v))
                bar.update(state.iteration, f"loss {history.loss[-1]:.4f} lr {rate:.3g}{val}")
                if on_iteration is not None:
                    on_iteration(state.iteration, total, history.loss[-1], rate)
                    _check_shapes(net, shapes, "on_iteration")
            if ctrl_c.signum is not None:
                raise KeyboardInterrupt(f"stopped after iteration {state.iteration} of {total}; the net and the "
                                        "state are whole: fit(..., state=state) continues")
            if history.early_stop:
                break

        # the update before an exploding step may have overflowed, or the run's last update (no loss after
        # it to see it: --iters 1 --lr 1e300 wrote a model of NaN): weights of infinities or NaN are not kept
        overflowed = not _finite(net.params)
        if overflowed:
            kept = "best epoch's" if state.best_params is not None else "run's starting"
            history.stop_reason = (f"{history.stop_reason}; the weights overflowed, so the {kept} parameters are "
                                   "kept" if history.stop_reason else
                                   f"the last update (iteration {state.iteration}) overflowed the weights; "
                                   f"{lower_the_step(history.lr[-1], shrink)}; the {kept} "
                                   "parameters are kept")
        if restore_best or overflowed:
            restore_best_params(net, state, otherwise=start if overflowed else None)
    finally:
        handlers.close()
        np.seterr(**saved_errors)
        bar.close()
        _move(net, state, np)  # NumPy again, also when a callback raised
    return history


def check_continued(state: Any, net: TwoLayerNet, config: TrainConfig, n: int) -> None:
    """fit's `state`: a TrainState of a run on n training rows, with the
    optimizer `config` describes and optimizer arrays shaped like the net's
    parameters. A state of fewer rows trained silently on some of them,
    another optimizer's was used in place of the config's, another net's
    failed deep inside NumPy."""
    if not isinstance(state, TrainState):
        raise ConfigError(f"state must be a TrainState (twolayer.trainer.new_state(len(X), config) makes one), got "
                          f"{type(state).__name__}")
    fault = rows_fault(state, n)
    if fault:
        raise ConfigError(f"state is not of a run on these {n} rows of X ({fault}): continue a run on the rows it "
                          "started with, or start afresh with state=None")
    optimizer = state.optimizer
    for name, value in optimizer.options().items():
        if getattr(config, name) != value:
            raise ConfigError(f"state continues a run with {name}={value!r}, but config has {name}="
                              f"{getattr(config, name)!r}: a continued run keeps its optimizer; give the config it "
                              "started with, or start afresh with state=None")
    for key, value in optimizer.state.items():
        param = net.params.get(key.partition(".")[2])
        if param is not None and value.shape != param.shape:
            raise ConfigError(f"state's optimizer holds {key} of shape {value.shape}, but the net's "
                              f"{key.partition('.')[2]} is {param.shape}: the state is another network's")


def rows_fault(state: TrainState, n: int) -> str | None:
    """What in `state` does not fit a training split of n rows (its
    evaluation rows, its batch order), or None."""
    if len(state.eval_rows) and int(np.max(state.eval_rows)) >= n:
        return f"eval_rows holds row {int(np.max(state.eval_rows))} and the training split has {n} rows"
    order = state.order
    if order is not None and not (len(order) == n and (np.sort(order) == np.arange(n)).all()):
        return f"its batch order is not an order of the {n} training rows"
    return None


def _shapes(net: TwoLayerNet) -> dict[str, tuple[int, ...]]:
    return {key: value.shape for key, value in net.params.items()}


def _check_shapes(net: TwoLayerNet, shapes: dict[str, tuple[int, ...]], callback: str) -> None:
    """ConfigError when `callback` changed the shape of a parameter (the next step failed deep inside NumPy)."""
    now = _shapes(net)
    if now != shapes:
        key = next((k for k in shapes if now.get(k) != shapes[k]), None) or next(k for k in now if k not in shapes)
        raise ConfigError(f"{callback} changed the net's {key} from shape {shapes.get(key)} to {now.get(key)}; a "
                          "callback may change the parameters' values, not their shapes")


def _writable(net: TwoLayerNet) -> None:
    """A read-only parameter (np.load's mmap_mode="r", an array made read-only)
    replaced by a copy that the update can write in place: the update
    failed deep inside NumPy, or numba's fused kernel."""
    for key, value in net.params.items():
        if isinstance(value, np.ndarray) and not value.flags.writeable:
            net.params[key] = value.copy()


def restore_best_params(net: TwoLayerNet, state: TrainState, otherwise: dict[str, Any] | None = None) -> None:
    """Put the best validation epoch's parameters back into the net, if the
    run kept any; else the parameters `otherwise`, if given."""
    kept = state.best_params if state.best_params is not None else otherwise
    if kept is not None:
        for key, value in kept.items():
            net.params[key][...] = value


def _move(net: TwoLayerNet, state: TrainState, xp: Any) -> None:
    """Put the net's parameters and the state's arrays on xp's device."""
    net.params.update(to_device(net.params, xp))
    state.optimizer.state.update(to_device(state.optimizer.state, xp))
    if state.best_params is not None:
        state.best_params = to_device(state.best_params, xp)


def _read_losses(pending: list[tuple[Any, float]], state: TrainState, last: int, decay: float) -> bool:
    """Read the pending losses (iterations last - len + 1 .. last) into the
    history; False, with the history's stop_reason set, if one exploded.
    decay: each weight's pull toward zero per unit of learning rate (fit's
    `shrink`: 2 * reg + weight_decay, Adam's L2 left out), for the advice."""
    history = state.history
    values = to_numpy(array_module(pending[0][0]).stack([loss for loss, _ in pending])).tolist()
    first = last - len(pending) + 1
    for i, (value, (_, rate)) in enumerate(zip(values, pending, strict=True)):
        if state.first_loss is None:
            state.first_loss = value
        if not math.isfinite(value) or value > EXPLODE_FACTOR * max(state.first_loss, 1e-12):
            advice = (lower_the_step(rate, decay) if first + i else
                      "before any update, so not the learning rate: lower std (the initial weights), reg or the "
                      "inputs' scale")
            history.stop_reason = (
                f"loss {'exploded' if math.isfinite(value) else 'became ' + str(value)} "
                f"({value:.4g}) at iteration {first + i + 1}; {advice}"
            )
            return False
        history.loss.append(value)
        history.lr.append(rate)
    pending.clear()
    return True


def lower_the_step(rate: float, decay: float) -> str:
    """What to lower when updates at learning rate `rate` blew up: the learning
    rate, or the L2 and weight decay where they are out of the usual range
    (decay above 1) and overshoot (an update multiplies each weight by
    1 - rate * decay, which past -1 grows it)."""
    if decay > 1 and rate * decay >= 1:
        return (f"each update multiplies the weights by 1 - lr x (2 x reg + weight decay) = {1 - rate * decay:.3g}, "
                f"which overshoots zero: lower reg or the weight decay (or the learning rate, {rate:g})")
    return f"try a lower learning rate than {rate:g}"


def _evaluate(net, state: TrainState, X_eval, y_eval, X_val, y_val, has_val: bool) -> None:
    history = state.history
    history.eval_iteration.append(state.iteration)
    train_acc, train_loss = accuracy_and_loss(net, X_eval, y_eval)
    val_acc, val_loss = accuracy_and_loss(net, X_val, y_val) if has_val else (float("nan"), float("nan"))
    history.train_acc.append(train_acc)
    history.val_acc.append(val_acc)
    history.train_loss.append(train_loss)
    history.val_loss.append(val_loss)
    better = history.best_index is None or history.val_acc[-1] > history.val_acc[history.best_index]
    if has_val and better and _finite(net.params):  # an update that overflowed left no epoch to keep
        history.best_index = len(history.val_acc) - 1
        xp = array_module(net.params["W1"])
        state.best_params = {k: xp.array(v, copy=True) for k, v in net.params.items()}


def _finite(params: dict[str, Any]) -> bool:
    """Whether every parameter holds finite numbers only (on either device)."""
    return all(bool(array_module(v).isfinite(v).all()) for v in params.values())


def _check_patience(history: History, patience: int | None) -> None:
    """Set history.early_stop once `patience` evaluations in a row found no
    better validation accuracy than the best one."""
    if patience is None or history.best_index is None:
        return
    since_best = len(history.val_acc) - 1 - history.best_index
    if since_best >= patience:
        history.early_stop = (f"no better validation accuracy in {since_best} epochs; the best was "
                              f"{history.val_acc[history.best_index]:.4f} at iteration "
                              f"{history.eval_iteration[history.best_index]} (--patience {patience})")
