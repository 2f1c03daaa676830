"""Export a model bundle for other runtimes: an ONNX graph, or a PyTorch
state dict for nn.Sequential(nn.Linear, nn.ReLU, nn.Linear).

The bundle's preprocessing (mean, standardize, ZCA or none) is affine, so
it is folded into the first layer (Preprocessor.fold_into): the exported
model takes raw pixel rows, 0..255, each image flattened H x W x C as
`predict` reads it, with no preprocessing step of its own. The ONNX graph
ends in a softmax and gives class probabilities, with the class names in its
metadata; the state dict's network gives scores (softmax them for
probabilities), its outputs in the bundle's class order.

With float16 the weights are stored in half precision (half the file); the
ONNX graph still takes and gives float32, casting at both ends.

The scikit-learn estimator's to_onnx builds the same graph (onnx_graph) on
its rows of features instead of pixels, subtracting the mean from them
first (features far from 0 lost their precision folded into b1).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twolayer import runs
from twolayer.bundles import Bundle, load_bundle, resolve_model_path
from twolayer.config import given_flag
from twolayer.errors import TwolayerError, UsageError
from twolayer.files import refuse_existing, write_making_folders

FORMATS = ("onnx", "torch")
SUFFIXES = {"onnx": ".onnx", "torch": ".pt"}  # the default output's
NAMED_BY = {"onnx": (".onnx",), "torch": (".pt", ".pth"), "bundle": (".npz",)}  # what a suffix says a file holds
NAMES = {"onnx": "an ONNX graph", "torch": "a PyTorch state dict", "bundle": "a twolayer model bundle"}
OPSET = 17  # Gemm, Relu and Softmax over one axis; read by every onnxruntime since 1.11
IR_VERSION = 8  # the file format version that goes with opset 17
INPUT, OUTPUT = "pixels", "probabilities"


@dataclass
class Exported:
    path: Path
    format: str
    dtype: str
    input_size: int
    class_names: list[str]
    image_shape: tuple[int, ...]


def folded_params(bundle: Bundle, dtype: Any = np.float32, remedy: str = "export it without --float16",
                  subtract_shift: bool = False) -> dict[str, np.ndarray]:
    """W1, b1, W2, b2 of a network that takes raw pixel rows (the
    preprocessing folded into W1 and b1), computed in float64, then cast;
    TwolayerError (ending in `remedy`) for weights float16 cannot hold.
    subtract_shift: the preprocessing's shift stays out of b1, as "shift",
    which network_nodes subtracts from the rows first (the estimator's
    features may lie far from 0: folded in, x @ W1 + b1 summed two large
    terms in float32, and X + 1e4 gave probabilities 0.006 off, X + 1e6
    anything)."""
    params, pre = bundle.net.params, bundle.preprocessor
    W1, b1 = pre.fold_into(params["W1"], params["b1"])
    if not subtract_shift:
        return _cast({"W1": W1, "b1": b1, "W2": params["W2"], "b2": params["b2"]}, dtype, remedy)
    # the shift in the rows' type (half would round it as much as the rows), what that rounds off folded into b1
    shift = _cast({"shift": pre.shift}, np.float64 if dtype == np.float64 else np.float32, remedy)["shift"]
    b1 = params["b1"] - (pre.shift.astype(np.float64) - shift) @ W1
    return {**_cast({"W1": W1, "b1": b1, "W2": params["W2"], "b2": params["b2"]}, dtype, remedy), "shift": shift}


def _cast(folded: dict[str, np.ndarray], dtype: Any, remedy: str) -> dict[str, np.ndarray]:
    """The folded weights in `dtype`; TwolayerError for those it cannot hold."""
    largest = float(np.finfo(dtype).max)
    for name, value in folded.items():  # cast, they would be infinite, and every probability NaN
        top = float(np.abs(value).max())
        if top > largest:
            raise TwolayerError(f"{np.dtype(dtype).name} cannot hold this model's {name}, its preprocessing folded "
                                f"in: it reaches {top:.3g}, beyond {np.dtype(dtype).name}'s largest value "
                                f"{largest:.5g}" + (f"; {remedy}" if dtype == np.float16 else ""))
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in folded.items()}


def export(model: str | Path, fmt: str = "onnx", out: str | Path | None = None, force: bool = False,
           float16: bool = False) -> Exported:
    """Write `model` (a run folder or its model.npz) as `fmt`, to `out` or
    beside the bundle (model.onnx, model.fp16.onnx, model.pt, ...). Refused
    in one line: a bundle that fails to load, an unknown format, an output
    that exists (unless force), a missing onnx or torch package."""
    force, float16 = given_flag(force, "force"), given_flag(float16, "float16")
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if out is not None:
        if not str(out).strip():
            raise UsageError("--out needs a file name, e.g. model.onnx")
        check_suffix(Path(out), fmt)
    bundle = load_bundle(model)
    source = resolve_model_path(model)
    if out is None:
        out = source.with_suffix((".fp16" if float16 else "") + SUFFIXES[fmt])
    out = Path(out)
    if _same_file(out, source):
        raise TwolayerError(f"--out {out} is the model being exported; give another path")
    if out.is_dir():
        raise TwolayerError(f"--out {out} is a folder; give a file name in it, e.g. {out / source.stem}"
                            f"{SUFFIXES[fmt]}")
    if not force:
        refuse_existing(out)
    if _same_file(out.parent, source.parent) and runs.in_use(source.parent):
        raise TwolayerError(f"{source.parent} is in use: {runs.IN_USE}, and replaces its {source.name} when it "
                            f"finishes, so {out.name} beside it would be of the model replaced; wait for it, or give "
                            "--out elsewhere")
    dtype = np.float16 if float16 else np.float32
    if fmt == "onnx":
        data = onnx_model(bundle, dtype).SerializeToString()
        write_making_folders(out, lambda f: f.write(data), replace=force)
    else:
        state = torch_state_dict(bundle, dtype)
        torch = _torch()
        write_making_folders(out, lambda f: torch.save(state, f), replace=force)
    return Exported(out, fmt, np.dtype(dtype).name, bundle.net.sizes[0], bundle.class_names, bundle.image_shape)


def check_suffix(out: Path, fmt: str) -> None:
    """UsageError when `out`'s suffix names another format than `fmt` (a
    graph named .pt, a state dict named .onnx, either named .npz like a
    twolayer bundle): a file's name must not say it holds something else."""
    suffix = out.suffix.lower()
    holds = next((f for f, ends in NAMED_BY.items() if suffix in ends), None)
    if holds is not None and holds != fmt:
        fix = f"give --format {holds}" if holds in FORMATS else f"name it {out.stem}{SUFFIXES[fmt]}"
        raise UsageError(f"--out {out} is named like {NAMES[holds]} but --format {fmt} writes {NAMES[fmt]}; {fix}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and a.samefile(b)
    except OSError:
        return False


def onnx_model(bundle: Bundle, dtype: Any = np.float32) -> Any:
    """The bundle's ONNX graph: pixels (N, D) float32 -> probabilities (N, C) float32."""
    return onnx_graph(folded_params(bundle, dtype), INPUT, describe(bundle), {
        "class_names": json.dumps(bundle.class_names),
        "image_shape": json.dumps(list(bundle.image_shape)),
        "input": "raw pixel values 0..255, each image's H x W x C values in one row",
        "preprocess": f"{bundle.preprocessor.kind}, folded into the first layer",
    })


def onnx_graph(params: dict[str, np.ndarray], name: str, doc: str, props: dict[str, str]) -> Any:
    """The checked ONNX graph of a network whose W1 takes the rows as given
    (folded_params): `name` (N, D) float32 -> Gemm -> Relu -> Gemm -> Softmax
    -> probabilities (N, C) float32, whatever the weights' float type."""
    onnx = require("onnx", "export")
    from onnx import TensorProto, helper

    (d, _), (_, c) = params["W1"].shape, params["W2"].shape
    nodes, weights = network_nodes(params, name, OUTPUT)
    graph = helper.make_graph(
        nodes, "twolayer",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", c])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="twolayer",
                              doc_string=doc)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def network_nodes(params: dict[str, np.ndarray], x: str, out: str,
                  unique: Callable[[str], str] = str) -> tuple[list[Any], list[Any]]:
    """The network as ONNX nodes and weights (NodeProto, TensorProto), from
    the rows `x` (N, D) to the probabilities `out` (N, C): Gemm, Relu, Gemm,
    Softmax, in the float type of x and the weights (float32, or float64);
    float16 weights cast x to half and the probabilities back to float32.
    `unique` names the weights and the values between the nodes: the
    standalone graph keeps their names, a larger graph (skl2onnx's) makes
    them unique in it. The one description of the network's graph, for
    onnx_graph and for skl2onnx's converter (sklearn_onnx.py)."""
    from onnx import TensorProto, helper, numpy_helper

    names = {k: unique(k) for k in params}  # W1, b1, W2, b2 (and shift)
    hidden_in, hidden, scores = map(unique, ("hidden_in", "hidden", "scores"))
    half = params["W1"].dtype == np.float16
    rows, probs = (unique(x + "_half"), unique(out + "_half")) if half else (x, out)
    nodes = [
        helper.make_node("Gemm", [rows, names["W1"], names["b1"]], [hidden_in]),  # x @ W1 + b1
        helper.make_node("Relu", [hidden_in], [hidden]),
        helper.make_node("Gemm", [hidden, names["W2"], names["b2"]], [scores]),
        helper.make_node("Softmax", [scores], [probs], axis=1),
    ]
    if half:  # float32 at both ends, so that callers need not know
        nodes.insert(0, helper.make_node("Cast", [x], [rows], to=TensorProto.FLOAT16))
        nodes.append(helper.make_node("Cast", [probs], [out], to=TensorProto.FLOAT))
    if "shift" in params:  # x - shift first, in the rows' own type (folded_params(subtract_shift=True))
        centred = unique(x + "_centred")
        nodes[0].input[0] = centred
        nodes.insert(0, helper.make_node("Sub", [x, names["shift"]], [centred]))
    weights = [numpy_helper.from_array(value, names[k]) for k, value in params.items()]
    return nodes, weights


def torch_state_dict(bundle: Bundle, dtype: Any = np.float32) -> dict[str, Any]:
    """The state dict of nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C));
    nn.Linear keeps its weight as (out, in), the transpose of W."""
    torch = _torch()
    p = folded_params(bundle, dtype)
    arrays = {"0.weight": p["W1"].T, "0.bias": p["b1"], "2.weight": p["W2"].T, "2.bias": p["b2"]}
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def describe(bundle: Bundle) -> str:
    d, h, c = bundle.net.sizes
    shape = " x ".join(str(s) for s in bundle.image_shape)
    return (f"twolayer network {d}-{h}-{c}: raw pixel rows (N, {d}) of {shape} images, 0..255 "
            f"-> probabilities of {c} classes; {bundle.preprocessor.kind} preprocessing folded into the first layer")


def _torch() -> Any:
    return require("torch", "bench")


def require(module: str, extra: str) -> Any:
    """The module, or one line saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TwolayerError(f"this export needs the {module} package: pip install 'twolayer[{extra}]'") from None
