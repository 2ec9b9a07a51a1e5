"""The SLO gate: each `slo` check of the experiment evaluated against the run's result.

Where each SLI is read from in the result dict:

- per-phase SLIs (``availability``, ``error_rate``, ``latency_p50_ms`` ... ``latency_max_ms``,
  ``throughput_rps``, ``requests``): ``result["phases"][phase]``; a check without a phase
  reads ``result["overall"]`` (the whole run);
- server-side SLIs (``lambda_errors`` ...): ``result["phases"][phase]["server_side"]``, or
  ``result["server_side"]`` without a phase;
- WAF SLIs (``waf_time_to_block_s`` ...): ``result["waf"]``, over the whole run;
- ``recovery_time_s``: ``result["recovery_time_s"]`` when present, else computed from the
  timeline (see chaos.metrics.sli.recovery_time_s).

A check yields one entry per phase; an SLI that was not measured fails its check.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chaos.clock import epoch_seconds
from chaos.experiment.objective import Objective, parse_objective
from chaos.metrics.sli import recovery_time_s

if TYPE_CHECKING:
    from chaos.experiment.model import Experiment, SloCheck

__all__ = [
    "KNOWN_SLIS",
    "LIVE_SLIS",
    "PHASE_SLIS",
    "RUN_WIDE_SLIS",
    "SERVER_SIDE_SLIS",
    "WAF_SLIS",
    "evaluate_check",
    "evaluate_slos",
    "format_value",
    "slo_outcome",
    "slo_passed",
    "validate_abort_when_sli",
    "validate_sli_names",
]

#: SLI name -> where it lives in a phase's SLIs (a key path).
PHASE_SLIS: dict[str, tuple[str, ...]] = {
    "availability": ("availability",),
    "error_rate": ("error_rate",),
    "throughput_rps": ("throughput_rps",),
    "requests": ("requests",),
    "latency_p50_ms": ("latency_ms", "p50"),
    "latency_p90_ms": ("latency_ms", "p90"),
    "latency_p95_ms": ("latency_ms", "p95"),
    "latency_p99_ms": ("latency_ms", "p99"),
    "latency_max_ms": ("latency_ms", "max"),
}
SERVER_SIDE_SLIS = (
    "lambda_errors",
    "lambda_throttles",
    "lambda_duration_p99_ms",
    "apigw_5xx",
    "apigw_latency_p99_ms",
    "waf_blocked_requests",
    "injected_faults",
)
#: SLI name -> key of result["waf"].
WAF_SLIS: dict[str, str] = {
    "waf_time_to_block_s": "time_to_block_s",
    "waf_leaked_over_limit": "leaked_over_limit",
    "waf_legit_blocked": "legit_blocked",
    "waf_time_to_unblock_s": "time_to_unblock_s",
    "waf_client_blocked_requests": "client_blocked_requests",
    "waf_cloudwatch_blocked_requests": "cloudwatch_blocked_requests",
}
RECOVERY_SLI = "recovery_time_s"
#: SLIs measured once per run: a phase makes no sense for them (recovery_time_s: recovery).
RUN_WIDE_SLIS = (*WAF_SLIS, RECOVERY_SLI)
KNOWN_SLIS: tuple[str, ...] = (*PHASE_SLIS, *SERVER_SIDE_SLIS, *RUN_WIDE_SLIS)
#: SLIs a stop condition (abort_when) can watch second by second.
LIVE_SLIS: tuple[str, ...] = tuple(PHASE_SLIS)
#: Observed as fractions 0..1: shown as percentages.
FRACTION_SLIS = ("availability", "error_rate")

Observation = tuple[float | None, str | None]  # (observed, note when not measured)


# --------------------------------------------------------------------------- validation


def reads_server_side_metrics(experiment: Experiment) -> bool:
    """Whether a run of `experiment` reads CloudWatch: with load, or a server-side SLO."""
    return experiment.load is not None or any(
        check.sli in SERVER_SIDE_SLIS or check.sli == "waf_cloudwatch_blocked_requests"
        for check in experiment.slo
    )


def validate_sli_names(experiment: Experiment) -> list[tuple[int, str]]:
    """Problems of the experiment's ``slo`` entries as (index in ``slo``, message).

    Unknown SLI names (with a did-you-mean) and phases given to run-wide SLIs. The loader
    maps an index to the file:line of ``slo[index].sli``.
    """
    problems: list[tuple[int, str]] = []
    for index, check in enumerate(experiment.slo):
        message = sli_problem(check.sli, check.phases)
        if message:
            problems.append((index, message))
    return problems


def validate_abort_when_sli(experiment: Experiment) -> str | None:
    """The problem of ``stop_conditions.abort_when.sli``, or None when it can be watched live."""
    abort_when = experiment.stop_conditions.abort_when
    if abort_when is None or abort_when.sli in LIVE_SLIS:
        return None
    return (
        f"abort_when cannot watch {_shown(abort_when.sli)} live"
        f"{_did_you_mean(abort_when.sli, LIVE_SLIS)}; live SLIs: {', '.join(LIVE_SLIS)}"
    )


def sli_problem(sli: str, phases: Sequence[str]) -> str | None:
    if sli not in KNOWN_SLIS:
        return (
            f"unknown SLI {_shown(sli)}{_did_you_mean(sli, KNOWN_SLIS)}; known SLIs: "
            f"{', '.join(KNOWN_SLIS)}"
        )
    if sli in WAF_SLIS and phases:
        return f"{sli} is measured over the whole run: remove phase"
    if sli == RECOVERY_SLI and any(phase != "recovery" for phase in phases):
        return f"{sli} is measured in the recovery phase only: remove phase or use recovery"
    return None


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 40 else f"(a name of {len(value)} characters)"


def _did_you_mean(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------- evaluation


def evaluate_slos(checks: Sequence[SloCheck], result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per check and phase: {sli, phase, objective, observed, passed[, note]}."""
    entries: list[dict[str, Any]] = []
    for check in checks:
        entries.extend(evaluate_check(check.sli, check.phases, check.objective, result))
    return entries


