"""Readers on hostile input: every fault is one DataError line naming the file.

IDX headers whose dimensions overflow or disagree with the data, labels that
are not integers or not below the number of classes, CIFAR-10 batch fields
of the wrong type or shape, decompression bombs, folders without train/,
splits of different image sizes, and decode caches that are well-formed
archives holding the wrong arrays.

Every test here is listed in TESTING.md."""

import gzip
import os
import pickle
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from test_datasets import write_folder
from twolayer import TwoLayerNet, bundles, workflow
from twolayer.data import Dataset, cifar10, load_dataset, validate
from twolayer.data.cifar10 import batch_arrays
from twolayer.data.idx import parse_idx
from twolayer.data.images import read_image
from twolayer.data.preprocess import Preprocessor
from twolayer.data.splits import carve
from twolayer.errors import BundleError, DataError

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("TWOLAYER_REFRESH_CACHE", raising=False)
    return tmp_path / "data"


def one_line_naming(error: pytest.ExceptionInfo, name) -> bool:
    message = str(error.value)
    return "\n" not in message and str(name) in message


# -- IDX -------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, dims=None, type_byte=0x08) -> bytes:
    dims = array.shape if dims is None else dims
    return bytes([0, 0, type_byte, len(dims)]) + np.array(dims, dtype=">u4").tobytes() + array.tobytes()


def write_mnist(folder: Path, **replace: bytes) -> dict[str, Path]:
    """Good MNIST files (6 train, 4 test, 28x28), some replaced by raw bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)),
        "train-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, size=6, dtype=np.uint8)),
        "t10k-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)),
        "t10k-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, size=4, dtype=np.uint8)),
    }
    files.update(replace)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


U32 = 2**32 - 1


@pytest.mark.parametrize("dims", [
    (2**31, 2**31, 4),  # 2**64 bytes: NumPy's int64 product wraps to 0, which an empty file would match
    (U32, U32, U32),  # far past int64
    (U32, 28, 28),  # more bytes than any file holds
    (6, 28, 27),  # one column short of the data
])
def test_idx_dimensions_that_overflow_or_disagree_with_the_data_name_the_file(private_data_dir, dims):
    data = b"" if dims[0] == 2**31 else np.zeros((6, 28, 28), np.uint8).tobytes()
    paths = write_mnist(private_data_dir / "mnist",
                        **{"train-images-idx3-ubyte": idx_bytes(np.frombuffer(data, np.uint8), dims)})
    with pytest.raises(DataError, match="truncated or padded") as error:
        load_dataset("mnist")
    assert one_line_naming(error, paths["train-images-idx3-ubyte"])


@FUZZ
@given(dims=st.lists(st.integers(0, U32), min_size=1, max_size=3), size=st.integers(0, 64))
@example(dims=[0, 3_036_988_439, 3_037_012_561], size=0)  # no data, yet a shape NumPy refuses (found by this test)
def test_idx_parser_on_random_dimensions(dims, size):
    data = idx_bytes(np.zeros(size, np.uint8), tuple(dims))
    try:
        array = parse_idx(data, "some-idx-file", len(dims))
        assert array.shape == tuple(dims) and np.prod(dims, dtype=object) == size
    except DataError as error:
        assert "\n" not in str(error) and "some-idx-file" in str(error)


@pytest.mark.parametrize("labels,message", [
    (idx_bytes(np.array([1, 2, 10, 3, 4, 5], np.uint8)), r"labels must be in 0\.\.9, found 10"),
    (idx_bytes(np.array([1, 2, 255, 3, 4, 5], np.uint8)), r"labels must be in 0\.\.9, found 255"),
    (idx_bytes(np.arange(6, dtype=">f4"), type_byte=0x0D), "unsupported IDX type 0x0d"),  # float labels
    (idx_bytes(np.arange(6, dtype=">i4"), type_byte=0x0C), "unsupported IDX type 0x0c"),  # int32 labels
    (idx_bytes(np.arange(5, dtype=np.uint8)), "holds 6 images but .* 5 labels"),
])
def test_idx_labels_not_bytes_or_out_of_range_name_the_file(private_data_dir, labels, message):
    paths = write_mnist(private_data_dir / "mnist", **{"train-labels-idx1-ubyte": labels})
    with pytest.raises(DataError, match=message) as error:
        load_dataset("mnist")
    assert one_line_naming(error, paths["train-labels-idx1-ubyte"])


def test_idx_splits_of_different_sizes_name_the_file(private_data_dir):
    test_images = idx_bytes(np.zeros((4, 27, 27), np.uint8))
    paths = write_mnist(private_data_dir / "mnist", **{"t10k-images-idx3-ubyte": gzip.compress(test_images)})
    with pytest.raises(DataError, match="holds 27x27 images but .* 28x28") as error:
        load_dataset("mnist")
    assert one_line_naming(error, paths["t10k-images-idx3-ubyte"])


# -- CIFAR-10 batches -----------------------------------------------------------------------------


def write_cifar(root: Path, n: int = 3, **fields) -> Path:
    """A CIFAR-10 folder of tiny batches; `fields` replace data_batch_2's."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [*cifar10.TRAIN_BATCHES, "test_batch"]:
        batch = {b"data": np.zeros((n, 3072), np.uint8), b"labels": list(range(n))}
        if name == "data_batch_2":
            batch.update({k.encode(): v for k, v in fields.items()})
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


