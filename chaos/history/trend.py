"""The trend of an experiment's runs: one line per run (`gameday history`) and the rows the
report's history section draws."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chaos.verdict.slo import format_value

__all__ = ["REPORT_RUNS", "trend_line", "trend_lines", "trend_rows"]

#: Runs the report's history section shows (the newest, the current one among them).
REPORT_RUNS = 10
#: Shown per phase when a run has no SLO check to show.
_FALLBACK_SLIS = (("availability", ("availability",)), ("latency_p99_ms", ("latency_ms", "p99")))


def trend_lines(
    records: Sequence[Mapping[str, Any]], current_run_id: str | None = None
) -> list[str]:
    """One line per run, oldest first: time, outcome, run id, key SLIs with intervals."""
    return [
        trend_line(record, current=record.get("run_id") == current_run_id) for record in records
    ]


def trend_line(record: Mapping[str, Any], *, current: bool = False) -> str:
    marker = "*" if current else " "
    figures = "; ".join(_figure(check) for check in _checks(record)) or "no SLIs measured"
    return (
        f"{marker} {record.get('ended_at', '?'):<27} {record.get('outcome', '?'):<8} "
        f"{record.get('run_id', '?')}  {figures}"
    )


def trend_rows(
    records: Sequence[Mapping[str, Any]], current_run_id: str, limit: int = REPORT_RUNS
) -> list[dict[str, Any]]:
    """The newest `limit` runs as the report draws them (the current one marked)."""
    return [
        {
            "run_id": record.get("run_id"),
            "ended_at": record.get("ended_at"),
            "outcome": record.get("outcome"),
            "current": record.get("run_id") == current_run_id,
            "checks": _checks(record),
        }
        for record in list(records)[-limit:]
    ]


def _checks(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's SLO checks (sli, phase, observed, interval, verdict); without checks, the
    phases' availability and p99."""
    checks = [
        {
            "sli": check.get("sli"),
            "phase": check.get("phase"),
            "observed": check.get("observed"),
            "interval": _interval(check.get("interval")),
            "verdict": check.get("verdict") or ("passed" if check.get("passed") else "failed"),
        }
        for check in record.get("slo") or []
        if isinstance(check, Mapping)
    ]
    if checks:
        return checks
    phases = record.get("phases") or {}
    return [
        {
            "sli": sli,
            "phase": name,
            "observed": _dig(phase.get("slis") or {}, path),
            "interval": None,
            "verdict": None,
        }
        for name, phase in phases.items()
        if isinstance(phase, Mapping)
        for sli, path in _FALLBACK_SLIS
    ]


def _figure(check: Mapping[str, Any]) -> str:
    sli = str(check.get("sli"))
    where = f"{sli}@{check['phase']}" if check.get("phase") else sli
    text = f"{where} {format_value(sli, check.get('observed'))}"
    interval = check.get("interval")
    if interval is not None:
        low, high = (
            ("-inf" if interval[0] is None else format_value(sli, interval[0])),
            ("inf" if interval[1] is None else format_value(sli, interval[1])),
        )
        text += f" [{low}, {high}]"
    if check.get("verdict"):
        text += f" {check['verdict']}"
    return text


def _interval(value: Any) -> tuple[float | None, float | None] | None:
    if not isinstance(value, Mapping):
        return None
    low, high = value.get("low"), value.get("high")
    numbers = [bound if isinstance(bound, (int, float)) else None for bound in (low, high)]
    return numbers[0], numbers[1]


def _dig(document: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = document
    for name in path:
        value = value.get(name) if isinstance(value, Mapping) else None
    return value
