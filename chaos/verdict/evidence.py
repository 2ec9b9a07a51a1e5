"""Evidence needed: whether a check can be decisive at a phase's load, and what load it needs.

For `gameday plan` and `validate` warnings. A check is *decisive* at a load when a
**typical** phase of a service that meets the objective by the stated margin gets the
verdict passed: its figures sit exactly at their assumed true values (no luck either way),
and the interval the verdict would compute from them clears the threshold. The number of
requests needed is the smallest load at which that happens (the same intervals as the
verdicts: ``chaos.verdict.rates``, ``chaos.verdict.percentiles``, with the effective size
of ``chaos.verdict.clustering`` for the phase's seconds and an assumed design effect).

A typical phase passing is the least a check must offer (it passes about half the time
at that load). `power` asks for more: that the phase pass with that probability, by
widening the interval by the normal quantile of `power` (the bound at confidence
``Phi(z_c + z_power)``) — the usual power calculation, approximate for the discrete
order statistics. bench/gate_power.py measures the real rates (docs/gate.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scipy import stats

from chaos.verdict.clustering import EffectiveSize, effective_requests, whole_requests
from chaos.verdict.model import Comparator, Interval, verdict_against
from chaos.verdict.percentiles import difference_interval, order_statistic_ranks, ratio_interval
from chaos.verdict.rates import RateSli, failure_bounds

if TYPE_CHECKING:
    from chaos.verdict.sample import PhaseSample

__all__ = [
    "EvidencePlan",
    "plan_percentile",
    "plan_rate",
    "plan_relative_percentile",
    "plan_relative_rate",
    "share_above",
]

#: Loads beyond this many requests per phase count as "no load decides it".
MAX_REQUESTS = 10_000_000


@dataclass(frozen=True)
class EvidencePlan:
    """What a check's phase will hold, and what it would need to be decisive."""

    expected_requests: int
    requests_needed: int | None  # None: no load up to MAX_REQUESTS decides it

    @property
    def decisive(self) -> bool:
        return self.requests_needed is not None and self.expected_requests >= self.requests_needed

    def describe(self, check: str) -> str:
        """One line for `gameday plan`, e.g. "latency_p99_ms, recovery: ~120 requests — ..."."""
        head = f"{check}: ~{self.expected_requests} requests"
        if self.requests_needed is None:
            return f"{head} — no load can decide it at its margin"
        verdict = "enough" if self.decisive else "too few: the check will be inconclusive"
        return f"{head}, needs about {self.requests_needed} — {verdict}"


def _planning_confidence(confidence: float, power: float) -> float:
    """The confidence whose bound a typical phase must clear so that a phase passes with
    probability `power` (0.5: the verdict's own confidence)."""
    if not 0 < power < 1:
        raise ValueError(f"power must lie strictly between 0 and 1, not {power!r}")
    return float(stats.norm.cdf(stats.norm.ppf(confidence) + stats.norm.ppf(power)))


def _smallest(decided: Callable[[int], bool]) -> int | None:
    """The smallest n >= 1 with decided(n), for a monotone predicate (doubling, then bisection)."""
    high = 1
    while not decided(high):
        if high >= MAX_REQUESTS:
            return None
        high = min(high * 2, MAX_REQUESTS)
    low = high // 2 + 1 if high > 1 else 1
    while low < high:
        middle = (low + high) // 2
        if decided(middle):
            high = middle
        else:
            low = middle + 1
    return high


def _typical_size(
    requests: int, share: float, seconds: int, deff: float, confidence: float
) -> EffectiveSize:
    events = round(share * requests)
    return EffectiveSize(
        requests, events, seconds, deff, effective_requests(requests, seconds, deff, confidence)
    )


def _typical_rate(
    requests: int, sli: RateSli, value: float, seconds: int, deff: float, confidence: float
) -> tuple[float, float, float]:
    """(point, low, high) of `sli` in a typical phase whose true value is `value`."""
    failure_share = 1 - value if sli == "availability" else value
    size = _typical_size(requests, failure_share, seconds, deff, confidence)
    low, high = failure_bounds(size, confidence)
    point = size.share
    if sli == "availability":
        return 1 - point, 1 - high, 1 - low
    return point, low, high


def plan_rate(
    expected_requests: int,
    seconds: int,
    sli: RateSli,
    comparator: Comparator,
    threshold: float,
    margin: float,
    confidence: float,
    design_effect: float = 1.0,
    power: float = 0.5,
) -> EvidencePlan:
    """An absolute rate objective, for a service `margin` better than `threshold` (e.g.
    ``availability >= 99%`` with margin 0.005: a service at 99.5 % must pass)."""
    confidence = _planning_confidence(confidence, power)
    better = 1 if comparator in (">=", ">") else -1
    value = min(1.0, max(0.0, threshold + better * margin))

    def decided(requests: int) -> bool:
        point, low, high = _typical_rate(requests, sli, value, seconds, design_effect, confidence)
        return (
            verdict_against(Interval(low, high, confidence, ""), comparator, threshold) == "passed"
        )

    return EvidencePlan(expected_requests, _smallest(decided))


