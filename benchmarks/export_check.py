"""How far an exported model's probabilities are from twolayer's own.

    .venv/bin/python benchmarks/export_check.py MODEL --dataset SPEC [--split test] [--n 1000]

Exports MODEL (a run folder or its model.npz) as ONNX and as a PyTorch state
dict, in float32 and float16, into a temporary folder; runs each on n images
of the dataset split (raw pixels, as `twolayer predict` reads them) in
onnxruntime and PyTorch; and prints, per export, the largest absolute
difference from the bundle's own probabilities and the share of images whose
predicted class agrees. Needs the export and bench extras.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import nn

from twolayer.bundles import load_bundle
from twolayer.data import load_dataset
from twolayer.export import INPUT, export
from twolayer.workflow import evaluation_split


def run_onnx(path: Path, rows: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT: rows.astype(np.float32)})[0]


def run_torch(path: Path, rows: np.ndarray) -> np.ndarray:
    state = torch.load(path, weights_only=True)
    d, h = state["0.weight"].shape[1], state["0.weight"].shape[0]
    net = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, state["2.weight"].shape[0]))
    net.load_state_dict({k: v.float() for k, v in state.items()})  # half weights, computed in float32
    with torch.no_grad():
        return torch.softmax(net(torch.from_numpy(rows.astype(np.float32))), dim=1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()

    bundle = load_bundle(args.model)
    images, _, _ = evaluation_split(bundle, load_dataset(args.dataset), args.dataset, args.split)
    images = images[: args.n]
    rows = images.reshape(len(images), -1)
    expected = bundle.probabilities(images)
    print(f"{len(images)} images of {args.dataset} ({args.split}); {bundle.preprocessor.kind} preprocessing, "
          f"network {'-'.join(map(str, bundle.net.sizes))}")
    print("| export | max abs difference | same class |")
    print("| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, runner in (("onnx", run_onnx), ("torch", run_torch)):
            for half in (False, True):
                done = export(args.model, fmt, Path(tmp) / f"model{'.fp16' if half else ''}.{fmt}", float16=half)
                got = runner(done.path, rows)
                same = np.mean(got.argmax(axis=1) == expected.argmax(axis=1))
                print(f"| {fmt} {done.dtype} | {np.abs(got - expected).max():.2e} | {same:.3f} |")


if __name__ == "__main__":
    main()
