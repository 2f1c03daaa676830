"""Interrupting training and resuming it gives bit-for-bit the same run."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from configs import config
from twolayer import TwoLayerNet, fit, workflow
from twolayer.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from twolayer.cli import main
from twolayer.config import TrainConfig
from twolayer.errors import BundleError, TwolayerError
from twolayer.files import atomic_write_npz
from twolayer.progress import Progress

# digits with batch 50: 28 iterations per epoch; 6 epochs
CONFIG = dict(epochs=6, hidden_size=32, batch_size=50)


def weights(run_dir):
    with np.load(run_dir / "model.npz") as npz:
        return {k: npz[k] for k in npz.files if k.startswith("param.")}


def assert_same_run(a, b):
    wa, wb = weights(a), weights(b)
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])
    assert (a / "history.csv").read_text() == (b / "history.csv").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    workflow.train(TrainConfig(**CONFIG), out, quiet=True)
    return out


def interrupt_at(monkeypatch, iteration):
    """Send this process a real SIGINT when the trainer reports `iteration`."""
    original = Progress.update

    def update(self, done, info=""):
        if done == iteration:
            os.kill(os.getpid(), signal.SIGINT)
        original(self, done, info)

    monkeypatch.setattr(Progress, "update", update)


@pytest.mark.parametrize("iteration", [45, 56])  # mid-epoch, and exactly at an epoch's end
def test_ctrl_c_saves_a_checkpoint_and_resume_is_exact(tmp_path, monkeypatch, reference, iteration, capsys):
    out = tmp_path / "run"
    interrupt_at(monkeypatch, iteration)
    assert main(["train", "--out", str(out), "--epochs", "6", "--hidden-size", "32", "--batch-size", "50",
                 "--quiet"]) == 130
    err = capsys.readouterr().err
    assert f"interrupted at iteration {iteration}" in err and f"twolayer train --resume {out}" in err
    assert (out / CHECKPOINT_FILE).is_file() and not (out / "model.npz").exists()
    _, state = load_checkpoint(out / CHECKPOINT_FILE)
    assert state.iteration == iteration
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)
    # a finished run keeps its last epoch's whole state, to be continued
    assert load_checkpoint(out / CHECKPOINT_FILE)[1].iteration == 168


KILL_AFTER_THIRD_CHECKPOINT = """
import os, signal, sys
from twolayer import workflow
real = workflow.save_checkpoint
count = [0]
def save_then_maybe_die(*args):
    real(*args)
    count[0] += 1
    if count[0] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
