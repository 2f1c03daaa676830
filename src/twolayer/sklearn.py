"""TwoLayerClassifier: the network as a scikit-learn estimator.

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from twolayer.sklearn import TwoLayerClassifier

    model = make_pipeline(StandardScaler(), TwoLayerClassifier(hidden_size=200, epochs=30))
    model.fit(X_train, y_train).score(X_test, y_test)

Its parameters are the option table's (config.py): the same names and
rules, validated by `TrainConfig.validate()` when `fit` is called (so a bad
value is a one-line ValueError, as scikit-learn's are). The signature of
`__init__` is built from the table, so an option added there is a parameter
here too. Six options are not parameters (NOT_PARAMETERS says why), and the
estimator adds three of its own (OWN_PARAMETERS). The defaults are the
table's under the "sklearn" recipe (Adam at lr 2e-3, batches of 50, initial
weights 1e-2), for features of any scale: on digits' held-out rows, after a
StandardScaler, it reached 0.951 where the table's own reached 0.931
(recipes.py gives the figures).

What the table's options mean for arrays:

- preprocess ("standardize" by default) is fitted on the training rows in
  `fit` and applied in `predict`, as the command line does with images. Without an
  image_shape each column is its own channel: "mean" subtracts each column's
  mean, "standardize" is StandardScaler's per-column scaling, "zca" whitens
  the columns (its epsilon assumes values in 0..255, like pixels). Pass
  preprocess="none" to take the arrays exactly as they are.
- val_size (0.1) rows of X are held out, chosen by split_seed, and the
  parameters of the epoch with the best accuracy on them are kept, as the
  command line does; validation_scores_ holds that accuracy per epoch.
  val_size=0 trains on every row and keeps the last epoch's parameters.
- flip and crop need image_shape, the (H, W, C) that each row flattens.

to_onnx() gives the fitted network as an ONNX graph, its preprocessing
in the graph (the mean subtracted, the scale folded into the first layer),
as `twolayer export` gives a run's; register_skl2onnx() lets
skl2onnx.to_onnx convert a whole Pipeline holding the estimator.
"""

from __future__ import annotations

import copy
import inspect
import json
import warnings
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from twolayer.arrays import checked_image_shape
from twolayer.bundles import Bundle
from twolayer.config import TrainConfig, did_you_mean, is_number, options, with_recipe
from twolayer.data import Dataset
from twolayer.data.preprocess import Preprocessor
from twolayer.data.splits import carve, class_list, resolve_size, untrained
from twolayer.export import folded_params, onnx_graph, require
from twolayer.layers import log_softmax, softmax
from twolayer.progress import Progress
from twolayer.recipes import RECIPES
from twolayer.trainer import History, fit_as_given, initial_net, new_state, num_iters

# Options of the table that are not parameters of the estimator, and why.
NOT_PARAMETERS = {
    "recipe": "a recipe is a set of parameter values: TwoLayerClassifier.from_recipe(name) sets them",
    "dataset": "fit takes the data as arrays",
    "data_dir": "fit takes the data as arrays",
    "image_size": "fit takes the data as arrays: resize images before (rows of one size)",
    "test_size": "hold test data out yourself (train_test_split, cross_val_score) and call score",
    "net": "a learner's own network trains through the command line (twolayer train --net); fit trains "
           "twolayer's",
}

# The estimator's own parameters, beyond the table's: name -> default.
OWN_PARAMETERS = {
    "warm_start": False,  # fit continues the previous fit: weights, optimizer state, iteration
    "image_shape": None,  # (H, W, C) of the image each row flattens; flips and crops need it
    "verbose": False,  # a progress bar while fitting (a terminal line, or log lines on stdout)
}


# The attributes that validate_data sets on the estimator as it checks X.
SET_BY_VALIDATION = ("n_features_in_", "feature_names_in_")

# The table's defaults suit 0..255 pixels; the estimator's start from the recipe
# for features of any scale (recipes.py says why).
DEFAULTS_RECIPE = "sklearn"


def _signature() -> inspect.Signature:
    """__init__(self, *, <each table option>=<its default>, warm_start=False, ...)."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for opt in options(TrainConfig).values():
        if opt.name not in NOT_PARAMETERS:
            kind = opt.kind | None if opt.nullable else opt.kind
            default = RECIPES[DEFAULTS_RECIPE].get(opt.name, opt.default)
            params.append(inspect.Parameter(opt.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=kind))
    for name, default in OWN_PARAMETERS.items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return inspect.Signature(params)


SIGNATURE = _signature()
TABLE_PARAMETERS = [name for name in SIGNATURE.parameters if name != "self" and name not in OWN_PARAMETERS]


def network_rows(pre: Preprocessor, X: np.ndarray, dtype: Any) -> np.ndarray:
    """X preprocessed in float64 (features whose spread is below float32's
    precision at their size stay apart), then in the network's float type."""
    with np.errstate(over="ignore", invalid="ignore"):
        return finite(pre.transform(X, np.float64).astype(dtype, copy=False), X)


