"""A user's own pictures as they come off phones, cameras, downloads and
other systems: every format and mode through every reader, folders as
people keep them, files Pillow cannot read.

Every test here is listed in TESTING.md."""

import io
import re
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from twolayer import bundles, workflow
from twolayer.cli import main
from twolayer.data import load_dataset
from twolayer.data.images import read_image
from twolayer.data.preprocess import Preprocessor
from twolayer.errors import DataError
from twolayer.model import TwoLayerNet


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("TWOLAYER_REFRESH_CACHE", raising=False)


def png_16_bits(path: Path, values: np.ndarray) -> None:
    """A PNG of 16 bits a channel (gray, gray + alpha, RGB or RGBA), which Pillow does not write."""
    height, width, channels = values.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in values)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def pictures(folder: Path) -> list[Path]:
    """One 10x12 picture in each format and mode a user's folder may hold."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    picture = Image.fromarray(rgb)
    alpha = np.where(np.arange(10) < 5, 0, 255).astype(np.uint8)[None, :].repeat(12, 0)  # left half transparent
    rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    frames = [Image.fromarray(np.full((12, 10, 3), v, np.uint8)) for v in (10, 200)]
    folder.mkdir(parents=True)
    picture.save(folder / "a.bmp")
    picture.save(folder / "a.gif")
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(folder / "animated.webp", save_all=True, append_images=frames[1:], duration=100)
    picture.save(folder / "lossy.webp", quality=80)
    picture.save(folder / "lossless.webp", lossless=True)
    picture.save(folder / "a.ppm")
    picture.convert("L").save(folder / "a.pgm")
    picture.convert("CMYK").save(folder / "cmyk.jpg")
    picture.save(folder / "progressive.jpg", progressive=True)
    picture.save(folder / "icc.jpg", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    picture.save(folder / "jpeg.png", format="JPEG")  # a JPEG named .png
    picture.save(folder / "png.jpg", format="PNG")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(folder / "gray16.png")  # I;16
    png_16_bits(folder / "rgb16.png", rgb.astype(np.uint16) * 257)
    png_16_bits(folder / "rgba16.png", np.dstack([rgb, alpha]).astype(np.uint16) * 257)
    Image.fromarray(rgb[..., 0].astype(np.float32) / 255).save(folder / "float.tif")  # F, 0..1
    picture.convert("1").save(folder / "bits.png")
    picture.convert("P").save(folder / "palette.png", transparency=0)
    rgba.save(folder / "rgba.png")
    rgba.convert("LA").save(folder / "la.png")
    rgba.convert("PA").convert("RGBA").save(folder / "pa.webp", lossless=True)
    return sorted(folder.iterdir())


def recording(monkeypatch) -> list[np.ndarray]:
    """The images every scorer gives a model (its preprocessing's input), as they come."""
    seen: list[np.ndarray] = []
    transform = Preprocessor.transform

    def recorded(self, images):
        seen.append(np.array(images))
        return transform(self, images)

    monkeypatch.setattr(Preprocessor, "transform", recorded)
    return seen


def test_one_file_gives_the_same_pixels_to_every_reader(tmp_path, monkeypatch):
    """Each picture, in every format and mode, gives one image through the
    training folder loader, a training folder's test split, `evaluate` of a
    held-out folder, `predict` and read_image into Bundle.probabilities: at
    its own size and resized, for a gray model and a color one. A color
    picture for a gray model was a level off between `evaluate` (resized,
    then made gray) and `predict` (made gray, then resized)."""
    files = pictures(tmp_path / "f" / "a")
    (tmp_path / "f" / "b").symlink_to(tmp_path / "f" / "a")
    (tmp_path / "g" / "test").mkdir(parents=True)
    for name in ("a", "b"):  # a gray training split, whose test split is of color pictures
        (tmp_path / "g" / "train" / name).mkdir(parents=True)
        Image.new("L", (10, 12), 90).save(tmp_path / "g" / "train" / name / "0.png")
        (tmp_path / "g" / "test" / name).symlink_to(tmp_path / "f" / "a")
    test_split = load_dataset(f"folder:{tmp_path / 'g'}").splits["test"][0]
    np.testing.assert_array_equal(test_split[: len(files)], [read_image(f, (12, 10, 1)) for f in files])
    for shape in ((12, 10, 3), (12, 10, 1), (5, 4, 3), (5, 4, 1), (20, 16, 3), (20, 16, 1)):
        read = np.stack([read_image(f, shape) for f in files])
        if shape[2] == 3:  # the folder is in color: its training images as a color model gets them
            trained = load_dataset(f"folder:{tmp_path / 'f'}", image_size=shape[:2]).splits["train"][0]
            np.testing.assert_array_equal(trained[: len(files)], read, err_msg=str(shape))
        model = tmp_path / f"model{shape}.npz"
        pixels = np.random.default_rng(1).integers(0, 256, (20, *shape), dtype=np.uint8)
        net = TwoLayerNet(int(np.prod(shape)), 4, 2, std=0.05, seed=1, dtype=np.float32)
        bundles.save_bundle(model, bundles.Bundle(net, Preprocessor.fit("standardize", pixels), ["a", "b"], shape,
                                                  {"preprocess": "standardize"}))
        seen = recording(monkeypatch)
        workflow.evaluate(model, f"folder:{tmp_path / 'f'}")
        workflow.predict(model, [str(f) for f in files])
        bundles.load_bundle(model).probabilities(read)
        monkeypatch.undo()
        evaluated, predicted, given = seen
        for name, images in (("evaluate", evaluated[: len(files)]), ("predict", predicted), ("probabilities", given)):
            for file, image, expected in zip(files, images, read, strict=True):
                np.testing.assert_array_equal(image, expected, err_msg=f"{name} {file.name} {shape}")
    # what each is read as: the first frame of an animation, transparent pixels on white, 16 bits scaled
    own = {f.name: read_image(f) for f in files}
    assert (own["animated.gif"] == 10).all() and (own["animated.webp"] == 10).all()
    for name in ("rgba.png", "rgba16.png", "la.png"):
        assert (own[name][:, :5] == 255).all() and not (own[name][:, 5:] == 255).all(), name
    np.testing.assert_array_equal(own["rgb16.png"], own["a.bmp"])
    np.testing.assert_array_equal(own["gray16.png"][..., 0], own["a.bmp"][..., 0])
    assert own["gray16.png"].shape == own["la.png"].shape == own["bits.png"].shape == (12, 10, 1)


def small(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 5), (value, 100, 200)).save(path)


