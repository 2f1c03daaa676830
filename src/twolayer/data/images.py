"""Image files to uint8 arrays, with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twolayer.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# Pillow's modes that hold one gray channel (LA: gray plus alpha); every other mode is read as RGB
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def pillow_mode(img) -> str:
    """The mode an image is read in: "L" (one channel) for gray images, else "RGB"."""
    return "L" if img.mode in GRAY_MODES else "RGB"


def read_image(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """One image file as uint8 (H, W, C).

    With `shape` (H, W, C), the image is converted to C channels (1: grayscale,
    3: RGB) and resized to H x W if it differs, so that any picture can be
    given to a model; without it, the file's own size and RGB or grayscale.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            mode = ("L" if shape[2] == 1 else "RGB") if shape else pillow_mode(img)
            img = img.convert(mode)
            if shape and img.size != (shape[1], shape[0]):
                img = img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"no such image file: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {path}: {e}") from None
    return array.reshape(array.shape[0], array.shape[1], -1)