BAD_LABELS = [
    ([0.0, 1.0, 2.0], "a list holding float"),
    (["0", "1", "2"], "a list holding str"),
    ([b"0", b"1", b"2"], "a list holding bytes"),
    ([True, False, True], "a list holding bool"),
    ([0, 1, None], "a list holding NoneType, int"),
    ([[0], [1], [2]], "a list holding list"),
    (np.array([0.0, 1.0, 2.0]), "an array of float64"),
    (np.array([[0, 1, 2]]), r"an array of int64 \(1, 3\)"),
    ("012", "got str"),
    ({0: 0}, "got dict"),
    (None, "got NoneType"),
    ([0, 1, -1], r"in 0\.\.9, found -1"),
    ([0, 1, 10], r"in 0\.\.9, found 10"),
    ([0, 1, 2**70], "found a number of 12 digits or more"),
    (np.array([0, 1, 200], np.uint8), r"in 0\.\.9, found 200"),
    ([0, 1], "3 images but 2 labels"),
]


@pytest.mark.parametrize("labels,message", BAD_LABELS)
def test_cifar_labels_not_integers_in_range_name_the_file(private_data_dir, labels, message):
    folder = write_cifar(private_data_dir, labels=labels)
    with pytest.raises(DataError, match=message) as error:
        load_dataset("cifar10")
    assert one_line_naming(error, folder / "data_batch_2")


@pytest.mark.parametrize("data,message", [
    (np.zeros((3, 3072), np.float32), "got float32"),
    (np.zeros((3, 3071), np.uint8), r"got uint8 \(3, 3071\)"),
    (np.zeros((3, 32, 32, 3), np.uint8), r"got uint8 \(3, 32, 32, 3\)"),
    (np.zeros(3072, np.uint8), r"got uint8 \(3072,\)"),
    ([[0] * 3072] * 3, "got list"),
    (b"\x00" * 3072 * 3, "got bytes"),
    (None, "got NoneType"),
])
def test_cifar_data_of_the_wrong_type_or_shape_names_the_file(private_data_dir, data, message):
    folder = write_cifar(private_data_dir, data=data)
    with pytest.raises(DataError, match=r"'data' must be a uint8 array of shape \(N, 3072\), " + message) as error:
        load_dataset("cifar10")
    assert one_line_naming(error, folder / "data_batch_2")


@FUZZ
@given(labels=st.one_of(
    st.lists(st.one_of(st.integers(0, 9), st.integers(), st.floats(), st.text(max_size=3), st.booleans(),
                       st.none()), min_size=2, max_size=2),
    st.integers(), st.text(max_size=3), st.none()))
