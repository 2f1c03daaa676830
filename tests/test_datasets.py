"""Every on-disk format, on small files the tests write; the real data when present."""

import gzip
import hashlib
import http.server
import os
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twolayer.data import cifar10, idx, load_dataset
from twolayer.data.download import fetch
from twolayer.errors import DataError

SHARED_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


# -- CIFAR-10 python batches ----------------------------------------------------


def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    # the official files are Python 2 pickles of dicts with bytes keys
    return pickle.dumps({b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"a.png"] * n},
                        protocol=2)


def write_cifar_folder(root: Path) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(cifar_batch(4, i))
    (folder / "test_batch").write_bytes(cifar_batch(3, 9))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [n.encode() for n in cifar10.CLASS_NAMES]}))
    return folder


def test_cifar10_folder_is_read_with_channels_last(private_data_dir):
    folder = write_cifar_folder(private_data_dir)
    ds = load_dataset("cifar10")
    images, labels = ds.splits["train"]
    assert images.shape == (20, 32, 32, 3) and len(labels) == 20
    assert ds.splits["test"][0].shape == (3, 32, 32, 3)
    raw = pickle.loads((folder / "data_batch_1").read_bytes(), encoding="bytes")[b"data"]
    # row layout: 1024 red values, 1024 green, 1024 blue, each row-major 32x32
    assert images[0, 0, 1, 0] == raw[0, 1] and images[0, 0, 0, 1] == raw[0, 1024]
    assert images[0, 31, 31, 2] == raw[0, 3071]