def test_a_class_folders_sub_folders_are_read_as_predict_reads_them(tmp_path, capsys):
    """Photos kept by year (cat/2023/*.jpg) were left out of training without
    a word (a class of only such folders was `holds no images`), though
    `predict` of the same folder read them. What systems leave among
    pictures is neither a class nor an image: Windows's Thumbs.db,
    desktop.ini and $RECYCLE.BIN, a Synology NAS's @eaDir in every folder,
    Jupyter's .ipynb_checkpoints."""
    root = tmp_path / "pets"
    for i, name in enumerate(["cat/0.png", "cat/2023/1.png", "cat/2023/june/2.png", "dog/2024/3.png"]):
        small(root / name, i)
    (root / "cat" / "2023" / "back").symlink_to(root / "cat")  # a link loop ends
    (root / "cat" / "2023" / "up").symlink_to(root)  # so does one up to the dataset: dog's images are not cat's
    for junk in ("cat/@eaDir/0.png/SYNOPHOTO_THUMB_M.png", "cat/.ipynb_checkpoints/0-checkpoint.png",
                 "@eaDir/x.png", "$RECYCLE.BIN/gone.png", "System Volume Information/x.png"):
        small(root / junk)
    (root / "cat" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "dog" / "desktop.ini").write_text("[.ShellClassInfo]\n")
    dataset = load_dataset(f"folder:{root}")
    assert dataset.class_names == ["cat", "dog"] and dataset.skipped is None
    images, labels = dataset.splits["train"]
    assert labels.tolist() == [0, 0, 0, 1] and images[:, 0, 0, 0].tolist() == [0, 1, 2, 3]
    listed = [Path(p).relative_to(root).as_posix() for p in workflow.image_files([root / "cat"])]
    assert listed == ["cat/0.png", "cat/2023/1.png", "cat/2023/june/2.png"]
    assert main(["train", "--dataset", f"folder:{root}", "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--val-size", "0", "--test-size", "0"]) == 0
    assert "skipped" not in capsys.readouterr().out


HEIC = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64)  # the start of an iPhone's photo
AVIF = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf" + bytes(64)