def test_cifar_labels_of_any_kind_are_read_or_refused_in_one_line(labels):
    try:
        _, read = batch_arrays({"data": np.zeros((2, 3072), np.uint8), "labels": labels}, "some_batch")
        assert read.tolist() == labels  # only a list of two ints in 0..9 is read, and read exactly
    except DataError as error:
        assert "\n" not in str(error) and "some_batch" in str(error)


@pytest.mark.parametrize("meta,message", [
    ({b"label_names": "airplane automobile"}, "must be a list of 10 names"),
    ({b"label_names": [b"a"] * 9}, "must be a list of 10 names"),
    ({b"label_names": list(range(10))}, "must be a list of 10 names"),
    ({b"label_names": [b"\xff\xfe"] * 10}, "not UTF-8"),
    ({b"num_vis": 3072}, "must be a list of 10 names"),
    ([b"airplane"] * 10, "not a CIFAR-10 batch"),
])
def test_cifar_label_names_of_the_wrong_type_name_batches_meta(private_data_dir, meta, message):
    folder = write_cifar(private_data_dir)
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    with pytest.raises(DataError, match=message) as error:
        load_dataset("cifar10")
    assert one_line_naming(error, folder / "batches.meta")


def test_cifar_label_names_come_from_batches_meta(private_data_dir):
    folder = write_cifar(private_data_dir)
    assert load_dataset("cifar10").class_names == cifar10.CLASS_NAMES  # no batches.meta: the standard names
    names = [f"class {i}" for i in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [n.encode() for n in names]}, protocol=2))
    assert load_dataset("cifar10").class_names == names


@pytest.mark.parametrize("names", [["cat"] * 2 + [f"c{i}" for i in range(8)], [""] + [f"c{i}" for i in range(9)]])
def test_class_names_given_twice_or_empty_are_refused_in_the_data_and_in_a_bundle(private_data_dir, tmp_path, names):
    """`label_names` naming two classes alike (or one not at all) trained a model whose predictions could not
    be told apart; a bundle holding such names (by hand, or from that run) was read as any other."""
    folder = write_cifar(private_data_dir)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))  # text, as it may be
    said = "classes 0 and 1 have one name, 'cat'" if names[0] else "class 0's name is empty"
    with pytest.raises(DataError, match=f"cifar10: {said}"):
        load_dataset("cifar10")
    images = np.random.default_rng(0).integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8)
    bundle = bundles.Bundle(TwoLayerNet(48, 5, 10, seed=0), Preprocessor.fit("mean", images), names, (4, 4, 3), {})
    bundles.save_bundle(tmp_path / "model.npz", bundle)
    with pytest.raises(BundleError, match=f"is an inconsistent model bundle: class_names: {said}"):
        bundles.load_bundle(tmp_path / "model.npz")


# -- images: decompression bombs ---------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none: Pillow reads
    the size when it opens the file, before any pixel is decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


# Pillow's limit is Image.MAX_IMAGE_PIXELS (about 89 million): it raises over twice that and only warns between
BOMBS = {"over twice the limit": (20_000, 20_000), "between once and twice the limit": (10_000, 10_000)}


@pytest.mark.parametrize("size", BOMBS.values(), ids=BOMBS.keys())
def test_decompression_bombs_are_refused_by_predict_and_the_folder_loader(tmp_path, size):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(*size))
    images = np.zeros((4, 2, 2, 3), np.uint8)
    bundles.save_bundle(tmp_path / "model.npz", bundles.Bundle(
        TwoLayerNet(12, 3, 2, seed=0), Preprocessor.fit("mean", images), ["a", "b"], (2, 2, 3), {}))
    folder = tmp_path / "pics" / "cat"
    folder.mkdir(parents=True)
    Image.new("RGB", (2, 2)).save(folder / "0.png")
    (folder / "1.png").write_bytes(bomb.read_bytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match="refused image .*decompression bomb") as error:
            read_image(bomb)
        assert one_line_naming(error, bomb)
        with pytest.raises(DataError, match="refused image") as error:
            workflow.predict(tmp_path / "model.npz", [str(bomb)])
        assert one_line_naming(error, bomb)
        with pytest.raises(DataError, match="refused image") as error:
            load_dataset(f"folder:{tmp_path / 'pics'}")
        assert one_line_naming(error, folder / "1.png")
    assert not [w for w in caught if "PIL" in w.filename or "Image" in str(w.category)], caught


