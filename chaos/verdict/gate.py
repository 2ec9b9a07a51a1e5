"""One SLO check judged from result.json's evidence: an interval and a three-way verdict.

The evidence is ``phases.<phase>.evidence`` (per second: requests, failures, latency
counts; ``chaos.verdict.sample_from_record``), the reference of a ``baseline`` objective is
the baseline phase's, and that of a ``previous`` objective the earlier runs kept in
``result["references"]["previous"][phase]`` when the run was judged. Nothing is resampled,
so judging the same result.json again always gives the same verdicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from chaos.experiment.objective import Objective
from chaos.verdict.checks import Absolute, Relative, judge
from chaos.verdict.history import no_reference
from chaos.verdict.model import (
    CheckVerdict,
    Comparator,
    GateSettings,
    gate_settings,
    unmeasured,
)
from chaos.verdict.recovery import recovery_time_s
from chaos.verdict.sample import PhaseSample, sample_from_record

__all__ = ["judge_check", "recovery_in_band"]


def judge_check(
    sli: str, phase: str, objective: Objective, observed: float, result: Mapping[str, Any]
) -> dict[str, Any]:
    """The `slo` entry keys of `sli` in `phase` judged statistically (see the module)."""
    settings = gate_settings(result.get("gate"))
    check = _verdict(sli, phase, objective, result, settings)
    item = check.to_dict(settings)
    item["observed"] = observed  # the figure the phase's SLIs report, unchanged
    if objective.relative:
        item["effect"] = "difference" if objective.factor == 1.0 and objective.value else "ratio"
    item["details"] = _json_safe(item.get("details") or {})
    if not item["details"]:
        del item["details"]
    return item


def _verdict(
    sli: str,
    phase: str,
    objective: Objective,
    result: Mapping[str, Any],
    settings: GateSettings,
) -> CheckVerdict:
    comparator: Comparator = objective.comparator
    current = _sample(_phase(result, phase).get("evidence"))
    if current is None:
        return unmeasured(
            f"not measured: the evidence of phase {phase} is malformed",
            comparator,
            objective.threshold,
        )
    if objective.reference is None:
        return judge(sli, current, Absolute(comparator, objective.threshold), settings.confidence)
    relative = Relative(comparator, objective.reference, objective.factor, objective.offset)
    threshold = objective.factor if objective.offset == 0 else objective.offset
    if objective.reference == "baseline":
        reference = _sample(_phase(result, "baseline").get("evidence"))
        if reference is None or reference.total_requests == 0:
            return unmeasured(
                "not measured: no baseline requests to compare with", comparator, threshold
            )
        return judge(sli, current, relative, settings.confidence, reference)
    kept = _previous(result, phase)
    reference = _sample(kept.get("evidence"))
    if reference is None:
        reason = kept.get("reason") or "inconclusive: no earlier runs of this experiment"
        return no_reference(str(reason), comparator, threshold)
    verdict = judge(sli, current, relative, settings.confidence, reference)
    runs = kept.get("runs") or []
    return CheckVerdict(
        verdict.verdict,
        verdict.observed,
        verdict.interval,
        verdict.threshold,
        verdict.comparator,
        verdict.note,
        {**verdict.details, "previous_runs": list(runs)},
    )


def recovery_in_band(baseline: Any, recovery: Any, confidence: float) -> float | None:
    """`chaos.verdict.recovery.recovery_time_s` on two evidence records."""
    baseline_sample, recovery_sample = _sample(baseline), _sample(recovery)
    if baseline_sample is None or recovery_sample is None:
        return None
    return recovery_time_s(recovery_sample, baseline_sample, confidence)


def _phase(result: Mapping[str, Any], phase: str) -> Mapping[str, Any]:
    phases = result.get("phases")
    scope = phases.get(phase) if isinstance(phases, Mapping) else None
    return scope if isinstance(scope, Mapping) else {}


def _previous(result: Mapping[str, Any], phase: str) -> Mapping[str, Any]:
    references = result.get("references")
    previous = references.get("previous") if isinstance(references, Mapping) else None
    kept = previous.get(phase) if isinstance(previous, Mapping) else None
    return kept if isinstance(kept, Mapping) else {}


def _sample(record: Any) -> PhaseSample | None:
    """The evidence as a sample; None when absent or malformed (an edited result.json)."""
    if not isinstance(record, list):
        return None
    try:
        return sample_from_record(record)
    except (TypeError, ValueError):
        return None


def _json_safe(value: Any) -> Any:
    """numpy scalars as Python numbers, infinities as None: result.json is strict JSON."""
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return json.loads(json.dumps(value, default=str))