def test_files_a_class_folder_holds_but_cannot_use_are_said(tmp_path, capsys):
    """An iPhone's HEIC photos beside its JPEGs, notes, a file without a
    suffix: skipped, as before, but said (they were left out without a
    word, and a class of HEIC photos alone was `holds no images`)."""
    root = tmp_path / "phone"
    for name in ("cat", "dog"):
        small(root / name / "IMG_0001.jpg")
        (root / name / "IMG_0002.HEIC").write_bytes(HEIC)
    (root / "cat" / "notes.txt").write_text("the grey one\n")
    (root / "cat" / "README").write_text("\n")
    assert load_dataset(f"folder:{root}").skipped.startswith(
        "2 .heic files, 1 file without a suffix and 1 .txt file in the class folders (the images read are .png, .jpg,")
    assert main(["train", "--dataset", f"folder:{root}", "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--val-size", "0", "--test-size", "0"]) == 0
    said = capsys.readouterr()
    assert said.out.startswith("skipped 2 .heic files, 1 file without a suffix and 1 .txt file in the class folders (")
    assert said.err == ""
    (root / "dog" / "IMG_0001.jpg").unlink()
    with pytest.raises(DataError, match=r"class folder .*dog holds no images \(.png, .*\); it holds 1 .heic file$"):
        load_dataset(f"folder:{root}")


def test_a_val_folder_or_images_beside_the_class_folders_are_said_to_be_unread(tmp_path):
    """A download's train/, val/ and test/: val/ was left out without a word
    (validation is carved from train/); so were images beside the class
    folders, of no class."""
    for split in ("train", "val", "valid", "test"):
        for name in ("cat", "dog"):
            small(tmp_path / "kaggle" / split / name / "0.png")
    (tmp_path / "kaggle" / "README.md").write_text("from kaggle\n")  # a dataset's notes are no image
    dataset = load_dataset(f"folder:{tmp_path / 'kaggle'}")
    assert sorted(dataset.splits) == ["test", "train"]
    assert dataset.skipped == ("val/, valid/ beside train/ and test/, the splits read (validation images are carved "
                               "from train/: --val-size)")
    small(tmp_path / "kaggle" / "train" / "stray.png")
    small(tmp_path / "kaggle" / "test" / "IMG_1.JPG")
    assert load_dataset(f"folder:{tmp_path / 'kaggle'}").skipped.startswith(
        "1 .jpg file and 1 .png file beside the class folders, of no class (each class's images are in its folder); "
        "val/, valid/ beside")
    for split in ("val", "valid"):
        shutil.rmtree(tmp_path / "kaggle" / split)
    small(tmp_path / "kaggle" / "extras" / "cat" / "0.png")  # not a validation split: no --val-size hint
    assert load_dataset(f"folder:{tmp_path / 'kaggle'}").skipped.endswith(
        "extras/ beside train/ and test/, the splits read")


@pytest.mark.parametrize(("content", "said"), [
    (b"", "the file is empty (0 bytes)"),
    (HEIC, "a HEIC (HEIF) photo, as iPhones take them, which Pillow cannot read; convert it to JPEG"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
     "an SVG drawing, not an image of pixels; convert it to PNG"),
    (b"\n<!DOCTYPE html><html><body>403 Forbidden", "a web page (HTML), not an image: the page was saved in the "
                                                    "picture's place"),
    (b"hello", "not an image file, or a damaged one (Pillow cannot identify its format)"),
])
def test_a_file_pillow_cannot_identify_is_said_to_be_what_it_is(tmp_path, capsys, monkeypatch, content, said):
    """A zero-byte file, a HEIC photo, an SVG, a web page saved as a .jpg
    were each `not an image file, or a damaged one`, to predict (a file,
    piped in) and in a folder."""
    model = tmp_path / "run"
    root = tmp_path / "f"
    for name in ("a", "b"):
        small(root / name / "0.png")
    assert main(["train", "--dataset", f"folder:{root}", "--out", str(model), "--epochs", "1", "--val-size", "0",
                 "--test-size", "0", "--quiet"]) == 0
    (root / "a" / "x.jpg").write_bytes(content)
    capsys.readouterr()
    assert main(["predict", str(model), str(root / "a" / "x.jpg")]) == 1
    assert capsys.readouterr().err == f"twolayer predict: error: cannot read image {root / 'a' / 'x.jpg'}: {said}\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(content)))
    assert main(["predict", str(model), "-"]) == 1
    err = capsys.readouterr().err
    assert err == (f"twolayer predict: error: cannot read image -: {said}\n" if content else
                   "twolayer predict: error: - reads an image from standard input, and none came (it can be read "
                   "once); pipe an image in: twolayer predict MODEL - < photo.jpg\n"), err
    with pytest.raises(DataError, match=re.escape(f"x.jpg: {said}")):
        load_dataset(f"folder:{root}")


