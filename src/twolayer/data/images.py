"""Image files to uint8 arrays, with Pillow."""

from __future__ import annotations

import io
import logging
import os
import stat
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from twolayer.errors import DataError, TwolayerError
from twolayer.files import read_at_most, read_small

# the files a folder holds as images; PGM and its kin (PPM, PBM, PNM) are how face datasets
# (AT&T, Yale) come, JFIF and JPE are JPEG as Windows names it
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".webp", ".avif", ".tif", ".tiff",
                  ".pgm", ".ppm", ".pbm", ".pnm")
# Pillow's modes that hold one gray channel (LA: gray plus alpha); every other mode is read as RGB
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
TRANSPARENT_MODES = ("RGBA", "RGBa", "LA", "La", "PA")  # Pillow's modes with an alpha channel
STDIN = "-"  # read_image's name for standard input, as for most Unix tools (./- is a file of that name)
PIPED_IMAGE = 256 * 2**20  # what a pipe may bring as one image file (Pillow reads a pipe whole)
# Pillow logs some damage before raising (a TIFF's "More samples per pixel than can be decoded"):
# with no handler of the program's own, Python wrote that to stderr above the DataError's line
logging.getLogger("PIL").addHandler(logging.NullHandler())


def pillow_mode(img) -> str:
    """The mode an image is read in: "L" (one channel) for gray images, a
    palette image whose colours are all gray among them (a gray picture
    saved as GIF is one: it was read as color, so a folder of them trained
    a color model on three equal channels, and a gray folder holding one
    became color); else "RGB"."""
    if img.mode in ("P", "PA"):
        palette = img.getpalette("RGB") or []
        return "L" if palette[0::3] == palette[1::3] == palette[2::3] else "RGB"
    return "L" if img.mode in GRAY_MODES else "RGB"


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Pillow's work on one file: whatever it raises becomes one DataError
    naming the file, and its warnings never reach stderr.

    Decompression bombs are refused: Pillow raises DecompressionBombError for
    images over twice Image.MAX_IMAGE_PIXELS but only warns between once and
    twice that; the warning is made an error here, so an image that large is
    refused too, before it is decoded."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # palette transparency and the like: nothing the user must act on
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except FileNotFoundError:
            raise DataError(f"no such image file: {path}") from None
        except Image.UnidentifiedImageError as e:  # its text names the file object Pillow was given, not the file
            raise DataError(f"cannot read image {path}: {getattr(e, 'what', None) or UNIDENTIFIED}") from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise DataError(f"refused image {path}: {one_line(e)}") from None
        except TwolayerError:
            raise
        except OSError as e:  # the operating system's (a FIFO nothing writes to), or Pillow's (truncated)
            raise DataError(f"cannot read image {path}: {e.strerror or one_line(e)}") from None
        except Exception as e:  # Pillow raises many types for a bad file
            raise DataError(f"cannot read image {path}: {one_line(e)}") from None


def to_mode(img, mode: str):
    """`img` converted to "L" or "RGB". Images of more than 8 bits per
    channel (16-bit PNGs open as I;16, 32-bit ones as I, floats as F) are
    first scaled to 0..255 from their white (white_value): Pillow's own
    conversion clips them, so a 16-bit image would come out nearly all
    white. Transparent pixels are shown on white (on_white)."""
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float64)
        if not np.isfinite(values).all():  # a float image's NaN or infinity is no level of gray
            raise ValueError("it holds pixel values that are NaN or infinite")
        scaled = np.rint(values * (255.0 / white_value(img.mode, values, img.format)))
        img = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")
    return on_white(img).convert(mode)


def white_value(mode: str, values: np.ndarray, fmt: str | None = None) -> float:
    """The value of white in an image of more than 8 bits: 65,535 in 16 bits
    (Pillow's I;16, and its I of a 16-bit PGM: a dark one was scaled as 8
    bits, brighter than the same pixels in a 16-bit PNG); 1 in floats within
    0..1 (the float images of scientific tools: they were read as 0..255, all
    but black); else the least of 255, 65,535 and 2**31 - 1 (Pillow's 32-bit
    integers are signed) that the largest value fits (32-bit images above 16
    bits were clipped white). `fmt`: the file's format, as Pillow names it."""
    top = values.max(initial=0)
    if mode.startswith("I;16") or (mode == "I" and fmt == "PPM"):
        return 65535.0
    if mode == "F" and top <= 1:
        return 1.0
    for white in (255.0, 65535.0):
        if top <= white:
            return white
    return 2.0**31 - 1


def on_white(img):
    """`img` as a page shows it: its transparent pixels (an alpha channel,
    or a palette's or colour key's transparent colour) composited on white;
    an opaque image as it is. Dropping the alpha instead gave a transparent
    pixel the colour stored under it, which encoders choose as they like
    (WebP stores black, PNG what was drawn there, GIF the palette's entry),
    so one picture gave other pixels in each format."""
    from PIL import Image

    if img.mode not in TRANSPARENT_MODES and "transparency" not in img.info:
        return img
    rgba = img.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return flat.convert("L") if pillow_mode(img) == "L" else flat


