"""Progress on long work, where people look.

- In a terminal: tqdm's bar, one line redrawn in place and fitted to the
  terminal's width (it follows a resize), so no redraw ever wraps. A
  terminal that reports no size (a pty nobody sized: `script`, `docker
  exec -t`) gets $COLUMNS, else 80 columns.
- In Jupyter: tqdm's widget when ipywidgets is installed (the `notebook`
  extra), else the terminal's bar, which Jupyter redraws in place too
  (tqdm.auto warned "IProgress not found" on stderr there), fitted to
  $COLUMNS, else 80 columns.
- When output goes to a file or a pipe (a log, CI): a plain line at most
  every `log_every` seconds, and one at the end, so a log never fills with
  carriage returns or escape codes. These lines go to stdout: stderr is kept
  for the one line that says what went wrong. A terminal that cannot redraw
  a line (TERM=dumb: Emacs's shell and compile buffers) gets the same lines.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import time
import weakref
from collections.abc import Iterator
from typing import TextIO


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where tqdm.auto draws a widget)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and shell is not False and "IPKernelApp" in getattr(shell, "config", {})


# tqdm's line with the info (loss, lr, val) before the times and the rate, and shorter
# forms for a narrower terminal: the rate goes first, then the times (fitted_bar)
BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix} [{elapsed}<{remaining}, {rate_fmt}]"
SHORTER = (BAR_FORMAT, BAR_FORMAT.replace(", {rate_fmt}", ""), BAR_FORMAT.split(" [")[0])


class Progress:
    """A bar of `total` steps; `update(done, info)` moves it to `done`.

    bytes=True counts bytes, shown with a unit and a rate (downloads).
    terminal_only=True shows nothing in a log (tuning's per-trial bar, whose
    trials already print a line each there). `start`: the steps done before
    (a resumed run's), which its rate and time left do not count."""

    def __init__(self, total: int, desc: str, enabled: bool = True, stream: TextIO | None = None,
                 log_every: float = 10.0, terminal_only: bool = False, bytes: bool = False, start: int = 0) -> None:
        self.total = max(int(total), 1)
        self.desc = desc
        self.first = start
        self.stream = stream or (sys.stderr if in_notebook() or _isatty(sys.stderr) else sys.stdout)
        self.log_every = log_every
        self.bytes = bytes
        self.start = time.monotonic()
        self.last_line = 0.0
        self.done = 0
        self.info = ""
        self.bar = None
        notebook = in_notebook()
        live = notebook or _redraws(self.stream)
        self.enabled = enabled and (live or not terminal_only) and self.stream is not None  # None: no stdout
        if self.enabled and live:
            units = {"unit": "B", "unit_scale": True, "unit_divisor": 1024} if bytes else {"unit": "it"}
            widget = notebook and _has_widgets()
            if widget:
                from tqdm.notebook import tqdm
            else:
                tqdm = fitted_bar()
            # a notebook's text bar is not measured on its stream, whose file is the terminal Jupyter was
            # started in (a pane 50 columns wide dropped the values of every notebook's bar)
            width = {} if widget else dict(zip(("ncols", "nrows"), _shape(None if notebook else self.stream),
                                               strict=True))
            # Jupyter has no cursor to move: tqdm reached a second bar (a fit in another thread) by a newline and
            # left it by ESC[A, so each redraw added a line; at position 0 the bars share one, each ending on its own
            line = {"position": 0} if notebook and not widget else {}
            # initial: a resumed run's steps at once were one update of 42,000, after which tqdm redrew only
            # every 42,000 steps (frozen at 75% to the end), at a rate counting steps it never took
            self.bar = tqdm(total=self.total, desc=desc, file=self.stream, leave=True, mininterval=0.1,
                            bar_format=None if widget else BAR_FORMAT, initial=start, **width, **units, **line)
            if width and not notebook:
                self.bar.dynamic_ncols = _shape  # asked at each redraw, as tqdm's dynamic_ncols=True does
            LIVE.add(self.bar)

    def update(self, done: int, info: str = "") -> None:
        self.done = done
        if info:
            self.info = info
        if not self.enabled:
            return
        if self.bar is not None:
            if info:
                self.bar.set_postfix_str(info, refresh=False)
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last_line >= self.log_every or done >= self.total:
            self.last_line = now
            self._log_line(now)

    def close(self) -> None:
        if self.bar is not None:
            LIVE.discard(self.bar)
            self.bar.close()
            self.bar = None

    def _log_line(self, now: float) -> None:
        elapsed = now - self.start
        frac = min(self.done / self.total, 1.0)
        # no estimate from the first step alone: its time holds the start-up's (compiling, loading)
        steps = self.done - self.first
        eta = _clock(elapsed * (self.total - self.done) / steps) if steps > 1 else "?"
        counts = f"{_size(self.done)}/{_size(self.total)}" if self.bytes else f"{self.done}/{self.total}"
        rate = f" {_size(self.done / max(elapsed, 1e-9))}/s" if self.bytes else ""
        try:
            self.stream.write(f"{self.desc} {frac:4.0%} {counts} {_clock(elapsed)}<{eta}{rate} {self.info}"
                              .rstrip() + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a reader gone, a full disk, a closed file: the lines stop, not the work
            self.enabled = False


# the bars drawn now, in their terminal or notebook; held weakly: a bar its code left unclosed (a decode that
# raised) goes when nothing holds it, as tqdm closes it then (a list kept it, redrawn under a learner's prints)
LIVE: weakref.WeakSet = weakref.WeakSet()


@contextlib.contextmanager
def lines_above_bars() -> Iterator[None]:
    """While other code runs (a learner's loss): the lines it prints, on
    stdout or stderr, are written above the bars drawn now, which are drawn
    again below them (each print left a bar behind it, a flood of bars down
    the terminal). Nothing changes while no bar is drawn."""
    bars = [bar for bar in LIVE if not bar.disable]  # tqdm disables a bar it closes
    if not bars:
        yield
        return
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (LinesAbove(stream, bars) if stream is not None else None for stream in streams)
    try:
        yield
    finally:
        for wrapper in (sys.stdout, sys.stderr):
            if isinstance(wrapper, LinesAbove):
                wrapper.flush()
        sys.stdout, sys.stderr = streams


class LinesAbove:
    """A text stream whose whole lines are written above the live bars (the
    end of a line not yet finished waits for its newline, or flush)."""

    def __init__(self, stream: TextIO, bars: list) -> None:
        self.stream, self.bars = stream, bars
        self.pending = ""

    def write(self, text: str) -> int:
        lines, newline, self.pending = (self.pending + text).rpartition("\n")
        if newline:
            self._above(lines + newline)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self._above(self.pending)
            self.pending = ""
        self.stream.flush()

    def _above(self, text: str) -> None:
        for bar in self.bars:
            bar.clear()
        self.stream.write(text)
        self.stream.flush()
        for bar in self.bars:
            bar.refresh()

    def __getattr__(self, name: str):  # fileno, isatty, encoding...: the stream's
        return getattr(self.stream, name)


@functools.cache
def fitted_bar() -> type:
    """tqdm's bar, fitted to the terminal's width without cutting a number in
    two: where the whole line does not fit, it drops the rate, then the times,
    then the info's `name value` pairs from the end (tqdm cut the line at the
    terminal's edge: at 40 columns `lr 0.00903` showed as `lr 0.0`). Made on
    first use: importing tqdm takes about 40 ms, which a command showing no
    bar (`--help`, `--quiet`, output to a log) need not spend."""
    from tqdm.std import tqdm
    from tqdm.utils import disp_len

    class FittedBar(tqdm):
        @property
        def format_dict(self) -> dict:
            shown = super().format_dict
            if not shown.get("ncols"):
                return shown
            words = str(shown["postfix"] or "").split(" ")
            forms = [(fmt, " ".join(words)) for fmt in SHORTER[:-1]]
            forms += [(SHORTER[-1], " ".join(words[:n])) for n in range(len(words), -1, -2)]
            for fmt, info in forms:  # the first that fits with a bar of one character
                line = self.format_meter(**{**shown, "bar_format": fmt.replace("{bar}", "#"), "postfix": info,
                                            "ncols": None})
                if disp_len(line) <= shown["ncols"]:
                    break
            return {**shown, "bar_format": fmt, "postfix": info}

    return FittedBar


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream
        return False


def _redraws(stream: TextIO) -> bool:
    """Whether `stream` is a terminal that redraws a line in place: not one
    of TERM=dumb, which showed each redraw's carriage return as ^M, every
    redraw piled on one line."""
    return _isatty(stream) and os.environ.get("TERM") != "dumb"


def _has_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401 -- what tqdm's widget is drawn with
    except ImportError:
        return False
    return True


def _shape(stream: TextIO | None) -> tuple[int, int]:
    """The terminal's (columns - 1, lines - 1), tqdm's own measure (the last
    column left free so that a line never wraps), at least 1 x 1. A terminal
    that reports 0 x 0 gets $COLUMNS and $LINES, else 80 x 24: tqdm took it as
    -1 rows, no room for a bar, and showed nothing at all. So does no stream
    (a notebook). One of a single column gets a line of one character: 0
    columns was tqdm's "no limit", a line of 70 characters that wrapped on
    every redraw. At most WIDEST columns: COLUMNS=1000000000 drew a bar of a
    billion characters at every redraw (the run hung), and COLUMNS=1e20's
    was an OverflowError traceback."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        size = os.terminal_size((0, 0))
    if size.columns <= 1 or size.lines <= 1:
        size = shutil.get_terminal_size()
    return min(max(size.columns - 1, 1), WIDEST), min(max(size.lines - 1, 1), WIDEST)


WIDEST = 1000  # columns (and lines): wider than any screen's line of text


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"
