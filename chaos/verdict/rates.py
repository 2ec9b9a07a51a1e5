"""Rate checks (`availability`, `error_rate`): Clopper–Pearson bounds with per-second clusters.

The failure share's bounds are Clopper–Pearson's (``scipy.stats.beta`` quantiles) on the
effective sample of ``chaos.verdict.clustering`` — Korn & Graubard's modification for
clustered data: the observed share, with the number of requests shrunk by the design
effect of failures over seconds. A relative objective (``>= baseline - 0.5%``) bounds the
difference ``current - factor * reference`` with Newcombe's method of variance estimates
recovery (MOVER: each side's distance to its own bound, combined in quadrature).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, get_args

from scipy import stats

from chaos.verdict.clustering import EffectiveSize, effective_size
from chaos.verdict.model import CheckVerdict, Comparator, Interval, unmeasured, verdict_against

if TYPE_CHECKING:
    from chaos.verdict.sample import PhaseSample

__all__ = ["RATE_SLIS", "RateSli", "check_rate", "check_rate_relative", "rate_bounds"]

RateSli = Literal["availability", "error_rate"]
RATE_SLIS: tuple[RateSli, ...] = get_args(RateSli)
METHOD = "Clopper-Pearson, effective size over per-second clusters (Korn-Graubard)"
RELATIVE_METHOD = "MOVER difference of " + METHOD


def failure_bounds(size: EffectiveSize, confidence: float) -> tuple[float, float]:
    """One-sided (low, high) bounds at `confidence` on the failure share."""
    if size.units == 0:
        return 0.0, 1.0
    trials = size.effective_units
    events = size.effective_events
    low = (
        0.0
        if size.events == 0
        else float(stats.beta.ppf(1 - confidence, events, trials - events + 1))
    )
    high = (
        1.0
        if size.events == size.units
        else float(stats.beta.ppf(confidence, events + 1, trials - events))
    )
    return low, high


def rate_bounds(
    sample: PhaseSample, sli: RateSli, confidence: float
) -> tuple[float, Interval, EffectiveSize]:
    """(point, one-sided bounds, effective size) of `sli` over the sample's requests."""
    size = effective_size(sample.failures, sample.requests, confidence)
    low, high = failure_bounds(size, confidence)
    share = size.share
    if sli == "availability":
        return 1 - share, Interval(1 - high, 1 - low, confidence, METHOD), size
    return share, Interval(low, high, confidence, METHOD), size


def check_rate(
    sample: PhaseSample,
    sli: RateSli,
    comparator: Comparator,
    threshold: float,
    confidence: float,
) -> CheckVerdict:
    """An absolute objective such as ``availability >= 99%`` (threshold as a fraction)."""
    if sample.total_requests == 0:
        return unmeasured("not measured: no requests in the phase", comparator, threshold)
    point, interval, size = rate_bounds(sample, sli, confidence)
    return CheckVerdict(
        verdict_against(interval, comparator, threshold),
        point,
        interval,
        threshold,
        comparator,
        details=size.to_dict(),
    )


def check_rate_relative(
    current: PhaseSample,
    reference: PhaseSample,
    sli: RateSli,
    comparator: Comparator,
    factor: float,
    offset: float,
    confidence: float,
) -> CheckVerdict:
    """``current <comparator> factor * reference + offset`` (e.g. ``>= baseline - 0.5%``:
    factor 1, offset -0.005). The interval bounds ``current - factor * reference`` and is
    compared with `offset`."""
    if current.total_requests == 0:
        return unmeasured("not measured: no requests in the phase", comparator, offset)
    if reference.total_requests == 0:
        return unmeasured("not measured: no requests in the reference", comparator, offset)
    point, bounds, size = rate_bounds(current, sli, confidence)
    ref_point, ref_bounds, ref_size = rate_bounds(reference, sli, confidence)
    effect = point - factor * ref_point
    low = effect - math.hypot(point - bounds.low, factor * (ref_bounds.high - ref_point))
    high = effect + math.hypot(bounds.high - point, factor * (ref_point - ref_bounds.low))
    interval = Interval(low, high, confidence, RELATIVE_METHOD)
    details = {
        "effect": effect,
        "current": size.to_dict(),
        "reference": ref_size.to_dict(),
        "reference_observed": ref_point,
        "reference_interval": ref_bounds.to_dict(),
        "current_interval": bounds.to_dict(),
        "factor": factor,
    }
    return CheckVerdict(
        verdict_against(interval, comparator, offset),
        point,
        interval,
        offset,
        comparator,
        details=details,
    )
