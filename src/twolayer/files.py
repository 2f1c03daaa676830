"""Atomic file writes: a temporary file in the same folder, flushed to disk,
then renamed over the target. A reader sees the old file or the new one,
never half of one, even if the writer is killed; the folders a write
needs, made and (when it fails) removed. And bounded reads: a file that
should be small, or an archive, never takes more memory than it may."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import reprlib
import secrets
import stat
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from twolayer.errors import TwolayerError, UsageError
from twolayer.memory import describe, shortfall
from twolayer.portable import BINARY, CLOEXEC, NONBLOCK, WINDOWS, lock, remove_held

# what a file read whole may hold: a config or space file, a run's JSON record,
# a learner's source; /dev/zero, or a huge file named like one, is refused at that
SMALL_FILE = 64 * 2**20


def given_path(path: Any, what: str, give: str, empty: type[TwolayerError] = UsageError) -> Path:
    """`path` (text, bytes or an os.PathLike) as a Path, where the Python API
    takes a path: `empty` for an empty one (an unset shell variable:
    Path("") is ".", the current folder), UsageError for anything else (None,
    a number: os's TypeError named no argument; one holding a NUL: every
    file call's ValueError "embedded null byte"), each naming `what` and
    saying what to `give`."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise UsageError(f"{what} must be text or a pathlib.Path, got {type(path).__name__} {reprlib.repr(path)}; "
                         f"{give}")
    text = os.fsdecode(path)  # bytes too, as open() takes them
    if not text:
        raise empty(f"{what} is empty; {give}")
    if "\0" in text:
        raise UsageError(f"{what} holds a NUL character, got {reprlib.repr(text)}; {give}")
    fault = web_address(text)
    if fault:
        raise empty(f"{what} {fault}; {give}")
    return Path(text)


URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # https://, s3://, file://


