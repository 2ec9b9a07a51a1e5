"""The SLO gate: each `slo` check of the experiment evaluated against the run's result.

Where each SLI lives in the result is the catalog's (chaos.metrics.catalog). A check
yields one entry per phase; an SLI that was not measured fails its check.

A check on a latency percentile or a rate of a phase whose per-second evidence the result
keeps (``phases.<phase>.evidence``) is judged statistically (``chaos.verdict.gate``): an
interval and a three-way verdict; the boolean `passed` follows the gate's rule. Every other
check is judged on its observed value (verdict passed or failed, interval null).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chaos.clock import epoch_seconds
from chaos.experiment.objective import Objective, parse_objective, relative_slis
from chaos.metrics.catalog import AVAILABILITY, CATALOG, RECOVERY_TIME, REQUESTS
from chaos.metrics.sli import recovery_time_s
from chaos.verdict.model import gate_settings

if TYPE_CHECKING:
    from chaos.experiment.model import SloCheck
    from chaos.outcome import Outcome
    from chaos.verdict.sample import PhaseSample

__all__ = [
    "PreviousFor",
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

#: Earlier runs for `previous` objectives, per phase: (pooled sample or None, the run ids
#: pooled, why not) — e.g. ``lambda phase: previous_reference(history, key, phase, run_id)``.
PreviousFor = Callable[[str], "tuple[PhaseSample | None, list[str], str | None]"]


def evaluate_slos(
    checks: Sequence[SloCheck],
    result: Mapping[str, Any],
    previous_for: PreviousFor | None = None,
) -> list[dict[str, Any]]:
    """One entry per check and phase: {sli, phase, objective, observed, passed, verdict,
    interval[, note]}, judged at ``result["gate"]`` (default: 95 %, inconclusive fails).

    `previous_for` gives the earlier runs of `previous` objectives; what it returns is kept
    in ``result["references"]`` (so refreshing or re-rendering never changes a verdict).
    """
    if previous_for is not None and isinstance(result, dict):
        keep_previous_references(checks, result, previous_for)
    entries: list[dict[str, Any]] = []
    for check in checks:
        entries.extend(
            evaluate_check(
                check.sli, check.phases, check.objective, result, relative_to=check.relative_to
            )
        )
    return entries


def evaluate_again(
    entries: Sequence[Mapping[str, Any]], result: Mapping[str, Any], *, automatic: str
) -> list[dict[str, Any]]:
    """The checks of `entries` (as result.json holds them) evaluated again against
    `result`; the `automatic` SLI's checks are left out (the caller adds them again)."""
    return [
        entry
        for check in entries
        if check.get("sli") != automatic
        for entry in evaluate_check(
            str(check["sli"]),
            [check["phase"]] if check.get("phase") else [],
            str(check["objective"]),
            result,
            relative_to=check.get("relative_to"),
        )
    ]


def evaluate_check(
    sli: str,
    phases: Sequence[str],
    objective_text: str,
    result: Mapping[str, Any],
    relative_to: str | None = None,
) -> list[dict[str, Any]]:
    objective = parse_objective(objective_text, sli if sli in CATALOG else None)
    checked: list[str | None] = list(phases) or [None]
    if sli == RECOVERY_TIME:
        checked = ["recovery"]
    entries = []
    for phase in checked:
        observation = observe(sli, phase, result)
        if relative_to == "baseline" and sli == RECOVERY_TIME:
            observation = _recovery_in_band(result)
        judged = judge_statistically(sli, phase, objective, observation, result)
        item = judged or entry(sli, phase, objective_text, objective, observation)
        item.update(sli=sli, phase=phase, objective=objective_text)
        if relative_to is not None:
            item["relative_to"] = relative_to
        entries.append(_ordered(item))
    return entries


def entry(
    sli: str, phase: str | None, text: str, objective: Objective, observation: Observation
) -> dict[str, Any]:
    """A check judged on its observed value: passed or failed, no interval."""
    observed, note = observation
    if objective.relative:
        note = note or (
            f"not measured: no per-second evidence to compare {sli} with the {objective.reference}"
        )
        observed_passes = False
    else:
        observed_passes = observed is not None and objective.holds(float(observed))
    item: dict[str, Any] = {
        "sli": sli,
        "phase": phase,
        "objective": text,
        "observed": observed,
        "passed": observed_passes,
        "verdict": "passed" if observed_passes else "failed",
        "interval": None,
    }
    if note:
        item["note"] = note
    return item


_FIRST_KEYS = ("sli", "phase", "objective", "observed", "passed", "verdict", "interval")


def _ordered(item: dict[str, Any]) -> dict[str, Any]:
    return {**{key: item[key] for key in _FIRST_KEYS if key in item}, **item}


def judge_statistically(
    sli: str,
    phase: str | None,
    objective: Objective,
    observation: Observation,
    result: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The entry of a check on a percentile or a rate judged from the phase's evidence
    (`chaos.verdict.gate`, numpy and scipy imported only here), or None when the check is
    judged on its observed value (another SLI, no phase, or a result without evidence)."""
    if phase is None or sli not in relative_slis() or observation[0] is None:
        return None
    if not _evidence(result, phase):
        return None
    from chaos.verdict.gate import judge_check

    return judge_check(sli, phase, objective, observation[0], result)


def _evidence(result: Mapping[str, Any], phase: str) -> Any:
    scope = _phase_scope(result, phase)
    return scope.get("evidence") if scope is not None else None


def keep_previous_references(
    checks: Sequence[SloCheck], result: dict[str, Any], previous_for: PreviousFor
) -> None:
    """``result["references"]["previous"][phase]``: the earlier runs each `previous` check
    compares with ({runs, evidence, reason}), asked once per phase."""
    from chaos.verdict.sample import sample_to_record

    wanted = sorted(
        {
            phase
            for check in checks
            if parse_objective(check.objective).reference == "previous"
            for phase in check.phases
        }
    )
    kept = result.setdefault("references", {}).setdefault("previous", {})
    for phase in wanted:
        sample, runs, reason = previous_for(phase)
        kept[phase] = {
            "runs": list(runs),
            "reason": reason,
            "evidence": sample_to_record(sample) if sample is not None else None,
        }


def _recovery_in_band(result: Mapping[str, Any]) -> Observation:
    """`recovery_time_s` relative to the baseline (`relative_to: baseline`): seconds from the
    end of the restore until 5 consecutive seconds are in the baseline's band."""
    baseline, recovery = _evidence(result, "baseline"), _evidence(result, "recovery")
    if not baseline or not recovery:
        return None, "not measured: no per-second evidence of the baseline and recovery phases"
    from chaos.verdict.gate import recovery_in_band

    value = recovery_in_band(baseline, recovery, gate_settings(result.get("gate")).confidence)
    if value is None:
        return None, (
            "not measured: the recovery phase was never back in the baseline's band "
            "(failures and median latency) for 5 seconds in a row"
        )
    return value, None


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
        return None, (
            f"not settled: CloudWatch was still changing when the wait for {where} "
            "ended (gameday report --refresh reads it again)"
        )
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
