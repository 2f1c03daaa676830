"""`folder:PATH`: one sub-folder of images per class.

    PATH/train/<class>/*.jpg and PATH/test/<class>/*.png  -> those splits
    PATH/<class>/*.jpg                                      -> one split

A class's images are every image file under its folder, sub-folders
included (images.files_under, as predict lists a folder); its other files
are skipped, and the Dataset says which (`skipped`). Images are decoded
with Pillow into uint8 (N, H, W, C): C is 3 (RGB) when
any training image is in color, else 1 (gray); the test split is read the
same way, each upright (its EXIF orientation applied) and its transparent
pixels on white (images.image_pixels). Hidden files and
folders (.DS_Store, ._NAME.jpg, __MACOSX, Thumbs.db, @eaDir) are skipped. Training images keep
their size when all share one of at most 128 x 128 pixels, and test images
are then resized to it; else, or when a size is asked for, every image is
resized (see AUTO_SIZE). Decoded arrays are cached in the data directory under a
key made from every file's path, size and modification time, so a changed
folder is read again, and checked when read (a damaged cache is rebuilt);
nothing is ever written into PATH. A file rewritten in place with the same
size and modification time keeps its key: refresh=True, or
TWOLAYER_REFRESH_CACHE=1, decodes everything again.
"""

from __future__ import annotations

import hashlib
import math
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twolayer.data import Dataset, files_hint
from twolayer.data.cache import cache_folder, cache_path, load_cached, refresh_wanted, save_cached
from twolayer.data.fingerprint import DECODING
from twolayer.data.images import (
    IMAGE_SUFFIXES,
    files_under,
    image_pixels,
    is_hidden,
    is_image_name,
    kinds,
    pillow_image,
    pillow_mode,
    reading,
    upright,
)
from twolayer.errors import DataError, UsageError
from twolayer.files import web_address
from twolayer.memory import shortfall
from twolayer.progress import Progress
from twolayer.streams import say

SPLIT_NAMES = ("train", "test")

Listing = list[tuple[str, int, int, int]]  # (path, label, size, mtime_ns)


# With no size asked for, images keep theirs when all share one of at most AUTO_LARGEST
# pixels; else every one is resized to AUTO_SIZE x AUTO_SIZE (CIFAR-10's size), and the
# Dataset says what from: a folder of photos differs in size, and each has millions of pixels.
AUTO_SIZE = 32
AUTO_LARGEST = 128 * 128


class OddSize(DataError):
    """An image whose size differs from the one all must share: load_folder
    then resizes the training images (never said to the user)."""


def load_folder(path: str | Path, cache_root: Path | None, quiet: bool = False, refresh: bool = False,
                size: int | tuple[int, int] | None = None) -> Dataset:
    """The dataset in an image folder. Decoded arrays come from the cache
    when its key matches and its contents check out; `refresh` (or
    TWOLAYER_REFRESH_CACHE=1) decodes every image again, for files rewritten
    in place with the same size and modification time. `size`: (H, W), or N
    for N x N, that every image is resized to; None: see AUTO_SIZE."""
    fault = web_address(str(path))
    if fault:
        raise DataError(f"folder:{path} {fault}; give folder:PATH with one sub-folder of images per class")
    try:
        root = Path(path).expanduser().resolve()  # one cache key however the path is spelled
    except (RuntimeError, OSError) as e:  # ~nosuchuser, a symlink loop
        raise DataError(f"cannot use folder:{path}: {e}") from None
    if not root.is_dir():
        hint = files_hint(root)
        raise DataError(f"no image folder at {root}: " + (hint if hint else "give folder:PATH with one sub-folder "
                                                          "of images per class"))
    if cache_root is not None and _within(cache_root, root):  # --data-dir naming the image folder: its cache/
        cache_root = None  # would be read as a class
    split_dirs = _split_dirs(root)
    class_dirs = {split: _classes(folder) for split, folder in split_dirs.items()}
    class_names = sorted({name for dirs in class_dirs.values() for name in dirs})
    if not class_names:
        loose = _loose_images(root)
        hint = files_hint(root) or (f"the images there ({kinds([p.name for p in loose])}) are of no class: put "
                                    "each class's images in a sub-folder named for it (twolayer predict MODEL FOLDER "
                                    "classifies images of no class)" if loose else None)
        raise DataError(f"{root} holds no class folders: expected {root}/<class>/<image files>"
                        + (f"; {hint}" if hint else ""))

    asked = _asked(size)
    target = asked  # (H, W) every image is resized to; None: their own size, which all must share
    own = None  # (H, W): the training images' own size, when they keep it
    channels = None  # the first split's images decide (3 if any is in color), the other is read that way
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    resized_from = None
    skipped: list[str] = []
    for split, folder in split_dirs.items():
        listing, others = _list(folder, class_dirs[split], class_names)
        skipped.extend(others)
        labels = np.array([label for _, label, _, _ in listing], dtype=np.int64)
        source = Split(folder, listing, labels, channels, cache_root, quiet, refresh)
        if target is None and own is None:
            first = _size(listing[0][0])
            if first[0] * first[1] > AUTO_LARGEST or source.of_several_sizes():
                target = (AUTO_SIZE, AUTO_SIZE)
            else:
                own = first
        test_only = bool(splits) and target is None  # training images kept their size: test images are resized to it
        if test_only:  # as evaluate reads a held-out folder at the model's size
            target, own = own, None
        try:
            images, note = source.images(target, own)
        except OddSize:  # training images of several sizes (found only now: the first ones share one)
            target, own = (AUTO_SIZE, AUTO_SIZE), None
            images, note = source.images(target, None)
        channels = images.shape[3]
        splits[split] = (images, labels)
        resized_from = resized_from or (f"the test split's {note}" if test_only and note else note)
    return Dataset(f"folder:{root}", class_names, splits, resized_from,
                   _skipped(root, split_dirs, skipped))