def web_address(text: str) -> str | None:
    """What is wrong with a path that is a web address (https://...,
    s3://...) where no such local file exists, or None: Path() made
    https://x of it https:/x, a missing file or folder under ./https:, which
    said nothing of the address."""
    if URL.match(text) and not os.path.lexists(text):
        return (f"is a web address ({text}): twolayer reads and writes local files only (one on the web: download "
                f"it first, as curl -LO {text})")
    return None


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any], replace: bool = True) -> None:
    """Call write(file) on a temporary file beside `path`, then rename it.
    OSError for a `path` that is a device, a FIFO or a socket: the rename
    would put a file in its place (run as root, `--out /dev/null` replaced
    the device). `replace` False: FileExistsError where a file is there by
    then (put_new), checked in the same step as the file is put in place."""
    path = Path(path)
    _refuse_special(path)
    remove_abandoned(path)
    try:
        fd, tmp = new_temporary(path, ".tmp")
    except OSError as e:  # no such folder, no permission, a full disk: say it of the file asked for
        raise OSError(e.errno, e.strerror, str(path)) from None
    put = os.replace if replace else put_new
    try:
        lock(fd)  # held until it is renamed: a killed write's lock dies with it
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if not WINDOWS:  # before the file closes, so that no one takes it for an abandoned one
                put(tmp, path)
        if WINDOWS:  # which renames no file that is open (nor lets another process remove it while it is)
            put(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        cause = os_error_behind(e)
        if cause is not None:
            raise OSError(cause.errno, cause.strerror, str(path)) from None  # the file asked for, not the temporary one
        raise


def put_new(tmp: str, path: Path) -> None:
    """Rename `tmp` to `path` unless a file is there, in one step: a hard
    link fails if it is. Two processes writing one new file (`report --out
    p.html`, `export --out m.onnx`, each having found no file there) both
    renamed: the second's silently replaced the first's, and both said they
    wrote it. Where the file system makes no hard link (vfat: EPERM; a
    FUSE or SMB mount: ENOSYS, EOPNOTSUPP, EACCES...): checked, then
    renamed; a fault of the folder itself the rename then says."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.replace(tmp, path)
        return
    with contextlib.suppress(OSError):  # left, it is only a second name of the file, removed as abandoned
        os.unlink(tmp)


def refuse_existing(path: Path) -> None:
    """One line for an output (report --out, export) that is there without
    --force, as put_new will find it: a link is there even when it points
    to nothing (one to nothing was taken for absent, then put_new refused
    it as `written by another process while this one ran`)."""
    if path.exists():
        raise TwolayerError(f"{path} exists; pass --force to overwrite it")
    if path.is_symlink():
        raise TwolayerError(f"{path} exists, a link to {os.readlink(path)}, which does not exist; pass --force to "
                            "replace the link")


# a write's temporary file beside NAME: .NAME.XXXXXXXX.tmp (new_temporary's 8 characters)
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")
ABANDONED_AFTER = 10.0  # seconds an empty, unlocked temporary file may be a write's that has not locked it yet


def remove_abandoned(path: Path) -> None:
    """Remove the temporary files of earlier writes of `path` that were
    killed midway (kill -9, a power cut), which were left beside it for
    good: a report.html's, an exported model's, a page written with
    report --out into a folder of the user's."""
    with contextlib.suppress(OSError):
        for temporary in path.parent.glob(f".{glob.escape(temporary_stem(path, '.tmp'))}.*.tmp"):
            if TEMPORARY.match(temporary.name):
                remove_if_abandoned(temporary)


def remove_if_abandoned(temporary: Path, after: float = ABANDONED_AFTER) -> None:
    """Remove a write's temporary file unless a write holds it: its writer
    locks it from its first moment until it is renamed (the lock dies with
    the writer), and an empty one made in the last `after` seconds may be a
    write's that has not locked it yet. On Windows a write lets go of its
    lock as it closes the file, before the rename (atomic_write): there one
    written to in the last ABANDONED_AFTER seconds may be about to be
    renamed, and is not even opened (a file open anywhere is one its writer
    cannot rename)."""
    with contextlib.suppress(OSError):
        if WINDOWS and time.time() - os.stat(temporary).st_mtime < max(after, ABANDONED_AFTER):
            return
        with open(temporary, "rb") as f:
            lock(f, wait=False)  # BlockingIOError while its write runs
            facts = os.fstat(f.fileno())
            if facts.st_size or time.time() - facts.st_mtime >= after:
                remove_held(temporary, f)


def os_error_behind(e: BaseException) -> OSError | None:
    """The operating system's error behind `e`: itself, or one a writer met
    and then hid under another while it cleaned up (torch.save on a full
    disk raises a RuntimeError, `unexpected pos`, during its ENOSPC)."""
    seen: BaseException | None = e if isinstance(e, Exception) else None  # Ctrl-C stays Ctrl-C
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen
        seen = seen.__context__
    return None


SPECIAL = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO",
           stat.S_IFSOCK: "a socket"}


def _refuse_special(path: Path) -> None:
    """OSError when `path` is something other than a file, a folder or a link
    (a link is replaced, its target left alone; a folder refuses the rename)."""
    try:
        kind = SPECIAL.get(stat.S_IFMT(os.lstat(path).st_mode))
    except OSError:
        return  # nothing there: the usual case
    if kind:
        raise OSError(errno.EEXIST, f"is {kind}, not a file; twolayer writes only files", str(path))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8", "surrogateescape")))


def atomic_write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz of plain arrays, streamed to disk."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def new_temporary(path: Path, suffix: str) -> tuple[int, str]:
    """A new empty file beside `path`, .NAME.XXXXXXXX`suffix`, open to
    write (fd, name). Its mode is the usual one, 0666 less the umask (or as
    the folder's default ACL says), which the system applies as it makes the
    file: tempfile.mkstemp makes 0600, and widening that meant reading the
    umask, which os.umask does only by setting another (two threads writing
    at once, twolayer.train in two threads of a notebook, could leave the
    process at umask 0 for good, or make a folder in that moment writable
    by everyone), or reading /proc (Linux only) on every write."""
    for _ in range(100):
        name = str(path.parent / f".{temporary_stem(path, suffix)}.{secrets.token_hex(4)}{suffix}")
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | CLOEXEC | BINARY, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file beside it", str(path))


