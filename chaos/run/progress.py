"""The live view of a run on stderr: phase, time left, req/s, error rate, p99, active faults.

On a terminal it is a rich live panel; elsewhere (CI, pipes) plain lines: every event at
once, and the live numbers at most every ``PLAIN_INTERVAL_S`` seconds.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from chaos.metrics.rows import SecondRow
from chaos.metrics.sli import Totals

if TYPE_CHECKING:
    from rich.live import Live
    from rich.text import Text

    from chaos.run.context import RunContext

__all__ = ["PLAIN_INTERVAL_S", "LiveNumbers", "RunProgress", "attach_progress"]

PLAIN_INTERVAL_S = 10.0
#: The live numbers are those of the last few complete seconds.
WINDOW_S = 5


@dataclass
class LiveNumbers:
    rps: float | None
    error_rate: float | None
    p99_ms: float | None


class RecentSeconds:
    """Rows of the last seconds, merged per second (thread-safe)."""

    def __init__(self, window_s: int = WINDOW_S) -> None:
        self.window_s = window_s
        self._seconds: dict[int, Totals] = {}
        self._lock = threading.Lock()

    def add(self, row: SecondRow) -> None:
        with self._lock:
            self._seconds.setdefault(row.second, Totals()).add(row)
            newest = max(self._seconds)
            for old in [s for s in self._seconds if s <= newest - 2 * self.window_s]:
                del self._seconds[old]

    @property
    def has_data(self) -> bool:
        return bool(self._seconds)

    def numbers(self, now_s: float) -> LiveNumbers:
        """Over the complete seconds of the window ending before the current second."""
        current = int(now_s)
        merged = Totals()
        with self._lock:
            for second, totals in self._seconds.items():
                if current - self.window_s <= second < current:
                    merged.merge(totals)
        if not merged.requests:
            return LiveNumbers(0.0 if self._seconds else None, None, None)
        p99 = merged.histogram.percentile(99) if merged.histogram.count else None
        return LiveNumbers(merged.requests / self.window_s, merged.error_rate, p99)


class RunProgress:
    """Listens to a run's events and live rows; renders on a TTY or as plain lines."""

    def __init__(
        self,
        run_id: str,
        phase_seconds: dict[str, float],
        *,
        stream: IO[str] | None = None,
        live: bool | None = None,
        clock: Callable[[], float] = time.time,
        plain_interval_s: float = PLAIN_INTERVAL_S,
    ) -> None:
        self.run_id = run_id
        self.phase_seconds = phase_seconds
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.plain_interval_s = plain_interval_s
        self.started = clock()
        self.phase: str | None = None
        self.phase_started = self.started
        self.active_faults: dict[str, str] = {}
        self.stopping: str | None = None
        self.recent = RecentSeconds()
        self._last_plain = float("-inf")
        self._lock = threading.RLock()  # re-entered if a signal lands while printing
        self._live: Live | None = None
        use_live = live if live is not None else _is_tty(self.stream)
        if use_live:
            self._start_live()

    # -- inputs ---------------------------------------------------------------------

    def on_row(self, row: SecondRow) -> None:
        """Feed one live load row (any thread); never raises."""
        try:
            self.recent.add(row)
            if self._live is None:
                self._maybe_plain_status()
        except Exception:  # noqa: BLE001 - a display bug must not disturb the run
            pass

    def on_phase(self, phase: str, **_: Any) -> None:
        self.phase, self.phase_started = phase, self.clock()
        self.say(f"phase {phase} ({self.phase_seconds.get(phase, 0):g}s)")

    def on_applied(self, entry: Any, **_: Any) -> None:
        self.active_faults[_fault_key(entry)] = f"{entry.fault_type} on {entry.target}"
        self.say(f"injected {entry.fault_type} on {entry.target}")

    def on_restored(self, entry: Any, **_: Any) -> None:
        self.active_faults.pop(_fault_key(entry), None)
        self.say(f"restore {entry.fault_type} on {entry.target}: {entry.status}")

    def on_stop(self, reason: str = "", **_: Any) -> None:
        self.stopping = reason or "stop requested"
        self.say(f"stopping: {self.stopping} (restoring everything)")

    def on_message(self, text: str = "", message: str = "", **_: Any) -> None:
        self.say(str(text or message))

    # -- output ---------------------------------------------------------------------

    def say(self, text: str) -> None:
        line = f"[{self.clock() - self.started:6.1f}s] {text}"
        with self._lock:
            if self._live is not None:
                self._live.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=self.stream, flush=True)

    def status_line(self) -> str:
        numbers = self.recent.numbers(self.clock())
        parts = [f"phase {self.phase or 'starting'}"]
        left = self.time_left()
        if left is not None:
            parts.append(f"{left:.0f}s left")
        parts.append("req/s -" if numbers.rps is None else f"req/s {numbers.rps:.1f}")
        parts.append(
            "errors -" if numbers.error_rate is None else f"errors {numbers.error_rate * 100:.2f}%"
        )
        parts.append("p99 -" if numbers.p99_ms is None else f"p99 {numbers.p99_ms:.0f} ms")
        faults = ", ".join(sorted(self.active_faults.values())) or "none"
        parts.append(f"faults active: {faults}")
        if self.stopping:
            parts.append(f"STOPPING: {self.stopping}")
        return " | ".join(parts)

    def time_left(self) -> float | None:
        if self.phase is None or self.phase not in self.phase_seconds:
            return None
        return max(0.0, self.phase_seconds[self.phase] - (self.clock() - self.phase_started))

    def _maybe_plain_status(self) -> None:
        now = self.clock()
        with self._lock:
            if now - self._last_plain < self.plain_interval_s:
                return
            self._last_plain = now
        self.say(self.status_line())

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream, stderr=self.stream is sys.stderr)
        self._live = Live(
            _Renderable(self),
            console=console,
            refresh_per_second=2,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the live panel (idempotent); plain mode prints a last status line."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()
        elif self.recent.has_data:
            self.say(self.status_line())


class _Renderable:
    """Re-rendered by rich on every refresh."""

    def __init__(self, progress: RunProgress) -> None:
        self.progress = progress

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text(self.progress.status_line(), style="bold")


def _fault_key(entry: Any) -> str:
    return f"{getattr(entry, 'fault_type', '')}:{getattr(entry, 'target_arn', '')}"


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def attach_progress(context: RunContext) -> RunProgress:
    """Show the run's progress on stderr; feed it live rows with ``progress.on_row(row)`` and
    ``progress.close()`` when the run ends."""
    phases = context.experiment.phases
    progress = RunProgress(
        context.run_id,
        {"baseline": phases.baseline, "fault": phases.fault, "recovery": phases.recovery},
    )
    context.events.phase_started.add_listener(progress.on_phase)
    context.events.fault_applied.add_listener(progress.on_applied)
    context.events.fault_restored.add_listener(progress.on_restored)
    context.events.stop_requested.add_listener(progress.on_stop)
    context.events.message.add_listener(progress.on_message)
    progress.say(f"run {context.run_id} started (journal before every change)")
    return progress