def _within(cache_root: Path, root: Path) -> bool:
    """Whether the decode cache of data directory `cache_root` lies in the
    image folder `root` (--data-dir naming it, or one of its class folders):
    then no cache is kept, since its cache/ folder would be read as a class
    folder of the dataset (`class folder cache holds no images`) by every
    later run."""
    try:
        return cache_folder(cache_root).resolve().is_relative_to(root)
    except (RuntimeError, OSError):  # ~nosuchuser, a link loop: a cache that cannot be written there anyway
        return False


def _split_dirs(root: Path) -> dict[str, Path]:
    """The folders of a dataset's splits: train/ and test/ when either is
    there (test/ alone: a folder to evaluate on), else the folder itself."""
    return {s: root / s for s in SPLIT_NAMES if (root / s).is_dir()} or {"train": root}


def check_training_folder(path: str | Path) -> None:
    """Before any image is decoded, DataError when the folder to train on
    is, by the look of it, the folder above the dataset: a single class
    folder holding class-like sub-folders (pets/ holding images/cat/ and
    images/dog/) or a split (data/train/). Its sub-folders are read as
    that one class's images, every one decoded before check_classes refused
    them (it was refused at once while sub-folders were not read). A single
    class folder of images alone is check_classes' to refuse; what
    load_folder refuses (no such folder, ...) is left to it."""
    try:
        root = Path(path).expanduser().resolve()
        train = _split_dirs(root).get("train") if root.is_dir() else None
        classes = _classes(train) if train else {}
        [(name, folder)] = classes.items() if len(classes) == 1 else [(None, None)]
        inner = _subdirs(folder) if folder else []
        loose = [p.name for p in _loose_images(train)] if folder else []
    except (RuntimeError, OSError, DataError):
        return
    if loose and train == root:  # pets/cat/ given, holding its photos and a 2023/ of more: a class, not the dataset
        raise DataError(f"folder:{root} holds {kinds(loose)} beside one sub-folder, {name}/, so it looks like a "
                        f"class folder itself: give the folder that holds the class folders (folder:{root.parent}?)")
    splits = any(d.name in SPLIT_NAMES for d in inner)
    if len(inner) < 2 and not splits:
        return
    listed = ", ".join(as_text(d.name) + "/" for d in inner[:4]) + (", ..." if len(inner) > 4 else "")
    what = ("is the dataset's split" if len(inner) == 1 else "are the dataset's splits") if splits else \
        "are the dataset's classes"
    raise DataError(f"folder:{root} holds one class folder, {name}/, and a classifier needs two or more (one "
                    f"sub-folder of images per class); if {listed} in it {what}, give folder:{folder}")


def listed_classes(path: str | Path) -> dict[str, Path]:
    """The class folders of folder:PATH by class name, every split's, as
    load_folder names them, before any image is decoded (evaluate matches
    them to a model's first: a folder of classes the model does not know
    was decoded whole, then refused); {} where load_folder would refuse the
    folder itself, which it says."""
    try:
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            return {}
        return {name: d for folder in _split_dirs(root).values() for name, d in _classes(folder).items()}
    except (RuntimeError, OSError, DataError):
        return {}


