"""The client-side part of result.json, read off a finished :class:`RunAggregator`.

Phases count only their *measured* windows: baseline from its start; fault from the
moment the last change was in force (`effective_at`) to the start of the restore;
recovery from the end of the restore. The seconds between are the `transition`,
counted in no phase but in `overall`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.clock import iso_from_epoch
from chaos.metrics.aggregate import PhaseClock, RunAggregator
from chaos.metrics.sli import recovery_time_s, whole_seconds
from chaos.phases import TRANSITION

__all__ = ["measure_load", "measure_windows"]


def measure_load(
    aggregator: RunAggregator, phase_times: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """``phases``, ``transition``, ``overall``, ``timeline``, ``recovery_time_s``."""
    phases = {name: _phase(aggregator, name, times) for name, times in phase_times.items()}
    timeline = aggregator.timeline()
    recovery: float | None = None
    recovery_windows = aggregator.clock.windows("recovery")
    if recovery_windows:
        baseline = phases.get("baseline", {}).get("availability")
        recovery = recovery_time_s(timeline, recovery_windows[0][0], baseline)
    return {
        "phases": phases,
        "transition": _transition(aggregator),
        "overall": _overall(aggregator),
        "timeline": timeline,
        "recovery_time_s": recovery,
    }


def measure_windows(
    clock: PhaseClock, phase_times: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """Without load: each phase's measured window and the transition, no SLIs."""
    phases: dict[str, Any] = {}
    for name, times in phase_times.items():
        entry: dict[str, Any] = dict(times)
        windows = clock.windows(name)
        if windows:
            entry["measured_from"] = iso_from_epoch(windows[0][0])
            entry["measured_to"] = iso_from_epoch(windows[-1][1])
        phases[name] = entry
    return {"phases": phases, "transition": _transition_windows(clock, None)}


def _phase(aggregator: RunAggregator, name: str, times: Mapping[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = dict(times)
    windows = aggregator.clock.windows(name)
    seconds = aggregator.clock.seconds_of(name)
    if windows:
        entry["measured_from"] = iso_from_epoch(windows[0][0])
        entry["measured_to"] = iso_from_epoch(windows[-1][1])
    entry.update(aggregator.segment_totals(name).slis(seconds))
    entry["endpoints"] = {
        endpoint: totals.slis(seconds)
        for endpoint, totals in sorted(aggregator.endpoint_totals(name).items())
    }
    return entry


def _transition(aggregator: RunAggregator) -> dict[str, Any]:
    return _transition_windows(aggregator.clock, aggregator)


def _transition_windows(clock: PhaseClock, aggregator: RunAggregator | None) -> dict[str, Any]:
    totals = aggregator.segment_totals(TRANSITION) if aggregator is not None else None
    return {
        "seconds": clock.seconds_of(TRANSITION),
        "requests": totals.requests if totals is not None else None,
        "failures": totals.failures if totals is not None else None,
        "windows": [
            {
                "from": iso_from_epoch(start),
                "to": iso_from_epoch(end),
                "duration_s": round(end - start, 3),
            }
            for start, end in clock.windows(TRANSITION)
        ],
    }


def _overall(aggregator: RunAggregator) -> dict[str, Any] | None:
    span = aggregator.clock.span
    if span is None:
        return None
    return aggregator.run_totals().slis(whole_seconds(*span))
