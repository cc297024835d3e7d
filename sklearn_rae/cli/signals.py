"""Signals: how Ctrl-C, SIGTERM and SIGHUP end the command line.

Each ends a run the same way: the exception it raises in the main thread
unwinds the run, so that every temporary output file is removed and the
previous outputs stay as they were, and :func:`~sklearn_rae.cli.main.main`
prints one line and returns ``128 + signal number``: 130 for SIGINT (Ctrl-C),
143 for SIGTERM and 129 for SIGHUP (the terminal closed). SIGHUP's default
action would end the process at once and leave the hidden temporaries of a
half-written set behind. While the outputs are renamed into place the three
are held back (:func:`deferred`) and delivered once the set is whole.
"""

from __future__ import annotations

import contextlib
import signal
import threading

#: The signals handled, with the word printed when one ends a run.
WORDS = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "terminated",
    **({signal.SIGHUP: "hung up"} if hasattr(signal, "SIGHUP") else {}),
}


class Signalled(BaseException):
    """SIGTERM or SIGHUP, raised in the main thread so that temporaries go.

    A :class:`BaseException`, like :class:`KeyboardInterrupt`, so that no
    ``except Exception`` on the way takes it for an error.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """The shell's status for a process ended by this signal."""
        return 128 + self.signum

    @property
    def word(self) -> str:
        """What happened, for the one line printed."""
        return WORDS.get(self.signum, f"signal {self.signum}")


def _raise_signalled(signum, frame):
    raise Signalled(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def handled():
    """Turn SIGTERM and SIGHUP into :class:`Signalled`, SIGINT into Ctrl-C.

    SIGINT gets Python's own handler back (an embedding program or a start-up
    guard may have replaced it), so that it raises :class:`KeyboardInterrupt`.
    The previous handlers are restored on exit. Outside the main thread,
    where Python delivers no signal, nothing changes.
    """
    if not _in_main_thread():
        yield
        return
    previous = {}
    try:
        for signum in WORDS:
            handler = (
                signal.default_int_handler
                if signum == signal.SIGINT
                else _raise_signalled
            )
            previous[signum] = signal.signal(signum, handler)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def deferred():
    """Hold SIGINT, SIGTERM and SIGHUP back while the outputs are renamed.

    The renames take microseconds; a signal arriving meanwhile is delivered
    once they are done, so it never splits the set.
    """
    deferrable = hasattr(signal, "pthread_sigmask") and _in_main_thread()
    held = set(WORDS)
    if deferrable:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        if deferrable:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