def _skipped(root: Path, split_dirs: dict[str, Path], files: list[str]) -> str | None:
    """What of the folder is not read, said (Dataset.skipped): the class
    folders' other files (a phone's HEIC photos among its JPEGs), images
    beside the class folders (of no class), and beside train/ and test/ any
    other folder (a val/: validation is carved from train/); each was left
    out without a word."""
    said = [f"{kinds(files)} in the class folders (the images read are {', '.join(IMAGE_SUFFIXES)})"] if files else []
    loose = [str(p) for folder in split_dirs.values() for p in _loose_images(folder)]
    if loose:
        said.append(f"{kinds(loose)} beside the class folders, of no class (each class's images are in its folder)")
    if split_dirs != {"train": root}:
        beside = [d.name for d in _subdirs(root) if d.name not in SPLIT_NAMES]
        if beside:
            val = any(name.casefold() in VALIDATION_NAMES for name in beside)
            said.append(f"{', '.join(as_text(name) + '/' for name in beside)} beside "
                        f"{' and '.join(f'{s}/' for s in split_dirs)}, the splits read"
                        + (" (validation images are carved from train/: --val-size)" if val else ""))
    return "; ".join(said) or None


def _loose_images(folder: Path) -> list[Path]:
    """The image files directly in a split folder, beside its class folders: of no class."""
    return [p for p in folder.iterdir() if is_image_name(p.name) and not is_hidden(p.name) and p.is_file()]


VALIDATION_NAMES = ("val", "valid", "validation", "dev")  # a download's validation split, which is not read


def _asked(size: Any) -> tuple[int, int] | None:
    """load_folder's `size` as (H, W); UsageError for anything but N or (H, W)
    of whole numbers 1..IMAGE_SIDE (32.0 or (8,) was a TypeError from inside, 0 a
    decoding error naming the first image)."""
    from twolayer.config import IMAGE_SIDE, is_number  # config imports this package

    if size is None:
        return None
    pair = tuple(size) if isinstance(size, (tuple, list, np.ndarray)) else (size, size)
    if not (len(pair) == 2 and all(is_number(s, int) and 1 <= s <= IMAGE_SIDE for s in pair)):
        raise UsageError(f"image_size must be N (N x N pixels) or (H, W), whole numbers from 1 to {IMAGE_SIDE}, "
                         f"got {size!r}")
    return int(pair[0]), int(pair[1])


@dataclass
class Split:
    """A split's folder and its listing, and where its decoded images are cached."""

    folder: Path
    listing: Listing
    labels: np.ndarray
    channels: int | None
    cache_root: Path | None  # None: no decode cache (_within, or no data directory)
    quiet: bool
    refresh: bool
    read: dict = field(default_factory=dict)  # size -> what cached(size) found

    def images(self, target: tuple[int, int] | None, own: tuple[int, int] | None) -> tuple[np.ndarray, str | None]:
        """The split's images, from the cache or decoded (and cached): resized
        to `target`, or else all of size `own` (OddSize otherwise); and what
        sizes they were resized from (None: none was)."""
        size = target or own
        cached = self.cached(size)
        # without a target, only images all of `size` (a decode resized to that size is another one's)
        if cached is not None and (target or cached[1] == {size}):
            images, sizes = cached
        else:  # absent, damaged or not what this listing decodes to: decode again
            if not self.quiet and self.decoded_before(size):  # minutes of a photo folder's decoding, said why
                say(f"decoding {self.folder} again: its decode cache was made by an earlier twolayer, which read "
                    "some image files differently")
            images, sizes = _decode(self.listing, f"decode {self.folder.name or self.folder}", self.quiet, size,
                                    target is None, self.channels)
            if self.cache_root is not None:
                save_cached(self.where(size), {"images": images, "labels": self.labels,
                                               "sizes": np.array(sorted(sizes), dtype=np.int64).reshape(-1, 2)})
        return images, _sizes(sizes) if sizes != {size} else None

    def where(self, size: tuple[int, int]) -> Path:
        return cache_path(self.cache_root, _source_name(self.folder, size), _key(self.folder, self.listing, size,
                                                                                 self.channels))

    def decoded_before(self, size: tuple[int, int]) -> bool:
        """Whether the cache holds these very files as an earlier decoding
        (fingerprint.DECODING) made them: they are decoded again for that
        alone, not because the folder changed. Decodings before 4 named the
        file by the folder alone."""
        if self.cache_root is None:
            return False
        return any(cache_path(self.cache_root, _source_name(self.folder, size if earlier > 3 else None),
                              _key(self.folder, self.listing, size, self.channels, earlier)).is_file()
                   for earlier in range(2, DECODING))

    def cached(self, size: tuple[int, int]) -> tuple[np.ndarray, set[tuple[int, int]]] | None:
        """The images decoded at `size` and the sizes they had, from the cache
        (None: not there, damaged or not what this listing decodes to); each
        size's file is read once."""
        if size not in self.read:
            self.read[size] = self._cached(size)
        return self.read[size]

    def _cached(self, size: tuple[int, int]) -> tuple[np.ndarray, set[tuple[int, int]]] | None:
        if self.cache_root is None:
            return None
        cached = None if refresh_wanted(self.refresh) else load_cached(self.where(size))
        if cached is None or not _fits(cached, self.labels, size, self.channels):
            return None
        sizes = cached.get("sizes")
        if not (isinstance(sizes, np.ndarray) and sizes.dtype.kind in "iu" and sizes.ndim == 2
                and sizes.shape[1] == 2 and len(sizes)):
            return None
        return cached["images"], {(int(h), int(w)) for h, w in sizes}

    def of_several_sizes(self) -> bool:
        """Whether the cache holds this listing resized to AUTO_SIZE from
        several sizes: a folder whose first image is small would otherwise be
        decoded up to its first image of another size on every load."""
        cached = self.cached((AUTO_SIZE, AUTO_SIZE))
        return cached is not None and len(cached[1]) > 1