def test_pillow_warnings_stay_off_stderr(tmp_path, recwarn):
    """A palette image with transparency given as bytes makes Pillow warn on
    conversion; the reader converts it without a word."""
    path = tmp_path / "palette.png"
    img = Image.new("P", (4, 4))
    img.info["transparency"] = b"\x00" * 256
    img.save(path, transparency=b"\x00" * 16)
    assert read_image(path).shape == (4, 4, 1)  # its only colour, black, is gray: read gray (images.pillow_mode)
    assert not [w for w in recwarn if "PIL" in w.filename], [str(w.message) for w in recwarn]


# -- image folders ---------------------------------------------------------------------------------


def test_a_folder_with_test_but_no_train_says_what_layout_is_expected(tmp_path):
    """Such a folder can be evaluated on (its test split), never trained on."""
    write_folder(tmp_path / "d" / "test")
    dataset = load_dataset(f"folder:{tmp_path / 'd'}")
    assert set(dataset.splits) == {"test"}
    with pytest.raises(DataError, match=r"has test/ but no train/: a dataset to train on is a folder "
                                        r"PATH/train/<class>/<images>") as e:
        carve(dataset, 0.1, 0.1)
    assert one_line_naming(e, tmp_path / "d")


@pytest.mark.parametrize("spec", ["~nosuchuser/pics", "loop"])
def test_folder_paths_that_cannot_be_resolved_give_one_line(tmp_path, monkeypatch, spec):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(DataError, match=f"cannot use folder:{spec}: ") as error:
        load_dataset(f"folder:{spec}")
    assert "\n" not in str(error.value)
    with pytest.raises(DataError, match="cannot use ~nosuchuser/data as the data directory"):
        load_dataset("digits", data_dir="~nosuchuser/data")


@pytest.mark.parametrize("test_sizes", [[(7, 7)], [(5, 6)], [(6, 5), (300, 200)]])
def test_test_images_of_other_sizes_are_read_at_the_training_images_size(tmp_path, test_sizes):
    """Training images that share one small size keep it; test images of
    another size, or of several, are resized to it, as evaluate reads a
    held-out folder at the model's size (they were refused: all images must
    share one size, though the folder trained once its test/ was moved out)."""
    write_folder(tmp_path / "d" / "train", size=(6, 5))
    for i, size in enumerate(test_sizes):
        write_folder(tmp_path / "d" / "test", size=size, n=2, classes=("cat", "dog")[i:] if i else ("cat", "dog"))
    ds = load_dataset(f"folder:{tmp_path / 'd'}")
    assert ds.image_shape == (5, 6, 3) and ds.splits["test"][0].shape == (4, 5, 6, 3)
    for row, name in ((0, "cat/0.png"), (3, "dog/1.png")):  # each as predict reads it for the model
        np.testing.assert_array_equal(ds.splits["test"][0][row], read_image(tmp_path / "d" / "test" / name, (5, 6, 3)))
    sizes = sorted(set(test_sizes), key=lambda s: s[0] * s[1])
    said = f"{sizes[0][0]}x{sizes[0][1]}" if len(sizes) == 1 else "2 sizes, 6x5 to 300x200"
    assert ds.resized_from == f"the test split's {said}"


def test_gray_and_color_splits_are_read_in_the_training_splits_mode(tmp_path):
    write_folder(tmp_path / "d" / "train", mode="L")
    write_folder(tmp_path / "d" / "test", mode="RGB", n=2)
    ds = load_dataset(f"folder:{tmp_path / 'd'}")
    assert ds.splits["train"][0].shape == (6, 5, 6, 1) and ds.splits["test"][0].shape == (4, 5, 6, 1)
    expected = np.asarray(Image.open(tmp_path / "d" / "test" / "dog" / "1.png").convert("L"))
    np.testing.assert_array_equal(ds.splits["test"][0][3, ..., 0], expected)


