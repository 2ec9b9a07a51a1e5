"""Three-way SLO verdicts (passed / failed / inconclusive) with intervals valid for per-second
dependence: percentiles, rates, and comparisons with a baseline or with earlier runs."""

from __future__ import annotations

# The statistics need numpy and scipy (about 0.7 s to import): names are imported when first
# used, so that importing a light module of this package (`chaos.verdict.slo`, the reports'
# `format_value`) does not cost every CLI command that start-up.
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.verdict.centre import check_centre_relative
    from chaos.verdict.checks import Absolute, Relative, judge
    from chaos.verdict.clustering import EffectiveSize, design_effect, effective_size
    from chaos.verdict.evidence import (
        EvidencePlan,
        plan_percentile,
        plan_rate,
        plan_relative_percentile,
        plan_relative_rate,
    )
    from chaos.verdict.history import HistoryEntry, HistoryKey, no_reference, previous_reference
    from chaos.verdict.model import (
        DEFAULT_CONFIDENCE,
        VERDICTS,
        CheckVerdict,
        GateSettings,
        Interval,
        Verdict,
        gate_passes,
        gate_settings,
        unmeasured,
        verdict_against,
    )
    from chaos.verdict.percentiles import (
        PercentileKey,
        check_percentile,
        check_percentile_relative,
        percentile_bounds,
    )
    from chaos.verdict.rates import RateSli, check_rate, check_rate_relative, rate_bounds
    from chaos.verdict.recovery import RecoveryBand, recovery_band, recovery_time_s
    from chaos.verdict.sample import (
        PhaseSample,
        SecondBlock,
        latency_counts,
        sample_from_record,
        sample_to_record,
    )

_MODULE_OF: dict[str, str] = {
    **dict.fromkeys(("check_centre_relative",), "centre"),
    **dict.fromkeys(("Absolute", "Relative", "judge"), "checks"),
    **dict.fromkeys(("EffectiveSize", "design_effect", "effective_size"), "clustering"),
    **dict.fromkeys(
        (
            "EvidencePlan",
            "plan_percentile",
            "plan_rate",
            "plan_relative_percentile",
            "plan_relative_rate",
        ),
        "evidence",
    ),
    **dict.fromkeys(
        ("HistoryEntry", "HistoryKey", "no_reference", "previous_reference"), "history"
    ),
    **dict.fromkeys(
        (
            "DEFAULT_CONFIDENCE",
            "VERDICTS",
            "CheckVerdict",
            "GateSettings",
            "Interval",
            "Verdict",
            "gate_passes",
            "gate_settings",
            "unmeasured",
            "verdict_against",
        ),
        "model",
    ),
    **dict.fromkeys(
        ("PercentileKey", "check_percentile", "check_percentile_relative", "percentile_bounds"),
        "percentiles",
    ),
    **dict.fromkeys(("RateSli", "check_rate", "check_rate_relative", "rate_bounds"), "rates"),
    **dict.fromkeys(("RecoveryBand", "recovery_band", "recovery_time_s"), "recovery"),
    **dict.fromkeys(
        ("PhaseSample", "SecondBlock", "latency_counts", "sample_from_record", "sample_to_record"),
        "sample",
    ),
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "DEFAULT_CONFIDENCE",
    "Absolute",
    "EvidencePlan",
    "HistoryEntry",
    "HistoryKey",
    "RecoveryBand",
    "Relative",
    "check_centre_relative",
    "judge",
    "no_reference",
    "plan_percentile",
    "plan_rate",
    "plan_relative_percentile",
    "plan_relative_rate",
    "previous_reference",
    "recovery_band",
    "recovery_time_s",
    "sample_from_record",
    "sample_to_record",
    "VERDICTS",
    "CheckVerdict",
    "EffectiveSize",
    "GateSettings",
    "Interval",
    "PercentileKey",
    "PhaseSample",
    "RateSli",
    "SecondBlock",
    "Verdict",
    "check_percentile",
    "check_percentile_relative",
    "check_rate",
    "check_rate_relative",
    "design_effect",
    "effective_size",
    "gate_passes",
    "gate_settings",
    "latency_counts",
    "percentile_bounds",
    "rate_bounds",
    "unmeasured",
    "verdict_against",
]
