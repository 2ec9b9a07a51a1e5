"""Centre comparisons (p50 against a reference): a clustered rank test with an effect size.

The rank test is Mann–Whitney's: theta = P(current > reference) + P(equal) / 2, the
statistic U of ``scipy.stats.mannwhitneyu`` divided by ``n_current * n_reference``. Its
textbook variance assumes independent requests; here each sample's requests are clustered
by second, so the variance is the clustered one of Obuchowski (1997, "Nonparametric
analysis of clustered ROC curve data", Biometrics 53): each request's *placement* (the
share of the other sample below it, ties counting half) is summed per second, and the
variance of theta is the between-seconds variance of those sums, for both samples. The
normal quantile is replaced by Student's t with (fewer seconds - 1) degrees of freedom.

The effect is the Hodges–Lehmann shift: the median of all pairwise differences between
current and reference latencies — of their logarithms for a ratio objective
(``<= 1.2x baseline``, reported as a ratio), of the latencies themselves for a difference
(``<= baseline + 20ms``). Its one-sided bounds invert the clustered test: the upper bound is
the smallest shift at which the shifted current sample is significantly *below* the
reference, the lower bound the largest at which it is significantly above. With the
per-second histograms the pairs are pairs of buckets, so this costs little.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from chaos.verdict.model import CheckVerdict, Comparator, Interval, unmeasured, verdict_against

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from chaos.verdict.sample import PhaseSample

__all__ = ["RankComparison", "check_centre_relative", "rank_comparison"]

METHOD = "Hodges-Lehmann shift, Mann-Whitney test clustered by second (Obuchowski)"


@dataclass(frozen=True)
class RankComparison:
    """theta = P(current > reference) + ties/2, with its clustered standard error."""

    theta: float
    standard_error: float

    def z(self) -> float:
        if self.standard_error == 0:
            return 0.0 if self.theta == 0.5 else math.copysign(math.inf, self.theta - 0.5)
        return (self.theta - 0.5) / self.standard_error


def _placements(
    values: NDArray[np.float64], among_values: NDArray[np.float64], among_counts: NDArray[np.int64]
) -> NDArray[np.float64]:
    """For each of `values`: (how many of `among` are below it + half of those equal) / n."""
    cumulative = np.concatenate([[0], np.cumsum(among_counts)])
    below = cumulative[np.searchsorted(among_values, values, side="left")]
    not_above = cumulative[np.searchsorted(among_values, values, side="right")]
    return (below + not_above) / (2.0 * cumulative[-1])


def _clustered_variance(
    per_second: NDArray[np.float64], sizes: NDArray[np.int64], theta: float
) -> float:
    present = sizes > 0
    clusters = int(present.sum())
    total = float(sizes.sum())
    if clusters < 2:
        return math.inf
    residuals = per_second[present] - theta * sizes[present]
    return clusters / (clusters - 1) * float(np.dot(residuals, residuals)) / total**2


def rank_comparison(
    current_values: NDArray[np.float64],
    current_counts: NDArray[np.int64],
    reference_values: NDArray[np.float64],
    reference_counts: NDArray[np.int64],
) -> RankComparison:
    """theta and its clustered standard error; `*_counts` are seconds x values."""
    current_total = current_counts.sum(axis=0)
    reference_total = reference_counts.sum(axis=0)
    current_place = _placements(current_values, reference_values, reference_total)
    theta = float(np.dot(current_total, current_place) / current_total.sum())
    # a reference request's placement among the current ones: the share of current above it
    reference_place = 1.0 - _placements(reference_values, current_values, current_total)
    variance = _clustered_variance(
        current_counts @ current_place, current_counts.sum(axis=1), theta
    ) + _clustered_variance(reference_counts @ reference_place, reference_counts.sum(axis=1), theta)
    return RankComparison(theta, math.sqrt(variance))


def _weighted_median(values: NDArray[np.float64], weights: NDArray[np.float64]) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    half = cumulative[-1] / 2
    low = int(np.searchsorted(cumulative, half, side="left"))
    high = int(np.searchsorted(cumulative, half, side="right"))
    if cumulative[low] == half and high < len(order):
        return float((values[order][low] + values[order][high]) / 2)
    return float(values[order][low])


def _shift_bounds(
    current: PhaseSample,
    cur_values: NDArray[np.float64],
    reference: PhaseSample,
    ref_values: NDArray[np.float64],
    critical: float,
    shifts: NDArray[np.float64],
) -> tuple[float, float]:
    """One-sided bounds on the shift: (the largest at which current - shift is still
    significantly above the reference, the smallest at which it is significantly below);
    -inf / inf where no candidate shift is. z falls as the shift grows: bisection."""

    def z_at(index: int) -> float:
        return rank_comparison(
            cur_values - shifts[index], current.latency_counts, ref_values, reference.latency_counts
        ).z()

    def first_index(reached: Callable[[float], bool]) -> int:
        low, high = 0, len(shifts)
        while low < high:
            middle = (low + high) // 2
            if reached(z_at(middle)):
                high = middle
            else:
                low = middle + 1
        return low

    below_from = first_index(lambda z: z <= -critical)
    not_above_from = first_index(lambda z: z < critical)
    upper = float(shifts[below_from]) if below_from < len(shifts) else math.inf
    lower = float(shifts[not_above_from - 1]) if not_above_from > 0 else -math.inf
    return lower, upper


def check_centre_relative(
    current: PhaseSample,
    reference: PhaseSample,
    comparator: Comparator,
    factor: float,
    offset_ms: float,
    confidence: float,
) -> CheckVerdict:
    """``current_p50 <comparator> factor * reference_p50 + offset_ms`` by the shift of the
    whole distribution's centre (see the module docstring). With no offset the interval
    bounds the ratio (compared with `factor`), else the difference to ``factor *
    reference`` (compared with `offset_ms`)."""
    ratio = offset_ms == 0
    threshold = factor if ratio else offset_ms
    if current.total_latencies == 0:
        return unmeasured("not measured: no requests in the phase", comparator, threshold)
    if reference.total_latencies == 0:
        return unmeasured("not measured: no requests in the reference", comparator, threshold)
    if ratio:
        cur_values = np.log(current.latency_values)
        ref_values = np.log(reference.latency_values)
    else:
        cur_values = current.latency_values.astype(np.float64)
        ref_values = factor * reference.latency_values
    cur_weights = current.merged_counts().astype(np.float64)
    ref_weights = reference.merged_counts().astype(np.float64)
    differences = np.subtract.outer(cur_values, ref_values).ravel()
    weights = np.outer(cur_weights, ref_weights).ravel()
    keep = weights > 0
    estimate = _weighted_median(differences[keep], weights[keep])
    shifts = np.unique(differences[keep])
    seconds = min(
        int((current.latencies_per_second > 0).sum()),
        int((reference.latencies_per_second > 0).sum()),
    )
    critical = float(stats.t.ppf(confidence, max(seconds - 1, 1)))
    lower, upper = _shift_bounds(current, cur_values, reference, ref_values, critical, shifts)
    if ratio:
        effect, low, high = math.exp(estimate), math.exp(lower), math.exp(upper)
    else:
        effect, low, high = estimate, lower, upper
    interval = Interval(min(low, effect), max(high, effect), confidence, METHOD)
    at_zero = rank_comparison(
        cur_values, current.latency_counts, ref_values, reference.latency_counts
    )
    details = {
        "effect": effect,
        "theta": at_zero.theta,
        "theta_standard_error": at_zero.standard_error,
        "reference_observed": reference.percentile(50),
        "factor": factor,
        "offset": offset_ms,
    }
    return CheckVerdict(
        verdict_against(interval, comparator, threshold),
        current.percentile(50),
        interval,
        threshold,
        comparator,
        details=details,
    )
