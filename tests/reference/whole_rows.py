"""The whole-row computation the toolkit used before streaming aggregation (the reference).

Every row kept in memory, merged per key, then phases, the timeline and the WAF SLIs
computed from the complete list. Kept in the tests only, so that
tests/unit/test_streaming_vs_reference.py can prove the streaming path gives the same
numbers. Do not use it in the toolkit: its memory grows with the run's length.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from chaos.clock import epoch_seconds
from chaos.metrics.histogram import LatencyHistogram
from chaos.metrics.rows import STATUS_CLASSES, SecondRow
from chaos.metrics.sli import LATENCY_KEYS

PhaseWindows = Mapping[str, tuple[float, float]]


class ReferenceHistogram(LatencyHistogram):
    """The histogram the whole-row computation used: 1 ms to 1 h, 3 significant digits."""

    def __init__(self) -> None:
        super().__init__(HdrHistogram(1, 3_600_000, 3))


def merge_rows(rows: list[SecondRow]) -> list[SecondRow]:
    """One row per key (workers each send their own share of a second), sorted by second."""
    merged: dict[tuple[int, str, str, str, str | None], SecondRow] = {}
    for row in rows:
        key = row.key()
        if key in merged:
            merged[key].merge(row)
        else:
            merged[key] = SecondRow.from_json(row.to_json())
    return sorted(merged.values(), key=lambda row: (row.second, row.user_class, row.endpoint))


@dataclass
class SecondTotals:
    """Everything measured in one window (one second, one phase or the whole run)."""

    requests: int = 0
    failures: int = 0
    blocked: int = 0
    abusive_requests: int = 0
    abusive_blocked: int = 0
    status_classes: dict[str, int] = field(default_factory=dict)
    histogram: LatencyHistogram = field(default_factory=ReferenceHistogram)

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


def phase_windows_from_times(
    phase_times: Mapping[str, Mapping[str, str]],
) -> dict[str, tuple[float, float]]:
    """Phase windows from run.py's ``phase_times`` ({phase: {started_at, ended_at}}).

    A phase without ``ended_at`` (the run stopped inside it) is left out.
    """
    windows: dict[str, tuple[float, float]] = {}
    for name, times in phase_times.items():
        if times.get("started_at") and times.get("ended_at"):
            windows[name] = (epoch_seconds(times["started_at"]), epoch_seconds(times["ended_at"]))
    return windows


def whole_seconds(start_epoch_s: float, end_epoch_s: float) -> int:
    """How many whole seconds ``[s, s + 1)`` lie in ``[start, end)``."""
    return max(0, math.floor(end_epoch_s) - math.ceil(start_epoch_s))


def inside(second: int, start_epoch_s: float, end_epoch_s: float) -> bool:
    """The whole second lies in the window: a second cut by a boundary counts in no phase."""
    return start_epoch_s <= second and second + 1 <= end_epoch_s


def totals_of(rows: Iterable[SecondRow], start_epoch_s: float, end_epoch_s: float) -> SecondTotals:
    totals = SecondTotals()
    for row in rows:
        if inside(row.second, start_epoch_s, end_epoch_s):
            totals.add(row)
    return totals


def phase_slis(
    rows: Iterable[SecondRow], start_epoch_s: float, end_epoch_s: float
) -> dict[str, Any]:
    """The SLIs of the rows whose whole ``second`` is in ``[start, end)`` (PRODUCT.md keys
    first).

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
        if inside(second, start, end):
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
        recovery = reference_recovery_time_s(seconds, phase_windows["recovery"][0], baseline)
    return {"phases": phases, "overall": overall, "timeline": seconds, "recovery_time_s": recovery}


@dataclass
class ClientSeconds:
    """One identity's sent and blocked requests per second."""

    sent: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    blocked: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def allowed(self, second: int) -> int:
        return self.sent.get(second, 0) - self.blocked.get(second, 0)

    def window_total(self, counts: dict[int, int], end: int, window_s: int) -> int:
        return sum(count for second, count in counts.items() if end - window_s < second <= end)


