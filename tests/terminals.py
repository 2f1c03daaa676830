"""A terminal stand-in for the progress bar's tests: what a bar draws on a
terminal of a given width."""

import io

from twolayer.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def drawn(columns, total, updates, monkeypatch) -> str:
    """Everything a bar of `total` steps writes on a terminal `columns` wide
    (TERM xterm), given `updates` of (steps done, info)."""
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("TERM", "xterm")
    screen = Terminal()
    bar = Progress(total, "train", stream=screen)
    for n, info in updates:
        bar.update(n, info)
    bar.close()
    return screen.getvalue()
