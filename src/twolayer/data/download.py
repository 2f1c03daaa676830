"""Download a file with a progress bar and a checksum, atomically.

The file is streamed to a temporary name beside its destination, its MD5 is
checked, and only then is it renamed into place: an interrupted or corrupt
download never looks like a finished one. The download holds a lock on its
partial file; a partial file nobody holds (its download was killed) is
removed by the next download of the same file.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from twolayer.errors import DataError, remedy
from twolayer.files import make_folders, new_temporary, remove_folders, temporary_stem
from twolayer.portable import lock, remove_held
from twolayer.progress import Progress

CHUNK = 1 << 20
ABANDONED_AFTER = 10.0  # seconds a partial file is left alone after it was written to, even when unlocked


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
    partial, made, done = None, [], False
    try:  # a full or read-only data directory is said of dest, as the network's faults are of the url
        made = make_folders(dest.parent)  # removed again if nothing comes (no network: TWOLAYER_DATA was left made)
        remove_abandoned(dest)
        # a name of its own: two runs downloading the same file at once each write
        # their own (a shared NAME.part was truncated and deleted under the other)
        fd, name = new_temporary(dest, ".part")
        partial = Path(name)
        lock(fd)  # held until the file is closed: a killed download's lock dies with it
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
        done = True
    except urllib.error.URLError as e:
        raise DataError(f"could not download {url}: {e.reason}") from None
    except OSError as e:  # the partial file is removed below: nothing that looks whole is left
        fix = remedy(e)
        raise DataError(f"could not download {url} to {dest}: {e.strerror or e}"
                        + (f"; {fix} there or give another --data-dir" if fix else "")) from None
    except ValueError as e:
        raise DataError(f"could not download {url}: {e}") from None
    finally:
        if partial is not None:
            with contextlib.suppress(OSError):
                partial.unlink()
        if not done:
            remove_folders(made)
    return dest


def remove_abandoned(dest: Path) -> None:
    """Remove the partial files of earlier downloads of dest that were killed
    (kill -9, a power cut): files no download holds locked and that nothing
    wrote to for ABANDONED_AFTER seconds (the age covers the moment between
    a download creating its file and locking it)."""
    for partial in dest.parent.glob(f".{glob.escape(temporary_stem(dest, '.part'))}.*.part"):
        with contextlib.suppress(OSError), open(partial, "rb") as f:
            lock(f, wait=False)  # BlockingIOError while its download runs
            if time.time() - os.fstat(f.fileno()).st_mtime > ABANDONED_AFTER:
                remove_held(partial, f)
