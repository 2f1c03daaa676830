"""Model bundles (no pickle, checksummed) and run folders."""

import json

import numpy as np
import pytest

from twolayer import TwoLayerNet, bundles, files, runs
from twolayer.checkpoint import read_checkpoint
from twolayer.data.preprocess import Preprocessor
from twolayer.errors import BundleError, TwolayerError


@pytest.fixture
def bundle():
    images = np.random.default_rng(0).integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8)
    net = TwoLayerNet(48, 5, 3, seed=0, dtype=np.float32)
    return bundles.Bundle(net, Preprocessor.fit("mean", images), ["a", "b", "c"], (4, 4, 3), {"lr": 0.1})


def test_bundle_round_trip(tmp_path, bundle):
    bundles.save_bundle(tmp_path / "model.npz", bundle)
    loaded = bundles.load_bundle(tmp_path)  # a run folder works as well as the file
    for k, v in bundle.net.params.items():
        np.testing.assert_array_equal(loaded.net.params[k], v)
        assert loaded.net.params[k].dtype == v.dtype
    np.testing.assert_array_equal(loaded.preprocessor.shift, bundle.preprocessor.shift)
    assert loaded.class_names == ["a", "b", "c"] and loaded.image_shape == (4, 4, 3)
    assert loaded.config == {"lr": 0.1}
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


def test_bundle_holds_no_pickles(tmp_path, bundle):
    bundles.save_bundle(tmp_path / "model.npz", bundle)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        for name in npz.files:
            assert npz[name].dtype != object
    assert json.loads(str(np.load(tmp_path / "model.npz")["meta"]))["version"] == bundles.FORMAT_VERSION


def rewrite(path, **replace):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(replace)
    np.savez(path, **arrays)


def test_altered_weights_fail_the_checksum(tmp_path, bundle):
    path = tmp_path / "model.npz"
    bundles.save_bundle(path, bundle)
    rewrite(path, **{"param.W1": bundle.net.params["W1"] + 1})
    with pytest.raises(BundleError, match="damaged or was altered"):
        bundles.load_bundle(path)


def test_truncated_and_foreign_files_are_refused(tmp_path, bundle):
    path = tmp_path / "model.npz"
    bundles.save_bundle(path, bundle)
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="damaged or cut short"):
        bundles.load_bundle(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(BundleError, match="not an .npz archive"):
        bundles.load_bundle(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(BundleError, match="no valid metadata"):
        bundles.load_bundle(tmp_path / "other.npz")
    with pytest.raises(BundleError, match="no model at"):
        bundles.load_bundle(tmp_path / "missing")


def test_a_bundle_or_checkpoint_cut_short_says_so_and_a_later_format_is_named(tmp_path, bundle):
    """A model or checkpoint cut short (a copy or download stopped) was `not a twolayer model bundle
    (BadZipFile: ...)`, as a file of another kind; a later checkpoint format `no valid metadata`."""
    path = tmp_path / "model.npz"
    bundles.save_bundle(path, bundle)
    data = path.read_bytes()
    for length in (10, 100, len(data) // 3, len(data) // 2, len(data) - 22, len(data) - 1):
        (tmp_path / "cut.npz").write_bytes(data[:length])
        with pytest.raises(BundleError, match=r"cut\.npz is damaged or cut short \(a copy or download stopped\?\): it "
                                              r"is not a whole twolayer model bundle \(BadZipFile"):
            bundles.load_bundle(tmp_path / "cut.npz")
    np.savez(tmp_path / "evil.npz", meta=np.array([{"a": 1}], dtype=object))  # no archive fault: another kind
    with pytest.raises(BundleError, match=r"is not a twolayer model bundle \(ValueError: Object arrays"):
        bundles.load_bundle(tmp_path / "evil.npz")
    with np.load(path) as npz:
        meta = json.loads(str(npz["meta"]))
    rewrite(path, meta=np.array(json.dumps({**meta, "format": "twolayer-bundle-2"})))
    with pytest.raises(BundleError, match="of format 'twolayer-bundle-2', which this twolayer does not read "
                                          r"\(it reads twolayer-bundle\): it was written by another twolayer version"):
        bundles.load_bundle(path)
    rewrite(path, meta=np.array(json.dumps({**meta, "format": "twolayer-checkpoint-3"})))
    with pytest.raises(BundleError, match="of format 'twolayer-checkpoint-3', which this twolayer does not read "
                                          r"\(it reads twolayer-checkpoint-2, twolayer-checkpoint\)"):
        read_checkpoint(path)


def test_object_arrays_are_never_unpickled(tmp_path):
    # an npz whose member is a pickled object array: refused, not executed
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array([{"a": 1}], dtype=object))
    with pytest.raises(BundleError):
        bundles.load_bundle(path)


def test_future_version_is_named(tmp_path, bundle):
    path = tmp_path / "model.npz"
    bundles.save_bundle(path, bundle)
    with np.load(path) as npz:
        meta = json.loads(str(npz["meta"]))
    meta["version"] = 99
    rewrite(path, meta=np.array(json.dumps(meta)))
    with pytest.raises(BundleError, match="format version 99"):
        bundles.load_bundle(path)


def test_run_dir_is_never_overwritten_without_force(tmp_path):
    held = runs.claim(tmp_path / "new", "run")  # a new path is fine, and made
    assert held.path.is_dir() and held.made == [tmp_path / "new"]
    held.abandon()
    assert not (tmp_path / "new").exists()  # and given back as it was
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "metrics.json").write_text("{}")
    with pytest.raises(TwolayerError, match="--force"):
        runs.claim(tmp_path / "old", "run")
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["metrics.json"]  # left as it was
    held = runs.claim(tmp_path / "old", "run", force=True)
    assert runs.kind_of(tmp_path / "old") == "empty"  # its files held aside until the new run starts
    held.abandon()  # it never did: they are put back
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["metrics.json"]
    held = runs.claim(tmp_path / "old", "run", force=True)
    held.start()  # it did: they go for good
    held.release()
    assert not any((tmp_path / "old").iterdir())


def test_new_run_dirs_do_not_collide(tmp_path):
    a = runs.new_run_dir(tmp_path, "folder:/x/y").path
    b = runs.new_run_dir(tmp_path, "folder:/x/y").path
    assert a != b and a.is_dir() and b.is_dir()
    assert "/" not in a.name and ":" not in a.name


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    files.write_json(path, {"ok": 1})

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        files.write_json(path, {"ok": 2})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left