NAME_MAX = 255  # bytes in one file's name: the limit of ext4, XFS, Btrfs, tmpfs, APFS


def temporary_stem(path: Path, suffix: str) -> str:
    """What of `path`'s name its temporary files' names hold: all of it, or
    as much as leaves room for .NAME.XXXXXXXX`suffix` within NAME_MAX bytes
    (`export --out` or `report --out` of a name of 242 to 255 bytes, which
    the folder takes, failed: `File name too long`, of its temporary file).
    Cut between characters: half of one's UTF-8 bytes made a name that is
    not UTF-8, which macOS and a strict UTF-8 file system refuse."""
    stem = path.name
    while len(os.fsencode(f".{stem}.{'x' * 8}{suffix}")) > NAME_MAX:
        stem = stem[:-1]
    return stem


@contextlib.contextmanager
def owner_rights() -> Iterator[None]:
    """While the block runs, a umask that takes the owner's own rights
    (umask 0777, 0222) takes only the group's and others': the owner can
    always read, write and enter what twolayer makes, as `mkdir -p` leaves
    the folders it makes. Under umask 0777, train made its run folder
    d--------- and then could not write in it (`cannot write in it
    (Permission denied)... make it writable`), leaving it behind; files it
    wrote were mode 000, which a resume could not read."""
    mask = os.umask(0)
    os.umask(mask & ~0o700)
    try:
        yield
    finally:
        os.umask(mask)


def read_small(path: str | Path, what: str, limit: int = SMALL_FILE) -> bytes:
    """The bytes of a file that should be small, read whole but never past
    `limit`: OSError (EFBIG) for more, so that /dev/zero or a huge file given
    as a config fails at once instead of filling the memory. Pipes (bash's
    <(...)) are read like files; a FIFO that nothing writes to is an OSError
    once FIFO_WAIT seconds have passed without a writer (open() waited for
    one forever: `predict RUN x.png`, where x.png was made by mkfifo, hung)."""
    fd = os.open(path, os.O_RDONLY | NONBLOCK | BINARY)  # a FIFO's open returns without waiting for a writer
    try:
        kind = os.fstat(fd).st_mode
        if stat.S_ISDIR(kind):  # as open() says it
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        first = _first_written(fd, path) if stat.S_ISFIFO(kind) else b""
        if NONBLOCK:  # Windows has no FIFO to open so
            os.set_blocking(fd, True)  # a pipe's reads wait for its writer's data
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        data = read_at_most(f, limit, what, path, first)
    if stat.S_ISFIFO(kind) and not data:  # with no writer, a read ends at once, empty
        raise OSError(errno.ENXIO, "a FIFO (named pipe) that nothing writes to", str(path))
    return data


