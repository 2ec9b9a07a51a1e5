"""Streaming aggregation: load rows are folded into what the result needs, then dropped.

A run streams one row per (second, user class, endpoint, traffic kind, WAF identity),
each with its own latency histogram. Keeping them would cost memory in proportion to
the run's length; instead :class:`RunAggregator` keeps

- per segment of the run (baseline, transition, fault, recovery) x endpoint x traffic
  kind: one merged histogram and counters;
- per second: a compact :class:`SecondSummary` (counts, status classes, and the
  percentiles of that second, computed once from its merged histogram);
- per abusive WAF identity: two integer arrays (sent, blocked per second);
- per Locust worker: its request count per segment (and outside them, e.g. ramp-up).

Memory is O(segments x endpoints + seconds x a small constant + identities x seconds
+ workers x segments).

A second is *finalized* (its summary computed, its rows merged into its segment) once
rows at least ``finalize_after_s`` seconds newer have arrived, or at `finish`. Rows of
several workers for the same second arrive within a fraction of a second of each other;
a row that comes after its second was finalized still counts in the segment totals and
in the second's counts (its latencies then miss only that second's percentiles).

Segments come from boundaries the run marks as they happen (`mark`): a second belongs
to the segment that holds all of it; a second cut by a boundary counts in no phase (in
the transition, see `PhaseClock.label_of`). Rows always arrive after their second has
ended, so a boundary marked when it happens is known before the rows it splits.
"""

from __future__ import annotations

import bisect
import math
import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chaos.metrics.rows import STATUS_CLASSES, SecondRow
from chaos.metrics.sli import LATENCY_KEYS, Totals
from chaos.phases import OUTSIDE_SEGMENTS, SEGMENTS, TRANSITION

__all__ = [
    "FINALIZE_AFTER_S",
    "IdentitySeconds",
    "PhaseClock",
    "RunAggregator",
    "SecondSummary",
]

FINALIZE_AFTER_S = 2


class PhaseClock:
    """Which segment each second belongs to, from boundaries marked in time order."""

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._labels: list[str | None] = []

    def mark(self, label: str | None, at: float) -> None:
        """From `at` on, seconds belong to `label` (None: outside the run)."""
        if self._starts and at < self._starts[-1]:
            at = self._starts[-1]  # boundaries never go back in time
        self._starts.append(at)
        self._labels.append(label)

    def label_of(self, second: int) -> str | None:
        """The segment of the whole second ``[second, second + 1)``.

        A second that a boundary cuts belongs to no phase: a fault that is in force from
        second 8.6 on must not lend its errors to a baseline that ended at 8.3. It counts
        in the transition when it touches one (or two phases), else in no segment (the
        run's first and last partial seconds).
        """
        first = bisect.bisect_right(self._starts, second) - 1
        last = bisect.bisect_left(self._starts, second + 1) - 1
        if first == last:
            return self._labels[first] if first >= 0 else None
        touched = [self._labels[index] for index in range(max(first, 0), last + 1)]
        phases = {label for label in touched if label not in (None, TRANSITION)}
        return TRANSITION if TRANSITION in touched or len(phases) > 1 else None

    def segments(self) -> Iterator[tuple[str | None, float, float | None]]:
        """(label, start, end) in time order; the last segment's end is None while open."""
        for index, (start, label) in enumerate(zip(self._starts, self._labels, strict=True)):
            end = self._starts[index + 1] if index + 1 < len(self._starts) else None
            yield label, start, end

    def windows(self, label: str) -> list[tuple[float, float]]:
        """The closed (start, end) windows of one segment label."""
        return [
            (start, end)
            for name, start, end in self.segments()
            if name == label and end is not None and end > start
        ]

    def seconds_of(self, label: str) -> int:
        """How many whole seconds count in `label` (see `label_of`)."""
        span = self.span
        if span is None:
            return 0
        return sum(
            1
            for second in range(math.floor(span[0]), math.ceil(span[1]))
            if self.label_of(second) == label
        )

    @property
    def span(self) -> tuple[float, float] | None:
        """(first boundary, last boundary), None before two boundaries are marked."""
        if len(self._starts) < 2:
            return None
        return self._starts[0], self._starts[-1]


