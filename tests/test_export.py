"""twolayer export: the preprocessing folded into the first layer, the ONNX
graph run in onnxruntime and the state dict in PyTorch, each against
twolayer's own probabilities on 1,000 images; float16; the refusals."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from twolayer.bundles import Bundle, load_bundle, save_bundle
from twolayer.cli import main
from twolayer.data import load_dataset
from twolayer.data.preprocess import KINDS, Preprocessor
from twolayer.export import INPUT, OUTPUT, export, folded_params
from twolayer.model import TwoLayerNet

N_IMAGES = 1000


def run_onnx(path, images: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT: images.reshape(len(images), -1).astype(np.float32)})[0]


def run_torch(path, images: np.ndarray) -> np.ndarray:
    state = torch.load(path, weights_only=True)
    (h, d), c = state["0.weight"].shape, state["2.weight"].shape[0]
    net = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, c))
    net.load_state_dict({k: v.float() for k, v in state.items()})  # strict: exactly these four tensors
    with torch.no_grad():
        return torch.softmax(net(torch.from_numpy(images.reshape(len(images), -1).astype(np.float32))), 1).numpy()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A trained run on digits, and 1,000 of its raw images."""
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["train", "--epochs", "5", "--out", str(out), "--quiet"]) == 0
    images, _ = load_dataset("digits").splits["train"]
    return out, images[:N_IMAGES]


