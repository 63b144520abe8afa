"""Backends built while the show goes on: exports, compilations and the `auto` trial's candidates take
seconds each, so a running show dreams with torch (it needs none of that) and swaps in the faster backend
when one thread, in the background, has made it ready and warmed it up.

One job per preset and size, run one at a time in the order asked for; what is asked again while its job
waits or runs is not queued twice, so the queue is bounded by the presets and sizes the show has.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Callable, Hashable

from live.backends.onnx_export import export_elsewhere, stop_exports
from live.core.stopping import stop_requested

log = logging.getLogger("live-dream")
# The builder's thread yields the CPU to the picture and the dream: an export may take longer, the
# picture must not stutter for it (a thread's nice value is its own on Linux).
BUILDER_NICENESS = 10


class BackgroundBuilder:
    def __init__(self):
        self._jobs: queue.Queue = queue.Queue()
        self._asked: set = set()  # keys waiting or being built
        self._ready: dict = {}  # key -> backend, until the dream worker takes it
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()  # nothing waits or is being built (the tests and the bench wait on it)
        self.idle.set()

    def ask(self, key: Hashable, build: Callable[[], object]) -> None:
        """Build `build()` for `key` in the background, unless it is asked already."""
        with self._lock:
            if key in self._asked or key in self._ready or self._closed.is_set():
                return
            self._asked.add(key)
            self.idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="backend-builder", daemon=True)
                self._thread.start()
        self._jobs.put((key, build))

    def take(self, key: Hashable):
        """The backend built for `key` once, then None (the caller keeps it)."""
        if not self._ready:  # the common case, without the lock: once per frame
            return None
        with self._lock:
            return self._ready.pop(key, None)

    def forget(self, keys: Callable[[Hashable], bool]) -> None:
        """Drop what was built or asked for the keys this says (a forgotten preset; a fallback)."""
        with self._lock:
            for key in [k for k in self._ready if keys(k)]:
                del self._ready[key]
            self._asked -= {k for k in self._asked if keys(k)}

    def close(self, timeout: float = 5.0) -> None:
        """No more jobs; waits up to `timeout` for the one being built (an export cannot be cut short)."""
        self._closed.set()
        self._jobs.put(None)
        stop_exports()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        export_elsewhere()
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BUILDER_NICENESS)
        except (AttributeError, OSError):  # not on Windows, or not allowed: it competes as an equal
            pass
        while (job := self._jobs.get()) is not None and not self._closed.is_set():
            key, build = job
            backend = self._build(key, build)
            with self._lock:
                if key in self._asked:  # not forgotten meanwhile
                    self._asked.discard(key)
                    if backend is not None:
                        self._ready[key] = backend
                if not self._asked:
                    self.idle.set()

    @staticmethod
    def _build(key, build):
        try:
            return build()
        except KeyboardInterrupt:  # the show is stopping (raise_if_stopping, in this thread): nothing to say
            return None
        except Exception as exc:  # noqa: BLE001 - torch goes on dreaming it; one line says why
            if stop_requested():  # an export interrupted by the show's end: nothing to say
                return None
            message = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
            log.warning("backend for %s could not be built in the background (%s); torch keeps dreaming it",
                        key[0], message)
            return None
