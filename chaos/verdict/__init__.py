"""Three-way SLO verdicts (passed / failed / inconclusive) with intervals valid for per-second
dependence: percentiles, rates, and comparisons with a baseline or with earlier runs."""

from __future__ import annotations

from chaos.verdict.clustering import EffectiveSize, design_effect, effective_size
from chaos.verdict.model import (
    DEFAULT_CONFIDENCE,
    VERDICTS,
    CheckVerdict,
    GateSettings,
    Interval,
    Verdict,
    gate_passes,
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
from chaos.verdict.sample import PhaseSample, SecondBlock, latency_counts

__all__ = [
    "DEFAULT_CONFIDENCE",
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
    "latency_counts",
    "percentile_bounds",
    "rate_bounds",
    "unmeasured",
    "verdict_against",
]
