"""Client-side SLIs computed from per-second load rows: per phase, per second, recovery.

Only the service as legitimate users see it is measured: rows of `abusive` WAF clients
(whose blocks are expected) are left out of availability, latency and throughput, and
counted apart (`abusive_requests`, `abusive_blocked`).

A row belongs to a window when its `second` lies in ``[start, end)``; contiguous phase
windows therefore partition the rows, and the requests of the phases add up to the run's.
Latency percentiles always come from the merged histogram of the window, never from
averaged per-second percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.clock import epoch_seconds
from chaos.metrics.histogram import LatencyHistogram
from chaos.metrics.rows import STATUS_CLASSES, SecondRow

__all__ = [
    "LATENCY_KEYS",
    "RECOVERY_STREAK_S",
    "RECOVERY_TARGET_AVAILABILITY",
    "PhaseWindows",
    "SecondTotals",
    "measure_run",
    "phase_slis",
    "phase_windows_from_times",
    "recovery_time_s",
    "timeline",
]

LATENCY_KEYS = ("p50", "p90", "p95", "p99", "max")
#: Recovery: availability back for this many consecutive seconds (with requests).
RECOVERY_STREAK_S = 5
#: Recovered when per-second availability is >= the baseline's or >= this.
RECOVERY_TARGET_AVAILABILITY = 0.99

#: phase name -> (start, end) in epoch seconds, end excluded.
PhaseWindows = Mapping[str, tuple[float, float]]


@dataclass
class SecondTotals:
    """Everything measured in one window (one second, one phase or the whole run)."""

    requests: int = 0
    failures: int = 0
    blocked: int = 0
    abusive_requests: int = 0
    abusive_blocked: int = 0
    status_classes: dict[str, int] = field(default_factory=dict)
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(self, row: SecondRow) -> None:
        if row.traffic == "abusive":
            self.abusive_requests += row.requests
            self.abusive_blocked += row.blocked
            return
        self.requests += row.requests
        self.failures += row.failures
        self.blocked += row.blocked
        for name, count in row.status_classes.items():
            self.status_classes[name] = self.status_classes.get(name, 0) + count
        self.histogram.merge(row.histogram)

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    @property
    def availability(self) -> float | None:
        return 1.0 - self.failures / self.requests if self.requests else None

    def latency_ms(self) -> dict[str, float | None]:
        if not self.histogram.count:
            return dict.fromkeys(LATENCY_KEYS)
        summary = self.histogram.summary()
        return {key: summary[key] for key in LATENCY_KEYS}


def phase_windows_from_times(phase_times: Mapping[str, Mapping[str, str]]) -> dict[
    str, tuple[float, float]
]:
    """Phase windows from run.py's ``phase_times`` ({phase: {started_at, ended_at}}).

    A phase without ``ended_at`` (the run stopped inside it) is left out.
    """
    windows: dict[str, tuple[float, float]] = {}
    for name, times in phase_times.items():
        if times.get("started_at") and times.get("ended_at"):
            windows[name] = (epoch_seconds(times["started_at"]), epoch_seconds(times["ended_at"]))
    return windows


def whole_seconds(start_epoch_s: float, end_epoch_s: float) -> int:
    """How many integer seconds lie in ``[start, end)``."""
    return max(0, math.ceil(end_epoch_s) - math.ceil(start_epoch_s))


def totals_of(rows: Iterable[SecondRow], start_epoch_s: float, end_epoch_s: float) -> SecondTotals:
    totals = SecondTotals()
    for row in rows:
        if start_epoch_s <= row.second < end_epoch_s:
            totals.add(row)
    return totals


def phase_slis(
    rows: Iterable[SecondRow], start_epoch_s: float, end_epoch_s: float
) -> dict[str, Any]:
    """The SLIs of the rows whose ``second`` is in ``[start, end)`` (PRODUCT.md keys first).

    ``availability`` and ``error_rate`` are fractions (0..1), None when there were no
    requests; ``throughput_rps`` divides by the whole seconds of the window.
    """
    totals = totals_of(rows, start_epoch_s, end_epoch_s)
    seconds = whole_seconds(start_epoch_s, end_epoch_s)
    return {
        "requests": totals.requests,
        "throughput_rps": round(totals.requests / seconds, 3) if seconds else None,
        "availability": totals.availability,
        "error_rate": totals.error_rate,
        "latency_ms": totals.latency_ms(),
        "failures": totals.failures,
        "blocked": totals.blocked,
        "status_classes": {name: totals.status_classes.get(name, 0) for name in STATUS_CLASSES},
        "abusive_requests": totals.abusive_requests,
        "abusive_blocked": totals.abusive_blocked,
        "window_s": seconds,
    }


def phase_of(second: int, phase_windows: PhaseWindows) -> str | None:
    for name, (start, end) in phase_windows.items():
        if start <= second < end:
            return name
    return None


def timeline(rows: Iterable[SecondRow], phase_windows: PhaseWindows) -> list[dict[str, Any]]:
    """One entry per second from the first phase start (or row) to the last phase end.

    Seconds without rows are included with zero requests, so charts show gaps as gaps.
    """
    by_second: dict[int, SecondTotals] = {}
    for row in rows:
        by_second.setdefault(row.second, SecondTotals()).add(row)
    bounds = [math.ceil(start) for start, _ in phase_windows.values()]
    bounds += [math.ceil(end) - 1 for _, end in phase_windows.values()]
    bounds += list(by_second)
    if not bounds:
        return []
    first, last = min(bounds), max(bounds)
    return [
        timeline_entry(second, phase_of(second, phase_windows), by_second.get(second))
        for second in range(first, last + 1)
    ]


def timeline_entry(second: int, phase: str | None, totals: SecondTotals | None) -> dict[str, Any]:
    totals = totals or SecondTotals()
    latency = totals.latency_ms()
    return {
        "second": second,
        "phase": phase,
        "requests": totals.requests,
        "failures": totals.failures,
        "blocked": totals.blocked,
        "rps": totals.requests,
        "error_rate": totals.error_rate,
        "p50_ms": latency["p50"],
        "p90_ms": latency["p90"],
        "p95_ms": latency["p95"],
        "p99_ms": latency["p99"],
        "max_ms": latency["max"],
        "abusive_requests": totals.abusive_requests,
        "abusive_blocked": totals.abusive_blocked,
    }


def recovery_time_s(
    timeline_rows: Iterable[Mapping[str, Any]],
    recovery_start_epoch_s: float,
    baseline_availability: float | None,
) -> float | None:
    """Seconds from the start of recovery until availability is back, or None if never.

    Back means: per-second availability >= the baseline's availability or >= 99%, for
    RECOVERY_STREAK_S consecutive seconds that had requests (seconds without requests
    neither count nor break the streak). The time is that of the streak's first second.
    """
    target = RECOVERY_TARGET_AVAILABILITY
    if baseline_availability is not None:
        target = min(target, baseline_availability)
    streak_start: int | None = None
    streak = 0
    for row in sorted(timeline_rows, key=lambda item: int(item["second"])):
        second, requests = int(row["second"]), int(row.get("requests") or 0)
        if second < math.ceil(recovery_start_epoch_s) or requests == 0:
            continue
        availability = 1.0 - int(row.get("failures") or 0) / requests
        if availability + 1e-12 >= target:
            streak_start = second if streak == 0 else streak_start
            streak += 1
            if streak >= RECOVERY_STREAK_S and streak_start is not None:
                return max(0.0, float(streak_start) - recovery_start_epoch_s)
        else:
            streak, streak_start = 0, None
    return None


def measure_run(rows: Iterable[SecondRow], phase_windows: PhaseWindows) -> dict[str, Any]:
    """Everything the result needs from the rows: ``phases``, ``overall``, ``timeline``,
    ``recovery_time_s``. Phases missing from ``phase_windows`` are left out."""
    all_rows = list(rows)
    phases = {
        name: phase_slis(all_rows, start, end) for name, (start, end) in phase_windows.items()
    }
    overall: dict[str, Any] | None = None
    if phase_windows:
        run_start = min(start for start, _ in phase_windows.values())
        run_end = max(end for _, end in phase_windows.values())
        overall = phase_slis(all_rows, run_start, run_end)
    seconds = timeline(all_rows, phase_windows)
    recovery: float | None = None
    if "recovery" in phase_windows:
        baseline = phases.get("baseline", {}).get("availability")
        recovery = recovery_time_s(seconds, phase_windows["recovery"][0], baseline)
    return {"phases": phases, "overall": overall, "timeline": seconds, "recovery_time_s": recovery}