def test_cifar10_archive_is_read_in_place(private_data_dir, tmp_path):
    folder = write_cifar_folder(tmp_path / "src")
    private_data_dir.mkdir(parents=True)
    with tarfile.open(private_data_dir / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    ds = load_dataset("cifar10")
    assert ds.splits["train"][0].shape == (20, 32, 32, 3)
    assert not (private_data_dir / "cifar-10-batches-py").exists()  # nothing extracted


class Evil:
    """Unpickling this would create a file, if anything executed it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_crafted_pickle_is_refused_and_never_runs(private_data_dir, tmp_path):
    folder = write_cifar_folder(private_data_dir)
    target = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil(str(target))}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3: refused to load (builtins|io)\.open"):
        load_dataset("cifar10")
    assert not target.exists()


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[: len(b) // 2], "data_batch_2 is not a readable CIFAR-10 batch"),
    (lambda b: pickle.dumps([1, 2, 3]), "data_batch_2 is not a CIFAR-10 batch"),
    (lambda b: pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}), r"\(N, 3072\)"),
    (lambda b: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}), "labels must be in 0..9"),
])
def test_broken_cifar_batches_name_the_file(private_data_dir, damage, message):
    folder = write_cifar_folder(private_data_dir)
    path = folder / "data_batch_2"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message):
        load_dataset("cifar10")


# -- downloads, against a local HTTP server ------------------------------------------


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_cifar10_is_downloaded_checked_and_read(private_data_dir, tmp_path, http_root, monkeypatch):
    root, url = http_root
    folder = write_cifar_folder(tmp_path / "src")
    with tarfile.open(root / "c.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    monkeypatch.setattr(cifar10, "URL", url + "c.tar.gz")
    monkeypatch.setattr(cifar10, "MD5", hashlib.md5((root / "c.tar.gz").read_bytes()).hexdigest())
    ds = load_dataset("cifar10")
    assert ds.splits["test"][0].shape == (3, 32, 32, 3)
    assert (private_data_dir / "cifar-10-python.tar.gz").is_file()


def test_corrupt_download_is_not_kept(tmp_path, http_root):
    root, url = http_root
    (root / "f.bin").write_bytes(b"x" * 1000)
    dest = tmp_path / "dl" / "f.bin"
    with pytest.raises(DataError, match="corrupt"):
        fetch(url + "f.bin", dest, md5="0" * 32, quiet=True)
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []
    fetch(url + "f.bin", dest, md5=hashlib.md5(b"x" * 1000).hexdigest(), quiet=True)
    assert dest.read_bytes() == b"x" * 1000


def test_missing_cifar10_says_where_it_looked(private_data_dir, http_root, monkeypatch):
    _, url = http_root
    monkeypatch.setattr(cifar10, "URL", url + "absent.tar.gz")
    with pytest.raises(DataError, match="looked for .*cifar-10-batches-py and .*cifar-10-python.tar.gz"):
        load_dataset("cifar10")


# -- IDX (MNIST, Fashion-MNIST) -----------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, n_train=6, n_test=4, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=n_test),
    }
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_files_are_read(private_data_dir, gz):
    arrays = write_mnist(private_data_dir / "mnist", gz=gz)
    ds = load_dataset("mnist")
    assert ds.splits["train"][0].shape == (6, 28, 28, 1) and ds.splits["test"][0].shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(ds.splits["train"][0][..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.splits["test"][1], arrays["t10k-labels-idx1-ubyte"])


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[:-5], "truncated or padded"),
    (lambda b: b"\x01\x02" + b[2:], "bad magic number"),
    (lambda b: b[:2] + b"\x0d" + b[3:], "unsupported IDX type 0x0d"),
    (lambda b: b[:3] + b"\x02" + b[4:], "expected 3 dimensions"),
    (lambda b: b[:6], "incomplete header"),
])
def test_broken_idx_files_name_the_file(private_data_dir, damage, message):
    write_mnist(private_data_dir / "mnist", gz=False)
    path = private_data_dir / "mnist" / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=f"train-images-idx3-ubyte.*{message}|{message}"):
        load_dataset("mnist")


def test_mnist_download_from_a_mirror(private_data_dir, http_root, monkeypatch, tmp_path):
    root, url = http_root
    write_mnist(root)
    md5 = {key: hashlib.md5((root / (base + ".gz")).read_bytes()).hexdigest() for key, base in idx.FILES.items()}
    monkeypatch.setitem(idx.SOURCES, "mnist", {**idx.SOURCES["mnist"], "url": url, "md5": md5})
    assert load_dataset("mnist").splits["train"][0].shape == (6, 28, 28, 1)
    assert (private_data_dir / "mnist" / "train-images-idx3-ubyte.gz").is_file()


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist (installed by .ci/run)")
def test_real_fashion_mnist_from_debian():
    ds = load_dataset("fashion-mnist")
    assert ds.splits["train"][0].shape == (60000, 28, 28, 1)
    assert ds.splits["test"][0].shape == (10000, 28, 28, 1)
    assert np.bincount(ds.splits["test"][1]).tolist() == [1000] * 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


# -- image folders ---------------------------------------------------------------------


def write_folder(root: Path, classes=("cat", "dog"), n=3, size=(6, 5), mode="RGB", fmt="png"):
    rng = np.random.default_rng(len(str(root)))
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(root / name / f"{i}.{fmt}")


def test_flat_folder_is_one_split(tmp_path):
    write_folder(tmp_path / "pics")
    ds = load_dataset(f"folder:{tmp_path / 'pics'}")
    assert ds.class_names == ["cat", "dog"]
    images, labels = ds.splits["train"]
    assert images.shape == (6, 5, 6, 3) and labels.tolist() == [0, 0, 0, 1, 1, 1]
    expected = np.asarray(Image.open(tmp_path / "pics" / "dog" / "1.png"))
    np.testing.assert_array_equal(images[4], expected)


def test_train_and_test_subfolders_are_splits_and_grayscale_is_one_channel(tmp_path):
    write_folder(tmp_path / "d" / "train", n=4, mode="L")
    write_folder(tmp_path / "d" / "test", n=2, mode="L")
    ds = load_dataset(f"folder:{tmp_path / 'd'}")
    assert set(ds.splits) == {"train", "test"}
    assert ds.splits["train"][0].shape == (8, 5, 6, 1) and ds.splits["test"][0].shape == (4, 5, 6, 1)


def test_decoded_arrays_are_cached_and_refreshed_when_the_folder_changes(tmp_path, private_data_dir, capsys):
    folder = tmp_path / "pics"
    write_folder(folder)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    first = load_dataset(f"folder:{folder}")
    caches = list((private_data_dir / "cache").glob("folder-*.npz"))
    assert len(caches) == 1
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # nothing written into PATH
    again = load_dataset(f"folder:{folder}")
    np.testing.assert_array_equal(again.splits["train"][0], first.splits["train"][0])
    # a changed image gives a new key, so the folder is read again
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(folder / "cat" / "0.png")
    os.utime(folder / "cat" / "0.png", ns=(1, 1))
    other = tmp_path / "other"
    write_folder(other)
    load_dataset(f"folder:{other}")
    legacy = private_data_dir / "cache" / "folder-0123456789abcdef01234567.npz"  # as earlier versions named them
    legacy.write_bytes(b"")
    changed = load_dataset(f"folder:{folder}")
    assert not changed.splits["train"][0][0].any()
    # one file per folder: the folder's earlier contents and the old-style file are gone, the other folder's kept
    assert len(list((private_data_dir / "cache").glob("folder-*.npz"))) == 2 and not legacy.exists()
    capsys.readouterr()
    load_dataset(f"folder:{other}", quiet=False)
    shown = capsys.readouterr()
    assert "decode" not in shown.out + shown.err  # read from its cache


@pytest.mark.parametrize("make,message", [
    (lambda p: (p / "a" / "empty").mkdir(parents=True), "class folder .*empty holds no images"),
    (lambda p: (p / "a" / "cat" / "9.png").write_bytes(b"\x89PNG broken"), r"cannot read image .*cat/9.png"),
])
def test_broken_folders_are_reported_plainly(tmp_path, make, message):
    write_folder(tmp_path / "a")
    make(tmp_path)
    with pytest.raises(DataError, match=message):
        load_dataset(f"folder:{tmp_path / 'a'}")


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no image folder at"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no class folders"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


@pytest.mark.skipif(not SHARED_CIFAR.is_dir(), reason="needs ../shared/data/cifar10-jpeg")
def test_real_cifar10_jpeg_folder():
    ds = load_dataset(f"folder:{SHARED_CIFAR}")
    images, labels = ds.splits["train"]
    assert images.shape == (50000, 32, 32, 3)
    assert np.bincount(labels).tolist() == [5000] * 10
    assert ds.class_names == cifar10.CLASS_NAMES
    # the README's channel means: 125.27 / 122.93 / 113.86
    means = images.reshape(-1, 3).mean(axis=0, dtype=np.float64)
    np.testing.assert_allclose(means, [125.27, 122.93, 113.86], atol=0.01)


def test_two_downloads_of_one_file_at_once_both_succeed(tmp_path, http_root):
    """Each download writes a partial file of its own (a shared NAME.part was
    truncated and deleted under the other run, which then failed); a
    refused download leaves no partial file that could be taken as whole."""
    import threading

    root, url = http_root
    payload = os.urandom(3 << 20)
    (root / "big.bin").write_bytes(payload)
    dest = tmp_path / "dl" / "big.bin"
    errors = []

    def get():
        try:
            fetch(url + "big.bin", dest, md5=hashlib.md5(payload).hexdigest(), quiet=True)
        except Exception as e:  # noqa: BLE001 -- collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=get) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and dest.read_bytes() == payload
    assert sorted(p.name for p in dest.parent.iterdir()) == ["big.bin"]


def test_a_killed_downloads_partial_file_is_removed_by_the_next_download(tmp_path, http_root):
    """kill -9 mid-download left its .NAME.XXXX.part behind for good (170 MB
    for CIFAR-10). The next download of the file removes partial files that no
    live download holds locked and that are not fresh; a running download's
    file and a just-created one are left alone."""
    import signal
    import subprocess
    import sys
    import time

    root, url = http_root
    payload = os.urandom(1 << 16)
    (root / "big.bin").write_bytes(payload)
    folder = tmp_path / "dl"
    folder.mkdir()
    killed, running, fresh = (folder / f".big.bin.{tag}.part" for tag in ("killed1", "running1", "fresh1"))
    holder = ("import fcntl, sys, time\n"
              "f = open(sys.argv[1], 'ab'); fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)")
    procs = {}
    for path in (killed, running):
        procs[path] = subprocess.Popen([sys.executable, "-c", holder, str(path)], stdout=subprocess.PIPE, text=True)
        assert procs[path].stdout.readline() == "locked\n"
    procs[killed].send_signal(signal.SIGKILL)  # its lock dies with it
    procs[killed].wait()
    fresh.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    for path in (killed, running):
        os.utime(path, (an_hour_ago, an_hour_ago))
    try:
        fetch(url + "big.bin", folder / "big.bin", md5=hashlib.md5(payload).hexdigest(), quiet=True)
    finally:
        procs[running].kill()
        procs[running].wait()
    assert (folder / "big.bin").read_bytes() == payload
    assert not killed.exists() and running.exists() and fresh.exists()


def test_a_download_into_a_full_or_read_only_data_directory_is_one_line_naming_it(tmp_path, http_root, monkeypatch):
    """A read-only data directory was an OSError naming the random temporary
    file (`.f.bin.sgpitkjf.part: Read-only file system`); a full one said
    `[Errno 28] ...` without the folder. Nothing partial is left."""
    import errno

    from twolayer.data import download

    root, url = http_root
    (root / "f.bin").write_bytes(b"x" * 1000)
    dest = tmp_path / "dl" / "f.bin"
    real = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download.os, "fdopen", lambda *a, **k: Full(real(*a, **k)))
    with pytest.raises(DataError, match=f"to {dest}: No space left on device; free some space there or give "
                                        "another --data-dir"):
        fetch(url + "f.bin", dest, "0" * 32)
    assert not dest.parent.exists()  # nothing partial, nor the folder made for it
    monkeypatch.undo()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(dest.parent / ".f.bin.abcd1234.part"))

    monkeypatch.setattr(download, "new_temporary", read_only)
    with pytest.raises(DataError, match=f"to {dest}: Read-only file system; make it writable there"):
        fetch(url + "f.bin", dest, "0" * 32)
