"""Download a file with a progress bar and a checksum, atomically.

The file is streamed to a temporary name beside its destination, its MD5 is
checked, and only then is it renamed into place: an interrupted or corrupt
download never looks like a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from twolayer.errors import DataError
from twolayer.progress import Progress

CHUNK = 1 << 20


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: str | Path, md5: str, quiet: bool = False, timeout: float = 60.0) -> Path:
    """Download url to dest unless dest already exists; verify its MD5."""
    dest = Path(dest)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            bar = Progress(total or 1, f"download {dest.name}", enabled=not quiet, bytes=True)
            done = 0
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                done += len(block)
                bar.update(done)
            bar.close()
        got = md5sum(partial)
        if got != md5:
            raise DataError(f"download of {url} is corrupt (MD5 {got}, expected {md5}); try again")
        os.replace(partial, dest)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DataError(f"could not download {url}: {getattr(e, 'reason', e)}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return dest
