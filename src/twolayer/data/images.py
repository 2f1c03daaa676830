"""Image files to uint8 arrays, with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twolayer.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


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
            channels = shape[2] if shape else (1 if img.mode in ("1", "L", "I;16", "I", "F") else 3)
            img = img.convert("L" if channels == 1 else "RGB")
            if shape and img.size != (shape[1], shape[0]):
                img = img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"no such image file: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {path}: {e}") from None
    return array.reshape(array.shape[0], array.shape[1], -1)
