"""Unusual image files and degenerate datasets, through the readers, the
command line and the Python API: transparency, image modes beyond 8 bits,
constant pixels, a single class, folders of images of several sizes.

Every test here is listed in TESTING.md."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from test_datasets import write_folder
from twolayer import TrainConfig, TwoLayerNet, bundles, fit, memory
from twolayer.cli import main
from twolayer.data import load_dataset
from twolayer.data.images import read_image
from twolayer.data.preprocess import Preprocessor
from twolayer.errors import ConfigError, DataError, UsageError
from twolayer.sklearn import TwoLayerClassifier


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("TWOLAYER_REFRESH_CACHE", raising=False)
    return tmp_path / "data"


def test_a_constant_channel_or_feature_is_centred_not_divided_by_zero():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 4, 4, 3), dtype=np.uint8)
    images[..., 2] = 7  # a blue channel of one value throughout
    pre = Preprocessor.fit("standardize", images)
    new = images[:1].copy()
    new[..., 2] = 8  # one level more than every training image
    out = pre.transform(new).reshape(4, 4, 3)
    np.testing.assert_array_equal(out[..., 2], 1.0)  # it was 1e8: that one feature decided the prediction
    pixels = images[..., :2].reshape(-1, 2).astype(np.float64)  # the other channels as before, to the bit
    np.testing.assert_array_equal(pre.scale[:2], (pixels.std(axis=0) + 1e-8).astype(np.float32))
    for value in (0, 255):  # the whole dataset one value
        assert np.isfinite(Preprocessor.fit("standardize", np.full_like(images, value)).transform(new)).all()
        assert np.abs(Preprocessor.fit("standardize", np.full_like(images, value)).transform(new)).max() <= 255

    X = rng.normal(size=(40, 3))
    X[:, 1] = 0.1  # constant, but 0.1 squared and summed is not exactly 0.01 * 40
    y = np.arange(40) % 2
    model = TwoLayerClassifier(preprocess="standardize", epochs=2).fit(X, y)
    moved = X[:5].copy()
    moved[:, 1] = 0.1001
    np.testing.assert_allclose(model.predict_proba(moved), model.predict_proba(X[:5]), atol=1e-3)


def test_a_model_saved_with_a_constant_channel_divided_by_1e8_is_read_as_fit_makes_it_now(tmp_path):
    """Bundles saved before the fix above hold that channel's std + 1e-8: read
    as 1, one level of difference there no longer decides the prediction."""
    from twolayer import TwoLayerNet

    images = np.random.default_rng(0).integers(0, 256, (20, 2, 2, 3), dtype=np.uint8)
    images[..., 2] = 7
    now = Preprocessor.fit("standardize", images)
    then = Preprocessor("standardize", now.shift, np.where(now.scale == 1.0, 1e-8, now.scale).astype(now.scale.dtype))
    bundles.save_bundle(tmp_path / "old.npz", bundles.Bundle(TwoLayerNet(12, 4, 2, seed=0, dtype=np.float32), then,
                                                             ["a", "b"], (2, 2, 3), {}))
    loaded = bundles.load_bundle(tmp_path / "old.npz")
    np.testing.assert_array_equal(loaded.preprocessor.scale, now.scale)  # 1e-8 was read as it was saved
    new = images[:1].copy()
    new[..., 2] = 8
    assert np.abs(loaded.preprocessor.transform(new)).max() < 100  # it was 1e8


@pytest.mark.parametrize("layout", ["one folder", "train/ of one class, test/ of two"])
def test_training_on_one_class_is_refused_in_one_line(tmp_path, capsys, layout):
    if layout == "one folder":  # pets/images/*.png: the usual slip
        write_folder(tmp_path / "pets", classes=("images",), n=12)
        named = "'images'; a classifier needs two or more"
    else:
        write_folder(tmp_path / "pets" / "train", classes=("cat",), n=12)
        write_folder(tmp_path / "pets" / "test", classes=("cat", "dog"), n=2)
        named = "'cat' (1 more named, without training images)"
    tune = ["tune", "--lr", "0.1,0.01", "--out", str(tmp_path / "t")]
    for command in (["train", "--out", str(tmp_path / "run")], tune):
        capsys.readouterr()
        assert main([*command, "--dataset", f"folder:{tmp_path / 'pets'}", "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "every training image is of one class" in err and named in err, err
    assert not (tmp_path / "run").exists()  # it was a model that said 1.0 of anything


def test_transparent_pixels_are_white_in_every_format_and_reader(tmp_path):
    """One picture, a red square on a transparent background, saved as each
    format stores transparency: every reader sees it on white."""
    pixels = np.zeros((6, 6, 4), np.uint8)
    pixels[..., :3] = (30, 200, 90)  # the colour PNG keeps under the transparent pixels
    pixels[2:4, 2:4] = (255, 0, 0, 255)
    seen = np.full((6, 6, 3), 255, np.uint8)
    seen[2:4, 2:4] = (255, 0, 0)
    picture = Image.fromarray(pixels, "RGBA")
    for c in ("a", "b"):
        (tmp_path / "f" / c).mkdir(parents=True)
    picture.save(tmp_path / "f" / "a" / "rgba.png")
    picture.save(tmp_path / "f" / "a" / "rgba.webp", lossless=True)  # stores black under them
    palette = Image.new("P", (6, 6), 0)  # entry 0, green, is the transparent one
    palette.putpalette([30, 200, 90, 255, 0, 0] + [0] * 762)
    palette.paste(1, (2, 2, 4, 4))
    palette.save(tmp_path / "f" / "a" / "palette.gif", transparency=0)
    palette.save(tmp_path / "f" / "b" / "palette.png", transparency=0)
    Image.fromarray(pixels[..., :3]).save(tmp_path / "f" / "b" / "keyed.png", transparency=(30, 200, 90))
    files = sorted((tmp_path / "f").glob("*/*"))
    for path in files:
        for shape in (None, (6, 6, 3)):
            np.testing.assert_array_equal(read_image(path, shape), seen, err_msg=path.name)
    np.testing.assert_array_equal(load_dataset(f"folder:{tmp_path / 'f'}").splits["train"][0], [seen] * len(files))

    gray = np.zeros((6, 6, 2), np.uint8)  # gray plus alpha: gray on white
    gray[2:4, 2:4] = (40, 255)
    gray[0, 0] = (40, 128)  # half transparent: halfway to white
    Image.fromarray(gray, "LA").save(tmp_path / "la.png")
    expected = np.full((6, 6, 1), 255, np.uint8)
    expected[2:4, 2:4] = 40
    expected[0, 0] = 147
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), expected)
    opaque = np.random.default_rng(0).integers(0, 256, (6, 6, 4), dtype=np.uint8)
    opaque[..., 3] = 255  # an alpha channel that hides nothing: the pixels as they are
    Image.fromarray(opaque, "RGBA").save(tmp_path / "opaque.png")
    np.testing.assert_array_equal(read_image(tmp_path / "opaque.png"), opaque[..., :3])


def test_float_and_32_bit_images_are_scaled_from_their_white(tmp_path):
    gray = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "g8.png")
    Image.fromarray(gray.astype(np.float32) / 255).save(tmp_path / "unit.tif")  # floats in 0..1 (mode F)
    Image.fromarray(gray.astype(np.float32)).save(tmp_path / "float255.tif")  # floats in 0..255
    full = np.rint(gray * ((2**31 - 1) / 255)).astype(np.int32)  # 0..2**31-1: mode I's range
    Image.fromarray(full).save(tmp_path / "full32.tif")
    for name in ("unit.tif", "float255.tif", "full32.tif"):
        for shape in (None, (8, 8, 1), (8, 8, 3)):
            np.testing.assert_array_equal(read_image(tmp_path / name, shape), read_image(tmp_path / "g8.png", shape),
                                          err_msg=name)  # the 0..1 floats were black, the 32-bit values white
    for bad in (np.nan, np.inf):
        values = gray.astype(np.float32) / 255
        values[3, 3] = bad
        Image.fromarray(values).save(tmp_path / "bad.tif")
        with pytest.raises(DataError, match="bad.tif: it holds pixel values that are NaN or infinite"):
            read_image(tmp_path / "bad.tif")  # it was scaled as 32-bit: all black


def test_a_dark_16_bit_pgm_gives_the_pixels_of_the_same_16_bit_png(tmp_path, monkeypatch):
    """Pillow opens a 16-bit PGM as I (a 16-bit PNG as I;16), as it does a
    32-bit TIFF: one whose values were all at most 255 was scaled as 8 bits,
    255 times brighter than the same pixels as a PNG."""
    values = np.random.default_rng(0).integers(0, 256, (8, 8)).astype(np.uint16)  # 16 bits, dark
    Image.fromarray(values).save(tmp_path / "d16.png")
    (tmp_path / "d16.pgm").write_bytes(b"P5\n8 8\n65535\n" + values.astype(">u2").tobytes())
    assert Image.open(tmp_path / "d16.pgm").mode == "I"
    expected = np.rint(values / 257).astype(np.uint8)[..., None]
    for name in ("d16.png", "d16.pgm"):
        for shape in (None, (8, 8, 1)):
            np.testing.assert_array_equal(read_image(tmp_path / name, shape), expected, err_msg=name)
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    for c in ("a", "b"):  # the folder loader, through the same to_mode
        (tmp_path / "f" / c).mkdir(parents=True)
        (tmp_path / "f" / c / "0.pgm").write_bytes((tmp_path / "d16.pgm").read_bytes())
    np.testing.assert_array_equal(load_dataset(f"folder:{tmp_path / 'f'}").splits["train"][0][0], expected)


def test_images_of_several_sizes_or_large_ones_are_resized_and_said(tmp_path, monkeypatch):
    """A folder of one's own pictures: they differ in size, and photos are
    large. Refused before (`all images must share one size`; same-size photos
    made a network of millions of inputs): now each is resized to 32 x 32, as
    `predict` resizes a picture, and the Dataset says what from."""
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    write_folder(tmp_path / "f", classes=("a", "b"), n=3, size=(8, 8))
    Image.new("RGB", (2000, 1500), (200, 30, 30)).save(tmp_path / "f" / "a" / "-big.png")  # sorted first
    ds = load_dataset(f"folder:{tmp_path / 'f'}")
    assert ds.image_shape == (32, 32, 3) and ds.resized_from == "2 sizes, 8x8 to 2000x1500"
    for row, name in ((0, "a/-big.png"), (4, "b/0.png")):  # each as predict reads it
        np.testing.assert_array_equal(ds.splits["train"][0][row], read_image(tmp_path / "f" / name, (32, 32, 3)))
    again = load_dataset(f"folder:{tmp_path / 'f'}")  # from the cache: the same images, still said
    np.testing.assert_array_equal(again.splits["train"][0], ds.splits["train"][0])
    assert again.resized_from == ds.resized_from
    assert load_dataset(f"folder:{tmp_path / 'f'}", image_size=12).image_shape == (12, 12, 3)  # asked for

    write_folder(tmp_path / "small", size=(8, 8))  # one small size: kept
    small = load_dataset(f"folder:{tmp_path / 'small'}")
    assert small.image_shape == (8, 8, 3) and small.resized_from is None
    write_folder(tmp_path / "photos", size=(200, 150))  # one size, but large
    assert load_dataset(f"folder:{tmp_path / 'photos'}").resized_from == "200x150"
    with pytest.raises(UsageError, match="image_size resizes the images of a folder: dataset"):
        load_dataset("digits", image_size=16)


def test_a_folder_of_photos_trains_evaluates_and_predicts_at_one_size(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    for root, n in (("photos", 8), ("held", 3)):
        for c, name in enumerate(("cat", "dog")):
            (tmp_path / root / name).mkdir(parents=True)
            for i in range(n):
                size = (int(rng.integers(40, 200)), int(rng.integers(40, 200)))
                Image.new("RGB", size, (60 + 120 * c, 90, 30)).save(tmp_path / root / name / f"{i}.jpg")
    run = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{tmp_path / 'photos'}", "--epochs", "2", "--val-size", "2",
                 "--test-size", "2", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "images resized to 32x32 pixels from 16 sizes, " in out and "--image-size N sets another size" in out
    assert bundles.load_bundle(run).image_shape == (32, 32, 3)
    assert main(["evaluate", str(run), "--dataset", f"folder:{tmp_path / 'held'}", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 6 and "resized from 6 sizes, " in result["note"]  # it refused: images of several sizes
    assert main(["train", "--dataset", f"folder:{tmp_path / 'photos'}", "--epochs", "1", "--image-size", "8",
                 "--out", str(tmp_path / "run8"), "--quiet"]) == 0
    assert bundles.load_bundle(tmp_path / "run8").image_shape == (8, 8, 3)


@pytest.mark.parametrize("sizes,held", [([], "validation (1) and test (1)"), (["--val-size", "2"], "validation (2)")])
def test_two_images_in_all_say_what_to_give(tmp_path, capsys, sizes, held):
    write_folder(tmp_path / "two", classes=("a", "b"), n=1)
    assert main(["train", "--dataset", f"folder:{tmp_path / 'two'}", *sizes, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and held in err and "out of 2; give smaller ones (--val-size, --test-size" in err, err
    assert main(["train", "--dataset", f"folder:{tmp_path / 'two'}", "--val-size", "0", "--test-size", "0",
                 "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 0  # as it says


def test_a_bundle_takes_pixels_0_to_255_of_any_number_type_and_refuses_others(tmp_path):
    write_folder(tmp_path / "f", classes=("a", "b"), n=6, size=(4, 4))
    assert main(["train", "--dataset", f"folder:{tmp_path / 'f'}", "--epochs", "1", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    bundle = bundles.load_bundle(tmp_path / "run")
    images = load_dataset(f"folder:{tmp_path / 'f'}").splits["train"][0]
    expected = bundle.probabilities(images)
    for same in (images.astype(np.float32), images.astype(np.int64), images.tolist()):
        np.testing.assert_array_equal(bundle.probabilities(same), expected)
    scaled = images / 255  # matplotlib's imread of a PNG: scored as near-black images
    for bad, message in ((scaled, r"^images look scaled to \[0, 1\] \(the largest value is 1\), but the model takes "
                                  r"pixel values 0\.\.255: multiply them by 255"),
                         (images.astype(np.int64) * 300, r"^images must hold pixel values 0\.\.255, .*0\.\.76500"),
                         (images - 128.0, r"^images must hold pixel values 0\.\.255, .*found -128\.\.127"),
                         (np.where(images > 100, np.nan, images), r"^images hold NaN or infinity"),
                         (images.astype(str), r"dtype <U3"),
                         (images > 100, r"^images must hold pixel values 0\.\.255, got dtype bool")):
        with pytest.raises(ValueError) as e:
            bundle.probabilities(bad)
        assert re.search(message, str(e.value)), str(e.value)


def test_netpbm_and_jfif_files_are_images_in_folders(tmp_path, capsys):
    """A face dataset of PGM files (AT&T's, Yale's), JPEGs named .jfif by Windows."""
    rng = np.random.default_rng(0)
    for c, suffix in (("s1", "pgm"), ("s2", "PGM"), ("s3", "jfif")):
        (tmp_path / "faces" / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (8, 6), dtype=np.uint8)).save(tmp_path / "faces" / c / f"{i}.{suffix}",
                                                                                 format="PPM" if c != "s3" else "JPEG")
    Image.fromarray(rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)).save(tmp_path / "color.ppm")
    dataset = load_dataset(f"folder:{tmp_path / 'faces'}")  # it was: class folder .../s1 holds no images
    assert dataset.image_shape == (8, 6, 1) and len(dataset.splits["train"][1]) == 12
    assert main(["train", "--dataset", f"folder:{tmp_path / 'faces'}", "--epochs", "1", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "faces"), str(tmp_path / "color.ppm")]) == 0
    assert capsys.readouterr().out.count("\n") == 13  # every file of the folder and the one named


def test_zca_of_images_too_large_for_memory_is_one_line(tmp_path, capsys, monkeypatch):
    """ZCA holds a few (H*W*C)^2 matrices: 100x100 color images need 36 GB."""
    write_folder(tmp_path / "f", classes=("a", "b"), n=3, size=(32, 32))
    monkeypatch.setattr(memory, "available_bytes", lambda: 200_000_000)  # the network fits; ZCA's 377 MB do not
    assert main(["train", "--dataset", f"folder:{tmp_path / 'f'}", "--preprocess", "zca",
                 "--out", str(tmp_path / "run"), "--val-size", "0", "--test-size", "0"]) == 1
    err = capsys.readouterr().err
    assert err == ("twolayer train: error: ZCA whitening of images of 32x32x3 (3,072 values) needs about 377.5 MB of "
                   "memory to train; this machine has 200.0 MB available; choose --preprocess standardize, or smaller "
                   "images\n")  # it was a MemoryError saying to try a smaller --hidden-size, or the OOM killer
    assert not (tmp_path / "run").exists()


def test_an_image_size_too_large_for_memory_is_one_line_before_decoding(tmp_path, capsys, monkeypatch):
    """--image-size 4096 on a folder of 450 photos decoded for minutes, then
    the OOM killer came (exit 137, a run folder left): the decode counted
    only its uint8 images, not the float32 rows a network reads (4 bytes
    more a value), and the network of 4096 x 4096 inputs was measured only
    once the data was loaded."""
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    write_folder(tmp_path / "f", classes=("a", "b"), n=3, size=(8, 8))
    monkeypatch.setattr(memory, "available_bytes", lambda: 200_000_000)
    with pytest.raises(DataError, match=r"^decoding 6 images to 2000x2000 pixels needs about 360.0 MB of memory to "
                                        r"hold them and their float32 copy; this machine has 200.0 MB available; "
                                        r"give --image-size N to decode them smaller$"):
        load_dataset(f"folder:{tmp_path / 'f'}", image_size=2000)  # 72 MB decoded: it decoded them
    assert main(["train", "--dataset", f"folder:{tmp_path / 'f'}", "--image-size", "4096",
                 "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err == (
        "twolayer train: error: a hidden layer of 100 units on 16,777,216 inputs needs about 27.0 GB of memory to "
        "train; this machine has 200.0 MB available; choose a smaller --hidden-size or --image-size\n")
    assert not (tmp_path / "run").exists() and not list((tmp_path / "data").rglob("*.npz"))  # nothing decoded


def test_a_batch_too_large_for_memory_is_named_and_one_larger_than_the_data_is_the_data(tmp_path, monkeypatch):
    """--batch-size 2**63 was refused as needing 18 billion TB, with `choose
    a smaller --hidden-size`, though a batch is at most the training rows
    (fit takes min(batch, rows)) and the width was not at fault; a batch
    that is too large for the memory is now named as such."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 200_000_000)
    assert main(["train", "--batch-size", str(2**63), "--iters", "2", "--quiet", "--out", str(tmp_path / "r")]) == 0
    X, y = np.random.default_rng(0).normal(size=(50, 64)), np.arange(50) % 3
    TwoLayerClassifier(batch_size=2**63, epochs=1, val_size=0).fit(X, y)
    monkeypatch.setattr(memory, "available_bytes", lambda: 100_000_000)  # the net's own width counts, not config's
    with pytest.raises(ConfigError, match=r"^a batch of 100,000 rows of 64 inputs for 10 hidden units needs about "
                                          r"11\d.\d MB of memory to train; this machine has 100.0 MB available; "
                                          r"choose a smaller --batch-size$"):
        fit(TwoLayerNet(64, 10, 3), np.zeros((100_000, 64)), np.arange(100_000) % 3,
            config=TrainConfig(batch_size=10**9, iters=1))


