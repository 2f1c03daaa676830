"""What differs between the systems twolayer runs on, Linux and macOS
(POSIX) and Windows, done here by the means each has: file locks that die
with their process, and removing a file that the caller holds open.
(tests/windowslike/ plays Windows on Linux for the tests.)"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

# Windows: no fcntl; a file that is open there can be neither renamed nor removed
WINDOWS = fcntl is None

# os.open's flags that differ: Windows opens a descriptor in text mode (\n written as \r\n, Ctrl-Z read as
# the end) without O_BINARY, and has neither O_CLOEXEC (its descriptors are never inherited) nor O_NONBLOCK
BINARY = getattr(os, "O_BINARY", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)

LOCK_POLL = 0.01  # seconds between tries at a lock another process holds, where the system cannot wait for it


def lock(file: IO | int, wait: bool = True, shared: bool = False) -> None:
    """Lock an open file (or descriptor) against other processes until it
    is closed, or its process ends however it ends: fcntl.flock on POSIX,
    msvcrt.locking of its first byte on Windows, where a lock is exclusive
    only (`shared` is a moment's exclusive lock there). BlockingIOError
    where another process holds it and not `wait`."""
    fd = file if isinstance(file, int) else file.fileno()
    if fcntl is not None:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        return
    os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks from the current position
    while True:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EDEADLK):  # not another's lock
                raise
            if not wait:
                raise BlockingIOError(errno.EAGAIN, "locked by another process") from None
            time.sleep(LOCK_POLL)


def remove_held(path: str | Path, file: IO) -> None:
    """Remove the file at `path`, which `file` holds open (and locked), and
    close `file`; a removal that fails is left at that. On POSIX it is
    removed first: no other process can then open and lock it in between.
    Windows removes no file that is open (and lets no other process remove
    it while this one holds it), so there it is closed first."""
    if not WINDOWS:
        with contextlib.suppress(OSError):
            os.unlink(path)
    file.close()
    if WINDOWS:
        with contextlib.suppress(OSError):
            os.unlink(path)