def abusive_client_report(
    identity: str, client: ClientSeconds, rule: Any, stopped_at: int | None
) -> dict[str, Any]:
    """Crossing, first block, time to block, leak and unblock of one abusive identity.

    The WAF counts every request it sees, blocked or not, so the crossing second is the
    first one where the trailing window holds more than `limit` sent requests.
    """
    seconds = sorted(client.sent)
    crossed_at = next(
        (
            second
            for second in seconds
            if client.window_total(client.sent, second, rule.window_s) > rule.limit
        ),
        None,
    )
    first_block = next(
        (second for second in sorted(client.blocked) if client.blocked[second] > 0), None
    )
    time_to_block = (
        max(0, first_block - crossed_at)
        if crossed_at is not None and first_block is not None
        else None
    )
    leak_end = first_block if first_block is not None else (seconds[-1] if seconds else 0)
    allowed = {second: client.allowed(second) for second in seconds}
    leaked = max(0, client.window_total(allowed, leak_end, rule.window_s) - rule.limit)
    return {
        "identity": identity,
        "crossed_limit_at": crossed_at,
        "first_blocked_at": first_block,
        "time_to_block_s": time_to_block,
        "leaked_over_limit": leaked if crossed_at is not None else 0,
        "blocked_requests": sum(client.blocked.values()),
        "time_to_unblock_s": _time_to_unblock(client, stopped_at),
    }


def _time_to_unblock(client: ClientSeconds, stopped_at: int | None) -> int | None:
    if stopped_at is None:
        return None
    was_blocked = any(count for second, count in client.blocked.items() if second <= stopped_at)
    if not was_blocked:
        return 0
    after = [second for second in sorted(client.sent) if second > stopped_at]
    allowed_at = next((second for second in after if client.allowed(second) > 0), None)
    return None if allowed_at is None else allowed_at - stopped_at


def waf_slis(
    rows: list[SecondRow],
    rule: Any,
    plan: Any,
    abusive_stopped_at: float | None = None,
) -> dict[str, Any]:
    """The `waf` section of result.json (the lead adds `cloudwatch_blocked_requests`).

    `time_to_block_s` and `time_to_unblock_s` are the worst (max) over the abusive clients,
    in whole seconds (rows are per second: +-1 s); null when an abusive client crossed the
    limit but was never blocked (never unblocked), or when nothing was measured.
    `legit_blocked` counts blocks of every non-abusive client (legit and normal users).
    """
    clients: dict[str, ClientSeconds] = defaultdict(ClientSeconds)
    legit_blocked = 0
    for row in rows:
        if row.traffic == "abusive" and row.identity is not None:
            client = clients[row.identity]
            client.sent[row.second] += row.requests
            client.blocked[row.second] += row.blocked
        else:
            legit_blocked += row.blocked
    stopped = int(abusive_stopped_at) if abusive_stopped_at is not None else None
    reports = [
        abusive_client_report(identity, clients[identity], rule, stopped)
        for identity in sorted(clients)
    ]
    crossed = [report for report in reports if report["crossed_limit_at"] is not None]
    return {
        "rule": rule.name,
        "limit": rule.limit,
        "window_s": rule.window_s,
        "aggregation": rule.aggregation,
        "abusive_clients": plan.abusive_clients,
        "legit_clients": plan.legit_clients,
        "time_to_block_s": _worst([report["time_to_block_s"] for report in crossed]),
        "leaked_over_limit": sum(report["leaked_over_limit"] for report in reports),
        "legit_blocked": legit_blocked,
        "time_to_unblock_s": (
            _worst([report["time_to_unblock_s"] for report in crossed])
            if stopped is not None
            else None
        ),
        "client_blocked_requests": sum(row.blocked for row in rows),
        "clients": reports,
    }


def _worst(values: list[int | None]) -> int | None:
    if not values or any(value is None for value in values):
        return None
    return max(value for value in values if value is not None)


#: PRODUCT.md's rule, written here by hand rather than imported: availability back to the
#: baseline's (at most 99 %) for 5 consecutive seconds that had requests.
STREAK_S = 5
TARGET = 0.99


def reference_recovery_time_s(
    seconds: list[dict[str, Any]], recovery_start: float, baseline: float | None
) -> float | None:
    """The oracle of chaos.metrics.sli.recovery_time_s: the first window of STREAK_S
    seconds with requests, all at the target, found by trying every start in turn."""
    target = TARGET if baseline is None else min(TARGET, baseline)
    busy = sorted(
        (int(row["second"]), row["failures"] / row["requests"])
        for row in seconds
        if row["requests"] and int(row["second"]) >= math.ceil(recovery_start)
    )
    for index in range(len(busy) - STREAK_S + 1):
        window = busy[index : index + STREAK_S]
        if all(1.0 - failure_rate >= target - 1e-12 for _, failure_rate in window):
            return max(0.0, window[0][0] - recovery_start)
    return None