def _sizes(sizes: set[tuple[int, int]]) -> str:
    """'16x12', or '3 sizes, 200x180 to 640x480': the sizes (H, W) images had."""
    ordered = sorted(sizes, key=lambda s: (s[0] * s[1], s))
    if len(ordered) == 1:
        return _shown(ordered[0])
    return f"{len(ordered)} sizes, {_shown(ordered[0])} to {_shown(ordered[-1])}"


def _shown(size: tuple[int, int]) -> str:
    return f"{size[1]}x{size[0]}"  # width x height, as image viewers say it


def as_text(name: str) -> str:
    """A folder's name as the text its bytes spell in UTF-8, whatever the
    locale (under LANG=C without UTF-8 mode Python decodes "chat_é" to lone
    surrogates, which no file, figure or terminal can hold, and which would
    give the same data another fingerprint), in Unicode's composed form
    (NFC): macOS writes "é" as e and a combining accent, so a folder from a
    Mac named a class other than the model's own "é", though both look
    alike."""
    return unicodedata.normalize("NFC", os.fsencode(name).decode("utf-8", "backslashreplace"))


def _classes(folder: Path) -> dict[str, Path]:
    """A split folder's class folders by class name (as_text). DataError for
    two whose names differ only in their Unicode form: one class, or two?"""
    classes: dict[str, Path] = {}
    for d in _subdirs(folder):
        name = as_text(d.name)
        if name in classes:
            raise DataError(f"class folders {ascii(str(classes[name]))} and {ascii(str(d))} have one name, "
                            f"{name!r}, written in two Unicode forms (as Linux and macOS write accents): rename one, "
                            "or merge them")
        classes[name] = d
    return classes


def _size(path: str) -> tuple[int, int]:
    """(H, W) of one image, as it is decoded."""
    from PIL import Image

    width, height = _open(path, Image).size  # upright: a sideways photo's EXIF orientation swaps the two
    return height, width


def _fits(cached: dict[str, np.ndarray], labels: np.ndarray, size: tuple[int, int], channels: int | None) -> bool:
    """Whether a cache file holds what decoding the listing would give: one
    uint8 image of `size` per file, with `channels` (1 or 3 when None), and
    the listing's labels."""
    images = cached.get("images")
    return (
        isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 4
        and images.shape[:3] == (len(labels), *size) and images.shape[3] in ((channels,) if channels else (1, 3))
        and np.array_equal(cached.get("labels", ()), labels)
    )


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p.name))


