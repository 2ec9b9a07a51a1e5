"""The SLO gate: each `slo` check of the experiment evaluated against the run's result.

Where each SLI lives in the result is the catalog's (chaos.metrics.catalog). A check
yields one entry per phase; an SLI that was not measured fails its check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chaos.clock import epoch_seconds
from chaos.experiment.objective import Objective, parse_objective
from chaos.metrics.catalog import AVAILABILITY, CATALOG, RECOVERY_TIME, REQUESTS
from chaos.metrics.sli import recovery_time_s

if TYPE_CHECKING:
    from chaos.experiment.model import SloCheck
    from chaos.outcome import Outcome

__all__ = [
    "evaluate_again",
    "evaluate_check",
    "evaluate_slos",
    "format_value",
    "run_verdict",
    "slo_outcome",
    "slo_passed",
]

Observation = tuple[float | None, str | None]  # (observed, note when not measured)


# --------------------------------------------------------------------------- evaluation


def evaluate_slos(checks: Sequence[SloCheck], result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per check and phase: {sli, phase, objective, observed, passed[, note]}."""
    entries: list[dict[str, Any]] = []
    for check in checks:
        entries.extend(evaluate_check(check.sli, check.phases, check.objective, result))
    return entries


def evaluate_again(
    entries: Sequence[Mapping[str, Any]], result: Mapping[str, Any], *, automatic: str
) -> list[dict[str, Any]]:
    """The checks of `entries` (as result.json holds them) evaluated again against
    `result`; the `automatic` SLI's checks are left out (the caller adds them again)."""
    return [
        entry for check in entries if check.get("sli") != automatic
        for entry in evaluate_check(str(check["sli"]), [check["phase"]] if check.get("phase")
                                    else [], str(check["objective"]), result)
    ]


def evaluate_check(
    sli: str, phases: Sequence[str], objective_text: str, result: Mapping[str, Any]
) -> list[dict[str, Any]]:
    objective = parse_objective(objective_text)
    checked: list[str | None] = list(phases) or [None]
    if sli == RECOVERY_TIME:
        checked = ["recovery"]
    return [
        entry(sli, phase, objective_text, objective, observe(sli, phase, result))
        for phase in checked
    ]


def entry(
    sli: str, phase: str | None, text: str, objective: Objective, observation: Observation
) -> dict[str, Any]:
    observed, note = observation
    passed = observed is not None and objective.holds(float(observed))
    item: dict[str, Any] = {
        "sli": sli, "phase": phase, "objective": text, "observed": observed, "passed": passed,
    }
    if note:
        item["note"] = note
    return item


def observe(sli: str, phase: str | None, result: Mapping[str, Any]) -> Observation:
    """The observed value of `sli` (in `phase`), or None with a note saying why."""
    entry = CATALOG.get(sli)
    reader = _READERS.get(entry.family) if entry is not None else None
    if reader is None:
        return None, f"not measured: unknown SLI {sli!r}"
    return reader(sli, phase, result)


def _phase_sli(sli: str, phase: str | None, result: Mapping[str, Any]) -> Observation:
    where = f"phase {phase}" if phase else "the run"
    scope = _phase_scope(result, phase)
    if scope is None:
        return None, f"not measured: no SLIs for {where}"
    if not scope.get(REQUESTS) and CATALOG[sli].needs_requests:
        return None, f"not measured: no requests in {where}"
    return _number(CATALOG[sli].value_in(scope), f"not measured: {sli} missing for {where}")


def _server_side(sli: str, phase: str | None, result: Mapping[str, Any]) -> Observation:
    where = f"phase {phase}" if phase else "the run"
    scope = _phase_scope(result, phase) if phase else result
    server = scope.get("server_side") if isinstance(scope, Mapping) else None
    if not isinstance(server, Mapping):
        return None, f"not measured: no server-side metrics for {where}"
    if server.get("settled") is False:
        return None, (f"not settled: CloudWatch was still changing when the wait for {where} "
                      "ended (gameday report --refresh reads it again)")
    return _number(server.get(sli), f"not measured: no CloudWatch datapoints for {sli} in {where}")


def _waf(sli: str, phase: str | None, result: Mapping[str, Any]) -> Observation:
    waf = result.get("waf")
    if not isinstance(waf, Mapping):
        return None, "not measured: no WAF load ran"
    key = CATALOG[sli].key[0]
    if key == "cloudwatch_blocked_requests" and waf.get("cloudwatch_settled") is False:
        return None, "not settled: CloudWatch was still changing when the wait ended"
    return _number(waf.get(key), f"not measured: {key} missing in waf")


def _recovery(sli: str, phase: str | None, result: Mapping[str, Any]) -> Observation:
    key = CATALOG[sli].key[0]
    value = result[key] if key in result else _recovery_from_timeline(result)
    if value is None:
        return None, "not measured: availability did not recover during the recovery phase"
    return _number(value, "not measured")


def _recovery_from_timeline(result: Mapping[str, Any]) -> float | None:
    recovery = _phase_scope(result, "recovery")
    if recovery is None or not recovery.get("started_at"):
        return None
    baseline = _phase_scope(result, "baseline") or {}
    return recovery_time_s(
        result.get("timeline") or [],
        epoch_seconds(str(recovery["started_at"])),
        CATALOG[AVAILABILITY].value_in(baseline),
    )


_READERS: dict[str, Callable[[str, str | None, Mapping[str, Any]], Observation]] = {
    "phase": _phase_sli,
    "server": _server_side,
    "waf": _waf,
    "recovery": _recovery,
}


def _phase_scope(result: Mapping[str, Any], phase: str | None) -> Mapping[str, Any] | None:
    if phase is None:
        overall = result.get("overall")
        return overall if isinstance(overall, Mapping) else None
    phases = result.get("phases")
    scope = phases.get(phase) if isinstance(phases, Mapping) else None
    return scope if isinstance(scope, Mapping) else None


def _number(value: Any, note: str) -> Observation:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None, note
    return value, None


# --------------------------------------------------------------------------- verdict


def slo_passed(entries: Sequence[Mapping[str, Any]]) -> bool:
    """The verdict: every check passed (no checks: passed)."""
    return all(bool(item.get("passed")) for item in entries)


def slo_outcome(entries: Sequence[Mapping[str, Any]]) -> Outcome:
    return "passed" if slo_passed(entries) else "failed"


def run_verdict(entries: Sequence[Mapping[str, Any]], run_outcome: str) -> str:
    """The run's outcome: its checks' when it ran to the end (`passed`), else its own
    (aborted, error: no check can make it pass)."""
    return slo_outcome(entries) if run_outcome == "passed" else run_outcome


def format_value(sli: str, value: Any) -> str:
    """An observed value for people: fractions as percentages, None as 'not measured'."""
    if value is None:
        return "not measured"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    entry = CATALOG.get(sli)
    if entry is not None and entry.fraction:
        return _trimmed(f"{value * 100:.3f}") + "%"
    if float(value).is_integer():
        return f"{int(value)}"
    return _trimmed(f"{value:.3f}") if abs(value) < 1000 else f"{value:.0f}"


def _trimmed(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number
