"""A small progress bar for long steps, readable in a terminal and in a log.

On a terminal it redraws one line in place; when output goes to a file or a
pipe it prints a plain line at most every `log_every` seconds (and at the
end), so a log never fills with carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self,
        total: int,
        desc: str,
        enabled: bool = True,
        stream: TextIO | None = None,
        log_every: float = 10.0,
        terminal_only: bool = False,
    ) -> None:
        self.total = max(int(total), 1)
        self.desc = desc
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.enabled = enabled and (self.tty or not terminal_only)
        self.log_every = log_every
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.done = 0
        self.info = ""

    def update(self, done: int, info: str = "") -> None:
        self.done = done
        if info:
            self.info = info
        if not self.enabled:
            return
        now = time.monotonic()
        interval = 0.1 if self.tty else self.log_every
        if now - self.last_draw >= interval or done >= self.total:
            self.last_draw = now
            self._draw(now)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        frac = min(self.done / self.total, 1.0)
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        counts = f"{self.done}/{self.total}"
        times = f"{_clock(elapsed)}<{_clock(eta)}"
        if self.tty:
            bar = "#" * int(frac * 20)
            line = f"\r{self.desc} [{bar:<20}] {counts} {times} {self.info}"
            self.stream.write(line[:160].ljust(80))
        else:
            self.stream.write(f"{self.desc} {frac:4.0%} {counts} {times} {self.info}\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"