def _list(folder: Path, class_dirs: dict[str, Path], class_names: list[str]) -> tuple[Listing, list[str]]:
    """The image files of each class folder (`class_dirs`, by name), its
    sub-folders' included (as predict reads a folder: images.files_under),
    labelled by the name's place in `class_names`; and the other files
    there, which are skipped (a phone's .heic photos, notes)."""
    listing: Listing = []
    skipped: list[str] = []
    for label, name in enumerate(class_names):
        class_dir = class_dirs.get(name)
        if class_dir is None:
            continue
        try:
            files, others = files_under(class_dir)
        except OSError as e:  # a sub-folder that cannot be read (its images would be left out), a link loop
            raise DataError(f"{e.filename}: {e.strerror}") from None
        if not files:
            raise DataError(f"class folder {class_dir} holds no images ({', '.join(IMAGE_SUFFIXES)})"
                            + (f"; it holds {kinds(others)}" if others else ""))
        for path in files:
            st = os.stat(path)
            listing.append((path, label, st.st_size, st.st_mtime_ns))
        skipped.extend(others)
    if not listing:
        raise DataError(f"{folder} holds no images")
    return listing, skipped


def _source_name(folder: Path, size: tuple[int, int] | None) -> str:
    """The cache's name for a folder (a split's) decoded at `size` (H, W):
    its path's digest and the size, so that the folder keeps one cache file
    a size whatever it held before. Named by the folder alone (as before
    decoding 4), a folder read at two sizes (`evaluate` at a model's
    --image-size, `tune --image-size 16,32`) replaced one size's file with
    the other's, each read decoding every image again. None: that older
    name, which save_cached removes."""
    name = "folder-" + hashlib.sha256(os.fsencode(folder.resolve())).hexdigest()[:16]
    return name + (f"-{size[0]}x{size[1]}" if size else "")


def _key(folder: Path, listing: Listing, size: tuple[int, int], channels: int | None,
         decoding: int = DECODING) -> str:
    """The cache key: every file's path, label, size and modification time,
    the size its images are decoded to and their channels (None: decided by
    the images, 3 if any is in color), and the decoding (the key an earlier
    one gave them, from 2: decoding 2's key did not name it)."""
    # upright: EXIF orientation applied; on white: transparent pixels composited on white (images.on_white);
    # the decoding: a cache of the same files decoded otherwise (fingerprint.DECODING) is not read
    head = (f"{folder.resolve()}|{size}|{channels or 'any color: 3'}|upright|on white"
            + (f"|decoding {decoding}" if decoding > 2 else ""))
    digest = hashlib.sha256(head.encode("utf-8", "surrogateescape"))
    for path, label, nbytes, mtime in listing:
        digest.update(f"{path}|{label}|{nbytes}|{mtime}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _decode(listing: Listing, desc: str, quiet: bool, size: tuple[int, int], strict: bool,
            channels: int | None) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """uint8 (N, H, W, C) images of the listing's files at `size` (H, W),
    and the sizes they had. `strict`: each must already be of that size
    (OddSize otherwise); else each is resized to it (images.resized, as `predict` does). C is `channels`, or
    when None, 3 (RGB) if any image is in color and 1 (gray) if none is, so
    that one gray picture among color ones never turns a dataset gray."""
    from PIL import Image

    height, width = size
    shape = (len(listing), height, width, 1 if channels == 1 else 3)
    # a network reads them as float32 rows: a decode that fits, but not with its copy, was killed later
    problem = shortfall(math.prod(shape) * (1 + 4), "to hold them and their float32 copy")
    if problem:
        raise DataError(f"decoding {len(listing):,} images to {width}x{height} pixels {problem}; give --image-size N "
                        "to decode them smaller")
    images = np.empty(shape, dtype=np.uint8)
    sizes = set()
    color = channels == 3
    bar = Progress(len(listing), desc, enabled=not quiet)
    for i, (path, _, _, _) in enumerate(listing):
        img = _open(path, Image)
        own = (img.size[1], img.size[0])
        if strict and own != size:
            raise OddSize(f"{path} is {_shown(own)}, not {_shown(size)}")
        sizes.add(own)
        with reading(path):
            color = color or pillow_mode(img) != "L"
            images[i] = image_pixels(img, size, shape[3])
        if i % 500 == 0 or i == len(listing) - 1:
            bar.update(i + 1)
    bar.close()
    return (images if color or channels == 1 else np.ascontiguousarray(images[..., :1])), sizes


def _open(path: str, Image):
    """One image, decoded and upright (its EXIF orientation applied)."""
    with reading(path), pillow_image(path) as img:
        img.load()
        return upright(img)
