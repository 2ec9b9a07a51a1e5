"""Stop requests: signals, max_duration and stop conditions all end in one flag."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequested(Exception):
    """Raised inside the lifecycle when a stop was requested; carries the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StopSignal:
    """A one-way flag with a reason; the first reason wins."""

    def __init__(self, max_duration_s: float) -> None:
        self.reason: str | None = None
        self.listeners: list[Callable[[str], None]] = []
        self._notified = False
        self._event = threading.Event()
        self._deadline = time.monotonic() + max_duration_s
        self._max_duration_s = max_duration_s

    def request(self, reason: str) -> None:
        """Ask the run to stop; the first reason wins.

        Safe from a signal handler and from any thread: it only sets the flag. Listeners
        run later, on the run's own thread, from `check` (a listener that takes a lock
        the interrupted code holds would otherwise deadlock the handler).
        """
        if self.reason is None:
            self.reason = reason
        self._event.set()

    def restart_clock(self) -> None:
        """Start counting max_duration now (planning and confirmation do not count)."""
        self._deadline = time.monotonic() + self._max_duration_s

    def check(self) -> None:
        if time.monotonic() >= self._deadline:
            self.request(f"max_duration ({self._max_duration_s:g}s) exceeded")
        if self.reason is not None:
            self._notify(self.reason)
            raise StopRequested(self.reason)

    def _notify(self, reason: str) -> None:
        if self._notified:
            return
        self._notified = True
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):  # a listener must not block the stop
                listener(reason)

    def wait(self, seconds: float) -> None:
        """Sleep `seconds`, returning early (by raising StopRequested) when a stop comes."""
        end = time.monotonic() + seconds
        while True:
            self.check()
            remaining = min(end, self._deadline) - time.monotonic()
            if remaining <= 0 and time.monotonic() >= end:
                return
            self._event.wait(max(0.0, min(remaining, 0.25)))

    @contextmanager
    def handling_signals(self) -> Iterator[None]:
        """Turn SIGINT and SIGTERM into stop requests for the duration of the block."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            self.request(f"signal {signal.Signals(signum).name}")

        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