def test_an_avif_image_is_an_image_file(tmp_path):
    """AVIF (Chrome's and Android's downloads) was skipped in a folder,
    though `predict` read one named alone; a Pillow that cannot read it
    says so."""
    from PIL import features

    from twolayer.data.images import what_file

    root = tmp_path / "f"
    for name in ("a", "b"):
        small(root / name / "0.png")
    assert "an AVIF image, which this Pillow cannot read (Pillow 11.3 and newer do)" in what_file(AVIF)
    if features.check("avif"):
        Image.new("RGB", (6, 5), (0, 100, 200)).save(root / "a" / "1.avif")
        assert len(load_dataset(f"folder:{root}").splits["train"][1]) == 3


def test_a_class_folder_named_on_a_mac_is_the_class_of_that_name(tmp_path):
    """macOS writes "é" decomposed (e and a combining accent): a held-out
    folder from a Mac was `has class 'café', which the model does not know;
    it was trained on 'café', ...`, and a test/ copied from one made a third
    class. Class names are in the composed form (NFC); one name in both
    forms in one folder is one line showing both."""
    import unicodedata

    composed, decomposed = "caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9")
    for root, name in (("linux", composed), ("mac", decomposed), ("split/train", composed), ("split/test", decomposed)):
        small(tmp_path / root / name / "0.png", 10)
        small(tmp_path / root / "dog" / "0.png", 200)
    assert load_dataset(f"folder:{tmp_path / 'mac'}").class_names == [composed, "dog"]
    split = load_dataset(f"folder:{tmp_path / 'split'}")
    assert split.class_names == [composed, "dog"] and split.splits["test"][1].tolist() == [0, 1]
    model = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{tmp_path / 'linux'}", "--out", str(model), "--epochs", "1",
                 "--val-size", "0", "--test-size", "0", "--quiet"]) == 0
    assert workflow.evaluate(model, f"folder:{tmp_path / 'mac'}", split="train")["n"] == 2
    small(tmp_path / "mac" / composed / "1.png")
    with pytest.raises(DataError, match=re.escape(f"{ascii(str(tmp_path / 'mac' / decomposed))} and ")):
        load_dataset(f"folder:{tmp_path / 'mac'}")


def test_evaluate_says_what_a_held_out_folder_skipped(tmp_path, capsys):
    """A held-out folder off a phone, its HEIC photos beside its JPEGs:
    `train` said it skipped them, `evaluate` scored the rest without a word."""
    for root, shift in (("train", 0), ("held", 20)):
        for name in ("cat", "dog"):
            small(tmp_path / root / name / "0.png", (10 if name == "cat" else 200) + shift)
    (tmp_path / "held" / "cat" / "IMG_0002.HEIC").write_bytes(HEIC)
    model = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{tmp_path / 'train'}", "--out", str(model), "--epochs", "1",
                 "--val-size", "0", "--test-size", "0", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), "--dataset", f"folder:{tmp_path / 'held'}"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("twolayer evaluate: note: skipped 1 .heic file in the class folders (the images read are "
                          ".png, .jpg,"), err
    assert len(err.splitlines()) == 2  # and the note that the folder is not the model's training data
    result = workflow.evaluate(model, f"folder:{tmp_path / 'held'}")
    assert result["n"] == 2 and result["skipped"].startswith("1 .heic file in the class folders")
    assert "skipped" not in workflow.evaluate(model, f"folder:{tmp_path / 'train'}", split="train")


