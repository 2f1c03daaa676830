"""TwoLayerClassifier in skl2onnx: its parser, shape calculator and
converter, so that skl2onnx.to_onnx converts a whole Pipeline holding it.
register() (twolayer.sklearn.register_skl2onnx) hands them to skl2onnx.

The network's nodes are export.py's (network_nodes), the weights those of
the estimator's own to_onnx (its preprocessing's mean subtracted, its
scale folded into the first layer); the converter adds what skl2onnx's classifiers give: the label,
the most probable class of classes_ (ArgMax, Gather), beside the
probabilities, which skl2onnx's parser turns into a ZipMap unless
zipmap=False. Its options are those of skl2onnx's own classifiers: zipmap
(True, False, "columns"), nocl (the label is the class's index) and
output_class_labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto, helper
from skl2onnx import update_registered_converter
from skl2onnx._parse import _parse_sklearn_classifier  # the parser of skl2onnx's classifiers: zipmap and its kin
from skl2onnx.common.data_types import (
    BooleanTensorType,
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types
from sklearn.utils.validation import check_is_fitted

from twolayer.export import network_nodes
from twolayer.sklearn import TwoLayerClassifier

ALIAS = "TwolayerTwoLayerClassifier"
OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [False, True], "output_class_labels": [False, True]}
INPUT_TYPES = [FloatTensorType, DoubleTensorType, Int64TensorType, BooleanTensorType]  # as its linear classifiers


def register() -> None:
    """Hand skl2onnx the parser, shape calculator and converter of
    TwoLayerClassifier (again: the last registration wins)."""
    update_registered_converter(TwoLayerClassifier, ALIAS, shapes, convert, parser=parse, options=OPTIONS)


def labels(model: TwoLayerClassifier, scope: Any) -> np.ndarray:
    """classes_ as the ONNX label holds them: int64 (integers, booleans,
    floats of whole values, as skl2onnx's classifiers give them) or str;
    with the nocl option their indices. ValueError for others, which the
    label cannot hold."""
    classes = model.classes_
    if scope.get_options(model, {"nocl": False})["nocl"]:
        return np.arange(len(classes), dtype=np.int64)
    values = classes.tolist()
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=object)
    numbers = classes.dtype.kind in "iub" or classes.dtype.kind == "f" and np.all(classes == np.round(classes))
    if numbers and np.all(np.abs(classes.astype(np.float64)) < 2.0**63):
        return classes.astype(np.int64)
    shown = f"{values[:3]}"[:-1] + (", ...]" if len(values) > 3 else "]")
    raise ValueError(f"skl2onnx cannot convert TwoLayerClassifier's classes_ {shown} ({classes.dtype}): an ONNX "
                     "label is an integer or text, in an array of its type; fit on such labels (np.asarray(y, "
                     "dtype=np.int64) or np.asarray(y, dtype=str)), or convert with options={TwoLayerClassifier: "
                     "{'nocl': True}}, whose labels are the classes' indices 0..C-1")


def parse(scope: Any, model: TwoLayerClassifier, inputs: list, custom_parsers: Any = None) -> list:
    """skl2onnx's parser of classifiers, after the checks that it would
    otherwise fail deep inside: a fitted estimator (it said "No known ways
    to retrieve the number of classes") whose labels ONNX can hold."""
    check_is_fitted(model)
    labels(model, scope)
    return _parse_sklearn_classifier(scope, model, inputs, custom_parsers=custom_parsers)


def shapes(operator: Any) -> None:
    """The label (N,) int64 or text, and the probabilities (N, C): float64
    for float64 rows, unless they go into a ZipMap (zipmap=True, the
    default), whose map holds float32 (skl2onnx's own classifiers gave a
    graph onnxruntime refuses); else float32."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    check_input_and_output_types(operator, good_input_types=INPUT_TYPES)
    model, rows, scope = operator.raw_operator, operator.inputs[0], operator.scope_inst
    width = rows.get_second_dimension()
    if width is not None and width != model.n_features_in_:  # as predict says it
        raise ValueError(f"X has {width} features, but TwoLayerClassifier is expecting {model.n_features_in_} "
                         "features as input.")
    zipmap = scope.get_options(model, {"zipmap": True})["zipmap"]
    double = isinstance(rows.type, DoubleTensorType) and (zipmap is False or zipmap == "columns")
    n, c = rows.get_first_dimension(), len(model.classes_)
    operator.outputs[0].set_type((StringTensorType if labels(model, scope).dtype == object else Int64TensorType)([n]))
    operator.outputs[1].set_type((DoubleTensorType if double else FloatTensorType)([n, c]))


def convert(scope: Any, operator: Any, container: Any) -> None:
    """rows -> network_nodes -> probabilities, computed in float64 for
    float64 rows (cast to float32 for a ZipMap), else in float32;
    ArgMax -> Gather(labels) -> label."""
    model, rows = operator.raw_operator, operator.inputs[0]
    label, probabilities = (output.full_name for output in operator.outputs)
    double = isinstance(rows.type, DoubleTensorType)
    x, probs = rows.full_name, probabilities
    if not isinstance(rows.type, (FloatTensorType, DoubleTensorType)):  # integers or booleans
        x = scope.get_unique_variable_name("rows")
        _add(scope, container, helper.make_node("Cast", [rows.full_name], [x], to=TensorProto.FLOAT))
    if double and not isinstance(operator.outputs[1].type, DoubleTensorType):
        probs = scope.get_unique_variable_name("probabilities64")
    nodes, weights = network_nodes(model._folded_params(np.float64 if double else np.float32), x, probs,
                                   scope.get_unique_variable_name)
    for weight in weights:
        container.add_initializer(weight.name, weight.data_type, list(weight.dims), weight)
    for node in nodes:
        _add(scope, container, node)
    if probs != probabilities:
        _add(scope, container, helper.make_node("Cast", [probs], [probabilities], to=TensorProto.FLOAT))

    index, classes = scope.get_unique_variable_name("index"), scope.get_unique_variable_name("classes")
    values = labels(model, scope)
    if values.dtype == object:
        container.add_initializer(classes, TensorProto.STRING, [len(values)], [v.encode("utf-8") for v in values])
    else:
        container.add_initializer(classes, TensorProto.INT64, [len(values)], values.tolist())
    _add(scope, container, helper.make_node("ArgMax", [probs], [index], axis=1, keepdims=0))
    _add(scope, container, helper.make_node("Gather", [classes, index], [label], axis=0))


def _add(scope: Any, container: Any, node: Any) -> None:
    """A node made with onnx's helper, added to skl2onnx's graph under a unique name."""
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    container.add_node(node.op_type, list(node.input), list(node.output),
                       name=scope.get_unique_operator_name(node.op_type), **attributes)
