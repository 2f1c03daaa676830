"""A learner's own TwoLayerNet: load its class from a file, and give it the
interface that twolayer's trainer drives.

The learner's class follows the course assignment: `__init__(input_size,
hidden_size, output_size, std)` fills a `params` dict with W1, b1, W2, b2;
`loss(X, y=None, reg=0.0)` returns the scores, or (loss, grads) with the L2
term included; `predict(X)` and `train(...)` are optional.

Loading the class imports the file, which runs its code: `twolayer check`
does that in a child process under a time limit (checks.py); `train --net`
and `tune --net` do it in this process, as the user asked. Every fault of
the learner's code (a syntax error, an exception, a wrong return value)
becomes one LearnerError line naming the file and, where known, the line.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import math
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from twolayer import here, memory
from twolayer.errors import ConfigError, LearnerError, UsageError, first_line
from twolayer.files import SMALL_FILE, given_path, not_a_file, read_small
from twolayer.gradcheck import scaled_error
from twolayer.model import PARAM_NAMES, TwoLayerNet
from twolayer.progress import in_notebook, lines_above_bars
from twolayer.runs import resume_call, resume_command
from twolayer.streams import say, shell_word

# What the assignment's loss(X, y, reg) cannot do; refused in one line.
UNSUPPORTED = {"dropout_input": "dropout", "dropout_hidden": "dropout", "label_smoothing": "label smoothing"}


def parse_spec(spec: str) -> tuple[Path, str | None]:
    """"FILE.py:Class" -> (FILE.py, "Class"); "FILE.py" -> (FILE.py, None)."""
    given_path(spec, "the path of the learner's file", "give FILE.py[:CLASS]", LearnerError)  # "" was "."
    spec = os.fsdecode(spec)  # as typed: a Path's text drops "./"
    path, sep, name = spec.rpartition(":")
    if sep and name.isidentifier():
        return Path(path), name
    return Path(spec), None


def label(spec: str | None) -> str:
    """How results name the network that produced them."""
    return f"learner's network {spec} (not twolayer's own)" if spec else "twolayer's own network"


def refuse_unsupported(values: dict[str, Any]) -> str | None:
    """The first option a learner's network can't honour, or None."""
    for name in UNSUPPORTED:
        if values.get(name):
            return name
    if values.get("device", "cpu") != "cpu":
        return "device"
    return None


def unsupported_problem(name: str) -> str:
    what = UNSUPPORTED.get(name)
    if what is None:
        return "can't be used with a learner's network (net): its code runs on NumPy, on the CPU"
    return f"can't be used with a learner's network (net): the assignment's loss(X, y, reg) has no {what}"


def file_digest(spec: str) -> str | None:
    """SHA-256 of the learner's file that `spec` names (None if it cannot be
    read: loading it then says why). A run records it, so that resuming
    with code that has changed since is refused."""
    path, _ = parse_spec(spec)
    try:
        return hashlib.sha256(read_small(path, "a network's source")).hexdigest()
    except OSError:
        return None


def check_unchanged(spec: str, recorded: str | None) -> None:
    """LearnerError when the learner's file no longer has the digest a run
    recorded (a run from before digests were recorded has none: not checked)."""
    if recorded is None:
        return
    now = file_digest(spec)
    if now is not None and now != recorded:
        path, _ = parse_spec(spec)
        raise LearnerError(f"{path} has changed since this run started (its SHA-256 was {recorded[:12]}..., is "
                           f"{now[:12]}...); a resumed run must use the same code: restore it, or start a new "
                           "run with --force")


def confirm_resume(recorded: str | None, given: str | None, run_dir: Path, digest: str | None = None) -> str | None:
    """The learner's file a resumed run imports (None: twolayer's own
    network); UsageError unless the command line names it. A run folder's
    config.json is data, which may come from anyone: the file it names runs
    only when the user names it too (--net), and it must be the same file
    and class, or, where the run recorded the file's SHA-256 (`digest`),
    the same code and class in another place: a project moved or copied
    with its runs (the file the run names is gone, or another's)."""
    if recorded is None:
        if given:
            raise UsageError(f"--net: {run_dir} trained twolayer's own network, not a learner's")
        return None
    if given is None:
        python = f" (here: {resume_call(run_dir)})" if in_notebook() else ""  # not a shell's words
        raise UsageError(f"{run_dir} trained a learner's network, {recorded}, and resuming it imports that file "
                         f"and runs its code; to do so, name it: {resume_command(run_dir)}{python}")
    (path, name), (was, was_name) = parse_spec(given), parse_spec(recorded)
    if path.resolve() == was.resolve() and name == was_name:
        return recorded
    now = file_digest(given)
    if name == was_name and digest is not None and now == digest:
        return given  # the run's code, moved: its digest checked
    if was.is_file() or digest is None:
        raise UsageError(f"--net {given} is not the network {run_dir} trained, {recorded}; "
                         f"give --net {shell_word(recorded)}")
    why = ("its class differs" if name != was_name else "its code differs" if now is not None else
           "there is no file there" if not path.exists() else f"it is {not_a_file(path) or 'unreadable'}")
    raise UsageError(f"--net {given} is not the network {run_dir} trained, {recorded} (no longer there): a file "
                     "moved since is taken where its class and code are the run's (config.json records its "
                     f"SHA-256), and {why}")


# -- loading --------------------------------------------------------------------------------------


NOT_SOURCE = {".ipynb": ": it is a notebook; put the class in a .py file (jupyter nbconvert --to script FILE.ipynb "
                        "writes one)",
              ".pyc": ": it is compiled bytecode; give the .py file it was compiled from"}


def load_class(spec: str) -> type:
    """Import the file of `spec` (running its code) and return the class:
    the one named, else TwoLayerNet, else the only class with a loss method."""
    path, name = parse_spec(spec)
    if path.is_dir():
        raise LearnerError(f"{path} is a folder; give the .py file that defines the network")
    if not path.is_file():
        with_py = path.with_name(path.name + ".py")  # `check neural_net`, as one imports it
        meant = f"; did you mean {with_py}?" if path.suffix != ".py" and with_py.is_file() else ""
        raise LearnerError(f"{path} is not a file" if path.exists() else f"no such file: {path}{meant}")
    if path.suffix != ".py":
        raise LearnerError(f"{path} is not a Python file (.py){NOT_SOURCE.get(path.suffix.lower(), '')}")
    if path.stat().st_size > SMALL_FILE:  # importing it would read it whole
        raise LearnerError(f"{path} holds more than {memory.describe(SMALL_FILE)}: not the source of a network")
    cls = _find_class(_import(path), path, name)
    if not callable(getattr(cls, "loss", None)):
        raise LearnerError(f"{path}: class {cls.__name__} has no loss method; the assignment's network has "
                           "loss(X, y=None, reg=0.0)")
    return cls


def _import(path: Path) -> Any:
    # a name per file, so that two files called neural_net.py never meet in sys.modules
    name = "learner_" + hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look classes up there
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # its own imports of files beside it
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ beside its file
    try:
        with guarded():
            spec.loader.exec_module(module)
    except SyntaxError as e:
        raise LearnerError(f"{e.filename}:{e.lineno}: syntax error: {e.msg}") from None
    except (Exception, SystemExit) as e:  # its code at import: anything
        hint = ""
        if isinstance(e, ModuleNotFoundError) and e.name == "past":
            hint = " (the assignment's `from past.builtins import xrange` needs: pip install future; or use range)"
        raise LearnerError(f"importing {path} raised {describe(e, path)}{hint}") from None
    finally:
        if folder in sys.path:  # its code may have changed sys.path
            sys.path.remove(folder)
        sys.dont_write_bytecode = writes_bytecode
    return module


def _find_class(module: Any, path: Path, name: str | None) -> type:
    classes = {k: v for k, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__}
    defined = ", ".join(classes) or "no class"
    if name is not None:
        if not isinstance(getattr(module, name, None), type):
            raise LearnerError(f"{path} has no class {name}; it defines {defined}")
        return getattr(module, name)
    if "TwoLayerNet" in classes:
        return classes["TwoLayerNet"]
    with_loss = [k for k, v in classes.items() if callable(getattr(v, "loss", None))]
    if len(with_loss) == 1:
        return classes[with_loss[0]]
    raise LearnerError(f"{path} has no class TwoLayerNet and {len(with_loss)} classes with a loss method "
                       f"(it defines {defined}); name one: {path}:CLASS")


def describe(e: BaseException, path: Path) -> str:
    """"ValueError: message (file.py:42)": the exception, first line of its
    message, and the deepest line of the learner's file it passed through."""
    bare_exit = isinstance(e, SystemExit) and e.code is None  # exit() and quit() raise SystemExit(None)
    text, place = "SystemExit" if bare_exit else first_line(e), where(e, path)
    text = f"{text} ({place})" if place else text
    if isinstance(e, ValueError) and "read-only" in str(e):  # confined(): it wrote into its input or params
        text += ("; it changes X, y or self.params in place, which loss and predict must leave as they are "
                 "(X = X - m makes a new array, X -= m changes the caller's)")
    if isinstance(e, SystemExit):
        text += "; its code must return, not end the process (sys.exit, exit(), os._exit)"
    return text


def where(e: BaseException, path: Path) -> str:
    """"file.py:42": the deepest line of the learner's file that `e` passed through, or ""."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    return f"{path}:{frames[-1].lineno}" if frames else ""


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """While a learner's code runs (importing it, its __init__, loss,
    predict, train): os._exit raises SystemExit, as sys.exit does, which
    the callers catch (it ended twolayer's process at once, exit status 0,
    a run folder left half-made); NumPy's error handling (np.seterr) and the
    working directory are put back afterwards (np.seterr(all="raise") made
    twolayer's own arithmetic raise; a run folder may be a relative path;
    here.kept holds it by a descriptor: os.getcwd() raised in a folder
    deleted under the process, and `train --net` of an absolute path failed)."""
    real_exit, pid = os._exit, os.getpid()

    def refused_exit(status: int = 0) -> None:
        if os.getpid() != pid:  # a process its code forked ends as asked
            real_exit(status)
        raise SystemExit(f"os._exit({status})")

    os._exit = refused_exit
    try:
        with np.errstate(**np.geterr()), lines_above_bars(), here.kept():  # its prints never break the run's bar
            yield
    finally:
        os._exit = real_exit


@contextlib.contextmanager
def confined(arrays: list[Any]) -> Iterator[None]:
    """While a learner's code runs (guarded): `arrays` (its inputs, its
    params) read-only, so that a change in place fails at its line instead
    of altering twolayer's data (a validation split scored in chunks is
    passed as views)."""
    frozen = [a for a in arrays if isinstance(a, np.ndarray) and a.flags.writeable]
    for a in frozen:
        a.flags.writeable = False
    try:
        with guarded():
            yield
    finally:
        for a in frozen:
            a.flags.writeable = True


def call_confined(obj: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """obj.method(*args, **kwargs), the learner's code, with its inputs and
    params read-only while it runs (confined)."""
    with confined([*args, *(obj.params[k] for k in PARAM_NAMES)]):
        return getattr(obj, method)(*args, **kwargs)


def reference(obj: Any) -> TwoLayerNet:
    """twolayer's own network on a float64 copy of a learner's weights."""
    return TwoLayerNet.from_params({k: np.array(obj.params[k], dtype=np.float64) for k in PARAM_NAMES})


# -- what its code must return ------------------------------------------------------------------


class InterfaceFault(Exception):
    """The learner's code returned something the interface does not allow.
    `key`: the parameter concerned; `shape`: its gradient's, if wrong."""

    def __init__(self, problem: str, key: str | None = None, shape: tuple[int, ...] | None = None) -> None:
        super().__init__(problem)
        self.key, self.shape = key, shape