def plan_relative_rate(
    expected_requests: int,
    expected_reference: int,
    seconds: int,
    reference_seconds: int,
    sli: RateSli,
    comparator: Comparator,
    reference_value: float,
    factor: float,
    offset: float,
    confidence: float,
    design_effect: float = 1.0,
    power: float = 0.5,
) -> EvidencePlan:
    """``current >= factor * reference + offset``-style objectives, for an unchanged service
    (current and reference both at `reference_value`; the objective's own factor and offset
    are the margin). The load scales both samples (the reference keeps its size relative
    to the current phase)."""
    confidence = _planning_confidence(confidence, power)
    value = reference_value
    ratio = expected_reference / max(expected_requests, 1)

    def decided(requests: int) -> bool:
        point, low, high = _typical_rate(requests, sli, value, seconds, design_effect, confidence)
        reference = max(1, round(requests * ratio))
        ref_point, ref_low, ref_high = _typical_rate(
            reference, sli, reference_value, reference_seconds, design_effect, confidence
        )
        effect = point - factor * ref_point
        effect_low = effect - math.hypot(point - low, factor * (ref_high - ref_point))
        effect_high = effect + math.hypot(high - point, factor * (ref_point - ref_low))
        return (
            verdict_against(Interval(effect_low, effect_high, confidence, ""), comparator, offset)
            == "passed"
        )

    return EvidencePlan(expected_requests, _smallest(decided))


def plan_percentile(
    expected_requests: int,
    seconds: int,
    percent: float,
    confidence: float,
    share_above_threshold: float | None = None,
    design_effect: float = 1.0,
    power: float = 0.5,
) -> EvidencePlan:
    """``latency_pXX <= T`` for a service with `share_above_threshold` of its requests above
    T (default: half of the 1 - p the objective allows, i.e. T is the service's
    p(100 - (100-p)/2), a p99.5 for a p99). 0 asks when any upper bound exists at all."""
    confidence = _planning_confidence(confidence, power)
    level = percent / 100
    share = (1 - level) / 2 if share_above_threshold is None else share_above_threshold

    def decided(requests: int) -> bool:
        effective = whole_requests(
            effective_requests(requests, seconds, design_effect, confidence), requests
        )
        _, upper = order_statistic_ranks(effective, level, confidence)
        if upper is None:
            return False
        return math.ceil(upper * requests / effective) <= requests - round(share * requests)

    return EvidencePlan(expected_requests, _smallest(decided))


def share_above(sample: PhaseSample, threshold_ms: float) -> float:
    """The share of the sample's requests above `threshold_ms` (for `plan_percentile`)."""
    total = sample.total_latencies
    return float(sample.above_per_second(threshold_ms).sum()) / total if total else 0.0


def plan_relative_percentile(
    reference: PhaseSample,
    expected_requests: int,
    expected_reference: int,
    seconds: int,
    reference_seconds: int,
    percent: float,
    factor: float,
    offset_ms: float,
    confidence: float,
    design_effect: float = 1.0,
    power: float = 0.5,
) -> EvidencePlan:
    """``latency_pXX <= factor * reference + offset`` for an unchanged service: the current
    phase is assumed to have the reference's latency distribution (an earlier run, or the
    experiment's own recorded baseline), both at their true percentile, with the
    order-statistic bounds a phase of that size would show, combined as the verdict
    combines them (MOVER)."""
    confidence = _planning_confidence(confidence, power)
    level = percent / 100
    ratio = expected_reference / max(expected_requests, 1)
    truth = reference.percentile(percent)

    def quantile(at_level: float) -> float:
        return reference.percentile(min(100.0, max(0.0, 100 * at_level)))

    def bounds(requests: int, phase_seconds: int) -> Interval | None:
        effective = whole_requests(
            effective_requests(requests, phase_seconds, design_effect, confidence), requests
        )
        lower, upper = order_statistic_ranks(effective, level, confidence)
        if upper is None or lower < 1:
            return None
        return Interval(
            min(quantile(lower / effective), truth),
            max(quantile(upper / effective), truth),
            confidence,
            "",
        )

    def decided(requests: int) -> bool:
        current = bounds(requests, seconds)
        previous = bounds(max(1, round(requests * ratio)), reference_seconds)
        if current is None or previous is None:
            return False
        if offset_ms == 0:
            _, _, high = ratio_interval(truth, current, truth, previous)
            return high <= factor
        scaled = Interval(previous.low * factor, previous.high * factor, confidence, "")
        _, _, high = difference_interval(truth, current, factor * truth, scaled)
        return high <= offset_ms

    return EvidencePlan(expected_requests, _smallest(decided))
