"""A stand-in for Windows' msvcrt module, as much as twolayer uses: locking(),
whose lock belongs to one open file (emulated by flock, which also does;
fcntl's record locks belong to the process) and fails at once with EACCES
where another open file holds it (LK_NBLCK)."""

import errno
import fcntl
import types


def _locking(fd: int, mode: int, nbytes: int) -> None:
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