def test_a_cached_decode_of_mixed_sizes_is_what_a_fresh_decode_gives(tmp_path, monkeypatch):
    """A folder of several sizes whose first image is small: its cache, made
    at --image-size N of the first image's size, was read as that folder's
    own size (N x N) instead of the 32 x 32 a fresh decode gives; and with no
    size asked for, every load decoded the images again up to the first of
    another size before it found the 32 x 32 cache."""
    import twolayer.data.folder as folder

    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    write_folder(tmp_path / "f", classes=("a", "b"), n=3, size=(8, 8))
    Image.new("RGB", (10, 6), (200, 30, 30)).save(tmp_path / "f" / "b" / "9.png")  # sorted last
    spec = f"folder:{tmp_path / 'f'}"
    assert load_dataset(spec, image_size=8).image_shape == (8, 8, 3)  # cached at 8 x 8, resized
    auto = load_dataset(spec)  # no size asked for: not that cache
    fresh = load_dataset(spec, refresh=True)
    assert auto.image_shape == fresh.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(auto.splits["train"][0], fresh.splits["train"][0])
    monkeypatch.setattr(folder, "_decode", lambda *a, **k: pytest.fail("decoded again"))
    cached = load_dataset(spec)
    assert cached.resized_from == fresh.resized_from == "2 sizes, 10x6 to 8x8"
    np.testing.assert_array_equal(cached.splits["train"][0], fresh.splits["train"][0])


@pytest.mark.parametrize("size", [32.0, 0, "32", (8,), True, 5000, (8, -1)])
def test_load_dataset_names_an_image_size_it_cannot_use(tmp_path, monkeypatch, size):
    """The Python API's image_size: 32.0 or (8,) was a TypeError or
    ValueError from inside the folder reader, 0 a decoding error naming the
    first image; a whole float (32.0) is 32, as the option table reads it."""
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    write_folder(tmp_path / "f", classes=("a", "b"), n=2, size=(8, 8))
    if size == 32.0 and not isinstance(size, bool):
        assert load_dataset(f"folder:{tmp_path / 'f'}", image_size=size).image_shape == (32, 32, 3)
        return
    with pytest.raises(UsageError, match=r"image_size must be N \(N x N pixels\) or \(H, W\), whole numbers"):
        load_dataset(f"folder:{tmp_path / 'f'}", image_size=size)