def upright(img):
    """`img` as it is meant to be seen: its EXIF orientation (a camera held
    sideways) applied, as image viewers do; an image without one as it is."""
    from PIL import ImageOps

    out = ImageOps.exif_transpose(img)
    out.format = img.format  # Pillow's copy has none; to_mode needs it (a 16-bit PGM opens as I, as 32-bit TIFFs do)
    return out


def match_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 images (N, H, W, C) with `channels` channels: gray repeated to
    RGB, or RGB to gray by Pillow's own weights (ITU-R 601-2 luma), as
    read_image converts a file for a model."""
    if images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    rgb = images.astype(np.uint32)
    luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    return luma.astype(np.uint8)[..., None]


def resized(img, height: int, width: int):
    """A Pillow image at height x width: how every reader resizes (bilinear,
    which averages as it shrinks), so that `predict` gives a model a picture
    as its training folder gave it."""
    from PIL import Image

    return img if img.size == (width, height) else img.resize((width, height), Image.Resampling.BILINEAR)


def resize_images(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 images (N, H, W, C) resized to height x width, each as
    read_image resizes a file for a model."""
    from PIL import Image

    if images.shape[1:3] == (height, width):
        return images
    out = np.empty((len(images), height, width, images.shape[3]), dtype=np.uint8)
    for i, image in enumerate(images):
        picture = Image.fromarray(image[..., 0] if image.shape[2] == 1 else image)
        out[i] = np.asarray(resized(picture, height, width)).reshape(out.shape[1:])
    return out


# what systems leave in a folder of pictures, hidden in their own file browsers: macOS's zips, Windows's
# thumbnail caches and folder settings, a drive's recycle bin, a Synology NAS's thumbnails (in every folder)
SYSTEM_NAMES = ("__macosx", "thumbs.db", "ehthumbs.db", "desktop.ini", "$recycle.bin", "system volume information",
                "@eadir")


def is_hidden(name: str) -> bool:
    """A hidden file or folder (.DS_Store, macOS's ._NAME.jpg resource forks,
    .ipynb_checkpoints) or one a system keeps among pictures (SYSTEM_NAMES):
    never an image or a class of the dataset's."""
    return name.startswith(".") or name.lower() in SYSTEM_NAMES


def is_image_name(name: str) -> bool:
    """Whether a file of this name is an image file: its suffix, in any case."""
    return name.lower().endswith(IMAGE_SUFFIXES)


def files_under(folder: str | Path) -> tuple[list[str], list[str]]:
    """The image files under `folder` and its sub-folders, sorted by path,
    and its other files (not hidden ones): hidden files and folders
    skipped, linked folders followed (each folder read once, so a link loop
    ends). A sub-folder that cannot be read, or a link to itself, is an
    OSError naming it: it was skipped, and its images silently left out. The one listing of a folder
    of images, for predict and for a class folder alike (the folder loader
    read only a class folder's own files, so `train` left out the images of
    its sub-folders, which `predict` of the same folder read)."""
    def refuse(error: OSError) -> None:
        raise error

    images, others, seen = [], [], set()
    start = os.path.realpath(folder)
    for top, dirs, names in os.walk(folder, onerror=refuse, followlinks=True):
        real = os.path.realpath(top)
        # a link back to a folder already read, or up to one that holds this folder (cat/up -> .., whose
        # other classes' images would be read as cat's): a loop
        if real in seen or (real != start and start.startswith(os.path.join(real, ""))):
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not is_hidden(d)]
        for name in names:
            path = os.path.join(top, name)
            if not is_hidden(name) and _is_file(path):
                (images if is_image_name(name) else others).append(path)
    return sorted(images), sorted(others)


def _is_file(path: str) -> bool:
    """Whether `path` is a file (a FIFO is no image file); a link to nothing
    is not, a link to itself is an OSError (ELOOP) naming it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def kinds(paths: list[str], most: int = 4) -> str:
    """What files are, by suffix, most common first: '12 .heic files, 2 .txt
    files and 1 file without a suffix'."""
    counts: dict[str, int] = {}
    for path in paths:
        suffix = Path(path).suffix.lower()
        counts[suffix] = counts.get(suffix, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    rest = sum(n for _, n in ranked[most:])
    said = [_files(n, suffix or None) for suffix, n in ranked[:most]] + ([_files(rest, "other")] if rest else [])
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]


