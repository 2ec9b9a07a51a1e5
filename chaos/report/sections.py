"""The tables every human-readable report shows, as rows of plain strings.

Markdown and HTML render the same sections; they only differ in markup and escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos.metrics.catalog import names
from chaos.metrics.sli import LATENCY_KEYS
from chaos.slo import format_value

__all__ = [
    "PHASE_ORDER",
    "Table",
    "change_text",
    "fault_table",
    "headline",
    "phase_table",
    "server_side_table",
    "slo_table",
    "verdict_text",
    "waf_table",
]

PHASE_ORDER = ("baseline", "fault", "recovery")
VERDICTS = {
    "passed": "PASSED: all SLOs met",
    "failed": "FAILED: SLO breached",
    "aborted": "ABORTED: stopped by a stop condition or signal",
    "error": "ERROR: the run failed",
}
WAF_ROWS = (
    ("rule", "rule"),
    ("limit", "limit (requests per window)"),
    ("window_s", "window (s)"),
    ("aggregation", "aggregation"),
    ("time_to_block_s", "time to block (s)"),
    ("leaked_over_limit", "requests leaked over the limit"),
    ("legit_blocked", "legitimate requests blocked"),
    ("time_to_unblock_s", "time to unblock (s)"),
    ("client_blocked_requests", "blocked requests seen by clients"),
    ("cloudwatch_blocked_requests", "blocked requests in CloudWatch"),
)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    # Per row: "pass" / "fail" / "" - lets HTML colour a row.
    marks: list[str]


def verdict_text(result: Mapping[str, Any]) -> str:
    outcome = str(result.get("outcome") or "unknown")
    return VERDICTS.get(outcome, outcome.upper())


def headline(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Key facts of the run, in reading order."""
    facts = [
        ("experiment", str(result.get("experiment") or "")),
        ("run", str(result.get("run_id") or "")),
        ("started", str(result.get("started_at") or "")),
        ("ended", str(result.get("ended_at") or "")),
    ]
    if result.get("sandbox"):
        facts.append(("target", "sandbox"))
    if result.get("abort_reason"):
        facts.append(("stop reason", str(result["abort_reason"])))
    if result.get("recovery_time_s") is not None:
        recovery = format_value("recovery_time_s", result["recovery_time_s"])
        facts.append(("recovery time", f"{recovery} s"))
    return facts


def slo_table(result: Mapping[str, Any]) -> Table:
    rows, marks = [], []
    for check in result.get("slo") or []:
        passed = bool(check.get("passed"))
        sli = str(check.get("sli"))
        rows.append([
            "pass" if passed else "FAIL",
            f"{sli} ({check['fault']})" if check.get("fault") else sli,
            str(check.get("phase") or "run"),
            str(check.get("objective")),
            format_value(sli, check.get("observed")),
            str(check.get("note") or ""),
        ])
        marks.append("pass" if passed else "fail")
    return Table(["", "SLI", "phase", "objective", "observed", "note"], rows, marks)


def _phases(result: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    phases = result.get("phases") or {}
    ordered = [name for name in PHASE_ORDER if name in phases]
    ordered += [name for name in phases if name not in PHASE_ORDER]
    return [(name, phases[name]) for name in ordered if isinstance(phases[name], Mapping)]


def phase_table(result: Mapping[str, Any]) -> Table:
    header = ["phase", "requests", "req/s", "availability", "error rate",
              *(f"{key} ms" for key in LATENCY_KEYS), "blocked"]
    rows = []
    for name, slis in _phases(result):
        latency = slis.get("latency_ms") or {}
        rows.append([
            name,
            format_value("requests", slis.get("requests")),
            format_value("throughput_rps", slis.get("throughput_rps")),
            format_value("availability", slis.get("availability")),
            format_value("error_rate", slis.get("error_rate")),
            *(format_value("latency_ms", latency.get(key)) for key in LATENCY_KEYS),
            format_value("blocked", slis.get("blocked")),
        ])
    return Table(header, rows, [""] * len(rows))


def server_side_table(result: Mapping[str, Any]) -> Table | None:
    """Server-side SLIs per phase; None when no phase has any."""
    phases = [(name, slis["server_side"]) for name, slis in _phases(result)
              if isinstance(slis.get("server_side"), Mapping)]
    if not phases:
        return None
    rows = [
        [sli, *(format_value(sli, server.get(sli)) for _, server in phases)]
        for sli in names("server")
    ]
    return Table(["CloudWatch", *(name for name, _ in phases)], rows, [""] * len(rows))


def waf_table(result: Mapping[str, Any]) -> Table | None:
    waf = result.get("waf")
    if not isinstance(waf, Mapping):
        return None
    rows = [[label, format_value(key, waf.get(key))] for key, label in WAF_ROWS if key in waf]
    return Table(["WAF", "value"], rows, [""] * len(rows))


def change_text(changed: Any) -> str:
    """What a fault changed, in one line (environment keys only, never values)."""
    if not isinstance(changed, Mapping):
        return str(changed or "")
    parts = []
    for key, value in changed.items():
        if isinstance(value, list):
            shown = ", ".join(str(item) for item in value)
        elif isinstance(value, Mapping):
            shown = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            shown = str(value)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)


def fault_table(result: Mapping[str, Any]) -> Table:
    rows, marks = [], []
    for fault in result.get("faults") or []:
        status = str(fault.get("restore_status") or "")
        rows.append([
            str(fault.get("type") or ""),
            str(fault.get("target") or ""),
            change_text(fault.get("changed")),
            str(fault.get("injected_at") or "not injected"),
            str(fault.get("restored_at") or "-"),
            status,
            str(fault.get("detail") or ""),
        ])
        marks.append("pass" if status == "restored" else "fail" if status == "failed" else "")
    return Table(["fault", "target", "changed", "injected", "restored", "restore", "detail"],
                 rows, marks)
