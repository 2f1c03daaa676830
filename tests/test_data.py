"""Built-in digits, split carving and preprocessing."""

import numpy as np
import pytest

from twolayer.data import Dataset, load_dataset, validate
from twolayer.data.images import read_image, resize_images
from twolayer.data.preprocess import Preprocessor
from twolayer.data.splits import carve
from twolayer.errors import ConfigError, DataError, UsageError


def small_dataset(n=100, shape=(4, 4, 3), classes=5, test=False):
    rng = np.random.default_rng(0)
    make = lambda m: (rng.integers(0, 256, size=(m, *shape), dtype=np.uint8), rng.integers(0, classes, size=m))  # noqa: E731
    splits = {"train": make(n)}
    if test:
        splits["test"] = make(20)
    return Dataset("small", [f"c{i}" for i in range(classes)], splits)


def test_digits_is_built_in_as_uint8_images():
    ds = load_dataset("digits")
    images, labels = ds.splits["train"]
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.uint8
    assert images.max() == 255 and labels.max() == 9
    assert ds.class_names == [str(i) for i in range(10)]


def test_unknown_dataset_names_the_choices():
    expected = "unknown dataset 'cifar11'; choose from digits, cifar10, mnist, fashion-mnist, folder:PATH"
    with pytest.raises(UsageError, match=expected):  # a bad option: the command line exits 2
        load_dataset("cifar11")


def test_a_folder_given_as_a_dataset_name_says_folder_path(tmp_path, monkeypatch):
    """A newcomer's pictures given by their path, `--dataset pets` (a folder here) or
    `--dataset ~/Pictures/pets`, said `unknown dataset 'pets'; choose from digits, ...,
    folder:PATH`, leaving them to find that the folder is folder:PATH."""
    from twolayer import TrainConfig

    (tmp_path / "pets").mkdir()
    monkeypatch.chdir(tmp_path)
    for spec in ("pets", "~/Pictures/pets", "data/pets"):
        with pytest.raises(UsageError, match=f"unknown dataset '{spec}'; a folder of class folders is given as "
                                             f"folder:{spec}$"):
            load_dataset(spec)
    with pytest.raises(UsageError, match="folder:pets$"):
        TrainConfig(dataset="pets").validate()
    with pytest.raises(UsageError, match="choose from"):  # a name, not a folder here
        load_dataset("cats")


def test_carve_is_deterministic_disjoint_and_complete():
    ds = small_dataset()
    a = carve(ds, val_size=10, test_size=0.2, split_seed=3)
    b = carve(ds, val_size=10, test_size=0.2, split_seed=3)
    assert [len(a[s][1]) for s in ("train", "val", "test")] == [70, 10, 20]
    for s in a:
        np.testing.assert_array_equal(a[s][0], b[s][0])
    # every image lands in exactly one split
    keys = [img.tobytes() for s in a for img in a[s][0]]
    assert sorted(keys) == sorted(img.tobytes() for img in ds.splits["train"][0])
    c = carve(ds, val_size=10, test_size=0.2, split_seed=4)
    assert not np.array_equal(a["val"][0], c["val"][0])


def test_carve_keeps_a_sources_own_test_split():
    ds = small_dataset(test=True)
    splits = carve(ds, val_size=10, test_size=50)
    assert splits["test"][0] is ds.splits["test"][0]
    assert len(splits["train"][1]) == 90


@pytest.mark.parametrize("val,test,message", [(60, 40, "leave no training images"), (-1, 0, "validation size")])
def test_carve_rejects_impossible_sizes(val, test, message):
    with pytest.raises(ConfigError, match=message):
        carve(small_dataset(), val, test)


def test_mean_preprocessing_is_fitted_on_train_only():
    ds = small_dataset()
    images = ds.splits["train"][0]
    pre = Preprocessor.fit("mean", images)
    np.testing.assert_allclose(pre.shift, images.reshape(100, -1).mean(axis=0), rtol=1e-6)
    out = pre.transform(images)
    assert out.dtype == np.float32 and out.shape == (100, 48)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-3)
    other = np.full((2, 4, 4, 3), 7, dtype=np.uint8)
    np.testing.assert_allclose(pre.transform(other), np.tile(7 - pre.shift, (2, 1)), rtol=1e-6)


def test_standardize_gives_zero_mean_unit_std_per_channel():
    images = small_dataset(n=400).splits["train"][0]
    out = Preprocessor.fit("standardize", images).transform(images).reshape(400, 4, 4, 3)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-4)


def test_standardize_of_pixels_keeps_the_scales_it_always_had():
    """Pixels are divided by their std + 1e-8, and a channel that rounding
    leaves all but constant is only centred, bit for bit as before the
    estimator's features got their own std: a run resumed by this twolayer
    refits its preprocessing, and must go on as it would have. The
    features' std, used for pixels too, divided four pixels 0, 0, 0, 1 by
    0.4330127 (0.43301272 before), and a channel of 300 images at 255 but
    for one pixel at 254 by 0.0018 (only centred before): a new image one
    level darker there got a feature of -555, which decided its prediction."""
    four = np.array([0, 0, 0, 1], dtype=np.uint8).reshape(4, 1, 1, 1)
    assert Preprocessor.fit("standardize", four).scale[0] == np.float32(np.sqrt(3 / 16) + 1e-8)
    images = np.random.default_rng(0).integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    images[..., 2] = 255
    images[0, 0, 0, 2] = 254
    scale = Preprocessor.fit("standardize", images).scale.reshape(32, 32, 3)
    assert (scale[..., 2] == 1).all() and (scale[..., :2] > 70).all()


def test_preprocessing_round_trips_through_arrays_and_checks_sizes():
    images = small_dataset().splits["train"][0]
    pre = Preprocessor.fit("standardize", images)
    again = Preprocessor.from_arrays("standardize", pre.to_arrays())
    np.testing.assert_array_equal(again.transform(images), pre.transform(images))
    with pytest.raises(ConfigError, match="expects 48"):
        pre.transform(np.zeros((1, 2, 2, 3), dtype=np.uint8))
    with pytest.raises(ConfigError, match="unknown preprocessing"):
        Preprocessor.fit("zca2", images)


@pytest.mark.parametrize("mutate,message", [
    (lambda ds: ds.splits.update(train=(ds.splits["train"][0][:0], ds.splits["train"][1][:0])), "no images"),
    (lambda ds: ds.splits.update(train=(ds.splits["train"][0], ds.splits["train"][1] + 5)), "labels must be in"),
    (lambda ds: ds.splits.update(train=(ds.splits["train"][0], ds.splits["train"][1][:3])), "but 3 labels"),
])
def test_validate_reports_broken_data_plainly(mutate, message):
    ds = small_dataset()
    mutate(ds)
    with pytest.raises(DataError, match=message):
        validate(ds)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_held_out_arrays_are_resized_as_a_file_is_for_a_model(tmp_path, mode):
    """evaluate resizes a held-out split of another size the way predict
    resizes a file: the same pixels either way."""
    from PIL import Image

    rng = np.random.default_rng(4)
    shape = (9, 12, 3) if mode == "RGB" else (9, 12)
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    Image.fromarray(pixels, mode).save(tmp_path / "x.png")
    channels = 3 if mode == "RGB" else 1
    expected = read_image(tmp_path / "x.png", (4, 6, channels))
    got = resize_images(pixels.reshape(1, 9, 12, channels), 4, 6)
    assert got.shape == (1, 4, 6, channels)
    np.testing.assert_array_equal(got[0], expected)