# -- the decode cache -------------------------------------------------------------------------------

CACHE_DAMAGE = {
    "no images": lambda a: a.pop("images"),
    "no labels": lambda a: a.pop("labels"),
    "images of floats": lambda a: a.update(images=a["images"].astype(np.float32)),
    "one image short": lambda a: a.update(images=a["images"][:-1]),
    "images of another size": lambda a: a.update(images=a["images"][:, :-1]),
    "images without a channel axis": lambda a: a.update(images=a["images"][..., 0]),
    "images with 2 channels": lambda a: a.update(images=a["images"][..., :2]),
    "other labels": lambda a: a.update(labels=a["labels"][::-1].copy()),
    "labels as text": lambda a: a.update(labels=a["labels"].astype(str)),
    "nothing at all": lambda a: a.clear(),
}


@pytest.mark.parametrize("damage", CACHE_DAMAGE.values(), ids=CACHE_DAMAGE.keys())
def test_a_well_formed_cache_with_the_wrong_arrays_is_rebuilt(tmp_path, private_data_dir, damage):
    write_folder(tmp_path / "pics")
    first = load_dataset(f"folder:{tmp_path / 'pics'}")
    [cache] = (private_data_dir / "cache").glob("folder-*.npz")
    with np.load(cache) as npz:
        arrays = {k: npz[k] for k in npz.files}
    damage(arrays)
    np.savez(cache, **arrays)
    again = load_dataset(f"folder:{tmp_path / 'pics'}")
    for got, expected in zip(again.splits["train"], first.splits["train"], strict=True):
        np.testing.assert_array_equal(got, expected)
    with np.load(cache) as npz:  # and the cache holds the right arrays again
        np.testing.assert_array_equal(npz["images"], first.splits["train"][0])


def test_refresh_decodes_images_rewritten_with_the_same_size_and_time(tmp_path, monkeypatch):
    folder = tmp_path / "pics"
    write_folder(folder, fmt="bmp")  # uncompressed: new pixels, the same file size
    spec = f"folder:{folder}"
    original = load_dataset(spec).splits["train"][0]
    path = folder / "cat" / "0.bmp"
    stat = path.stat()
    Image.fromarray(np.full((5, 6, 3), 7, np.uint8)).save(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    # the key (path, size, time) is unchanged, so the cache answers with the old pixels
    np.testing.assert_array_equal(load_dataset(spec).splits["train"][0], original)
    assert (load_dataset(spec, refresh=True).splits["train"][0][0] == 7).all()
    Image.fromarray(np.full((5, 6, 3), 9, np.uint8)).save(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setenv("TWOLAYER_REFRESH_CACHE", "1")
    assert (load_dataset(spec).splits["train"][0][0] == 9).all()
    monkeypatch.delenv("TWOLAYER_REFRESH_CACHE")
    assert (load_dataset(spec).splits["train"][0][0] == 9).all()  # the refreshed cache is the one kept


# -- the last check, whatever the source ---------------------------------------------------------


@pytest.mark.parametrize("splits,message", [
    ({"train": (np.zeros((2, 4, 4, 1), np.uint8), np.array([0.0, 1.0]))}, "labels must be integers"),
    ({"train": (np.zeros((2, 4, 4, 1), np.uint8), np.array(["0", "1"]))}, "labels must be integers"),
    ({"train": (np.zeros((2, 4, 4, 1), np.uint8), np.array([[0, 1]]))}, "labels must be integers"),
    ({"train": (np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 2]))}, r"labels must be in 0\.\.1, found 0\.\.2"),
    ({"train": (np.zeros((2, 4, 4, 1), np.uint8), np.array([-1, 1]))}, r"labels must be in 0\.\.1"),
    ({"train": (np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1])),
      "test": (np.zeros((2, 4, 3, 1), np.uint8), np.array([0, 1]))},
     "images are 4x3x1 but the other split's are 4x4x1"),
    ({"train": (np.zeros((2, 4, 4, 1), np.float32), np.array([0, 1]))}, "images must be uint8"),
])
def test_every_source_gets_the_same_last_check(splits, message):
    with pytest.raises(DataError, match=message) as error:
        validate(Dataset("somewhere", ["a", "b"], splits))
    assert one_line_naming(error, "somewhere")


