"""Held-out test images in every form a model may meet them: CIFAR-10's
python and binary versions, a test batch alone, arrays given to a bundle,
image files as cameras and other tools write them.

Every test here is listed in TESTING.md."""

import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twolayer import TwoLayerNet, bundles, workflow
from twolayer.cli import main
from twolayer.data import cifar10, load_dataset
from twolayer.data.images import read_image
from twolayer.data.preprocess import Preprocessor
from twolayer.data.splits import carve
from twolayer.errors import DataError, UsageError

NAMES = [f"class {i}" for i in range(10)]


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def images_and_labels(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def rows(images):
    """CIFAR-10's rows: channel-first, 1,024 red values, then green, then blue."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def write_python(folder: Path, batches: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    folder.mkdir(parents=True)
    for name, (images, labels) in batches.items():
        batch = {b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": rows(images)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [n.encode() for n in NAMES]}, protocol=2))
    return folder


def write_binary(folder: Path, batches: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    folder.mkdir(parents=True)
    for name, (images, labels) in batches.items():
        records = np.concatenate([labels.astype(np.uint8)[:, None], rows(images)], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(NAMES) + "\n\n")  # the official file ends in blank lines
    return folder


def cifar_model(path: Path, class_names=NAMES) -> Path:
    """A bundle for 32x32 color images whose scores depend on every pixel's place."""
    images, _ = images_and_labels(200, seed=5)
    pre = Preprocessor.fit("standardize", images, 0.1)
    net = TwoLayerNet(3072, 16, 10, std=0.05, seed=1, dtype=np.float32)
    bundles.save_bundle(path, bundles.Bundle(net, pre, list(class_names), (32, 32, 3), {"preprocess": "standardize"}))
    return path


def test_the_binary_version_is_read_as_the_python_version_is(tmp_path):
    """cifar-10-batches-bin/ (and its archive, and the folder itself as the
    data directory) gives the python version's images, labels and names."""
    batches = {name: images_and_labels(4, seed=i) for i, name in enumerate([*cifar10.TRAIN_BATCHES, "test_batch"])}
    python = load_dataset("cifar10", write_python(tmp_path / "py" / "cifar-10-batches-py", batches).parent)
    write_binary(tmp_path / "bin" / "cifar-10-batches-bin", batches)
    with tarfile.open(tmp_path / "cifar-10-binary.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "bin" / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    (tmp_path / "archive").mkdir()
    (tmp_path / "cifar-10-binary.tar.gz").rename(tmp_path / "archive" / "cifar-10-binary.tar.gz")
    for data_dir in ("bin", "bin/cifar-10-batches-bin", "py/cifar-10-batches-py", "archive"):
        dataset = load_dataset("cifar10", tmp_path / data_dir)
        assert dataset.class_names == NAMES and set(dataset.splits) == {"train", "test"}
        for split in ("train", "test"):
            np.testing.assert_array_equal(dataset.splits[split][0], python.splits[split][0])
            np.testing.assert_array_equal(dataset.splits[split][1], python.splits[split][1])
    np.testing.assert_array_equal(python.splits["test"][0], batches["test_batch"][0])


@pytest.mark.parametrize("write", [write_python, write_binary])
def test_a_test_batch_alone_is_scored_and_never_trained_on(tmp_path, capsys, write):
    """Only test_batch (or test_batch.bin): evaluate scores it, with the
    accuracy the bundle gives its images; train refuses in one line."""
    images, labels = images_and_labels()
    write(tmp_path / "d" / "cifar-10-batches", {"test_batch": (images, labels)})
    (tmp_path / "d" / "cifar-10-batches").rename(tmp_path / "d" / ("cifar-10-batches-py" if write is write_python
                                                                   else "cifar-10-batches-bin"))
    model = cifar_model(tmp_path / "model.npz")
    expected = (bundles.load_bundle(model).probabilities(images).argmax(axis=1) == labels).mean()
    result = workflow.evaluate(model, "cifar10", data_dir=str(tmp_path / "d"))
    assert result["n"] == 40 and result["accuracy"] == expected and result["whole"]
    dataset = load_dataset("cifar10", tmp_path / "d")
    with pytest.raises(DataError, match="has a test split but no training split") as error:
        carve(dataset, 0.1, 0.1)
    assert "\n" not in str(error.value)
    capsys.readouterr()
    assert main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "d"), "--out",
                 str(tmp_path / "run"), "--quiet"]) == 1
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_some_training_batches_missing_is_one_line_naming_the_first(tmp_path):
    images, labels = images_and_labels(4)
    folder = write_python(tmp_path / "cifar-10-batches-py", {"test_batch": (images, labels),
                                                             "data_batch_1": (images, labels)})
    with pytest.raises(DataError, match=f"CIFAR-10 batch {folder / 'data_batch_2'} is missing"):
        load_dataset("cifar10", tmp_path)


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[:-1], "not a whole number of 3073-byte records"),
    (lambda b: b"", "0 bytes is not a whole number"),
    (lambda b: b[:3073] + bytes([10]) + b[3074:], "labels must be in 0..9, found 10 in record 1"),
])
def test_broken_binary_batches_name_the_file(tmp_path, damage, message):
    folder = write_binary(tmp_path / "cifar-10-batches-bin", {"test_batch": images_and_labels(3)})
    path = folder / "test_batch.bin"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message) as error:
        load_dataset("cifar10", tmp_path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("text,message", [("a\nb\n", "must name 10 classes, one a line; it names 2"),
                                          (b"\xff\xfe" * 10, "is not UTF-8 text")])
def test_binary_class_names_of_the_wrong_kind_name_batches_meta_txt(tmp_path, text, message):
    folder = write_binary(tmp_path / "cifar-10-batches-bin", {"test_batch": images_and_labels(3)})
    meta = folder / "batches.meta.txt"
    meta.write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises(DataError, match=message) as error:
        load_dataset("cifar10", tmp_path)
    assert str(meta) in str(error.value)
    meta.unlink()  # no names at all: the standard ten
    assert load_dataset("cifar10", tmp_path).class_names == cifar10.CLASS_NAMES


def test_a_file_as_the_data_directory_is_one_line(tmp_path):
    write_python(tmp_path / "cifar-10-batches-py", {"test_batch": images_and_labels(3)})
    with pytest.raises(DataError, match="test_batch is not a folder: the data directory holds cifar-10-batches-py/"):
        load_dataset("cifar10", tmp_path / "cifar-10-batches-py" / "test_batch")


def test_cifar_rows_given_to_a_bundle_are_refused_not_scored_wrong(tmp_path):
    """A batch's channel-first rows have the model's 3,072 values but in
    another order: they were scored, silently wrong."""
    bundle = bundles.load_bundle(cifar_model(tmp_path / "model.npz"))
    images, _ = images_and_labels()
    for wrong in (rows(images), rows(images)[0]):
        with pytest.raises(ValueError, match=r"images must be \(N, 32, 32, 3\)") as error:
            bundle.probabilities(wrong)
        assert "reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)" in str(error.value)
    # (N, 3, 32, 32), as PyTorch holds images: said so, with the transpose alone (it named the batch's rows)
    with pytest.raises(ValueError, match=r"channel-first \(N, C, H, W\): images.transpose\(0, 2, 3, 1\)$"):
        bundle.probabilities(images.transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match=r"gray images for a color model: np.repeat\(images\[..., None\], 3, axis=3\)"):
        bundle.probabilities(images[..., 0])
    with pytest.raises(ValueError, match=r"got \(32, 32, 3\); one image: images\[None\]"):  # not a batch row
        bundle.probabilities(images[0])
    assert bundle.probabilities(images).shape == (40, 10)


def sideways(tmp_path, picture: np.ndarray) -> Path:
    """A JPEG as a camera held sideways writes it: the pixels rotated, and
    EXIF orientation 6 saying to turn them back."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    Image.fromarray(picture).transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=100)
    return path


def test_exif_orientation_is_applied_by_predict_and_the_folder_loader(tmp_path):
    picture = np.zeros((32, 32, 3), np.uint8)
    picture[:8] = 255  # a white band at the top: turned sideways it is at a side
    path = sideways(tmp_path, picture)
    upright = read_image(path, (32, 32, 3))
    assert upright[:8].mean() > 240 and upright[8:].mean() < 15
    for c in ("a", "b"):
        (tmp_path / "f" / c).mkdir(parents=True)
        (tmp_path / "f" / c / "0.jpg").write_bytes(path.read_bytes())
    np.testing.assert_array_equal(load_dataset(f"folder:{tmp_path / 'f'}").splits["train"][0][0], upright)


def test_tiff_and_upper_case_names_are_images_in_folders(tmp_path):
    picture = images_and_labels(1)[0][0]
    for c, name in (("a", "0.tif"), ("a", "1.TIFF"), ("b", "0.PNG"), ("b", "1.JPG")):
        (tmp_path / "f" / c).mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(tmp_path / "f" / c / name, format="JPEG" if name.endswith("JPG") else None)
    assert len(load_dataset(f"folder:{tmp_path / 'f'}").splits["train"][1]) == 4
    assert len(workflow.image_files([tmp_path / "f"])) == 4  # predict skipped the TIFFs


def test_an_unreadable_sub_folder_given_to_predict_is_an_error_not_skipped(tmp_path, monkeypatch):
    """Its images went unpredicted, exit 0. (A folder of mode 000, which root
    reads anyway: so scandir is made to refuse it as the system does.)"""
    picture = images_and_labels(1)[0][0]
    for c in ("cat", "dog"):
        (tmp_path / "f" / c).mkdir(parents=True)
        Image.fromarray(picture).save(tmp_path / "f" / c / "0.png")
    locked, scandir = str(tmp_path / "f" / "dog"), os.scandir

    def refusing(path="."):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    with pytest.raises(PermissionError, match="Permission denied"):
        workflow.image_files([tmp_path / "f"])


def test_macos_zip_folders_are_neither_classes_nor_images(tmp_path, capsys):
    """A zip made on a Mac holds __MACOSX/ with ._NAME resource forks: it
    was a class the model does not know, or an empty class."""
    picture = images_and_labels(1)[0][0]
    for c in ("class 1", "class 2", "__MACOSX"):
        (tmp_path / "f" / c).mkdir(parents=True)
        Image.fromarray(picture).save(tmp_path / "f" / c / "0.png")
    (tmp_path / "f" / "__MACOSX" / "class 1").mkdir()
    assert load_dataset(f"folder:{tmp_path / 'f'}").class_names == ["class 1", "class 2"]
    assert len(workflow.image_files([tmp_path / "f"])) == 2
    model = cifar_model(tmp_path / "model.npz")
    assert main(["evaluate", str(model), "--dataset", f"folder:{tmp_path / 'f'}", "--json"]) == 0
    assert '"n": 2' in capsys.readouterr().out


def test_a_gray_folder_for_a_color_model_says_it_was_converted(tmp_path):
    for c in ("class 1", "class 2"):
        (tmp_path / "f" / c).mkdir(parents=True)
        Image.fromarray(np.full((28, 28), 90, np.uint8)).save(tmp_path / "f" / c / "0.png")
    result = workflow.evaluate(cifar_model(tmp_path / "model.npz"), f"folder:{tmp_path / 'f'}")
    assert "resized from 28x28 to the model's 32x32 pixels, converted from gray to the model's color" in result["note"]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_test_batch_pickled_at_any_protocol_is_read(tmp_path, protocol):
    """Python 3.14 pickles at protocol 5, where NumPy rebuilds an array with
    _frombuffer: it was refused as something a batch never holds."""
    images, labels = images_and_labels()
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batch = {"batch_label": "testing batch 1 of 1", "labels": labels, "data": rows(images)}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    dataset = load_dataset("cifar10", tmp_path)
    np.testing.assert_array_equal(dataset.splits["test"][0], images)
    np.testing.assert_array_equal(dataset.splits["test"][1], labels)


def test_a_linked_sub_folder_given_to_predict_is_read_once_and_a_loop_ends(tmp_path):
    """The folder loader follows a linked class folder; predict skipped a
    linked sub-folder's images silently."""
    picture = images_and_labels(1)[0][0]
    (tmp_path / "pics").mkdir()
    (tmp_path / "top").mkdir()
    for name in ("pics/0.png", "pics/1.png", "top/2.png"):
        Image.fromarray(picture).save(tmp_path / name)
    (tmp_path / "top" / "linked").symlink_to(tmp_path / "pics")
    (tmp_path / "top" / "loop").symlink_to(tmp_path / "top")
    found = [Path(p).relative_to(tmp_path / "top").as_posix() for p in workflow.image_files([tmp_path / "top"])]
    assert found == ["2.png", "linked/0.png", "linked/1.png"]


def test_a_gray_gif_is_read_as_gray(tmp_path):
    """A gray picture saved as GIF is a palette image of gray colours: it
    was read as color, so a folder of them was a color dataset (three equal
    channels) and one among gray PNGs turned the whole folder color."""
    picture = np.arange(0, 250, 250 / 36, dtype=np.uint8)[:36].reshape(6, 6)
    for c in ("a", "b"):
        (tmp_path / "gifs" / c).mkdir(parents=True)
        Image.fromarray(picture).save(tmp_path / "gifs" / c / "0.gif")
        (tmp_path / "mixed" / c).mkdir(parents=True)
        Image.fromarray(picture).save(tmp_path / "mixed" / c / "0.png")
    Image.fromarray(picture).save(tmp_path / "mixed" / "a" / "1.gif")
    for folder in ("gifs", "mixed"):
        images = load_dataset(f"folder:{tmp_path / folder}").splits["train"][0]
        assert images.shape[3] == 1
        np.testing.assert_array_equal(images[0, ..., 0], picture)
    assert read_image(tmp_path / "gifs" / "a" / "0.gif").shape == (6, 6, 1)
    colored = Image.fromarray(np.stack([picture, picture, picture // 2], axis=-1)).convert("P")  # not gray: color
    colored.save(tmp_path / "c.gif")
    assert read_image(tmp_path / "c.gif").shape == (6, 6, 3)


def test_a_folder_read_at_two_sizes_keeps_a_decode_cache_for_each(tmp_path, private_data_dir, capsys):
    """One cache file a folder: read at another size (evaluate at a model's
    --image-size, tune over sizes), each size's decode replaced the other's,
    so every read decoded every image again. A cache named the older way
    (by the folder alone) is removed."""
    picture = images_and_labels(1)[0][0]
    for c in ("a", "b"):
        (tmp_path / "f" / c).mkdir(parents=True)
        Image.fromarray(picture).save(tmp_path / "f" / c / "0.png")
    spec, cache = f"folder:{tmp_path / 'f'}", private_data_dir / "cache"
    load_dataset(spec)
    [name] = [p.name for p in cache.iterdir()]
    older = cache / (name.split("-32x32-")[0] + "-0123456789abcdef01234567.npz")  # as decoding 3 named it
    older.write_bytes(b"")
    load_dataset(spec, image_size=16)
    assert sorted(p.name.split("-")[2] for p in cache.iterdir()) == ["16x16", "32x32"] and not older.exists()
    capsys.readouterr()
    for size in (None, 16, 32):
        assert load_dataset(spec, quiet=False, image_size=size).image_shape[:2] != (0, 0)
    shown = capsys.readouterr()
    assert "decode" not in shown.out + shown.err  # each read from its own cache file


@pytest.mark.parametrize("inside", [".", "a"])
def test_a_data_dir_inside_the_image_folder_gets_no_decode_cache(tmp_path, inside):
    """--data-dir naming the image folder itself (or one of its class
    folders), as `train --dataset folder:imgs --data-dir imgs` reads: the
    decode cache went into imgs/cache/, which every later run read as a
    class folder (`class folder imgs/cache holds no images`): one run broke
    the folder for good. No cache is kept there; the images are decoded."""
    picture = images_and_labels(1)[0][0]
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        Image.fromarray(picture).save(tmp_path / "imgs" / c / "0.png")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for _ in range(2):
        assert load_dataset(f"folder:{tmp_path / 'imgs'}", tmp_path / "imgs" / inside).class_names == ["a", "b"]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_json_rows_of_file_names_that_are_not_utf8_are_valid_unicode(tmp_path, capsys):
    """A name's byte that is not UTF-8 (caf\\xe9.png, as Latin-1 systems and
    old zips write é) came out of `predict --json` and `evaluate --json` as
    the lone surrogate "\\udce9", which strict JSON readers refuse."""
    picture = images_and_labels(1)[0][0]
    folder = tmp_path / os.fsdecode(b"held\xff")
    for c in ("class 1", "class 2"):
        (folder / c).mkdir(parents=True)
        Image.fromarray(picture).save(folder / c / os.fsdecode(b"caf\xe9.png"))
    model = str(cifar_model(tmp_path / "model.npz"))
    capsys.readouterr()
    assert main(["predict", model, str(folder), "--json"]) == 0
    assert main(["evaluate", model, "--dataset", f"folder:{folder}", "--json"]) == 0
    *rows, result = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["path"] for row in rows] == [f"{tmp_path}/held\\xff/class {i}/caf\\xe9.png" for i in (1, 2)]
    assert result["dataset"] == f"folder:{tmp_path}/held\\xff" and result["n"] == 2
    for text in [*(row["path"] for row in rows), result["dataset"], result["note"]]:
        text.encode("utf-8")  # no lone surrogate: it raised UnicodeEncodeError


def test_files_that_are_not_images_or_folders_say_how_they_are_read(tmp_path):
    """Held-out images handed over in a form predict and a dataset spec do
    not read: CIFAR-10's batches (a batch file, their folder), a NumPy file
    of arrays, a zip. Each said `unknown dataset` (then proposing folder:
    for any path), `no image folder`, `holds no class folders`, or `not an
    image file`, never how to read them."""
    images, labels = images_and_labels(3)
    batches = write_python(tmp_path / "cifar-10-batches-py", {"test_batch": (images, labels)})
    write_binary(tmp_path / "cifar-10-batches-bin", {"test_batch": (images, labels)})
    np.savez(tmp_path / "held.npz", x=images, y=labels)
    np.save(tmp_path / "held.npy", images)
    (tmp_path / "renamed.png").write_bytes((tmp_path / "held.npy").read_bytes())
    (tmp_path / "flat").mkdir()
    Image.fromarray(images[0]).save(tmp_path / "flat" / "0.png")
    model = cifar_model(tmp_path / "model.npz")
    cifar = f"CIFAR-10's batches are read as --dataset cifar10 --data-dir {batches}, by train and evaluate"
    arrays = "a NumPy file of arrays, which twolayer's commands do not read; in Python, twolayer.load_bundle(MODEL)"
    for spec, said in [(str(batches), cifar), (str(batches / "test_batch"), cifar), (f"folder:{batches}", cifar),
                       (str(tmp_path / "held.npz"), arrays), (f"folder:{tmp_path / 'held.npy'}", arrays),
                       (f"folder:{tmp_path / 'flat'}", "the images there (1 .png file) are of no class: put each "
                                                      "class's images in a sub-folder named for it (twolayer predict")]:
        with pytest.raises((UsageError, DataError)) as error:
            workflow.evaluate(model, spec)
        assert said in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(DataError, match="give the folder that holds it: --data-dir"):
        load_dataset("cifar10", batches / "test_batch")
    bin_batch = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    for image, said in [(batches / "test_batch", cifar), (batches, cifar), (tmp_path / "held.npz", arrays),
                        (bin_batch, f"--data-dir {bin_batch.parent}"), (tmp_path / "renamed.png", arrays)]:
        with pytest.raises(DataError) as error:
            workflow.predict(model, [image])
        assert said in str(error.value)
    assert [row["path"] for row in workflow.predict(model, [tmp_path / "flat"])] == [str(tmp_path / "flat" / "0.png")]


def test_an_npz_file_object_given_to_a_bundle_names_its_arrays(tmp_path):
    """np.load of an .npz given whole (not one of its arrays): NumPy made
    text of its keys, refused as `got text of shape (2,)`."""
    images, labels = images_and_labels(3)
    np.savez(tmp_path / "held.npz", x_test=images, y_test=labels)
    bundle = bundles.load_bundle(cifar_model(tmp_path / "model.npz"))
    with np.load(tmp_path / "held.npz") as held:
        with pytest.raises(ValueError, match=r"^images must be an array of numbers, got a NpzFile holding 'x_test', "
                                             r"'y_test': give one of its arrays, such as its \['x_test'\]$"):
            bundle.probabilities(held)
        assert bundle.probabilities(held["x_test"]).shape == (3, 10)


def test_load_model_as_other_libraries_name_it_points_to_load_bundle():
    import twolayer

    with pytest.raises(AttributeError, match=r"no attribute 'load_model'; did you mean load_bundle\?$"):
        twolayer.load_model  # noqa: B018
    assert not hasattr(twolayer, "no_such_thing")


@pytest.mark.parametrize("layout,said", [
    (("0", "1"), "(classes are matched by name, never by number: rename each folder to its "
                                       "class, as 0 to 'class 0', 1 to 'class 1', 2 to 'class 2', ... if they are "
                                       "numbered in the model's order)"),
    (("extra/class 1", "extra/class 2"), "(its folder extra/ holds the model's classes: give "
                                                               "folder:{held}/extra)"),
    (("class 1", "unicorn"), "has class 'unicorn', which the model does not know"),
])
def test_held_out_class_folders_the_model_does_not_know_are_refused_before_decoding_saying_why(tmp_path, layout,
                                                                                             said):
    """Class folders named 0..9, the class folders one level down (a zip's
    extra folder), a class the model does not know: refused after every
    image was decoded (a damaged one was named instead), and without a word
    of why."""
    picture = images_and_labels(1)[0][0]
    held = tmp_path / "held"
    for folder in layout:
        (held / folder).mkdir(parents=True)
        Image.fromarray(picture).save(held / folder / "0.png")
    (held / layout[0] / "1.png").write_bytes(b"\x89PNG damaged")
    with pytest.raises(DataError) as error:
        workflow.evaluate(cifar_model(tmp_path / "model.npz"), f"folder:{held}")
    assert said.format(held=held) in str(error.value)



def test_a_built_in_dataset_of_other_classes_is_not_told_to_rename_folders(tmp_path):
    """evaluate MODEL --dataset digits for a CIFAR-10 model: digits' classes
    0..9 were told `rename each folder to its class, as 0 to 'airplane'`,
    though digits has no folder to rename."""
    with pytest.raises(DataError) as error:
        workflow.evaluate(cifar_model(tmp_path / "model.npz"), "digits")
    assert str(error.value).startswith("digits has classes '0', '1', ") and "folder" not in str(error.value) and \
        str(error.value).endswith("which the model does not know; it was trained on 'class 0', 'class 1', 'class 2', "
                                  "'class 3', 'class 4', 'class 5', 'class 6', 'class 7', 'class 8', 'class 9'"), \
        str(error.value)


def test_a_held_out_class_numbered_beside_a_models_numbered_classes_is_not_told_to_rename_by_number(tmp_path):
    """A model of classes named 0..9, and a held-out folder 0..10: the
    folder '10' was told 'rename each folder to its class, as 0 to '0', 1
    to '1' ...', which are the names the folders have."""
    held = tmp_path / "held"
    for folder in ("0", "1", "10"):
        (held / folder).mkdir(parents=True)
        Image.fromarray(images_and_labels(1)[0][0]).save(held / folder / "0.png")
    with pytest.raises(DataError) as error:
        workflow.evaluate(cifar_model(tmp_path / "model.npz", [str(k) for k in range(10)]), f"folder:{held}")
    assert str(error.value).endswith("has class '10', which the model does not know; it was trained on '0', '1', "
                                     "'2', '3', '4', '5', '6', '7', '8', '9'"), str(error.value)