def color_bundle(tmp_path, kind: str):
    """A bundle of 6 x 5 RGB images with the given preprocessing, its
    weights scaled as a trained net's are: scores of a few units, so that
    probabilities are confident and varied."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(N_IMAGES, 6, 5, 3), dtype=np.uint8)
    pre = Preprocessor.fit(kind, images, 0.1)
    net = TwoLayerNet(90, 16, 4, std=1.0, seed=2, dtype=np.float32)
    net.params["W1"] /= pre.transform(images).std() * np.sqrt(90)  # hidden inputs of about unit scale
    net.params["b1"][...] = rng.normal(0, 0.3, 16)
    net.params["W2"] *= 3
    bundle = Bundle(net, pre, ["cat", "dog", "ship", "truck"], (6, 5, 3), {"preprocess": kind})
    save_bundle(tmp_path / "model.npz", bundle)
    return tmp_path / "model.npz", images


@pytest.mark.parametrize("kind", KINDS)
def test_folding_equals_preprocessing_then_the_layer(kind):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 4, 3, 2), dtype=np.uint8)
    pre = Preprocessor.fit(kind, images, 0.05)
    W, b = rng.normal(size=(24, 7)), rng.normal(size=7)
    W_folded, b_folded = pre.fold_into(W, b)
    rows = images.reshape(50, -1).astype(np.float64)
    np.testing.assert_allclose(rows @ W_folded + b_folded, pre.transform(images) @ W + b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_gives_twolayers_probabilities_on_color_images(tmp_path, kind):
    model, images = color_bundle(tmp_path, kind)
    done = export(model, "onnx")
    expected = load_bundle(model).probabilities(images)
    assert expected.max(axis=1).mean() > 0.6  # confident predictions: a real test of the folding
    got = run_onnx(done.path, images)
    assert got.shape == (N_IMAGES, 4)
    assert np.abs(got - expected).max() < 1e-5


def test_onnx_round_trip_on_a_trained_run(digits_run, tmp_path):
    run, images = digits_run
    out = tmp_path / "digits.onnx"
    assert main(["export", str(run), "--out", str(out)]) == 0
    expected = load_bundle(run).probabilities(images)
    got = run_onnx(out, images)
    assert np.abs(got - expected).max() < 1e-5
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))

    model = onnx.load(out)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == [str(i) for i in range(10)]
    assert json.loads(props["image_shape"]) == [8, 8, 1]
    assert [i.name for i in model.graph.input] == [INPUT] and [o.name for o in model.graph.output] == [OUTPUT]
    assert {n.op_type for n in model.graph.node} == {"Gemm", "Relu", "Softmax"}  # nothing but the network


def test_float16_halves_the_file_within_a_measured_deviation(digits_run, tmp_path, capsys):
    run, images = digits_run
    expected = load_bundle(run).probabilities(images)
    full = export(run, "onnx", tmp_path / "full.onnx")
    half = export(run, "onnx", tmp_path / "half.onnx", float16=True)
    got = run_onnx(half.path, images)
    deviation = np.abs(got - expected).max()
    with capsys.disabled():
        print(f"\nfloat16 ONNX: largest deviation from twolayer's probabilities on {N_IMAGES} digits: "
              f"{deviation:.2e}")
    assert 1e-6 < deviation < 2e-3  # half precision shows, and stays small (measured: 6.9e-4)
    assert np.mean(got.argmax(axis=1) == expected.argmax(axis=1)) > 0.995
    assert half.path.stat().st_size < 0.6 * full.path.stat().st_size
    assert np.abs(run_torch(export(run, "torch", tmp_path / "half.pt", float16=True).path, images)
                  - expected).max() < 2e-3


def test_float16_refuses_a_model_whose_folded_weights_it_cannot_hold(tmp_path, capsys):
    """Images whose blue channel is white but for one pixel's level: its tiny
    std, folded in, makes b1 reach 4.5e5, beyond float16's 65,504; the
    float16 graph gave every probability as NaN."""
    images = np.random.default_rng(1).integers(0, 256, size=(N_IMAGES, 6, 5, 3), dtype=np.uint8)
    images[..., 2] = 255
    images[0, 0, 0, 2] = 254
    net = TwoLayerNet(90, 16, 4, std=1.0, seed=2, dtype=np.float32)
    model = tmp_path / "model.npz"
    save_bundle(model, Bundle(net, Preprocessor.fit("standardize", images), ["cat", "dog", "ship", "truck"],
                              (6, 5, 3), {"preprocess": "standardize"}))
    for fmt in ("onnx", "torch"):
        assert main(["export", str(model), "--format", fmt, "--float16", "--out", str(tmp_path / f"m.{fmt}")]) == 1
        assert capsys.readouterr().err == (
            "twolayer export: error: float16 cannot hold this model's b1, its preprocessing folded in: it reaches "
            "4.47e+05, beyond float16's largest value 65504; export it without --float16\n")
        assert not (tmp_path / f"m.{fmt}").exists()
    assert np.isfinite(run_onnx(export(model, "onnx", tmp_path / "full.onnx").path, images)).all()  # float32 holds it


def test_torch_state_dict_gives_the_same_predictions(digits_run, tmp_path):
    run, images = digits_run
    out = tmp_path / "digits.pt"
    assert main(["export", str(run), "--format", "torch", "--out", str(out)]) == 0
    state = torch.load(out, weights_only=True)
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert state["0.weight"].dtype == torch.float32 and state["0.weight"].shape == (100, 64)
    expected = load_bundle(run).probabilities(images)
    got = run_torch(out, images)
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    assert np.abs(got - expected).max() < 1e-5


def test_torch_round_trip_with_zca(tmp_path):
    model, images = color_bundle(tmp_path, "zca")
    got = run_torch(export(model, "torch").path, images)
    assert np.abs(got - load_bundle(model).probabilities(images)).max() < 1e-5


def test_default_output_sits_beside_the_model(digits_run, tmp_path, capsys):
    run, _ = digits_run
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / "model.npz").write_bytes((run / "model.npz").read_bytes())
    for args, name in ((["--format", "onnx"], "model.onnx"), (["--float16"], "model.fp16.onnx"),
                       (["--format", "torch"], "model.pt")):
        assert main(["export", str(copy), *args]) == 0
        assert (copy / name).is_file()
        said = capsys.readouterr().out
        assert f"wrote {copy / name}" in said
        if name.endswith(".onnx"):  # what to feed the graph, by the name onnxruntime wants
            assert "(onnx opset 17, " in said and "input 'pixels', float32 raw pixel rows (N, 64)" in said


def test_refusals_are_one_line(digits_run, tmp_path, capsys):
    run, _ = digits_run
    out = tmp_path / "model.onnx"
    out.write_text("someone's file")
    assert main(["export", str(run), "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"twolayer export: error: {out} exists; pass --force to overwrite it\n"
    assert out.read_text() == "someone's file"
    assert main(["export", str(run), "--out", str(out), "--force"]) == 0
    onnx.checker.check_model(onnx.load(out))

    with pytest.raises(SystemExit) as e:
        main(["export", str(run), "--format", "tflite"])
    assert e.value.code == 2
    assert "invalid choice: 'tflite' (choose from 'onnx', 'torch')" in capsys.readouterr().err


def test_force_never_replaces_a_fifo_or_device(digits_run, tmp_path, capsys):
    """`--out /dev/null --force`, run as root, put the graph where the device
    was; a FIFO shows the same rename for any user."""
    run, _ = digits_run
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    assert main(["export", str(run), "--out", str(fifo), "--force"]) == 1
    err = capsys.readouterr().err
    assert err == f"twolayer export: error: {fifo}: is a FIFO, not a file; twolayer writes only files\n"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and sorted(tmp_path.iterdir()) == [fifo]


@pytest.mark.parametrize("argv,message", [
    (["--format", "torch", "--out", "m.onnx"], "--out {tmp}/m.onnx is named like an ONNX graph but --format torch "
                                               "writes a PyTorch state dict; give --format onnx"),
    (["--out", "m.pt"], "--out {tmp}/m.pt is named like a PyTorch state dict but --format onnx writes an ONNX "
                        "graph; give --format torch"),
    (["--out", "m.PTH"], "named like a PyTorch state dict"),
    (["--format", "torch", "--out", "m.npz"], "named like a twolayer model bundle but --format torch writes a "
                                              "PyTorch state dict; name it m.pt"),
])
def test_an_output_named_for_another_format_is_refused(digits_run, tmp_path, capsys, argv, message):
    run, _ = digits_run
    argv = [a if a.startswith("--") or a in ("torch", "onnx") else str(tmp_path / a) for a in argv]
    assert main(["export", str(run), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(tmp=tmp_path) in err, err
    assert list(tmp_path.iterdir()) == []


def test_export_never_writes_over_its_own_model(digits_run, tmp_path, capsys):
    run, _ = digits_run
    model = tmp_path / "model.npz"
    shutil.copy(run / "model.npz", model)
    link = tmp_path / "m.onnx"
    link.symlink_to(model)  # an innocent name for the bundle itself
    before = model.read_bytes()
    assert main(["export", str(model), "--out", str(link), "--force"]) == 1
    assert "is the model being exported" in capsys.readouterr().err
    assert model.read_bytes() == before


def test_a_bundle_failing_validation_is_refused(digits_run, tmp_path, capsys):
    run, _ = digits_run
    damaged = tmp_path / "damaged.npz"
    data = bytearray((run / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    inconsistent = tmp_path / "inconsistent.npz"
    bundle = load_bundle(run)
    bundle.class_names = bundle.class_names[:9]  # nine names for ten outputs
    save_bundle(inconsistent, bundle)
    expected = "inconsistent model bundle: param.W2 has 10 columns but there are 9 class names"
    for path, message in ((damaged, "damaged"), (inconsistent, expected)):
        assert main(["export", str(path), "--out", str(tmp_path / "out.onnx")]) == 1
        err = capsys.readouterr().err
        assert err.startswith("twolayer export: error: ") and message in err and err.count("\n") == 1
        assert not (tmp_path / "out.onnx").exists()


def test_an_unfinished_run_says_how_to_finish_it(tmp_path, capsys):
    """An interrupted run holds config.json and checkpoint.npz, no model.npz:
    export said "no model at RUN/model.npz", and of the checkpoint "is not a
    twolayer model bundle (no valid metadata)"."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.npz").write_bytes(b"a checkpoint")
    expected = (f"no model in {run}: the run has not finished (it has a checkpoint.npz, no model.npz); "
                f"finish it with: twolayer train --resume {run}\n")
    for argv in (["export", str(run)], ["export", str(run / "checkpoint.npz")], ["predict", str(run), "x.png"]):
        assert main(argv) == 1
        assert capsys.readouterr().err == f"twolayer {argv[0]}: error: {expected}"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.npz"]
    # a learner's run: its resume names the file (resuming runs its code only when the command names it)
    (run / "config.json").write_text('{"net": "/home/me/my net.py"}')
    assert main(["export", str(run)]) == 1
    assert capsys.readouterr().err.endswith(f"twolayer train --resume {run} --net '/home/me/my net.py'\n")