@dataclass(slots=True)
class SecondSummary:
    """One second of the timeline (legitimate traffic, abusive counted apart)."""

    second: int
    phase: str | None
    requests: int = 0
    failures: int = 0
    blocked: int = 0
    abusive_requests: int = 0
    abusive_blocked: int = 0
    status_classes: tuple[int, ...] = (0,) * len(STATUS_CLASSES)
    percentiles: tuple[float | None, ...] = (None,) * 5  # p50, p90, p95, p99, max
    latency_counts: str = ""  # the second's merged histogram, "value_ms:count,..."

    @classmethod
    def of(cls, second: int, phase: str | None, totals: Totals) -> SecondSummary:
        latency = totals.latency_ms()
        return cls(
            second,
            phase,
            totals.requests,
            totals.failures,
            totals.blocked,
            totals.abusive_requests,
            totals.abusive_blocked,
            tuple(totals.status_classes.get(name, 0) for name in STATUS_CLASSES),
            (latency["p50"], latency["p90"], latency["p95"], latency["p99"], latency["max"]),
            totals.histogram.value_counts(),
        )

    def evidence(self) -> list[int | str]:
        """``[requests, failures, "value_ms:count,..."]``: what the SLO verdicts judge."""
        return [self.requests, self.failures, self.latency_counts]

    def add_late(self, late: Totals) -> None:
        """Count the rows that arrived after this second was summarized (folded by
        Totals.add: the one place a row is folded); their latencies miss its percentiles."""
        self.requests += late.requests
        self.failures += late.failures
        self.blocked += late.blocked
        self.abusive_requests += late.abusive_requests
        self.abusive_blocked += late.abusive_blocked
        self.status_classes = tuple(
            count + late.status_classes.get(name, 0)
            for name, count in zip(STATUS_CLASSES, self.status_classes, strict=True)
        )

    @property
    def availability(self) -> float | None:
        return 1.0 - self.failures / self.requests if self.requests else None

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    def latency_ms(self, key: str) -> float | None:
        """One of LATENCY_KEYS (p50 ... max) of this second."""
        return dict(zip(LATENCY_KEYS, self.percentiles, strict=True))[key]

    def slis(self) -> dict[str, Any]:
        """This second's SLIs, shaped as a phase's (chaos.metrics.catalog reads them)."""
        return {
            "requests": self.requests,
            "throughput_rps": float(self.requests),
            "availability": self.availability,
            "error_rate": self.error_rate,
            "latency_ms": dict(zip(LATENCY_KEYS, self.percentiles, strict=True)),
        }

    def to_dict(self) -> dict[str, Any]:
        p50, p90, p95, p99, maximum = self.percentiles
        return {
            "second": self.second,
            "phase": self.phase,
            "requests": self.requests,
            "failures": self.failures,
            "blocked": self.blocked,
            "rps": self.requests,
            "error_rate": self.error_rate,
            "p50_ms": p50,
            "p90_ms": p90,
            "p95_ms": p95,
            "p99_ms": p99,
            "max_ms": maximum,
            "abusive_requests": self.abusive_requests,
            "abusive_blocked": self.abusive_blocked,
            "status_classes": dict(zip(STATUS_CLASSES, self.status_classes, strict=True)),
        }


class IdentitySeconds:
    """Sent and blocked requests of one WAF identity, per second (two integer arrays)."""

    __slots__ = ("base", "blocked", "sent")

    def __init__(self, base: int) -> None:
        self.base = base
        self.sent = array("I")
        self.blocked = array("I")

    def add(self, second: int, sent: int, blocked: int) -> None:
        if second < self.base:
            padding = array("I", bytes(4 * (self.base - second)))
            self.sent = padding + self.sent
            self.blocked = array("I", padding) + self.blocked
            self.base = second
        index = second - self.base
        if index >= len(self.sent):
            grow = bytes(4 * (index + 1 - len(self.sent)))
            self.sent.frombytes(grow)
            self.blocked.frombytes(grow)
        self.sent[index] += sent
        self.blocked[index] += blocked

    def active_seconds(self) -> list[int]:
        """The seconds in which the identity sent requests, in order."""
        return [self.base + index for index, sent in enumerate(self.sent) if sent]

    def sent_at(self, second: int) -> int:
        index = second - self.base
        return self.sent[index] if 0 <= index < len(self.sent) else 0

    def blocked_at(self, second: int) -> int:
        index = second - self.base
        return self.blocked[index] if 0 <= index < len(self.blocked) else 0


