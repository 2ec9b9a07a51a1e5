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

    def __init__(self, max_duration_s: float, hard_limit_s: float | None = None) -> None:
        """`hard_limit_s`: the deadline `not_counting` never extends past (from the start)."""
        self.reason: str | None = None
        self.listeners: list[Callable[[str], None]] = []
        self._notified = False
        self._event = threading.Event()
        self._max_duration_s = max_duration_s
        self._hard_limit_s = max(max_duration_s, hard_limit_s or max_duration_s)
        self.restart_clock()

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
        now = time.monotonic()
        self._deadline = now + self._max_duration_s
        self._hard_deadline = now + self._hard_limit_s

    @contextmanager
    def not_counting(self) -> Iterator[None]:
        """Time spent inside (applying, restoring) does not count against max_duration.

        The deadline moves later by that time, never past the hard limit: the faults
        expire on their own then, so the run must have ended.
        """
        started = time.monotonic()
        try:
            yield
        finally:
            spent = time.monotonic() - started
            self._deadline = min(self._deadline + spent, self._hard_deadline)

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
        """Turn SIGINT, SIGTERM and SIGHUP (a closed terminal) into stop requests."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            self.request(f"signal {signal.Signals(signum).name}")

        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, on_signal)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextmanager
def signals_set(event: threading.Event) -> Iterator[threading.Event]:
    """While inside, SIGINT, SIGTERM and SIGHUP set `event` instead of ending the process:
    the run's reporting stage (after the restore) finishes with what it has and writes
    every report, rather than dying without result.json while CloudWatch settles."""
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        event.set()

    previous = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
