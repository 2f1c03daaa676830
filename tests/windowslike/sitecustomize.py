"""Windows, as far as twolayer's own code can tell, on Linux.

Put this folder first on PYTHONPATH (tests/test_portable.py does) and every
Python process started so, spawned children included, runs as on Windows
where it matters to twolayer:

- no fcntl (nor resource): msvcrt.locking instead, emulated with flock, so
  that a lock belongs to one open file, as Windows' does;
- no os.O_CLOEXEC, O_NONBLOCK, O_DIRECTORY, fchdir, setsid, killpg,
  sched_getaffinity; no signal.SIGHUP;
- os.open of a file by twolayer without os.O_BINARY is an error: Windows
  opens it in text mode, writing each \\n as \\r\\n and reading Ctrl-Z as
  the end of the file;
- a file this process holds open can be neither renamed, replaced nor
  removed (nor a folder holding one renamed), and nothing can be renamed
  over it: Windows refuses that (WinError 32) for every file Python opens;
- os.symlink fails as for a user without Developer Mode (WinError 1314);
- ctypes.CDLL(None) is a TypeError, as Windows' LoadLibrary makes it;
- os.kill(pid, 0) is an error: on Windows signal 0 is CTRL_C_EVENT, sent to
  a whole process group, not a question whether `pid` lives.

What it cannot show: other processes' open files, and Windows' own paths
(drive letters, backslashes) and names.
"""

import builtins
import ctypes
import errno
import os
import signal
import stat
import sys

from fakemsvcrt import msvcrt

os.O_BINARY = 0x8000
SHARING = "The process cannot access the file because it is being used by another process"


_import = builtins.__import__


def _import_as_on_windows(name, globals=None, *args, **kwargs):
    """To twolayer's modules: msvcrt, and no fcntl or resource; to the rest
    (subprocess, multiprocessing, which take msvcrt for Windows), Linux's."""
    if (globals or {}).get("__name__", "").startswith("twolayer"):
        if name == "msvcrt":
            return msvcrt
        if name in ("fcntl", "resource"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return _import(name, globals, *args, **kwargs)


builtins.__import__ = _import_as_on_windows

for name in ("O_CLOEXEC", "O_NONBLOCK", "O_DIRECTORY", "O_PATH", "fchdir", "setsid", "killpg", "sched_getaffinity"):
    if hasattr(os, name):
        delattr(os, name)
del signal.SIGHUP  # SIGKILL, which Windows lacks too, is left to multiprocessing's kill() of a process on Linux


def _open_files() -> set[str]:
    """The real paths of the regular files this process holds open."""
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        with_fd = f"/proc/self/fd/{fd}"
        try:
            if stat.S_ISREG(os.stat(with_fd).st_mode):
                held.add(os.readlink(with_fd))
        except OSError:
            continue
    return held


def _real(path, dir_fd=None) -> str:
    path = os.fsdecode(path)
    if dir_fd is not None and not os.path.isabs(path):
        path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
    return os.path.realpath(path)


def _refuse_if_open(*paths: str) -> None:
    for path in paths:
        for held in _open_files():
            if held == path or held.startswith(path + os.sep):
                raise PermissionError(errno.EACCES, SHARING, path)


def _guarded(real, kind: str):
    def call(*args, **kwargs):
        if kind == "move":
            _refuse_if_open(_real(args[0], kwargs.get("src_dir_fd")), _real(args[1], kwargs.get("dst_dir_fd")))
        else:
            _refuse_if_open(_real(args[0], kwargs.get("dir_fd")))
        return real(*args, **kwargs)

    return call


os.rename, os.replace = _guarded(os.rename, "move"), _guarded(os.replace, "move")
os.unlink, os.remove = _guarded(os.unlink, "remove"), _guarded(os.remove, "remove")

_os_open = os.open


def _open(path, flags, mode=0o777, *, dir_fd=None):
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if caller.startswith("twolayer") and not flags & os.O_BINARY and os.fsdecode(path) != os.devnull:
        raise AssertionError(f"os.open({path!r}) without os.O_BINARY: a text-mode descriptor on Windows")
    return _os_open(path, flags & ~os.O_BINARY, mode, dir_fd=dir_fd)


os.open = _open


def _symlink(*args, **kwargs):
    raise OSError(errno.EPERM, "A required privilege is not held by the client")


os.symlink = _symlink

_kill = os.kill


def _kill_windows(pid, sig):
    if sig == 0:
        raise AssertionError("os.kill(pid, 0) on Windows sends CTRL_C_EVENT to process group pid")
    return _kill(pid, sig)


os.kill = _kill_windows

_CDLL_init = ctypes.CDLL.__init__


def _cdll_init(self, name, *args, **kwargs):
    if name is None:
        raise TypeError("argument of type 'NoneType' is not iterable")
    _CDLL_init(self, name, *args, **kwargs)


ctypes.CDLL.__init__ = _cdll_init