def _files(n: int, kind: str | None) -> str:
    files = "file" if n == 1 else "files"
    return f"{n} {files} without a suffix" if kind is None else f"{n} {kind} {files}"


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def read_image(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """One image file as uint8 (H, W, C).

    With `shape` (H, W, C), the image is resized to H x W if it differs and
    given C channels (1: grayscale, 3: RGB), so that any picture can be
    given to a model (image_pixels); without it, the file's own size and RGB or
    grayscale.
    """
    with reading(Path(path)), pillow_image(image_source(path)) as img:
        return image_pixels(upright(img), shape[:2] if shape else None, shape[2] if shape else None)


def image_pixels(img, size: tuple[int, ...] | None = None, channels: int | None = None) -> np.ndarray:
    """An opened, upright Pillow image as uint8 (H, W, C), as every reader
    takes a file: in its own color (gray or RGB, to_mode), resized to `size`
    (H, W) when given, then given `channels` when given (match_channels).
    The channels come after the resizing, as `evaluate` gives a folder
    decoded at a model's size to a model of other channels: a color picture
    made gray before its resizing was a level off (rounding) in `predict`."""
    picture = to_mode(img, pillow_mode(img))
    if size:
        picture = resized(picture, size[0], size[1])
    array = np.asarray(picture, dtype=np.uint8)
    array = array.reshape(array.shape[0], array.shape[1], -1)
    return match_channels(array[None], channels)[0] if channels else array


@contextmanager
def pillow_image(source: str | Path | io.BytesIO) -> Iterator[Any]:
    """Pillow's image of `source`, from a file opened and closed here: given
    a path, Image.open left its file open when the first read failed
    (/proc/self/mem's EIO, a failing disk): a ResourceWarning, and a file
    descriptor held until the garbage collector ran."""
    from PIL import Image

    with nullcontext(source) if isinstance(source, io.BytesIO) else open(source, "rb") as file:
        try:
            img = Image.open(file)
        except Image.UnidentifiedImageError as e:
            file.seek(0)
            path = None if isinstance(source, io.BytesIO) else source
            e.what = what_file(file.read(256), path)  # type: ignore[attr-defined]  # said by reading()
            raise
        yield img  # decoded by the caller, while the file is open


UNIDENTIFIED = "not an image file, or a damaged one (Pillow cannot identify its format)"
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")


def what_file(head: bytes, path: str | Path | None = None) -> str | None:
    """What a file Pillow cannot identify is, from its first bytes (and
    its `path`, where known), where a user meets it among pictures: empty,
    CIFAR-10's batches, a NumPy file or a zip archive (each given to predict
    in place of images: data.files_hint says how they are read), a phone's
    HEIC photo, an AVIF image (which Pillow reads from 11.3), an SVG
    drawing, a web page saved in a picture's place. None: something else."""
    from twolayer.data import ARRAYS_HINT, files_hint

    if not head:
        return "the file is empty (0 bytes)"
    hint = files_hint(path) if path is not None else None
    if hint:
        return hint
    if head.startswith(b"\x93NUMPY"):  # a .npy by another name
        return f"a NumPy file of arrays, which twolayer's commands do not read; {ARRAYS_HINT}"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive: extract it, then give the folder it makes"
    if head[4:8] == b"ftyp":  # an ISO media file: its brands say which
        brands = head[8 : min(int.from_bytes(head[:4], "big"), len(head))]
        if b"avif" in brands or b"avis" in brands:
            return "an AVIF image, which this Pillow cannot read (Pillow 11.3 and newer do); convert it to PNG or JPEG"
        if any(brand in brands for brand in HEIF_BRANDS):
            return "a HEIC (HEIF) photo, as iPhones take them, which Pillow cannot read; convert it to JPEG"
        return UNIDENTIFIED
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "an SVG drawing, not an image of pixels; convert it to PNG"
    if text.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML), not an image: the page was saved in the picture's place"
    return None


def image_source(path: str | Path) -> Path | io.BytesIO:
    """What Pillow opens for `path`: the file itself; for the text "-", the
    bytes of standard input (./- is a file of that name, and so is
    Path("-"): a Path drops the ./); for a pipe (bash's <(...)), its bytes.
    Both are read whole, up to PIPED_IMAGE bytes; a FIFO that nothing writes
    to is an error at once (opened as a file, it waited for a writer forever)."""
    if isinstance(path, str) and path == STDIN:
        return io.BytesIO(read_stdin())
    path = Path(path)
    if stat.S_ISFIFO(os.stat(path).st_mode):
        return io.BytesIO(read_small(path, "an image", PIPED_IMAGE))
    return path


def read_stdin() -> bytes:
    """The image file piped to standard input; DataError when none can come."""
    how = "pipe an image in: twolayer predict MODEL - < photo.jpg"
    if sys.stdin is None:  # started with it closed (<&-)
        raise DataError(f"- reads an image from standard input, which is closed; {how}")
    if sys.stdin.isatty():  # it would wait for an image typed in
        raise DataError(f"- reads an image from standard input, which is a terminal here; {how}")
    data = read_at_most(sys.stdin.buffer, PIPED_IMAGE, "an image", STDIN)
    if not data:  # given twice, the second finds it read
        raise DataError(f"- reads an image from standard input, and none came (it can be read once); {how}")
    return data
