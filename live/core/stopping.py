"""Stopping on a signal (Ctrl-C, SIGTERM from systemd or `kill`) without losing anything.

SIGHUP (the SSH session or terminal that started the show closed) and SIGQUIT (Ctrl-\\) stop it the same
way: by default they would kill the process at once and lose the recording. SIGUSR1 and SIGUSR2 have no
use here and are ignored during a run: by default they kill the process too, and a stray `kill -USR1`
(a log rotation script sent to the wrong process) must not end the show. Signals the platform lacks
(Windows has none of these four) are skipped.

The first signal asks the run to stop. While the network is being prepared it also interrupts that
work (a KeyboardInterrupt, as usual); once frames flow it only sets a flag that the main loop reads,
so it can never land in the middle of writing a video frame. Every later signal is noted and ignored:
a second Ctrl-C or a service manager repeating SIGTERM must not abort the shutdown that finishes the
recording.

Code that has to catch broad exceptions (a backend that fails to load falls back to another) calls
`raise_if_stopping()` in its handler: a library can turn a KeyboardInterrupt into its own error
(an interrupted extension import becomes an ImportError), which must not be mistaken for a failure.
"""
from __future__ import annotations

import signal
import threading

_requested = threading.Event()
_interrupt_work = True  # raise KeyboardInterrupt on the first signal (start-up) or only set the flag


def stop_requested() -> bool:
    return _requested.is_set()


def raise_if_stopping() -> None:
    if _requested.is_set():
        raise KeyboardInterrupt


# Signals that stop the run, and signals ignored during it; only those this platform has.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
                     if hasattr(signal, name))
IGNORED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGUSR1", "SIGUSR2") if hasattr(signal, name))


def _on_signal(signum, frame) -> None:
    first = not _requested.is_set()
    _requested.set()
    if first and _interrupt_work:
        raise KeyboardInterrupt


class StopSignals:
    """Installs the handler for STOP_SIGNALS, and ignores IGNORED_SIGNALS, for the life of a run (main
    thread only: elsewhere, e.g. a run started by a test's thread, signals keep their usual meaning)."""

    def __init__(self):
        self.installed = threading.current_thread() is threading.main_thread()
        self._previous = {}

    def __enter__(self):
        global _interrupt_work
        _requested.clear()
        _interrupt_work = True
        if self.installed:
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, _on_signal)
            for sig in IGNORED_SIGNALS:
                self._previous[sig] = signal.signal(sig, signal.SIG_IGN)
        return self

    def frames_flowing(self) -> None:
        """From now on a signal only sets the flag; the main loop stops at its next turn."""
        global _interrupt_work
        _interrupt_work = False

    def __exit__(self, *exc) -> None:
        global _interrupt_work
        _interrupt_work = False
        for sig, handler in self._previous.items():
            # On the way out after a signal, more of them are ignored until the process has exited: at
            # the OS level, since Python resets its own handlers while it finalises.
            signal.signal(sig, signal.SIG_IGN if _requested.is_set() else handler)