def evaluate_check(
    sli: str, phases: Sequence[str], objective_text: str, result: Mapping[str, Any]
) -> list[dict[str, Any]]:
    objective = parse_objective(objective_text)
    checked: list[str | None] = list(phases) or [None]
    if sli == RECOVERY_SLI:
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
    reader = _READERS.get(_family(sli))
    if reader is None:
        return None, f"not measured: unknown SLI {sli!r}"
    return reader(sli, phase, result)


def _family(sli: str) -> str:
    if sli in PHASE_SLIS:
        return "phase"
    if sli in SERVER_SIDE_SLIS:
        return "server"
    if sli in WAF_SLIS:
        return "waf"
    return sli


def _phase_sli(sli: str, phase: str | None, result: Mapping[str, Any]) -> Observation:
    where = f"phase {phase}" if phase else "the run"
    scope = _phase_scope(result, phase)
    if scope is None:
        return None, f"not measured: no SLIs for {where}"
    if not scope.get("requests") and sli not in ("requests", "throughput_rps"):
        return None, f"not measured: no requests in {where}"
    value: Any = scope
    for key in PHASE_SLIS[sli]:
        value = value.get(key) if isinstance(value, Mapping) else None
    return _number(value, f"not measured: {sli} missing for {where}")


def _server_side(sli: str, phase: str | None, result: Mapping[str, Any]) -> Observation:
    where = f"phase {phase}" if phase else "the run"
    scope = _phase_scope(result, phase) if phase else result
    server = scope.get("server_side") if isinstance(scope, Mapping) else None
    if not isinstance(server, Mapping):
        return None, f"not measured: no server-side metrics for {where}"
    return _number(server.get(sli), f"not measured: no CloudWatch datapoints for {sli} in {where}")


def _waf(sli: str, phase: str | None, result: Mapping[str, Any]) -> Observation:
    waf = result.get("waf")
    if not isinstance(waf, Mapping):
        return None, "not measured: no WAF load ran"
    return _number(waf.get(WAF_SLIS[sli]), f"not measured: {WAF_SLIS[sli]} missing in waf")


def _recovery(sli: str, phase: str | None, result: Mapping[str, Any]) -> Observation:
    if "recovery_time_s" in result:
        value = result["recovery_time_s"]
    else:
        value = _recovery_from_timeline(result)
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
        baseline.get("availability"),
    )


_READERS: dict[str, Callable[[str, str | None, Mapping[str, Any]], Observation]] = {
    "phase": _phase_sli,
    "server": _server_side,
    "waf": _waf,
    RECOVERY_SLI: _recovery,
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


def slo_outcome(entries: Sequence[Mapping[str, Any]]) -> str:
    return "passed" if slo_passed(entries) else "failed"


def format_value(sli: str, value: Any) -> str:
    """An observed value for people: fractions as percentages, None as 'not measured'."""
    if value is None:
        return "not measured"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if sli in FRACTION_SLIS:
        return _trimmed(f"{value * 100:.3f}") + "%"
    if float(value).is_integer():
        return f"{int(value)}"
    return _trimmed(f"{value:.3f}") if abs(value) < 1000 else f"{value:.0f}"


def _trimmed(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number