def finite(values: np.ndarray, X: np.ndarray) -> np.ndarray:
    """`values` computed from the rows of X, which are finite (validate_data
    says so); ValueError naming the first row that overflowed (fit said "X
    holds NaN or infinity", predict_proba gave NaN)."""
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"X holds values too large for the network: row {row} (largest absolute value "
                         f"{np.abs(X[row]).max():.3g}) overflows to infinity; scale the features down, e.g. with "
                         "StandardScaler")
    return values


def _unique(y: np.ndarray, return_inverse: bool = False) -> Any:
    """np.unique of the labels; ValueError for labels of several types
    that cannot be ordered ('<' not supported between 'float' and 'str')."""
    try:
        return np.unique(y, return_inverse=return_inverse)
    except TypeError:
        kinds = sorted({type(label).__name__ for label in y})
        if len(kinds) == 1:  # labels all None: they "mixed labels of different types (NoneType)"
            raise ValueError(f"y's labels are of type {kinds[0]}, which cannot be ordered; give labels that are text "
                             "or numbers") from None
        raise ValueError(f"y mixes labels of different types ({', '.join(kinds)}); give labels of one type, all "
                         "text or all numbers") from None


def register_skl2onnx() -> None:
    """Teach skl2onnx to convert TwoLayerClassifier, so that
    skl2onnx.to_onnx(pipeline, X[:1]) converts a whole Pipeline holding it
    (sklearn_onnx.py); call it once, before converting. TwolayerError
    naming the pip command when skl2onnx is not installed."""
    require("skl2onnx", "export")
    from twolayer.sklearn_onnx import register

    register()


