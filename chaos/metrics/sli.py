"""Client-side SLIs of a window of load: totals, their SLIs, and recovery time.

Only the service as legitimate users see it is measured: rows of `abusive` WAF clients
(whose blocks are expected) are left out of availability, latency and throughput, and
counted apart (`abusive_requests`, `abusive_blocked`). Latency percentiles always come
from the merged histogram of the window, never from averaged per-second percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.metrics.histogram import LatencyHistogram
from chaos.metrics.rows import STATUS_CLASSES, SecondRow

__all__ = [
    "LATENCY_KEYS",
    "RECOVERY_STREAK_S",
    "RECOVERY_TARGET_AVAILABILITY",
    "Totals",
    "recovery_time_s",
    "whole_seconds",
]

LATENCY_KEYS = ("p50", "p90", "p95", "p99", "max")
#: Recovery: availability back for this many consecutive seconds (with requests).
RECOVERY_STREAK_S = 5
#: Recovered when per-second availability is >= the baseline's or >= this.
RECOVERY_TARGET_AVAILABILITY = 0.99


@dataclass
class Totals:
    """Everything measured in one window (one second, one phase or the whole run)."""

    requests: int = 0
    failures: int = 0
    blocked: int = 0
    other_403: int = 0
    injected: int = 0  # responses carrying the fault extension's marker header
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
        self.other_403 += row.other_403
        self.injected += row.injected
        _add_counts(self.status_classes, row.status_classes)
        self.histogram.merge(row.histogram)

    def merge(self, other: Totals) -> Totals:
        """Add `other` into this; returns self."""
        self.requests += other.requests
        self.failures += other.failures
        self.blocked += other.blocked
        self.other_403 += other.other_403
        self.injected += other.injected
        self.abusive_requests += other.abusive_requests
        self.abusive_blocked += other.abusive_blocked
        _add_counts(self.status_classes, other.status_classes)
        self.histogram.merge(other.histogram)
        return self

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

    def slis(self, seconds: int) -> dict[str, Any]:
        """The SLIs of this window (PRODUCT.md keys first); `seconds`: the window's length.

        ``availability`` and ``error_rate`` are fractions (0..1), None without requests;
        ``throughput_rps`` divides by the whole seconds of the window.
        """
        return {
            "requests": self.requests,
            "throughput_rps": round(self.requests / seconds, 3) if seconds else None,
            "availability": self.availability,
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms(),
            "failures": self.failures,
            "blocked": self.blocked,
            "other_403": self.other_403,
            "injected_responses": self.injected,
            "status_classes": {name: self.status_classes.get(name, 0) for name in STATUS_CLASSES},
            "abusive_requests": self.abusive_requests,
            "abusive_blocked": self.abusive_blocked,
            "window_s": seconds,
        }


def _add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for name, count in counts.items():
        into[name] = into.get(name, 0) + count


def whole_seconds(start_epoch_s: float, end_epoch_s: float) -> int:
    """How many whole seconds ``[s, s + 1)`` lie in ``[start, end)`` (a cut one does not)."""
    return max(0, math.floor(end_epoch_s) - math.ceil(start_epoch_s))


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
