"""Train / validation / test splits, carved deterministically.

A source's own test split is used as the test split; otherwise `test_size`
rows are carved from the training split, then `val_size` more for
validation. A size is a count (an int >= 1) or a fraction (a float in
(0, 1)). The carve depends only on `split_seed`, not on the training seed, so
every run on a dataset sees the same validation and test images.
"""

from __future__ import annotations

import numpy as np

from twolayer.data import Dataset
from twolayer.errors import DataError, UsageError

Split = tuple[np.ndarray, np.ndarray]


def resolve_size(size: float, n: int, name: str) -> int:
    """A count from a count or a fraction of n."""
    if isinstance(size, float) and 0 < size < 1:
        return max(1, round(size * n))
    if size >= 0 and int(size) == size:
        return int(size)
    raise UsageError(f"{name} must be a count >= 0 or a fraction in (0, 1), got {size!r}")


def split_counts(n: int, val_size: float, test_size: float, has_test: bool = False) -> tuple[int, int, int]:
    """(train, validation, test) counts that carve makes of a training split
    of n images (no test images when the source has its own test split).
    UsageError, a bad option, when the sizes leave no training image."""
    n_test = 0 if has_test else resolve_size(test_size, n, "test size")
    n_val = resolve_size(val_size, n, "validation size")
    if n_val + n_test >= n:
        raise UsageError(
            f"validation ({n_val}) and test ({n_test}) sizes leave no training images out of {n}; give smaller ones "
            "(--val-size, --test-size; 0 holds none out)"
        )
    return n - n_val - n_test, n_val, n_test


def carve(dataset: Dataset, val_size: float, test_size: float, split_seed: int = 0) -> dict[str, Split]:
    """{"train", "val", "test"} -> (images, labels); val or test may be empty."""
    if "train" not in dataset.splits:  # a test split alone (test/, test_batch): fine to evaluate on, not to train
        if not dataset.name.startswith("folder:"):
            raise DataError(f"{dataset.name} has a test split but no training split (CIFAR-10's data_batch_1..5): "
                            "a model can be evaluated on it, not trained")
        raise DataError(f"{dataset.name} has {', '.join(f'{s}/' for s in dataset.splits)} but no train/: a dataset "
                        "to train on is a folder PATH/train/<class>/<images> (PATH/test/ beside it optional), "
                        "or PATH/<class>/<images>")
    images, labels = dataset.splits["train"]
    n = len(images)
    order = carve_order(n, split_seed)
    has_test = "test" in dataset.splits
    n_val, n_test = split_counts(n, val_size, test_size, has_test)[1:]

    def take(rows: np.ndarray) -> Split:
        rows = np.sort(rows)  # keep the source's order within each split
        return images[rows], labels[rows]

    splits = {
        "test": dataset.splits["test"] if has_test else take(order[:n_test]),
        "val": take(order[n_test : n_test + n_val]),
        "train": take(order[n_test + n_val :]),
    }
    return splits


def carve_order(n: int, split_seed: int) -> np.ndarray:
    """The order in which carve takes n rows: test rows first, then
    validation rows; the rest train."""
    return np.random.default_rng(split_seed).permutation(n)


def untrained(labels: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """The classes among `labels` of which `train_labels` (the rows left to
    train on once validation and test rows are carved out) hold no row: a
    carve is not stratified, so a class of one or a few images may go whole
    to validation or test."""
    return np.setdiff1d(np.unique(labels), np.unique(train_labels))


def check_classes(dataset: Dataset, train_labels: np.ndarray, carved: str) -> list[str]:
    """DataError unless the training split holds two classes or more, before
    and after the carve (`carved`: the options that made it, for the
    message): a model of one class "predicts" it at accuracy 1.0 whatever it
    is shown (a folder of one sub-folder, pets/images/, is the usual slip; a
    class of one image carved out for testing, beside another, the rarer).
    Return the names of the classes the carve left without a training image."""
    labels = dataset.splits["train"][1]
    present = np.unique(labels)
    if len(present) < 2:
        name = dataset.class_names[present[0]] if len(present) else None
        others = f" ({len(dataset.class_names) - 1} more named, without training images)" \
            if len(dataset.class_names) > 1 else ""
        raise DataError(f"{dataset.name}: every training image is of one class, {name!r}{others}; a classifier "
                        "needs two or more: one sub-folder of images per class")
    lost = [dataset.class_names[i] for i in untrained(labels, train_labels)]
    if len(lost) == len(present) - 1:
        left = dataset.class_names[int(np.unique(train_labels)[0])]
        raise DataError(f"{dataset.name}: the validation and test images carved from it ({carved}) hold every "
                        f"image of {class_list(lost)}, leaving only {left!r} to train on (a classifier needs two "
                        f"classes or more); give {'it' if len(lost) == 1 else 'them'} more images, or another "
                        f"--split-seed, or a smaller {carved_sizes(dataset)}")
    return lost


def carved_sizes(dataset: Dataset) -> str:
    """The options whose sizes carve images out of `dataset`'s training split."""
    return "--val-size" if "test" in dataset.splits else "--val-size and --test-size"


def carve_options(dataset: Dataset, val_size: float, test_size: float, split_seed: int) -> str:
    """The options that made a carve of `dataset`, as a message says them (its own test split: no --test-size)."""
    test = "" if "test" in dataset.splits else f", --test-size {test_size:g}"
    return f"--val-size {val_size:g}{test}, chosen by --split-seed {split_seed}"


def class_list(names: list[str], shown: int = 5) -> str:
    """'a', 'b' and 3 more classes: a few names of a list that may hold thousands."""
    head = ", ".join(repr(n) for n in names[:shown])
    more = f" and {len(names) - shown:,} more classes" if len(names) > shown else ""
    return ("class " if len(names) == 1 else "classes ") + head + more


def untrained_note(lost: list[str], dataset: Dataset) -> str:
    """What train says of the classes the carve left without a training image."""
    return (f"{len(lost):,} of {len(dataset.class_names):,} classes have no training image (the validation and test "
            f"carve took all of theirs), so the model cannot learn them: {class_list(lost)}; give them more images, "
            f"or a smaller {carved_sizes(dataset)}")
