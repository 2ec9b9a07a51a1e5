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
        self._event = threading.Event()
        self._deadline = time.monotonic() + max_duration_s
        self._max_duration_s = max_duration_s

    def request(self, reason: str) -> None:
        """Ask the run to stop (thread- and signal-safe); the first reason wins."""
        first = self.reason is None
        if first:
            self.reason = reason
        self._event.set()
        if first:
            for listener in list(self.listeners):
                # A listener must not block the stop.
                with contextlib.suppress(Exception):
                    listener(reason)

    def check(self) -> None:
        if time.monotonic() >= self._deadline:
            self.request(f"max_duration ({self._max_duration_s:g}s) exceeded")
        if self.reason is not None:
            raise StopRequested(self.reason)

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