def not_a_file(path: str | Path) -> str | None:
    """What stands at `path` where twolayer keeps a regular file (a run's
    model.npz, its checkpoint), in words: "a folder", "a FIFO (named pipe)",
    "a link that loops", "a link to nothing (TARGET)"...; None for a file
    (or a link to one) and for nothing at all. Such a thing was taken for a
    file that is missing: "the run has not finished"."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"a link to nothing ({os.readlink(path)})" if os.path.islink(path) else None
    except OSError as e:
        return "a link that loops" if e.errno == errno.ELOOP else f"unreadable ({e.strerror})"
    for test, words in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return words
    return None


def read_table(path: str | Path, what: str) -> str:
    """The UTF-8 text of a table twolayer wrote and reads back whole (a
    run's history.csv, a search's trials.csv), as read_small reads it: a
    FIFO put in its place waits FIFO_WAIT seconds for a writer, not forever,
    and /dev/zero linked there ends at SMALL_FILE; a regular file may be
    larger (a long run's history) where the memory allows (ENOMEM: a sparse
    file of terabytes); a BOM (a spreadsheet's save) is no cell of its.
    OSError or UnicodeDecodeError."""
    try:
        facts = os.stat(path)
    except OSError:
        facts = None  # nothing there, or a link that loops: read_small says it
    size = facts.st_size if facts and stat.S_ISREG(facts.st_mode) else 0
    problem = shortfall(size, "to read")
    if problem:
        raise OSError(errno.ENOMEM, problem, str(path))
    return read_small(path, what, max(SMALL_FILE, size)).decode("utf-8-sig")


# seconds a FIFO given to read may wait for its writer to open it (`mkfifo p; producer > p & twolayer ... p`: the
# producer may open it a moment after twolayer does)
FIFO_WAIT = 2.0


def _first_written(fd: int, path: str | Path) -> bytes:
    """The first byte of the FIFO open (non-blocking) at fd, once a writer
    has opened it: b"" where the writer has yet to write (the blocking
    reads that follow wait for it). OSError (ENXIO) where no writer came
    within FIFO_WAIT seconds: with none, a read ends at once, empty, which
    is also what a writer that has not opened it yet looks like."""
    deadline = time.monotonic() + FIFO_WAIT
    while True:
        try:
            chunk = os.read(fd, 1)
        except BlockingIOError:  # a writer holds it open, its data to come
            return b""
        if chunk or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    if not chunk:
        raise OSError(errno.ENXIO, "a FIFO (named pipe) that nothing writes to", str(path))
    return chunk


def read_at_most(stream: BinaryIO, limit: int, what: str, name: str | Path, start: bytes = b"") -> bytes:
    """All of `stream` after the bytes `start` already read from it, or OSError (EFBIG) naming `name` once
    they are more than `limit` bytes."""
    data = start + stream.read(limit + 1 - len(start))
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"it holds more than {describe(limit)}, too much for {what}", str(name))
    return data


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, never unpickling. MemoryError before
    anything is read when its members would not fit in the memory available:
    a small file can hold gigabytes of compressed zeros."""
    with zipfile.ZipFile(path) as archive:
        declared = sum(member.file_size for member in archive.infolist())
    problem = shortfall(declared, "to read")
    if problem:
        raise MemoryError(problem)
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def read_record(path: Path, what: str) -> dict[str, Any]:
    """The JSON object of a record twolayer writes (a run's config.json or
    metrics.json, a search's tune.json); one line naming the file for
    anything else (missing, unreadable, too large, not JSON, not an object)."""
    try:
        value = json.loads(read_small(path, what))
    except FileNotFoundError:
        raise TwolayerError(f"{path} is missing: need {what}") from None
    except OSError as e:
        raise TwolayerError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise TwolayerError(f"cannot read {path}: {e}") from None
    if not isinstance(value, dict):
        raise TwolayerError(f"cannot read {path}: it holds a JSON {type(value).__name__}, not {what}")
    return value


def make_folders(path: Path) -> list[Path]:
    """mkdir -p; the folders it made, outermost first. A file where a folder
    must be is ENOTDIR naming it (mkdir said `File exists`, naming the folder)."""
    missing = [p for p in [path, *path.parents] if not p.exists()][::-1]
    above = missing[0].parent if missing else path  # the nearest that exists
    if above.exists() and not above.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(above))
    path.mkdir(parents=True, exist_ok=True)
    return missing


def write_making_folders(path: Path, write, replace: bool = True) -> None:
    """atomic_write(path, write, replace), making path's missing folders (as
    train's --out does); the folders made are removed again if it fails.
    `replace` False (an output a command found absent, without --force): a
    file written there since is one line, left as it is."""
    made = make_folders(path.parent)
    try:
        atomic_write(path, write, replace)
    except BaseException as e:
        remove_folders(made)
        if isinstance(e, FileExistsError) and not replace:
            raise TwolayerError(f"{path} exists: another process wrote it while this one ran; pass --force to "
                                "overwrite it") from None
        raise


def remove_folders(made: list[Path]) -> None:
    """Remove the folders make_folders made, innermost first, each only if empty."""
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()
