"""Download a file with a progress bar and a checksum, atomically.

The file is streamed to a temporary name beside its destination, its MD5 is
checked, and only then is it renamed into place: an interrupted or corrupt
download never looks like a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from twolayer.errors import DataError
from twolayer.files import _umask
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
    # a name of its own: two runs downloading the same file at once each write
    # their own (a shared NAME.part was truncated and deleted under the other)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    partial = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
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