class TwoLayerClassifier(ClassifierMixin, BaseEstimator):
    """A two-layer network (affine, ReLU, affine, softmax) trained by
    twolayer's trainer; the parameters are twolayer's training options.

    Fitted attributes: classes_, n_features_in_, feature_names_in_ (when X
    has column names), loss_curve_ (mean training loss per epoch), n_iter_
    (epochs run, over every fit),
    validation_scores_ (validation accuracy per epoch; None when val_size
    is 0), best_validation_score_, history_ (the trainer's History, per
    iteration), net_ (the TwoLayerNet that predicts) and preprocessor_.
    """

    def __init__(self, **params: Any) -> None:
        try:
            bound = SIGNATURE.bind(self, **params)  # a name the signature lacks: TypeError, as usual
        except TypeError as e:
            if "random_state" in params:
                raise TypeError(f"TwoLayerClassifier {e}; its seed is seed, a whole number >= 0 (seed=42)") from None
            unknown = next((name for name in params if name not in SIGNATURE.parameters), None)
            if unknown is None:
                raise
            raise TypeError(f"TwoLayerClassifier {e}{did_you_mean(unknown, list(SIGNATURE.parameters))}") from None
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            if name != "self":
                setattr(self, name, value)  # stored as given: fit validates them

    __init__.__signature__ = SIGNATURE  # what get_params, clone and help() read

    @classmethod
    def from_recipe(cls, recipe: str, **params: Any) -> TwoLayerClassifier:
        """An estimator with a named recipe's values (see recipes.py), the
        ones given here winning."""
        values = with_recipe(options(), {"recipe": recipe, **params})
        return cls(**{k: v for k, v in values.items() if k not in NOT_PARAMETERS})

    def config(self) -> TrainConfig:
        """The parameters as a validated TrainConfig; ValueError naming the
        first bad one."""
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"warm_start must be true or false, got {self.warm_start!r}")
        if not (isinstance(self.verbose, (bool, np.bool_)) or is_number(self.verbose, int) and self.verbose >= 0):
            # scikit-learn's verbose is a level, 0, 1, 2...; verbose=1 was refused
            raise ValueError(f"verbose must be true or false (or a level 0, 1, 2...), got {self.verbose!r}")
        return TrainConfig(**{name: getattr(self, name) for name in TABLE_PARAMETERS}).validate()

    def fit(self, X: Any, y: Any) -> TwoLayerClassifier:
        """Train on rows X (N, D) and labels y (N,), any hashable labels, at
        least two classes. A fit that fails leaves the estimator as it was
        (its fitted attributes: a warm-started fit interrupted by Ctrl-C keeps
        the steps it made for the next warm_start fit to continue from)."""
        # validate_data sets these as it checks X: a fit refused after it (one class, val_size too large) left an
        # unfitted estimator looking fitted (AttributeError, not NotFittedError) and a fitted one expecting
        # another number of features than its network takes
        kept = {name: vars(self)[name] for name in SET_BY_VALIDATION if name in vars(self)}
        try:
            return self._fit(X, y)
        except BaseException:
            for name in SET_BY_VALIDATION:
                vars(self).pop(name, None)
            vars(self).update(kept)
            raise

    def _fit(self, X: Any, y: Any) -> TwoLayerClassifier:
        config = self.config()
        continuing = self.warm_start and hasattr(self, "_state")
        if continuing:
            self._check_continuable(config)
        X, y = validate_data(self, X, y, reset=not continuing, dtype=(np.float64, np.float32))
        found = _unique(y, return_inverse=True)  # before scikit-learn's check sorts mixed types into a TypeError
        check_classification_targets(y)
        if len(found[0]) < 2:  # scikit-learn's classifiers refuse it: it was fitted, predicting that class
            raise ValueError("TwoLayerClassifier needs samples of at least 2 classes in the data, but the data "
                             f"contains only one class: {found[0][:1].tolist()[0]!r}")
        image_shape = checked_image_shape(self.image_shape, X.shape[1], bool(config.flip or config.crop),
                                          "TwoLayerClassifier(image_shape=...)", config.crop)
        if continuing:
            classes, y = self.classes_, self._encode_again(y)
        else:
            classes, y = found
        train, val = self._carve(X, y, config)
        self._check_untrained(classes, y, train[1], config)
        if continuing and len(train[1]) != len(self._state.order):
            raise ValueError(f"warm_start continues a fit on {len(self._state.order)} training rows, but X and "
                             f"val_size now give {len(train[1])}; give as many rows, or set warm_start=False to start "
                             "over")
        if continuing:
            pre, net, state = self.preprocessor_, self._net, self._state
        else:
            shape = image_shape or (1, 1, X.shape[1])  # without a shape, each column is a channel
            with np.errstate(over="ignore", invalid="ignore"):  # values too large: said by network_rows
                pre = Preprocessor.fit(config.preprocess, train[0].reshape(-1, *shape), config.zca_epsilon, np.float64)
            net = initial_net(config, X.shape[1], len(classes), len(train[1]))
            state = new_state(len(train[1]), config)
        X_train, X_val = (network_rows(pre, rows, config.dtype) if len(rows) else None for rows in (train[0], val[0]))

        # This call's iterations come after those already done, so that fits
        # of 5 and 5 epochs reach exactly the state of one of 10.
        start = state.iteration
        run = replace(config, iters=start + num_iters(config, len(train[1])))
        bar = Progress(run.iters - start, "fit", enabled=bool(self.verbose))
        try:
            history = fit_as_given(net, X_train, train[1], X_val, val[1], run, image_shape=image_shape, state=state,
                                   restore_best=False,  # the net trains on from its last epoch; net_ gets the best
                                   on_iteration=lambda it, total, loss, lr: bar.update(it - start, f"loss {loss:.4f}"))
        finally:
            bar.close()
        if history.stop_reason:
            warnings.warn(f"TwoLayerClassifier stopped early: {history.stop_reason}", ConvergenceWarning,
                          stacklevel=2)
        self.classes_, self.preprocessor_, self._net, self._state = classes, pre, net, state
        self._set_results(history, has_val=len(val[1]) > 0)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, C), columns in the order of classes_."""
        return softmax(self._scores(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithms of predict_proba's probabilities, as scikit-learn's
        classifiers give them, computed from the scores: finite where a
        probability rounds to 0 (np.log(predict_proba) says -inf there)."""
        return log_softmax(self._scores(X))

    def _scores(self, X: Any) -> np.ndarray:
        """The network's scores (N, C) of the rows of X, in float64."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        with np.errstate(over="ignore", invalid="ignore"):
            scores = self.net_.scores(network_rows(self.preprocessor_, X, self.net_.dtype))
        return finite(scores.astype(np.float64), X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, as a label of classes_."""
        proba = self.predict_proba(X)  # first: it checks that the model is fitted
        return self.classes_[proba.argmax(axis=1)]

    def to_onnx(self, float16: bool = False) -> Any:
        """The fitted network as an ONNX graph (onnx.ModelProto: onnx.save(graph,
        "model.onnx") writes it): input "X", rows (N, n_features_in_) float32
        as predict_proba takes them, less the preprocessing's shift, its
        scale folded into the first layer; output "probabilities" (N, C) float32, its columns those of
        predict_proba, classes_ as text in the metadata's class_names (JSON).
        float16 stores the weights in half precision. In a Pipeline, the
        steps before this one are not in the graph: register_skl2onnx() lets
        skl2onnx convert the whole pipeline."""
        params = self._folded_params(np.float16 if float16 else np.float32, "call to_onnx() without float16=True")
        d, h, c = self.net_.sizes
        names = [str(label) for label in self.classes_]
        folded = f"{self.preprocessor_.kind} preprocessing: its shift subtracted, its scale folded into the first layer"
        doc = f"twolayer TwoLayerClassifier {d}-{h}-{c}: rows X (N, {d}) -> probabilities of its {c} classes; {folded}"
        return onnx_graph(params, "X", doc, {"class_names": json.dumps(names), "preprocess": folded,
                                             "input": "rows of X as TwoLayerClassifier.predict takes them"})

    def _folded_params(self, dtype: Any, remedy: str = "") -> dict[str, np.ndarray]:
        """W1, b1, W2, b2 of the fitted network in `dtype`, taking the rows
        of X as predict does: the preprocessing's shift (float32 or float64)
        to subtract first, its scale folded into W1 (the weights of
        to_onnx's graph and of skl2onnx's)."""
        check_is_fitted(self)
        bundle = Bundle(self.net_, self.preprocessor_, [], (1, 1, self.net_.sizes[0]), {})  # folding reads only these
        return folded_params(bundle, dtype, remedy, subtract_shift=True)

    # -- the steps of fit ---------------------------------------------------------------------

    def _encode_again(self, y: np.ndarray) -> np.ndarray:
        """y as indices into the classes of the fit being continued."""
        unseen = np.setdiff1d(y, self.classes_)
        if len(unseen):
            raise ValueError(f"warm_start: y has labels the first fit did not have: {unseen[:5].tolist()}; "
                             "set warm_start=False to start over")
        return np.searchsorted(self.classes_, y)

    @staticmethod
    def _carve(X: np.ndarray, y: np.ndarray, config: TrainConfig):
        """(train rows, labels) and (validation rows, labels): val_size rows
        held out, chosen by split_seed, as the command line's carve."""
        n = len(y)
        n_val = resolve_size(config.val_size, n, "val_size")
        if n_val >= n:
            raise ValueError(f"val_size={config.val_size} holds out {n_val} of n_samples={n}, leaving none to "
                             "train on; pass more samples or val_size=0")
        splits = carve(Dataset("arrays", [], {"train": (X, y)}), n_val, 0, config.split_seed)
        return splits["train"], splits["val"]

    @staticmethod
    def _check_untrained(classes: np.ndarray, y: np.ndarray, train_labels: np.ndarray, config: TrainConfig) -> None:
        """The classes the validation rows took whole (a carve is not
        stratified): ValueError if one class is left to train on (it trained
        on it, predicting it for anything), else a UserWarning naming them,
        as train says them (they were left out without a word)."""
        lost = untrained(y, train_labels)
        if not len(lost):
            return
        them = "it" if len(lost) == 1 else "them"
        held = (f"val_size={config.val_size!r} (split_seed={config.split_seed}) holds out every sample of "
                f"{class_list(classes[lost].tolist())}")
        remedy = f"pass more samples of {them}, another split_seed, or val_size=0"
        if len(lost) == len(np.unique(y)) - 1:
            raise ValueError(f"{held}, leaving one class to train on; {remedy}")
        warnings.warn(f"{held}, so the network cannot learn {them} ({len(lost):,} of {len(classes):,} classes have "
                      f"no training sample); {remedy}", UserWarning, stacklevel=4)

    def _check_continuable(self, config: TrainConfig) -> None:
        """The net being continued must be the one these parameters describe."""
        d, h, _ = self._net.sizes
        built = {"hidden_size": h, "dtype": str(self._net.dtype), "preprocess": self.preprocessor_.kind,
                 **self._state.optimizer.options()}
        for name, value in built.items():
            if getattr(config, name) != value:
                raise ValueError(f"warm_start continues a net with {name}={value!r}, but {name} is now "
                                 f"{getattr(config, name)!r}; set warm_start=False to start over")

    def _set_results(self, history: History, has_val: bool) -> None:
        """The fitted attributes, from the history of every fit so far."""
        ends = history.eval_iteration
        starts = [0, *ends][: len(ends)]
        # a copy: the state's own goes on growing in a warm-started fit, which left history_ saying 67 iterations
        # beside n_iter_ and net_ of 64 when that fit was interrupted (Ctrl-C)
        self.history_ = copy.deepcopy(history)
        self.loss_curve_ = [float(np.mean(history.loss[a:b])) for a, b in zip(starts, ends, strict=True) if b > a]
        self.n_iter_ = len(self.loss_curve_)  # epochs, as MLPClassifier's (a last partial one counts)
        self.validation_scores_ = list(history.val_acc) if has_val else None
        self.best_validation_score_ = history.best_val_acc
        params = self._state.best_params or self._net.params  # the best validation epoch's, if any
        self.net_ = type(self._net).from_params({k: np.array(v, copy=True) for k, v in params.items()})