workflow.save_checkpoint = save_then_maybe_die
from twolayer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_between_epochs_then_resume_is_exact(tmp_path, reference):
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--epochs", "6", "--hidden-size", "32", "--batch-size", "50", "--quiet"]
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_THIRD_CHECKPOINT, *args], capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists()  # no finished-looking run
    _, state = load_checkpoint(out / CHECKPOINT_FILE)
    assert state.iteration == 3 * 28
    resumed = subprocess.run([sys.executable, "-m", "twolayer", "train", "--resume", str(out), "--quiet"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(out, reference)


def test_sigterm_checkpoints_and_exits_nonzero(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "twolayer", "train", "--out", str(out), "--epochs", "100000",
                             "--quiet"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / CHECKPOINT_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "checkpoint saved. Resume with: twolayer train --resume" in err
    assert "Traceback" not in err
    net, state = load_checkpoint(out / CHECKPOINT_FILE)
    assert state.iteration > 0 and net.params["W1"].shape == (64, 100)


def test_resume_refuses_what_it_cannot_continue(tmp_path, reference):
    with pytest.raises(TwolayerError, match="has finished"):
        workflow.resume(reference)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TwolayerError, match="no checkpoint to resume"):
        workflow.resume(tmp_path / "empty")


def test_damaged_checkpoint_is_refused(tmp_path, monkeypatch):
    out = tmp_path / "run"
    interrupt_at(monkeypatch, 30)
    with pytest.raises(workflow.Interrupted):
        workflow.train(TrainConfig(**CONFIG), out, quiet=True)
    data = bytearray((out / CHECKPOINT_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / CHECKPOINT_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError):
        workflow.resume(out, quiet=True)


def test_checkpoint_from_before_counter_based_noise_is_refused_plainly(tmp_path, monkeypatch):
    out = tmp_path / "run"
    interrupt_at(monkeypatch, 30)
    with pytest.raises(workflow.Interrupted):
        workflow.train(TrainConfig(**CONFIG), out, quiet=True)
    with np.load(out / CHECKPOINT_FILE, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta["noise_rng"] = meta.pop("noise_seed")  # what an older version wrote in its place
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_write_npz(out / CHECKPOINT_FILE, arrays)
    with pytest.raises(BundleError, match="older twolayer .* start the run again with --force"):
        workflow.resume(out, quiet=True)


def test_force_removes_the_old_runs_files_first(tmp_path, reference):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text('{"stale": true}')
    (out / CHECKPOINT_FILE).write_text("stale")
    (out / "report.html").write_text("stale")
    (out / "weights.png").write_text("stale")
    (out / "model.onnx").write_text("stale")  # exports of the old model
    (out / "model.fp16.pt").write_text("stale")
    workflow.train(TrainConfig(epochs=1), out, force=True, quiet=True)  # the library call writes no report
    assert "stale" not in (out / "metrics.json").read_text()
    assert load_checkpoint(out / CHECKPOINT_FILE)[1].iteration == 14  # the new run's own, not the stale file
    assert not (out / "report.html").exists() and not (out / "weights.png").exists()
    assert not (out / "model.onnx").exists() and not (out / "model.fp16.pt").exists()


def test_resume_is_exact_with_momentum_dropout_and_augmentation(tmp_path, monkeypatch):
    """Optimizer state survives a checkpoint, and dropout masks, flips and crops are drawn again exactly."""
    args = ["--epochs", "4", "--hidden-size", "32", "--optimizer", "nesterov", "--dropout-hidden", "0.3",
            "--dropout-input", "0.1", "--flip", "--crop", "1", "--label-smoothing", "0.1", "--schedule", "onecycle",
            "--lr", "0.02", "--std", "0.05", "--preprocess", "standardize", "--quiet"]
    assert main(["train", "--out", str(tmp_path / "whole"), *args]) == 0
    interrupt_at(monkeypatch, 41)
    assert main(["train", "--out", str(tmp_path / "cut"), *args]) == 130
    monkeypatch.undo()
    assert main(["train", "--resume", str(tmp_path / "cut"), "--quiet"]) == 0
    assert_same_run(tmp_path / "cut", tmp_path / "whole")


def test_best_parameters_equal_to_the_weights_are_saved_once(tmp_path, blobs):
    """A checkpoint taken at the best epoch so far leaves out best.*, and loads them equal to the weights."""
    X, y, Xv, yv = blobs
    net = TwoLayerNet(20, 16, 3, std=0.01, seed=0, dtype=np.float32)
    saved = []  # (file, the state's best parameters when saved)

    def save(state):
        path = tmp_path / f"epoch{len(saved)}.npz"
        save_checkpoint(path, net, state)
        saved.append((path, {k: v.copy() for k, v in state.best_params.items()}))

    # a learning rate that ends in a plateau: some epochs are the best so far, others not
    fit(net, X, y, Xv, yv, config(lr=0.3, iters=60, batch_size=50, seed=0, schedule="constant"), on_epoch_end=save)
    kinds = set()
    for path, best in saved:
        with np.load(path) as npz:
            stored = any(name.startswith("best.") for name in npz.files)
        loaded_net, state = load_checkpoint(path)
        kinds.add(stored)
        for key, value in best.items():
            np.testing.assert_array_equal(state.best_params[key], value)
            if not stored:
                np.testing.assert_array_equal(loaded_net.params[key], value)
                assert state.best_params[key] is not loaded_net.params[key]  # a copy, not the same array
    assert kinds == {True, False}


def _run_on_pics(tmp_path, classes, per_class):
    """tmp_path/run: 2 epochs on tmp_path/pics, a folder of random 6 x 6 PNGs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "owl")[:classes]:
        (tmp_path / "pics" / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(tmp_path / "pics" / c / f"{i}.png")
    out = tmp_path / "run"
    argv = ["--dataset", f"folder:{tmp_path / 'pics'}", "--val-size", "6", "--test-size", "6", "--quiet"]
    assert main(["train", *argv, "--epochs", "2", "--out", str(out)]) == 0
    return out


def test_a_run_whose_dataset_folder_moved_resumes_from_the_new_folder(tmp_path):
    """config.json records the data's fingerprint: `dataset` may name the
    folder where the same images now are (it was refused like any edit), and
    data changed since (here one image, in place) is refused."""
    from PIL import Image

    out = _run_on_pics(tmp_path, 3, 20)
    record = json.loads((out / "config.json").read_text())
    assert len(record["data_sha256"]) == 64
    (tmp_path / "pics").rename(tmp_path / "moved")
    (out / "config.json").write_text(json.dumps({**record, "dataset": f"folder:{tmp_path / 'moved'}"}))
    assert main(["train", "--resume", str(out), "--epochs", "3"]) == 0
    assert json.loads((out / "metrics.json").read_text())["iterations"] == 3 * (48 // 200 or 1)
    assert json.loads((out / "config.json").read_text())["data_sha256"] == record["data_sha256"]  # kept
    # an image changed since: refused, the checkpoint untouched
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(tmp_path / "moved" / "cat" / "0.png")
    before = (out / CHECKPOINT_FILE).read_bytes()
    with pytest.raises(TwolayerError, match="is not the data the run was trained on: its images or labels differ"):
        workflow.resume(out, quiet=True, length={"epochs": 4})
    assert (out / CHECKPOINT_FILE).read_bytes() == before


def test_a_run_or_model_from_before_todays_decoding_of_its_folder_says_so(tmp_path, capsys):
    """A run of 9f11bf2's twolayer on a folder of transparent PNGs (decoded
    since on white) recorded a fingerprint today's decoding cannot give: its
    resume said `is not the data the run was trained on` and its evaluate
    scored all the images as `not the data this model was trained on`, of
    the very folder it was trained on. Runs and models record the decoding
    now (data_decoding); one from before it says what may have changed."""
    from twolayer import bundles
    from twolayer.data.fingerprint import DECODING

    out = _run_on_pics(tmp_path, 2, 15)
    record = json.loads((out / "config.json").read_text())
    assert record["data_decoding"] == DECODING and bundles.load_bundle(out).data_decoding == DECODING
    # as the earlier twolayer left them: no decoding recorded, a fingerprint of the images it decoded
    old = {k: v for k, v in record.items() if k != "data_decoding"} | {"data_sha256": "0" * 64}
    (out / "config.json").write_text(json.dumps(old))
    bundle = bundles.load_bundle(out)
    bundle.data_decoding, bundle.data_fingerprint = None, "0" * 64
    bundles.save_bundle(out / "model.npz", bundle)

    before = (out / CHECKPOINT_FILE).read_bytes()
    with pytest.raises(TwolayerError) as caught:
        workflow.resume(out, quiet=True, length={"epochs": 3})
    said = str(caught.value)
    assert "no longer gives the images the run was trained on: the run was made by an earlier twolayer" in said
    assert "cannot continue the run exactly" in said and "not the data" not in said
    assert (out / CHECKPOINT_FILE).read_bytes() == before
    result = workflow.evaluate(out)
    assert result["whole"] and "not the data" not in result["note"]
    assert "no longer gives the data this model was trained on" in result["note"]
    assert "the model was made by an earlier twolayer" in result["note"]
    # with today's decoding recorded, a fingerprint that differs is data that changed
    (out / "config.json").write_text(json.dumps(old | {"data_decoding": DECODING}))
    with pytest.raises(TwolayerError, match="is not the data the run was trained on: its images or labels differ"):
        workflow.resume(out, quiet=True, length={"epochs": 3})


def test_resuming_a_run_folder_that_cannot_be_written_names_the_folder(tmp_path, monkeypatch, capsys):
    """On a read-only disk it said `RUN/.twolayer.lock: Read-only file system`,
    naming a file the user never made."""
    import errno

    from twolayer import runs

    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 0

    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(runs, "open", read_only, raising=False)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--epochs", "2"]) == 1
    err = capsys.readouterr().err
    assert err == (f"twolayer train: error: --resume {out}: cannot write in it (Read-only file system); twolayer "
                   "keeps its files there: make it writable, or copy it where you can write\n"), err


def test_a_decoding_recorded_by_a_newer_twolayer_is_said_to_be_newer():
    """A run or model made by a later twolayer (a higher data_decoding) was
    said to be made `by an earlier twolayer`."""
    from twolayer.data.fingerprint import DECODING, decoded_otherwise

    assert decoded_otherwise("folder:x", DECODING, "the run") is None
    assert "by a newer twolayer" in decoded_otherwise("folder:x", DECODING + 1, "the run")
    assert "by an earlier twolayer" in decoded_otherwise("folder:x", None, "the run")
    assert decoded_otherwise("digits", None, "the run") is None


def test_ctrl_c_inside_the_update_stops_fit_after_the_step_so_it_continues_exactly(monkeypatch):
    """A Ctrl-C that landed inside the update (after W1's kernel, before
    W2's) left W1 stepped, W2 not and the state a step behind, so
    fit(..., state=state) stepped W1 twice; now fit stops at the end of the
    step under way and continues to the weights of a run never stopped."""
    import twolayer.optim
    from twolayer.trainer import new_state

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 256)).astype(np.float32), np.arange(200) % 3  # W1 large enough for the kernel
    options = TrainConfig(iters=12, batch_size=20, optimizer="nesterov", momentum=0.9, lr=0.05, reg=1e-3)
    whole = TwoLayerNet(256, 256, 3, std=0.01, seed=0)
    fit(whole, X, y, config=options, state=new_state(200, options))

    original, calls = twolayer.optim.fused_update, []

    def interrupting(name, p, *arrays):
        kernel = original(name, p, *arrays)
        if kernel is None:  # W2 and the biases: too small for a kernel, the reference step
            return None

        def run(*args):
            total = kernel(*args)
            calls.append(p.shape)
            if len(calls) == 6:  # iteration 6's W1 updated, its W2 not yet
                os.kill(os.getpid(), signal.SIGINT)
            return total
        return run

    net, state = TwoLayerNet(256, 256, 3, std=0.01, seed=0), new_state(200, options)
    monkeypatch.setattr(twolayer.optim, "fused_update", interrupting)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt, match="stopped after iteration 6 of 12"):
        fit(net, X, y, config=options, state=state)
    assert state.iteration == 6 and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.setattr(twolayer.optim, "fused_update", original)
    fit(net, X, y, config=options, state=state)
    for name in whole.params:
        np.testing.assert_array_equal(net.params[name], whole.params[name])


@pytest.mark.parametrize("handler", [signal.SIG_DFL, lambda signum, frame: None])
def test_fit_leaves_a_ctrl_c_handler_the_program_set_in_place(handler):
    """fit's stop at the end of a step is for Python's own Ctrl-C handler
    only: a program (or one embedding Python) that put SIGINT at SIG_DFL, to
    end at once, had it taken over for the fit, then put back."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 8)).astype(np.float32), np.arange(40) % 2
    seen = []
    previous = signal.signal(signal.SIGINT, handler)
    try:
        fit(TwoLayerNet(8, 4, 2, seed=0), X, y, config=TrainConfig(iters=2, batch_size=20),
            on_iteration=lambda *args: seen.append(signal.getsignal(signal.SIGINT)))
        assert seen == [handler, handler] and signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_interrupt_in_a_notebook_names_the_python_call_to_resume(monkeypatch, tmp_path):
    """In Jupyter the interrupt's message named only the shell's `twolayer train --resume RUN`, where the
    notebook's user continues with twolayer.resume(RUN)."""
    import signal

    from twolayer import workflow

    run = tmp_path / "long"
    monkeypatch.setattr(workflow, "in_notebook", lambda: False)
    assert str(workflow.Interrupted(run, 5, signal.SIGINT)).endswith(f"Resume with: twolayer train --resume {run}")
    monkeypatch.setattr(workflow, "in_notebook", lambda: True)
    assert str(workflow.Interrupted(run, 5, signal.SIGINT)).endswith(
        f"Resume with: twolayer train --resume {run} (here: twolayer.resume({str(run)!r}))")


def test_costly_checkpoints_are_spaced_out_but_the_last_epoch_is_always_saved(tmp_path, monkeypatch, reference):
    # a wide network's checkpoint (300 MB at hidden 8,192: about a second) written after each of a GPU's short
    # epochs took more of the gpu recipe's time than its training; spaced out, the run is the same
    saved = []
    write = workflow.save_checkpoint

    def slow_write(path, net, state, config=None):
        saved.append(state.iteration)
        write(path, net, state, config)
        time.sleep(0.05)

    monkeypatch.setattr(workflow, "save_checkpoint", slow_write)
    monkeypatch.setattr(workflow, "LARGE_CHECKPOINT", 1000)  # this run's, of a few kB, stands for a large one
    monkeypatch.setattr(workflow, "CHECKPOINT_SPACING", 1000)
    out = tmp_path / "run"
    workflow.train(TrainConfig(**CONFIG), out, quiet=True)
    assert saved == [28, 6 * 28]  # the first epoch's (its cost not known yet), then the last one's
    assert load_checkpoint(out / CHECKPOINT_FILE)[1].iteration == 6 * 28  # the finished run can be continued
    assert_same_run(out, reference)

    saved.clear()  # a run stopped by its patience saves its last epoch too
    workflow.train(TrainConfig(**{**CONFIG, "epochs": 60, "patience": 1, "lr": 1e-6}), tmp_path / "p", quiet=True)
    assert len(saved) == 2 and saved[-1] < 60 * 28  # stopped early, after the first epoch
    assert load_checkpoint(tmp_path / "p" / CHECKPOINT_FILE)[1].iteration == saved[-1]


def test_a_first_ctrl_c_whose_step_does_not_end_says_what_it_waits_for(monkeypatch, capsys):
    # a learner's loss in an endless loop: the first Ctrl-C only asks the step to end, and nothing said so
    from twolayer import signals

    monkeypatch.setattr(signals, "WAIT_NOTE", 0.05)
    with signals.StopOnSignal((signal.SIGINT,)) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        while stop.waiting is None or stop.waiting.is_alive():  # the step under way, going on
            time.sleep(0.01)
        with pytest.raises(signals.Signalled):  # the second stops at once
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert capsys.readouterr().err == ("twolayer: interrupted; stopping once the step under way ends (Ctrl-C again "
                                       "stops at once, losing that step)\n")
    monkeypatch.setattr(signals, "WAIT_NOTE", 0.5)
    with signals.StopOnSignal((signal.SIGINT,)) as stop:  # a step that ends in time says nothing
        os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.7)
    assert stop.signum == signal.SIGINT and capsys.readouterr().err == ""
