"""The tables every human-readable report shows, as rows of plain strings.

Markdown and HTML render the same sections; they only differ in markup and escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos.metrics.catalog import names
from chaos.metrics.sli import LATENCY_KEYS
from chaos.phases import PHASES as PHASE_ORDER
from chaos.verdict.slo import format_value

__all__ = [
    "PHASE_ORDER",
    "WAF_ESTIMATE_NOTE",
    "Table",
    "change_text",
    "fault_kind_text",
    "fault_table",
    "headline",
    "interval_text",
    "minutes_text",
    "phase_table",
    "server_side_attribution_note",
    "server_side_note",
    "server_side_table",
    "slo_table",
    "verdict_text",
    "verdict_word",
    "waf_table",
]

#: One line per outcome (tests/unit/test_vocabulary.py checks that every outcome has one).
VERDICTS: dict[str, str] = {
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
    ("time_to_block_s", "time to block (s, estimate)"),
    ("leaked_over_limit", "requests leaked over the limit"),
    ("legit_blocked", "legitimate requests blocked"),
    ("time_to_unblock_s", "time to unblock (s, estimate)"),
    ("client_blocked_requests", "blocked requests seen by clients"),
    ("cloudwatch_blocked_requests", "blocked requests in CloudWatch"),
    ("other_403", "other 403s (not the rate rule's: other_403)"),
)
#: Why the WAF timings are estimates (AWS WAF Developer Guide, "Rate-based rule caveats").
WAF_ESTIMATE_NOTE = (
    "WAF timings are estimates: AWS WAF estimates each client's request rate (recent "
    "requests weigh more) and checks it periodically, so a block usually starts within "
    "30 s of the crossing, sometimes later; the clients' own timing has 1 s resolution."
)
NOT_SETTLED = " (not settled)"


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
    """One row per check: the gate's pass/FAIL, the observed value, the interval beside it
    and the three-way verdict (passed / failed / inconclusive)."""
    rows, marks = [], []
    for check in result.get("slo") or []:
        passed = bool(check.get("passed"))
        sli = str(check.get("sli"))
        rows.append(
            [
                "pass" if passed else "FAIL",
                f"{sli} ({check['fault']})" if check.get("fault") else sli,
                str(check.get("phase") or "run"),
                str(check.get("objective")),
                format_value(sli, check.get("observed")),
                interval_text(check),
                verdict_word(check),
                str(check.get("note") or ""),
            ]
        )
        marks.append("pass" if passed else "fail")
    header = ["", "SLI", "phase", "objective", "observed", "interval", "verdict", "note"]
    return Table(header, rows, marks)


def verdict_word(check: Mapping[str, Any]) -> str:
    """passed / failed / inconclusive (a result.json written before verdicts: from passed)."""
    verdict = check.get("verdict")
    if isinstance(verdict, str) and verdict:
        return verdict
    return "passed" if check.get("passed") else "failed"


def interval_text(check: Mapping[str, Any]) -> str:
    """The check's interval, shown beside its point value: ``[100, ∞) ms (95% bounds)``,
    ``×[0.9, 1.4] of baseline``, ``baseline [−3, +40] ms``; an unbounded side (too few
    requests) is ∞; "" for a check judged on its observed value alone."""
    interval = check.get("interval")
    if not isinstance(interval, Mapping):
        return ""
    sli = str(check.get("sli"))
    effect = check.get("effect")

    def bound(value: Any, infinite: str) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return infinite
        if effect == "ratio":
            return f"{value:.2f}"
        text = format_value(sli, value)
        return f"+{text}" if effect == "difference" and value > 0 else text

    low, high = interval.get("low"), interval.get("high")
    text = (
        f"{'(' if low is None else '['}{bound(low, '−∞')}, "
        f"{bound(high, '∞')}{')' if high is None else ']'}"
    )
    unit = " ms" if sli.endswith("_ms") and effect != "ratio" else ""
    reference = "previous" if "previous" in str(check.get("objective")) else "baseline"
    if effect == "ratio":
        text = f"×{text} of {reference}"
    elif effect == "difference":
        text = f"{reference} {text}{unit}"
    else:
        text += unit
    confidence = interval.get("confidence")
    if isinstance(confidence, (int, float)):
        text += f" ({format_value('availability', confidence)} bounds)"
    return text


def _phases(result: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    phases = result.get("phases") or {}
    ordered = [name for name in PHASE_ORDER if name in phases]
    ordered += [name for name in phases if name not in PHASE_ORDER]
    return [(name, phases[name]) for name in ordered if isinstance(phases[name], Mapping)]


def phase_table(result: Mapping[str, Any]) -> Table:
    header = [
        "phase",
        "requests",
        "req/s",
        "availability",
        "error rate",
        *(f"{key} ms" for key in LATENCY_KEYS),
        "blocked",
    ]
    rows = []
    for name, slis in _phases(result):
        latency = slis.get("latency_ms") or {}
        rows.append(
            [
                name,
                format_value("requests", slis.get("requests")),
                format_value("throughput_rps", slis.get("throughput_rps")),
                format_value("availability", slis.get("availability")),
                format_value("error_rate", slis.get("error_rate")),
                *(format_value("latency_ms", latency.get(key)) for key in LATENCY_KEYS),
                format_value("blocked", slis.get("blocked")),
            ]
        )
    return Table(header, rows, [""] * len(rows))


def server_side_table(result: Mapping[str, Any]) -> Table | None:
    """Server-side SLIs per phase and over the run, each marked when it is not settled,
    then whether each column settled and which CloudWatch minutes it covers; None when no
    phase has any."""
    columns = [
        (name, slis["server_side"])
        for name, slis in _phases(result)
        if isinstance(slis.get("server_side"), Mapping)
    ]
    if not columns:
        return None
    if isinstance(result.get("server_side"), Mapping):
        columns.append(("run", result["server_side"]))
    rows = [
        [sli, *(_server_value(sli, server) for _, server in columns)] for sli in names("server")
    ]
    rows.append(["settled", *(_settled_text(server) for _, server in columns)])
    rows.append(
        ["CloudWatch minutes", *(minutes_text(server.get("minutes")) for _, server in columns)]
    )
    marks = [""] * (len(rows) - 2)
    marks += ["fail" if any(server.get("settled") is False for _, server in columns) else "", ""]
    return Table(["CloudWatch", *(name for name, _ in columns)], rows, marks)


def _server_value(sli: str, server: Mapping[str, Any]) -> str:
    value = format_value(sli, server.get(sli))
    return value + NOT_SETTLED if server.get("settled") is False else value


def _settled_text(server: Mapping[str, Any]) -> str:
    settled = server.get("settled")
    return "yes" if settled is True else "NO" if settled is False else "unknown"


def minutes_text(minutes: Any) -> str:
    """The whole UTC minutes a server-side figure covers: ``22:13-22:15 UTC (2 min)``."""
    if not isinstance(minutes, Mapping) or not minutes.get("from") or not minutes.get("to"):
        return "not stated"
    start, end = str(minutes["from"]), str(minutes["to"])
    day = f"{start[:10]} " if start[:10] != end[:10] else ""
    return f"{day}{start[11:16]}-{end[11:16]} UTC ({minutes.get('count', '?')} min)"


def server_side_note(result: Mapping[str, Any]) -> str | None:
    """What an unsettled server-side figure means (None when every figure settled)."""
    table = server_side_table(result)
    if table is None or "fail" not in table.marks:
        return None
    return (
        "Figures marked (not settled) were still changing in CloudWatch when the wait "
        "ended: they may be partial, and SLO checks on them fail as not settled. "
        "`gameday report RESULT --refresh` reads them again."
    )


def server_side_attribution_note(result: Mapping[str, Any], most: int = 6) -> str | None:
    """How the server-side figures were split between the phases, and the minutes shared
    across a phase boundary (None for results that do not say: whole minutes)."""
    run = result.get("server_side")
    if not isinstance(run, Mapping) or not run.get("attribution"):
        return None
    shared = [
        _boundary_minute_text(minute)
        for minute in run.get("boundary_minutes") or []
        if isinstance(minute, Mapping)
    ]
    listed = "; ".join(shared[:most])
    if len(shared) > most:
        listed += f"; and {len(shared) - most} more"
    return (
        f"Server-side figures are attributed by {run['attribution']}: each CloudWatch "
        "datapoint is split between the phases by the part of the run's time in it that "
        "each covers, the transitions' part going to no phase (a p99 is the largest "
        "datapoint a phase touches)"
        + (f"; minutes across a phase boundary: {listed}." if shared else ".")
    )


def _boundary_minute_text(minute: Mapping[str, Any]) -> str:
    """``22:13 UTC baseline 75%, fault 25%``."""
    shares = minute.get("shares")
    if not isinstance(shares, Mapping):
        shares = {}
    parts = [
        f"{name} {share:.0%}" if isinstance(share, (int, float)) else f"{name} {share}"
        for name, share in shares.items()
    ]
    return f"{str(minute.get('from', ''))[11:16]} UTC " + ", ".join(parts)


def waf_table(result: Mapping[str, Any]) -> Table | None:
    waf = result.get("waf")
    if not isinstance(waf, Mapping):
        return None
    rows = [[label, _waf_value(key, waf)] for key, label in WAF_ROWS if key in waf]
    return Table(["WAF", "value"], rows, [""] * len(rows))


def _waf_value(key: str, waf: Mapping[str, Any]) -> str:
    value = format_value(key, waf.get(key))
    if key == "cloudwatch_blocked_requests" and waf.get("cloudwatch_settled") is False:
        return value + NOT_SETTLED
    return value


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


def fault_kind_text(fault: Mapping[str, Any]) -> str:
    """The fault's kind and, where the fault states it, its effect's name: ``az-loss: AZ
    network loss`` for a blackhole, ``az-loss: AZ loss`` for a pin."""
    kind = str(fault.get("type") or "")
    changed = fault.get("changed")
    effect = changed.get("effect") if isinstance(changed, Mapping) else None
    return f"{kind}: {str(effect).split(' (', 1)[0]}" if effect else kind


def fault_table(result: Mapping[str, Any]) -> Table:
    rows, marks = [], []
    for fault in result.get("faults") or []:
        status = str(fault.get("restore_status") or "")
        rows.append(
            [
                fault_kind_text(fault),
                str(fault.get("target") or ""),
                change_text(fault.get("changed")),
                str(fault.get("injected_at") or "not injected"),
                str(fault.get("restored_at") or "-"),
                status,
                str(fault.get("detail") or ""),
            ]
        )
        marks.append("pass" if status == "restored" else "fail" if status == "failed" else "")
    return Table(
        ["fault", "target", "changed", "injected", "restored", "restore", "detail"], rows, marks
    )
