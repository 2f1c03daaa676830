"""Standard output and error that outlive their reader.

`twolayer train | head -1` closes the pipe after one line; `2>&-` or a
closed terminal leaves no stream at all. Neither is a reason to lose a run:
what twolayer prints only reports what its files hold. So the command line
writes through `Lasting` streams: once the reader has gone, the rest of the
output is dropped, and the work goes on to its end. An output that cannot
be written for another reason (`> /dev/full`, a full disk under a log,
`1< file`) is dropped too, and remembered (`failed`): the command line then
says so and exits 1, since what it printed was lost without a reader
choosing to stop.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from twolayer.portable import WINDOWS


def shown(text: object) -> str:
    """Text from outside (a path, a class name, a dataset spec) as a terminal
    shows it literally: what Python's repr escapes (control characters such as
    a newline, a tab or ESC, which starts ANSI sequences that clear the screen
    or retitle the window; right-to-left overrides; a file name's undecodable
    bytes) is written as repr writes it (\\n, \\x1b, \\u202e, \\udcff)."""
    text = str(text)
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def json_line(value: Any) -> str:
    """`value` as one line of JSON that any reader takes: every text in it
    (a path, a class name) as valid Unicode. A file name's bytes that are
    not UTF-8 come into Python as lone surrogates (caf\\xe9.jpg as
    'caf\\udce9.jpg'), which json.dumps wrote as "\\udce9": a lone surrogate,
    which I-JSON forbids and strict readers refuse (Rust's serde_json) or
    replace; each such byte is written as the text \\xe9 instead, as repr
    shows a byte."""
    return json.dumps(_unicode(value))


def _unicode(value: Any) -> Any:
    if isinstance(value, str):
        if value.isascii():
            return value
        return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF  # surrogateescape's bytes
                       else f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    if isinstance(value, dict):
        return {_unicode(k): _unicode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unicode(v) for v in value]
    return value


def say(line: str, file: TextIO | None = None) -> None:
    """Print one line holding text from outside (paths, class names, specs) as
    the terminal should show it: escaped (`shown`), never obeyed. A line that
    cannot be written is lost, not the work: under the command line its
    streams are Lasting (which say so at the end); in Python, a stdout of
    None (pythonw, a service) or one full or gone raised in the middle of a
    run, after its training."""
    stream = file or sys.stdout
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):  # ValueError: a closed file
        print(shown(line), file=stream, flush=True)


def shell_word(path: object) -> str:
    """A path as one word of a command to paste into a shell: quoted where
    the shell would split or expand it (a space, a `$`), and a relative path
    beginning with "-" written ./-x, which no command reads as an option
    (`Resume with: twolayer train --resume -run` was refused: `argument
    --resume: expected one argument`). On Windows, where cmd.exe takes no
    single quotes, a path's backslashes are left bare and a word that needs
    quoting is double-quoted, as both cmd.exe and PowerShell read it (a
    Windows name holds no double quote), a `,` or `@` too, which PowerShell
    reads bare as an array or a splat (`runs,old` passed two words). A `$`
    or a backquote PowerShell expands even inside double quotes, and a
    %NAME% cmd.exe does: no quoting reads the same in both."""
    text = str(path)
    text = "./" + text if text.startswith("-") else text
    if not WINDOWS:
        return shlex.quote(text)
    if re.fullmatch(r"[\w+=:./\\-]+", text):
        return text
    return '"' + re.sub(r"(\\+)$", r"\1\1", text) + '"'  # a closing quote after a backslash is read as escaped


class Lasting:
    """A text stream that drops what it is given once writing to it fails
    (a broken pipe, or EIO: a terminal that was closed: the reader has gone;
    anything else is kept in `failed`), or from the start when there is no
    stream (None); and that writes what its encoding cannot (a path or class
    name in Unicode under PYTHONIOENCODING=ascii) as backslash escapes
    instead of failing."""

    def __init__(self, stream: TextIO | None, fd: int) -> None:
        self.stream = stream
        self.fd = fd
        self.null: TextIO | None = None  # /dev/null, opened when asked for a gone stream's attributes
        self.failed: OSError | None = None  # the write error that was not a reader gone (ENOSPC, EBADF, ...)

    def write(self, text: str) -> int:
        if self.stream is not None:
            with self._until_gone():
                try:
                    self.stream.write(text)
                except UnicodeEncodeError:
                    encoding = getattr(self.stream, "encoding", None) or "ascii"
                    self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            with self._until_gone():
                self.stream.flush()

    def write_bytes(self, data: bytes) -> None:
        """Bytes (a page, `report --out -`) after the text so far, failing as
        a write does (`> /dev/full` was `error: No space left on device`,
        naming nothing)."""
        self.flush()
        if self.stream is not None:
            with self._until_gone():
                self.stream.buffer.write(data)
                self.stream.buffer.flush()

    @contextlib.contextmanager
    def _until_gone(self) -> Iterator[None]:
        """Run a write or flush; if it fails, drop the stream: silently where
        the reader has gone (a closed pipe, EPIPE, or on Windows often EINVAL;
        or a closed terminal, EIO), else keeping the error in `failed`. Raised, the error stopped the work
        (a run's progress line on a full disk ended the run, saying no
        checkpoint could be saved) or was lost at exit (`help > /dev/full`
        exited 0)."""
        try:
            yield
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.EIO) and not (WINDOWS and e.errno == errno.EINVAL):
                self.failed = self.failed or e
            self._reader_gone()

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def _reader_gone(self) -> None:
        fd = self.fd
        with contextlib.suppress(AttributeError, OSError, ValueError):
            fd = self.stream.fileno()  # the descriptor the stream really writes to, if it has one
        self.stream = None
        # What the old stream still buffers is flushed at exit: let that go to /dev/null, not to an error.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)

    def close_null(self) -> None:
        if self.null is not None:
            self.null.close()
            self.null = None

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, ... of the stream, or of /dev/null's
        if self.stream is not None:
            return getattr(self.stream, name)
        if self.null is None:
            self.null = open(os.devnull, "w")  # noqa: SIM115 -- kept open as long as this stream
        return getattr(self.null, name)


def open_closed_standard_fds() -> None:
    """/dev/null on file descriptor 0, 1 or 2 where it is closed (`<&-`,
    `>&-`, `2>&-`). Else the next file or pipe opened takes that number, and
    what treats 0, 1 and 2 as the standard streams reads or writes it: a
    child process inherits it as its own (check's result pipe was fd 2 in
    the parent, its child pointed fd 2 at /dev/null, and `check net.py >&-
    2>&-` failed). sys.stdout stays None, which Lasting drops."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def lost(stream: Lasting) -> str | None:
    """What went wrong with `stream` (flushed first) other than its reader
    going away: 'standard output: No space left on device', or None."""
    stream.flush()
    if stream.failed is None:
        return None
    name = {1: "standard output", 2: "standard error"}.get(stream.fd, f"file descriptor {stream.fd}")
    return f"{name}: {stream.failed.strerror or stream.failed}"


@contextlib.contextmanager
def lasting_output() -> Iterator[tuple[Lasting, Lasting]]:
    """sys.stdout and sys.stderr as Lasting streams while the block runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Lasting(sys.stdout, 1), Lasting(sys.stderr, 2)
    lasting = sys.stdout, sys.stderr
    try:
        yield lasting
    finally:
        sys.stdout, sys.stderr = saved
        for stream in lasting:
            with contextlib.suppress(OSError):  # the block's own outcome stands
                stream.flush()  # here, where a reader gone is caught, not at the interpreter's exit
            stream.close_null()
