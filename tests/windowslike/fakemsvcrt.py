"""A stand-in for Windows' msvcrt module, as much as twolayer uses: locking(),
whose lock belongs to one open file (emulated by flock, which also does;
fcntl's record locks belong to the process) and fails at once with EACCES
where another open file holds it (LK_NBLCK). Windows locks `nbytes` from
the file's current position, so two opens of one file at other positions
lock other bytes, without meeting: flock locks a whole file, which stands
for a lock of its first byte only, the one asked for at any other place
an error."""

import errno
import fcntl
import os
import types


def _locking(fd: int, mode: int, nbytes: int) -> None:
    if (os.lseek(fd, 0, os.SEEK_CUR), nbytes) != (0, 1):
        raise NotImplementedError("flock stands only for a lock of a file's first byte: locking() there only")
    if mode == msvcrt.LK_UNLCK:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    if mode not in (msvcrt.LK_NBLCK, msvcrt.LK_NBRLCK):
        raise NotImplementedError("LK_LOCK tries 10 times a second apart, then fails: twolayer does not use it")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise PermissionError(errno.EACCES, "Permission denied") from None


msvcrt = types.ModuleType("msvcrt")
msvcrt.LK_UNLCK, msvcrt.LK_LOCK, msvcrt.LK_NBLCK, msvcrt.LK_RLCK, msvcrt.LK_NBRLCK = range(5)
msvcrt.locking = _locking