def test_16_bit_images_are_scaled_to_8_bits_not_clipped(tmp_path):
    gray8 = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(gray8).save(tmp_path / "g8.png")
    Image.fromarray(gray8.astype(np.uint16) * 257).save(tmp_path / "g16.png")  # the same picture in 16 bits
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    for shape in (None, (8, 8, 1), (8, 8, 3)):
        np.testing.assert_array_equal(read_image(tmp_path / "g16.png", shape), read_image(tmp_path / "g8.png", shape))
    for folder, name in ((tmp_path / "f8", "g8.png"), (tmp_path / "f16", "g16.png")):
        for c in ("a", "b"):
            (folder / c).mkdir(parents=True)
            (folder / c / "0.png").write_bytes((tmp_path / name).read_bytes())
    np.testing.assert_array_equal(load_dataset(f"folder:{tmp_path / 'f16'}").splits["train"][0],
                                  load_dataset(f"folder:{tmp_path / 'f8'}").splits["train"][0])


def test_one_gray_image_first_among_color_ones_keeps_the_folder_in_color(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "f" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(tmp_path / "f" / c / f"{i}.png")
    gray = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "f" / "a" / "0.png")  # the first file read is gray
    images = load_dataset(f"folder:{tmp_path / 'f'}").splits["train"][0]
    assert images.shape == (6, 6, 6, 3)
    np.testing.assert_array_equal(images[0], np.repeat(gray[..., None], 3, axis=-1))
    assert images[1:].std(axis=-1).max() > 0  # the color images kept their color
    for c in ("a", "b"):  # all gray: one channel
        for p in (tmp_path / "f" / c).iterdir():
            Image.open(p).convert("L").save(p)
    assert load_dataset(f"folder:{tmp_path / 'f'}").image_shape == (6, 6, 1)


def test_hidden_files_in_class_folders_are_skipped(tmp_path):
    write_folder(tmp_path / "f", classes=("a", "b"), n=3)
    for c in ("a", "b"):
        (tmp_path / "f" / c / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
        (tmp_path / "f" / c / ".DS_Store").write_bytes(b"Bud1")
    assert len(load_dataset(f"folder:{tmp_path / 'f'}").splits["train"][1]) == 6



def test_the_partial_cache_writes_of_killed_runs_are_removed_when_old(tmp_path, private_data_dir):
    """A run killed while it wrote a folder's decode cache left its temporary
    file (150 MB for CIFAR-10) in the cache folder for good; the next cache
    write removes those last written over an hour ago (a newer one may be
    another process's write in progress)."""
    from twolayer.data.cache import save_cached

    cache = private_data_dir / "cache"
    cache.mkdir(parents=True)
    stale, fresh = cache / ".folder-aa-bb.npz.x1y2.tmp", cache / ".folder-cc-dd.npz.z3w4.tmp"
    for partial in (stale, fresh):
        partial.write_bytes(b"half an archive")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    save_cached(cache / "folder-ee-ff.npz", {"images": np.zeros((1, 2, 2, 1), np.uint8)})
    assert not stale.exists() and fresh.exists() and (cache / "folder-ee-ff.npz").is_file()


def test_an_image_file_whose_first_read_fails_is_closed():
    """/proc/self/mem opens but its first read fails (EIO): Pillow's
    Image.open, given the path, left the file it opened open (until the
    garbage collector found it, with a ResourceWarning) - for predict's
    images and a folder dataset's."""
    from twolayer.data.folder import _open
    from twolayer.data.images import read_image
    from twolayer.errors import DataError

    for read in (read_image, lambda path: _open(path, Image)):
        before = sorted(os.listdir("/proc/self/fd"))
        with pytest.raises(DataError, match="cannot read image /proc/self/mem: Input/output error") as caught:
            read("/proc/self/mem")
        assert sorted(os.listdir("/proc/self/fd")) == before  # none left open, while the error is still held
        del caught