def test_a_run_training_now_is_said_to_be_training_not_unfinished(tmp_path, capsys):
    """evaluate, export, predict and report of a run that another process is
    training said `the run has not finished ...; finish it with: twolayer
    train --resume RUN`, which that process refused (`in use by another
    twolayer process`). Once the process is gone, the resume command again."""
    import subprocess

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "checkpoint.npz").write_bytes(b"a checkpoint")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from twolayer import runs; "
                               "held = runs.hold(sys.argv[1]); print('held', flush=True); time.sleep(60)", str(run)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        for argv in (["evaluate", str(run)], ["export", str(run)], ["predict", str(run), "x.png"]):
            assert main(argv) == 1
            assert capsys.readouterr().err == (f"twolayer {argv[0]}: error: no model in {run} yet: a twolayer "
                                               "process is training or searching in it now; wait for it to finish\n")
        assert main(["report", str(run)]) == 1
        assert capsys.readouterr().err == (f"twolayer report: error: {run} has no report yet: a twolayer process is "
                                           "training or searching in it now, and writes its report when it finishes\n")
    finally:
        holder.kill()
        holder.wait()
    for argv in (["export", str(run)], ["report", str(run)]):
        assert main(argv) == 1
        assert f"finish it with: twolayer train --resume {run}" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == [".twolayer.lock", "checkpoint.npz", "config.json"]