def params_problem(params: Any, sizes: tuple[int, int, int]) -> str | None:
    """What is wrong with a net's params for sizes (D, H, C), or None."""
    d, h, c = sizes
    if not isinstance(params, dict):
        return f"params must be a dict holding W1, b1, W2 and b2, got {type(params).__name__}"
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        return f"params has no {', '.join(missing)}"
    expected = {"W1": ((d, h), "(input_size, hidden_size)"), "b1": ((h,), "(hidden_size,)"),
                "W2": ((h, c), "(hidden_size, output_size)"), "b2": ((c,), "(output_size,)")}
    for key, (shape, meaning) in expected.items():
        p = params[key]
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            return f"params['{key}'] must be a NumPy array of floats, got {kind_of(p)}"
        if p.shape != shape:
            return f"params['{key}'] has shape {p.shape}, expected {shape} = {meaning}"
    return None


def loss_value(result: Any) -> float:
    """The loss from what loss(X, y, reg) returned: a pair whose first item
    is a number. InterfaceFault otherwise."""
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise InterfaceFault(f"loss(X, y, reg) must return (loss, grads), got {kind_of(result)}")
    loss = result[0]
    if not is_real(loss):
        one = isinstance(loss, np.ndarray | list | tuple) and np.size(loss) == 1  # np.sum(..., keepdims=True), [loss]
        raise InterfaceFault(f"the loss that loss(X, y, reg) returns must be a real number, got {kind_of(loss)}"
                             + ("; it holds one value: return that number (a sum without keepdims, or loss.item())"
                                if one else ""))
    return float(loss)


