"""Signals that stop work: Ctrl-C (SIGINT), SIGTERM (kill, a scheduler) and
SIGHUP (a closed terminal) either interrupt at once as Ctrl-C does
(SignalsInterrupt), or only ask the work to stop where its state is whole
(StopOnSignal): the trainer's next iteration boundary."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from twolayer.streams import say


class Signalled(KeyboardInterrupt):
    """A signal stopped the work; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_words(signum))  # what a notebook shows: "interrupted", not "2"
        self.signum = signum


# The signals that stop a run as Ctrl-C does: SIGTERM (kill, a scheduler)
# and SIGHUP (the terminal was closed) would otherwise end the process at
# once, saying nothing and losing the epoch under way.
TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
STOPPING = (signal.SIGINT, *TERMINATING)


def signal_words(signum: int) -> str:
    """What a stopping signal did, for the one line that says so."""
    return {getattr(signal, "SIGTERM", -1): "terminated (SIGTERM)",
            getattr(signal, "SIGHUP", -1): "hung up (SIGHUP: the terminal was closed)"}.get(signum, "interrupted")


def handled(signals: tuple[int, ...]) -> list[int]:
    """The signals of `signals` this process may take over: none outside the
    main thread, and none that it was told to ignore (nohup ignores SIGHUP,
    so that a closed terminal does not stop the run)."""
    if threading.current_thread() is not threading.main_thread():
        return []
    return [sig for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN]


def pythons_own(sig: int) -> Any:
    """The handler Python starts with for `sig`: its own for SIGINT (which
    raises KeyboardInterrupt), the system's default for the others. SIGINT
    at SIG_DFL was put there by the program (or by one that embeds Python),
    to end the process at once: not Python's own."""
    return signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL


class SignalsInterrupt:
    """While active, SIGTERM and SIGHUP interrupt like Ctrl-C (Signalled, a
    KeyboardInterrupt), so work can say what it did not finish, and `try`
    blocks clean up, instead of the process dying silently. Main thread only."""

    def __enter__(self) -> SignalsInterrupt:
        self.previous = {}
        for sig in handled(TERMINATING):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    @staticmethod
    def _handle(signum: int, frame: Any) -> None:
        raise Signalled(signum)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class StopOnSignal:
    """While active, SIGINT, SIGTERM and SIGHUP (or `signals`) only set
    `signum`, so the trainer can stop at the next iteration boundary with a
    whole state (to checkpoint, or to continue). A second signal interrupts
    at once. Does nothing outside the main thread; with `unclaimed`, only
    for signals still under Python's own handler (fit leaves the command
    line's handlers, which checkpoint first, to them)."""

    def __init__(self, signals: tuple[int, ...] = STOPPING, unclaimed: bool = False) -> None:
        self.signals, self.unclaimed = signals, unclaimed

    def __enter__(self) -> StopOnSignal:
        self.signum: int | None = None
        self.previous = {}
        self.waiting: threading.Timer | None = None  # the line a step that does not end brings
        for sig in handled(self.signals):
            if not self.unclaimed or signal.getsignal(sig) is pythons_own(sig):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise Signalled(signum)
        self.signum = signum
        # a step that does not end (a learner's loss in an endless loop) showed nothing after the first Ctrl-C
        self.waiting = threading.Timer(WAIT_NOTE, say, (waiting_note(signum), sys.stderr))
        self.waiting.daemon = True
        self.waiting.start()

    def __exit__(self, *exc: Any) -> None:
        if self.waiting is not None:
            self.waiting.cancel()
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


# seconds after a first stopping signal before a line says the work is waiting for its step to end
WAIT_NOTE = 10.0


def waiting_note(signum: int) -> str:
    again = "Ctrl-C again stops" if signum == signal.SIGINT else "the same signal again stops"
    return (f"twolayer: {signal_words(signum)}; stopping once the step under way ends ({again} at once, losing "
            "that step)")