def test_a_missing_package_is_named(digits_run, tmp_path, monkeypatch, capsys):
    run, _ = digits_run
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx")]) == 1
    assert "needs the onnx package: pip install 'twolayer[export]'" in capsys.readouterr().err


def test_predict_reads_only_the_bundle(digits_run, tmp_path, capsys):
    """Exports beside the model change nothing for predict and evaluate."""
    run, images = digits_run
    from PIL import Image

    Image.fromarray(images[0, :, :, 0]).save(tmp_path / "digit.png")
    assert main(["predict", str(run), str(tmp_path / "digit.png"), "--json"]) == 0
    before = capsys.readouterr().out
    for name in ("model.onnx", "model.pt", "model.fp16.onnx"):
        (run / name).write_bytes(b"not a model")
    try:
        assert main(["predict", str(run), str(tmp_path / "digit.png"), "--json"]) == 0
        assert capsys.readouterr().out == before
        assert main(["evaluate", str(run), "--dataset", "digits", "--json"]) == 0
    finally:
        for name in ("model.onnx", "model.pt", "model.fp16.onnx"):
            (run / name).unlink()


def test_folded_params_are_float32_arrays(digits_run):
    run, _ = digits_run
    params = folded_params(load_bundle(run))
    assert {k: v.dtype for k, v in params.items()} == dict.fromkeys(("W1", "b1", "W2", "b2"), np.float32)


def test_the_checkpoint_of_a_finished_run_is_not_called_unfinished(digits_run, capsys):
    """A finished run keeps its checkpoint.npz (a resume may lengthen it): its
    checkpoint given to export was "the run has not finished (it has a
    checkpoint.npz, no model.npz)", though model.npz was there."""
    run, _ = digits_run
    assert (run / "checkpoint.npz").is_file() and (run / "model.npz").is_file()
    assert main(["export", str(run / "checkpoint.npz")]) == 1
    err = capsys.readouterr().err
    assert err == (f"twolayer export: error: {run / 'checkpoint.npz'} is the run's training state, not its model: "
                   f"give {run} or its model.npz\n")


@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_out_dash_writes_the_model_to_standard_output_and_no_file(digits_run, tmp_path, capfdbinary, monkeypatch,
                                                                    fmt):
    """`export RUN --out -` wrote a file named '-' in the current folder (`report --out -` writes its page to
    standard output); - is standard output, ./- a file, and a terminal there is one line."""
    run, images = digits_run
    monkeypatch.chdir(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    assert main(["export", str(run), "--format", fmt, "--out", "-"]) == 0
    captured = capfdbinary.readouterr()
    (tmp_path / "piped").write_bytes(captured.out)
    expected = load_bundle(run).probabilities(images)
    given = run_onnx(tmp_path / "piped", images) if fmt == "onnx" else run_torch(tmp_path / "piped", images)
    np.testing.assert_allclose(given, expected, atol=1e-5)
    assert captured.err.decode().startswith("wrote standard output (")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["piped"]
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before
    assert main(["export", str(run), "--format", fmt, "--out", "./-"]) == 0 and (tmp_path / "-").stat().st_size
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["export", str(run), "--format", fmt, "--out", "-"]) == 2
    assert capfdbinary.readouterr().err.decode().startswith("twolayer export: error: --out - writes the model's "
                                                            "bytes to standard output, which is a terminal here; ")