def test_the_skip_note_shows_odd_names_escaped_on_one_line(tmp_path, capsys):
    """A skipped file whose suffix holds ESC or a newline, a folder beside
    train/ named with a byte that is not UTF-8 or with ESC: the note was
    printed raw (ESC reached the terminal, the newline split the line), as
    no other name from outside is."""
    import os

    root = tmp_path / "odd"
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            small(root / split / name / "0.png", 10 if name == "cat" else 200)
    (root / "train" / "cat" / "a.x\ny").write_text("")
    (root / "train" / "cat" / "b.\x1b[31mred").write_text("")
    os.mkdir(os.fsencode(root) + b"/v\xffal")
    (root / "v\x1b]0;title\x07").mkdir()
    assert main(["train", "--dataset", f"folder:{root}", "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--val-size", "0"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    [line] = [line for line in out.splitlines() if "skipped" in line]
    assert line.startswith("skipped 1 .\\x1b[31mred file and 1 .x\\ny file in the class folders (")
    assert line.endswith("v\\x1b]0;title\\x07/, v\\xffal/ beside train/ and test/, the splits read")
    assert main(["evaluate", str(tmp_path / "run"), "--dataset", f"folder:{root}", "--split", "train"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and err.startswith("twolayer evaluate: note: skipped 1 .\\x1b[31mred file and 1 .x\\ny ")


def test_a_model_made_before_from_a_macs_folder_knows_its_classes(tmp_path):
    """A model trained by an earlier twolayer on a Mac's folder holds its
    class names as the folder wrote them ("é" as e and an accent); the same
    folder is read composed (NFC) since decoding 3, so `evaluate` said `has
    class 'café', which the model does not know; it was trained on 'café',
    'dog'`."""
    import unicodedata

    composed, decomposed = "caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9")
    for name, value in ((decomposed, 10), ("dog", 200), ("zebra", 90)):
        small(tmp_path / "mac" / name / "0.png", value)
    model = hand_made_model(tmp_path / "model.npz", [decomposed, "dog", "fox", "zebra"])
    result = workflow.evaluate(model, f"folder:{tmp_path / 'mac'}", split="train")
    assert result["n"] == 3
    assert "(it has no class 'fox')" in result["note"]
    predicted = workflow.class_map([decomposed, "dog", "fox", "zebra"], ["dog", composed, "zebra"], "folder:x")
    assert predicted.tolist() == [1, 0, 3]


def test_a_decode_cache_of_an_earlier_decoding_is_decoded_again_and_said(tmp_path, capsys):
    """The cache key names the decoding (3) since the folder's reading
    changed: a folder cached by an earlier twolayer is decoded again, once
    (CIFAR-10's 50,000 JPEGs: 10 s), which looked like a first read with no
    reason given. The cache file is named here as decoding 2 named it."""
    import hashlib
    import os

    root = (tmp_path / "pets").resolve()
    for name in ("cat", "dog"):
        small(root / name / "0.png", 10 if name == "cat" else 200)
    load_dataset(f"folder:{root}")
    [cache] = (tmp_path / "data" / "cache").iterdir()
    key = hashlib.sha256(f"{root}|(5, 6)|any color: 3|upright|on white".encode())
    for label, name in enumerate(("cat", "dog")):
        path = root / name / "0.png"
        key.update(f"{path}|{label}|{path.stat().st_size}|{path.stat().st_mtime_ns}\n".encode())
    earlier = cache.with_name(f"folder-{hashlib.sha256(os.fsencode(root)).hexdigest()[:16]}-"
                              f"{key.hexdigest()[:24]}.npz")
    cache.rename(earlier)
    load_dataset(f"folder:{root}", quiet=False)
    out = capsys.readouterr().out
    assert out.startswith(f"decoding {root} again: its decode cache was made by an earlier twolayer, which read some "
                          "image files differently\n"), out
    assert [p.name for p in (tmp_path / "data" / "cache").iterdir()] == [cache.name]  # the earlier one is gone
    load_dataset(f"folder:{root}", quiet=False)  # read from the cache
    assert capsys.readouterr().out == ""
    small(root / "dog" / "1.png", 190)  # a changed folder is decoded again, as ever, with no such word
    load_dataset(f"folder:{root}", quiet=False)
    assert "again" not in capsys.readouterr().out


def hand_made_model(path: Path, class_names: list[str], shape: tuple[int, int, int] = (5, 6, 3)) -> Path:
    """A bundle as a run saves it, of an untrained network."""
    pixels = np.random.default_rng(1).integers(0, 256, (20, *shape), dtype=np.uint8)
    net = TwoLayerNet(int(np.prod(shape)), 4, len(class_names), std=0.05, seed=1, dtype=np.float32)
    bundles.save_bundle(path, bundles.Bundle(net, Preprocessor.fit("standardize", pixels), class_names, shape, {}))
    return path


def test_predict_of_a_folder_of_heic_photos_says_what_it_holds(tmp_path, capsys):
    """A phone's folder of HEIC photos alone, given to `predict` as a folder
    or a quoted pattern, was `no image files (.png, ...) in folder PATH`,
    where a class folder of them says what it holds."""
    model = hand_made_model(tmp_path / "model.npz", ["cat", "dog"])
    (tmp_path / "phone" / "2024").mkdir(parents=True)
    for name in ("IMG_0001.HEIC", "2024/IMG_0002.HEIC", "notes.txt"):
        (tmp_path / "phone" / name).write_bytes(HEIC)
    assert main(["predict", str(model), str(tmp_path / "phone")]) == 1
    assert capsys.readouterr().err.endswith(f"in folder {tmp_path / 'phone'}; it holds 2 .heic files and 1 .txt "
                                            "file\n")
    assert main(["predict", str(model), f"{tmp_path / 'phone'}/*"]) == 1
    assert capsys.readouterr().err.endswith(f"in pattern {tmp_path / 'phone'}/*; it gives 2 .heic files and 1 .txt "
                                            "file\n")


def test_a_class_folder_given_as_the_dataset_is_refused_before_any_image_is_decoded(tmp_path, capsys, monkeypatch):
    """pets/cat/ given for pets/: its photos beside one sub-folder of more,
    2023/, were skipped as `beside the class folders, of no class`, the
    sub-folder's decoded as the one class '2023', then `every training image
    is of one class, '2023'`: nothing said that cat/ is a class. Now at once,
    naming the folder above it."""
    from twolayer.data import folder

    for name in ("cat/0.png", "cat/1.jpg", "cat/2023/2.png", "dog/0.png"):
        small(tmp_path / "pets" / name, 10)

    def decoded(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(folder, "_decode", decoded)
    for command in (["train", "--out", str(tmp_path / "run")], ["tune", "--lr", "0.1,0.01", "--out",
                                                                  str(tmp_path / "t")]):
        assert main([*command, "--dataset", f"folder:{tmp_path / 'pets' / 'cat'}"]) == 1
        err = capsys.readouterr().err
        assert err == (f"twolayer {command[0]}: error: folder:{tmp_path / 'pets' / 'cat'} holds 1 .jpg file and 1 "
                       ".png file beside one sub-folder, 2023/, so it looks like a class folder itself: give the "
                       f"folder that holds the class folders (folder:{tmp_path / 'pets'}?)\n")
    assert not (tmp_path / "run").exists() and not (tmp_path / "t").exists()


def test_the_folder_above_a_dataset_is_refused_before_any_image_is_decoded(tmp_path, capsys, monkeypatch):
    """pets/ holding images/cat/ and images/dog/ (a zip's extra folder), or
    data/ holding dataset/train/: since a class folder's sub-folders are
    read, every image was decoded as the one class `images` (50,000 for
    CIFAR-10's folder) before `every training image is of one class`; it was
    refused at once when they were not read. Now at once again, naming the
    folder to give. A held-out folder of one class, kept by year, is still
    evaluated."""
    from twolayer.data import folder

    for root in ("pets/images", "download/dataset/train", "held/cat"):
        for name in ("cat", "dog") if root != "held/cat" else ("2023", "2024"):
            small(tmp_path / root / name / "0.png", 10 if name in ("cat", "2023") else 200)

    def decoded(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(folder, "_decode", decoded)
    for root, said in (("pets", "holds one class folder, images/, and a classifier needs two or more (one sub-folder "
                                "of images per class); if cat/, dog/ in it are the dataset's classes, give folder:"
                                f"{tmp_path / 'pets' / 'images'}\n"),
                       ("download", "if train/ in it is the dataset's split, give folder:"
                                    f"{tmp_path / 'download' / 'dataset'}\n")):
        for command in (["train", "--out", str(tmp_path / "run")], ["tune", "--lr", "0.1,0.01", "--out",
                                                                      str(tmp_path / "t")]):
            assert main([*command, "--dataset", f"folder:{tmp_path / root}"]) == 1
            out, err = capsys.readouterr()
            assert err.startswith(f"twolayer {command[0]}: error: folder:{tmp_path / root} ") and err.endswith(said)
            assert err.count("\n") == 1 and "decode" not in out
    assert not (tmp_path / "run").exists() and not (tmp_path / "data" / "cache").exists()
    monkeypatch.undo()
    model = hand_made_model(tmp_path / "model.npz", ["cat", "dog"])
    assert workflow.evaluate(model, f"folder:{tmp_path / 'held'}")["n"] == 2