@dataclass
class _Open:
    """The rows of one second not yet finalized, per (endpoint, traffic)."""

    by_endpoint: dict[tuple[str, str], Totals] = field(default_factory=dict)

    def add(self, row: SecondRow) -> None:
        key = (row.endpoint, row.traffic)
        totals = self.by_endpoint.get(key)
        if totals is None:
            totals = self.by_endpoint[key] = Totals()
        totals.add(row)

    def merged(self) -> Totals:
        merged = Totals()
        for totals in self.by_endpoint.values():
            merged.merge(totals)
        return merged


class RunAggregator:
    """Folds a run's load rows into segment totals, a timeline and WAF counters."""

    def __init__(
        self,
        *,
        finalize_after_s: int = FINALIZE_AFTER_S,
        on_second: Callable[[SecondSummary], None] | None = None,
    ) -> None:
        self.clock = PhaseClock()
        self.finalize_after_s = finalize_after_s
        self.on_second = on_second
        self.late_rows = 0
        self._open: dict[int, _Open] = {}
        self._summaries: dict[int, SecondSummary] = {}
        self._segments: dict[tuple[str | None, str, str], Totals] = {}
        self._identities: dict[str, IdentitySeconds] = {}
        # worker -> segment label (None: outside the segments) -> requests
        self._workers: dict[str, dict[str | None, int]] = {}
        self._finalized_before: int | None = None
        self._lock = threading.Lock()

    # -- inputs -------------------------------------------------------------------------

    def mark(self, label: str | None, at: float) -> None:
        """A segment boundary (see SEGMENTS), marked when it happens."""
        with self._lock:
            self.clock.mark(label, at)

    def add(self, row: SecondRow) -> None:
        """Fold one row in (any thread); the row can be dropped afterwards."""
        with self._lock:
            self._count_worker(row)
            if row.traffic == "abusive" and row.identity is not None:
                self._identity(row.identity, row.second).add(row.second, row.requests, row.blocked)
            if self._finalized_before is not None and row.second < self._finalized_before:
                self._add_late(row)
                return
            self._open.setdefault(row.second, _Open()).add(row)
            ready = self._finalize_before(row.second - self.finalize_after_s + 1)
        self._announce(ready)

    def finish(self, at: float | None = None) -> None:
        """The run ended (at `at`, if given): finalize every second received."""
        with self._lock:
            if at is not None:
                self.clock.mark(None, at)
            newest = max(self._open, default=None)
            ready = self._finalize_before(newest + 1) if newest is not None else []
        self._announce(ready)

    # -- outputs ------------------------------------------------------------------------

    def segment_totals(self, label: str | None) -> Totals:
        """Every endpoint and traffic kind of one segment, merged."""
        merged = Totals()
        for (segment, _, _), totals in self._segments.items():
            if segment == label:
                merged.merge(totals)
        return merged

    def endpoint_totals(self, label: str | None) -> dict[str, Totals]:
        """Legitimate traffic of one segment per endpoint (abusive clients left out)."""
        merged: dict[str, Totals] = {}
        for (segment, endpoint, traffic), totals in self._segments.items():
            if segment == label and traffic != "abusive":
                merged.setdefault(endpoint, Totals()).merge(totals)
        return merged

    def run_totals(self) -> Totals:
        """Every segment of the run (transitions included), merged."""
        merged = Totals()
        for (segment, _, _), totals in self._segments.items():
            if segment is not None:
                merged.merge(totals)
        return merged

    def all_totals(self) -> Totals:
        """Every row received, inside the run's segments or not (e.g. during ramp-up)."""
        merged = Totals()
        for totals in self._segments.values():
            merged.merge(totals)
        return merged

    def timeline(self) -> list[dict[str, Any]]:
        """One entry per second from the first boundary to the last (or the last row)."""
        bounds = list(self._summaries)
        span = self.clock.span
        if span is not None:
            bounds += [math.ceil(span[0]), math.ceil(span[1]) - 1]
        if not bounds:
            return []
        return [
            (
                self._summaries.get(second) or SecondSummary(second, self.clock.label_of(second))
            ).to_dict()
            for second in range(min(bounds), max(bounds) + 1)
        ]

    def evidence(self, label: str) -> list[list[int | str]]:
        """Per second of segment `label`, in time order and empty seconds included:
        ``[requests, failures, "value_ms:count,..."]`` of legitimate traffic (the compact
        record of ``chaos.verdict.sample_to_record``; a row that came after its second was
        summarized counts in requests and failures, not in the latencies)."""
        span = self.clock.span
        if span is None:
            return []
        return [
            (self._summaries.get(second) or SecondSummary(second, label)).evidence()
            for second in range(math.floor(span[0]), math.ceil(span[1]))
            if self.clock.label_of(second) == label
        ]

    @property
    def identities(self) -> dict[str, IdentitySeconds]:
        return dict(self._identities)

    @property
    def worker_requests(self) -> dict[str, int]:
        """Requests per Locust worker over the whole load (every traffic kind)."""
        with self._lock:
            return {
                worker: sum(by_label.values()) for worker, by_label in sorted(self._workers.items())
            }

    def worker_requests_by_segment(self) -> dict[str, dict[str, int]]:
        """Requests per Locust worker per segment (SEGMENTS order, then OUTSIDE_SEGMENTS);
        every segment named, 0 when the worker sent nothing in it."""
        with self._lock:
            return {
                worker: {
                    **{label: by_label.get(label, 0) for label in SEGMENTS},
                    OUTSIDE_SEGMENTS: by_label.get(None, 0),
                }
                for worker, by_label in sorted(self._workers.items())
            }

    # -- internals --------------------------------------------------------------------

    def _count_worker(self, row: SecondRow) -> None:
        if row.worker is None:
            return
        # A boundary is marked before the rows of the seconds it splits arrive: the label
        # known now is the row's segment.
        by_label = self._workers.setdefault(row.worker, {})
        label = self.clock.label_of(row.second)
        by_label[label] = by_label.get(label, 0) + row.requests

    def _identity(self, identity: str, second: int) -> IdentitySeconds:
        counters = self._identities.get(identity)
        if counters is None:
            counters = self._identities[identity] = IdentitySeconds(second)
        return counters

    def _segment(self, label: str | None, endpoint: str, traffic: str) -> Totals:
        key = (label, endpoint, traffic)
        totals = self._segments.get(key)
        if totals is None:
            totals = self._segments[key] = Totals()
        return totals

    def _finalize_before(self, second: int) -> list[SecondSummary]:
        ready = sorted(s for s in self._open if s < second)
        summaries = []
        for finished in ready:
            pending = self._open.pop(finished)
            label = self.clock.label_of(finished)
            for (endpoint, traffic), totals in pending.by_endpoint.items():
                self._segment(label, endpoint, traffic).merge(totals)
            summary = SecondSummary.of(finished, label, pending.merged())
            self._summaries[finished] = summary
            summaries.append(summary)
        if ready:
            self._finalized_before = max(self._finalized_before or ready[-1] + 1, ready[-1] + 1)
        return summaries

    def _add_late(self, row: SecondRow) -> None:
        self.late_rows += 1
        label = self.clock.label_of(row.second)
        totals = Totals()
        totals.add(row)
        self._segment(label, row.endpoint, row.traffic).merge(totals)
        summary = self._summaries.get(row.second)
        if summary is None:
            summary = self._summaries[row.second] = SecondSummary(row.second, label)
        summary.add_late(totals)

    def _announce(self, summaries: list[SecondSummary]) -> None:
        if self.on_second is None:
            return
        for summary in summaries:
            self.on_second(summary)