def is_real(value: Any) -> bool:
    """Whether value is one real number: not text, bytes, objects, a complex
    number (float() would parse or drop their parts) or an array of one."""
    return (not isinstance(value, bool) and isinstance(value, int | float | np.number | np.ndarray)
            and np.ndim(value) == 0 and np.asarray(value).dtype.kind in "iuf")


def unpack_loss(result: Any, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """(loss, grads) from what loss(X, y, reg) returned, checked: a number
    and a dict of arrays shaped like the params, finite where the loss is.
    InterfaceFault otherwise."""
    loss, grads = loss_value(result), result[1]
    if not isinstance(grads, dict):
        raise InterfaceFault(f"the grads that loss(X, y, reg) returns must be a dict, got {kind_of(grads)}: "
                             "grads = {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}")
    extra = [repr(k) for k in grads if k not in PARAM_NAMES]
    missing = [k for k in PARAM_NAMES if k not in grads]
    if extra:  # a misspelt key ('B2', 'dW1'): both said at once
        raise InterfaceFault(f"grads has {', '.join(extra)}, which {'is' if len(extra) == 1 else 'are'} not a "
                             "parameter" + (f", and no {', '.join(missing)}" if missing else "") + ": it holds one "
                             "gradient for each of W1, b1, W2 and b2, the keys of self.params")
    if missing:
        raise InterfaceFault(f"grads has no {', '.join(missing)}", missing[0])
    for key in PARAM_NAMES:
        g = grads[key]
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            raise InterfaceFault(f"grads['{key}'] must be a NumPy array of floats, got {kind_of(g)}", key)
        if g.shape != params[key].shape:
            raise InterfaceFault(f"grads['{key}'] has shape {g.shape}, params['{key}'] {params[key].shape}", key,
                                 g.shape)
    if np.isfinite(loss):  # a non-finite loss is a diverging run: the trainer stops it, naming the iteration
        for key in PARAM_NAMES:
            if not np.isfinite(grads[key]).all():
                raise InterfaceFault(f"grads['{key}'] holds NaN or infinity (the loss is {loss:g})", key)
    return loss, {k: _own(grads[k], params[k]) for k in PARAM_NAMES}


def _own(grad: np.ndarray, param: Any) -> np.ndarray:
    """A gradient the update may scale in place: of its parameter's dtype,
    contiguous, writable and sharing no memory with the parameters (a
    learner may return read-only arrays, views or its params themselves)."""
    if (grad.dtype == param.dtype and grad.flags.c_contiguous and grad.flags.writeable and grad.flags.owndata
            and not np.may_share_memory(grad, param)):
        return grad
    return np.array(grad, dtype=param.dtype, order="C")


def predict_fault(labels: Any, expected: np.ndarray) -> tuple[str, str] | None:
    """(what is wrong, what to do) with the labels that a learner's
    predict(X) returned, `expected` being the argmax of twolayer's scores on
    the same weights and rows; None when they are those."""
    if not isinstance(labels, np.ndarray):
        return f"predict(X) returned {kind_of(labels)}", "return a NumPy array: np.argmax(scores, axis=1)"
    detail = f"shape {labels.shape}, dtype {labels.dtype}"
    if labels.shape != expected.shape or labels.dtype.kind not in "iu":
        return detail, f"labels are integers of shape (N,) = ({len(expected)},): np.argmax(scores, axis=1)"
    if not np.array_equal(labels, expected):
        return f"{detail}, but not the argmax of the scores", "predict(X) returns np.argmax(scores, axis=1)"
    return None


def kind_of(value: Any) -> str:
    """What a learner's code returned, in words."""
    if value is None:
        return "None (still the placeholder the assignment's template starts with?)"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        return f"a NumPy {value.dtype}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


# -- the adapter ----------------------------------------------------------------------------------


class LearnerNet:
    """A learner's network object with the interface that twolayer's
    trainer drives (TwoLayerNet's): params, weights(), gradients(),
    predict(). Its `params` are the arrays W1, b1, W2, b2 of the learner's
    own params dict, which the optimizer updates in place; anything else that
    dict holds (a hidden_size, a cache) is the learner's, never trained,
    saved or restored (an int there was a traceback at the run's end).

    Its loss adds its own L2 term, so the trainer hands it reg and neither
    adds the term again nor folds it into the update (`l2_in_loss`)."""

    l2_in_loss = True

    def __init__(self, obj: Any, spec: str) -> None:
        self.obj, self.spec = obj, spec
        self.path = parse_spec(spec)[0]

    @property
    def params(self) -> dict[str, Any]:
        params = self.obj.params
        return {key: params[key] for key in PARAM_NAMES}

    def weights(self) -> list[Any]:
        return [self.params["W1"], self.params["W2"]]

    def gradients(self, X: Any, y: Any, reg: float = 0.0, grads_out: Any = None, *, dropout_input: float = 0.0,
                  dropout_hidden: float = 0.0, label_smoothing: float = 0.0, rng: Any = None) -> tuple[Any, dict]:
        """(loss, grads) of the learner's loss(X, y, reg=reg), checked.
        grads_out (the trainer's reusable arrays) is not used."""
        asked = refuse_unsupported({"dropout_input": dropout_input, "dropout_hidden": dropout_hidden,
                                    "label_smoothing": label_smoothing})
        if asked:
            raise ConfigError(f"{asked} {unsupported_problem(asked)}")
        result = self._call("loss", X, y, reg=reg)
        try:
            loss, grads = unpack_loss(result, self.params)
        except InterfaceFault as e:
            raise LearnerError(f"{self.spec}: {e}") from None
        if not math.isfinite(loss):
            self._check_overflow(loss, X, y, reg)
        return loss, grads

    def _check_overflow(self, loss: float, X: Any, y: Any, reg: float) -> None:
        """LearnerError if its loss is finite on the same batch with every
        score lowered by the largest (b2 less it: the softmax, and so the
        loss, is the same): then exp of large scores overflowed in its code.
        Otherwise the run diverged (a probability underflowed to 0 in a
        correct net; --reg 1e300's L2 term is beyond float32), which the
        trainer stops, suggesting a lower rate."""
        with np.errstate(all="ignore"):
            right = reference(self)
            top = float(np.max(right.scores(np.asarray(X, dtype=np.float64))))
            right_loss = float(right.loss(np.asarray(X, dtype=np.float64), y, reg=reg)[0])
        if not (math.isfinite(top) and math.isfinite(right_loss)):
            return
        b2 = self.params["b2"]
        kept = b2.copy()
        try:
            b2[...] = kept - top
            shifted = self._call("loss", X, y, reg=reg)
        finally:
            b2[...] = kept
        with contextlib.suppress(InterfaceFault):
            if math.isfinite(loss_value(shifted)):
                raise LearnerError(f"{self.spec}: loss returned {loss} where the loss of its scores is "
                                   f"{right_loss:.6g} (twolayer's, on the same weights and batch), and a finite "
                                   "loss once every score is lowered by the largest: exp of large scores "
                                   "overflows, so subtract each row's max score before exp")

    def scores(self, X: Any) -> Any:
        scores = self._call("loss", X)
        n, c = X.shape[0], self.params["W2"].shape[1]
        if not isinstance(scores, np.ndarray) or scores.shape != (n, c):
            raise LearnerError(f"{self.spec}: loss(X) must return the scores, an array ({n}, {c}); "
                               f"got {kind_of(scores)}")
        return scores

    def predict(self, X: Any, batch_size: int | None = None) -> Any:
        """Its predict(X) if it has one, else the argmax of its scores."""
        if not callable(getattr(self.obj, "predict", None)):
            return self.scores(X).argmax(axis=1)
        labels = self._call("predict", X)
        if not isinstance(labels, np.ndarray) or labels.shape != (X.shape[0],):
            raise LearnerError(f"{self.spec}: predict(X) must return an array of {X.shape[0]} labels, "
                               f"got {kind_of(labels)}")
        return labels

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return call_confined(self.obj, method, *args, **kwargs)
        except (Exception, SystemExit) as e:  # its code: anything
            raise LearnerError(f"{self.spec}: {method} raised {describe(e, self.path)}") from None
        except KeyboardInterrupt as e:  # Ctrl-C still stops the run; its line says where (a loop that never ends)
            place = where(e, self.path)
            e.add_note(f"in the learner's {method}" + (f", at {place}" if place else ""))
            raise


def construct(cls: type, spec: str, sizes: tuple[int, int, int], std: float) -> Any:
    """cls(D, H, C, std=std), its params checked; LearnerError otherwise."""
    path = parse_spec(spec)[0]
    call = f"{cls.__name__}({', '.join(map(str, sizes))}, std={std:g})"
    try:
        inspect.signature(cls).bind(*sizes, std=std)
    except TypeError as e:  # its __init__ is not the assignment's
        raise LearnerError(f"{path}: {call} is refused by its __init__ ({e}): the assignment's constructor is "
                           f"__init__(self, input_size, hidden_size, output_size, std=1e-4)") from None
    except ValueError:  # no signature to read (a class written in C): the call says
        pass
    try:
        with guarded():
            obj = cls(*sizes, std=std)
    except (Exception, SystemExit) as e:
        raise LearnerError(f"{call} raised {describe(e, path)}") from None
    problem = params_problem(getattr(obj, "params", None), sizes)
    if problem:
        raise LearnerError(f"{path}: after {call}, {problem}")
    return obj


def learner_net(spec: str, initial: TwoLayerNet, std: float) -> LearnerNet:
    """The learner's class built for `initial`'s sizes and holding its
    weights, so that a learner's run starts where twolayer's own would with
    the same seed. It must compute what twolayer's network does (check_probe):
    the bundle saved at the end is evaluated by twolayer's network, and the
    run is of the network its options describe."""
    cls = load_class(spec)
    saved = np.random.get_state()  # its __init__ draws from NumPy's global generator: leave it as it was
    try:
        obj = construct(cls, spec, initial.sizes, std)
    finally:
        np.random.set_state(saved)
    for key in PARAM_NAMES:  # of the run's float type (--dtype): the assignment's __init__ makes float64
        if obj.params[key].dtype == initial.params[key].dtype:
            obj.params[key][...] = initial.params[key]
        else:
            retype(obj, key, initial.params[key].copy())
    net = LearnerNet(obj, spec)
    check_probe(net, initial.sizes)
    return net


def retype(obj: Any, key: str, array: np.ndarray) -> None:
    """obj.params[key] = array, and so too any attribute of obj that held
    the array it replaces: a network that keeps its weights at hand
    (self.W1 = self.params["W1"] in __init__) is trained through its params
    in place, and must go on reading the new array."""
    old = obj.params[key]
    obj.params[key] = array
    for name, value in list(getattr(obj, "__dict__", {}).items()):
        if value is old:
            setattr(obj, name, array)


PROBE_BAR = 1e-4  # relative: a learner in float32 differs by about 1e-6, a mistake by 1e-3 or more


def check_probe(net: LearnerNet, sizes: tuple[int, int, int]) -> None:
    """Its scores, loss and gradients against twolayer's network on random
    weights, biases and a batch, at a reg that makes the L2 term 1, then
    with b2 near 1000 (a softmax without the max shift overflows); its own
    weights back after. LearnerError naming what differs (what `twolayer
    check` fails: a run would have trained another network)."""
    rng = np.random.default_rng(0)
    d, h, c = sizes
    kept = {k: net.params[k].copy() for k in PARAM_NAMES}
    probe = {k: rng.standard_normal(v.shape) / np.sqrt(v.shape[0] if v.ndim == 2 else 1) for k, v in kept.items()}
    X, y = rng.standard_normal((8, d)), rng.integers(0, c, 8)
    check_first = f"; run twolayer check {shell_word(net.spec)} first: it says where to look"
    try:
        for key in PARAM_NAMES:
            net.params[key][...] = probe[key]
        right = reference(net)
        _same_scores(net, right, X, kept, check_first)
        _same_labels(net, X, check_first)
        reg = 1.0 / sum(float(np.sum(right.params[k] ** 2)) for k in ("W1", "W2"))
        _same_loss(net, right, X, y, reg, check_first)
        net.params["b2"][...] = probe["b2"] + 1000.0  # the softmax is the same; exp(1000) overflows
        try:
            net.gradients(X, y, reg)  # LearnerError (_check_overflow) if its loss is not finite
        except LearnerError as e:
            raise LearnerError(f"{e} (on random weights with b2 near 1000: scores a run can reach){check_first}") \
                from None
    finally:
        for key in PARAM_NAMES:
            net.params[key][...] = kept[key]


def _same_scores(net: LearnerNet, right: TwoLayerNet, X: np.ndarray, kept: dict[str, Any], check_first: str) -> None:
    """LearnerError unless its scores are `right`'s (twolayer's on its weights)."""
    got, expected = net.scores(X), right.scores(X)
    difference = float(np.abs(got - expected).max())
    if difference <= PROBE_BAR * float(np.abs(expected).max()):
        return
    for key in PARAM_NAMES:
        net.params[key][...] = kept[key]
    if np.array_equal(net.scores(X), got):
        raise LearnerError(f"{net.spec}: its scores stay the same when self.params changes: its loss reads the "
                           "weights from elsewhere (a copy, or a list made in __init__); twolayer trains the arrays "
                           "in self.params, in place, so read W1, b1, W2 and b2 from self.params")
    raise LearnerError(f"{net.spec}: its scores differ from a two-layer network's on the same weights (by up to "
                       f"{difference:.3g}){check_first}")


def _same_labels(net: LearnerNet, X: np.ndarray, check_first: str) -> None:
    """A note unless its predict, if it has one, gives the argmax of its
    scores (it was never called: a predict that raised or gave other labels
    trained without a word). Not a refusal: a run scores through loss(X)
    and saves twolayer's network, so a learner whose predict is still the
    template's placeholder trains as the assignment's order has it."""
    if not callable(getattr(net.obj, "predict", None)):
        return
    try:
        labels = net._call("predict", X)
    except LearnerError as e:
        fault = str(e), "fix it"
    else:  # its scores are right's (_same_scores), rounded alike
        fault = predict_fault(labels, net.scores(X).argmax(axis=1))
        if fault:
            what = fault[0] if fault[0].startswith("predict(X)") else f"predict(X) gave labels of {fault[0]}"
            fault = f"{net.spec}: on a batch of {len(X)} rows, {what}", fault[1]
    if not fault:
        return
    line = (f"twolayer: note: {fault[0]}; {fault[1]} (training goes on: it scores through loss(X) and saves "
            f"twolayer's network){check_first}")
    if line not in NOTED:  # once: a search builds the learner again for every trial, each said it
        NOTED.add(line)
        say(line, sys.stderr)


NOTED: set[str] = set()  # the notes on a learner's predict said in this process


def _same_loss(net: LearnerNet, right: TwoLayerNet, X: np.ndarray, y: np.ndarray, reg: float,
               check_first: str) -> None:
    """LearnerError unless its loss and gradients are `right`'s, naming the gradients that differ."""
    loss, grads = net.gradients(X, y, reg)
    right_loss, right_grads = right.loss(X, y, reg=reg)
    if not abs(loss - right_loss) <= PROBE_BAR * max(1.0, abs(right_loss)):
        raise LearnerError(f"{net.spec}: its loss differs from twolayer's on the same weights, batch and reg "
                           f"({loss:.6g}, twolayer's {right_loss:.6g}, at reg {reg:.3g}){check_first}")
    errors = {k: scaled_error(right_grads[k], np.asarray(grads[k], dtype=np.float64)) for k in PARAM_NAMES}
    wrong = [k for k, e in errors.items() if not e <= PROBE_BAR]
    if wrong:
        agree = [k for k in PARAM_NAMES if k not in wrong]
        raise LearnerError(f"{net.spec}: its gradients differ from twolayer's on the same weights, batch and reg: "
                           + ", ".join(f"d{k} (relative error {errors[k]:.2g})" for k in wrong)
                           + (f"; {', '.join('d' + k for k in agree)} agree" if agree else "") + check_first)
