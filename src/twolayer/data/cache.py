"""Where dataset files and decoded arrays are kept, and the array cache.

The data directory is `--data-dir`, else the TWOLAYER_DATA environment
variable, else the user's cache directory ($XDG_CACHE_HOME/twolayer when it
is absolute, or ~/.cache/twolayer). Decoded arrays go in its cache/ sub-folder as .npz files
of plain arrays (no pickle), written atomically, named by a key that changes
whenever the source changes. Whoever reads a cache file checks what it
holds and decodes again when it is not what the source gives.

The key is made from file names, sizes and modification times, which miss a
file rewritten in place with the same size and time: TWOLAYER_REFRESH_CACHE=1
(or refresh=True where a loader takes it) ignores the cache and rebuilds it.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import numpy as np

from twolayer.errors import DataError
from twolayer.files import atomic_write_npz, given_path, load_npz


def data_dir(explicit: str | Path | None = None) -> Path | None:
    """The data directory; None where there is none to use: no home
    directory (HOME unset, and a user id the user database does not know,
    as a container's `--user 12345` is), which only the files of a dataset
    to download need (NO_HOME says so): training on digits or an image
    folder said `cannot use ~/.cache as the data directory: Could not
    determine home directory`."""
    # None or "" (an empty --data-dir is refused as an option): the environment's, else the cache; bytes as
    # text (Path(b"...") was a TypeError from pathlib)
    given = given_path(explicit, "data_dir", "give the folder where dataset files are kept") if explicit else \
        os.environ.get("TWOLAYER_DATA")
    try:
        if given:
            return Path(given).expanduser()
        xdg = os.environ.get("XDG_CACHE_HOME")  # a relative one is ignored (the XDG specification)
        base = xdg if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    except RuntimeError as e:  # ~nosuchuser given, or no home directory at all
        if given:
            raise DataError(f"cannot use {given} as the data directory: {e}") from None
        return None
    return Path(base) / "twolayer"


NO_HOME = ("there is no home directory to keep its files in (HOME is not set, and the user database has none for "
           "this user): give --data-dir DIR, or set TWOLAYER_DATA")


def refresh_wanted(refresh: bool = False) -> bool:
    """Whether to decode again rather than read the cache: asked for by the
    caller, or by TWOLAYER_REFRESH_CACHE set to anything but "" or "0"."""
    return refresh or os.environ.get("TWOLAYER_REFRESH_CACHE", "") not in ("", "0")


def cache_folder(root: Path) -> Path:
    """The folder of decoded arrays in data directory `root`."""
    return root / "cache"


def cache_path(root: Path, name: str, key: str) -> Path:
    """Where the arrays of source `name` for content `key` are kept: NAME-KEY.npz.
    save_cached keeps one file per name: NAME names a source (a folder read
    at one size), the key what it held when decoded."""
    return cache_folder(root) / f"{name}-{key[:24]}.npz"


def load_cached(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when absent or unreadable (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        return load_npz(path)
    except Exception:  # a damaged cache is only a cache: decode again
        return None


def save_cached(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Best effort: a read-only or full disk only costs the next run time.
    The same source's files for its earlier contents go (each change to a
    folder of images left another copy of its decoded arrays, 150 MB for
    CIFAR-10), as do folder caches named as earlier versions named them (by
    their contents alone, or by the folder without its size: NAME is
    folder-DIGEST-HxW, whose file named folder-DIGEST nothing reads any more)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_npz(path, arrays)
    except OSError:
        return
    name = path.name.rsplit("-", 1)[0]
    for old in path.parent.glob("*.npz"):
        other = old.name.rsplit("-", 1)[0]  # the same source, or its name before it named a size too (a folder's)
        if old != path and (other == name or name.startswith(other + "-") or LEGACY.fullmatch(old.name)):
            with contextlib.suppress(OSError):
                old.unlink()
    for partial in path.parent.glob(".*.npz.*.tmp"):  # the writes of killed runs, 150 MB each for CIFAR-10
        with contextlib.suppress(OSError):
            if time.time() - partial.stat().st_mtime > STALE_WRITE:  # not one another process is writing now
                partial.unlink()


LEGACY = re.compile(r"folder-[0-9a-f]{24}\.npz")  # a folder's cache named by its contents alone
STALE_WRITE = 3600  # seconds since a temporary file was last written after which no write is making it
