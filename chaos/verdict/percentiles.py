"""Percentile checks (p50 ... p99, max): order-statistic intervals from merged histograms.

**Absolute** (``latency_p99_ms < 1500``): the distribution-free order-statistic interval.
For the p-quantile of m independent requests, the u-th smallest latency is an upper bound
at confidence c when ``P(Binomial(m, p) <= u - 1) >= c``, and the l-th a lower bound when
``P(Binomial(m, p) >= l) >= c`` (``scipy.stats.binom``). Requests are not independent
(``chaos.verdict.clustering``), so m is the effective size of the share of requests at
or above the observed percentile, and the ranks found in that effective sample are scaled
back to the phase's requests. Too few requests for a bound leave that side unbounded: a p99
has no upper bound at 95 % below 299 effective requests (then it is the maximum; below the
maximum from 473), a p95 below 59. Such a check can never pass, only be inconclusive (or
fail on the other side).

``max`` is a fact of the run, not an estimate: an absolute objective on it compares the
observed maximum (its interval is that single value).

**Relative to a reference** (the run's baseline, or earlier runs pooled), for the tail
(p90, p95, p99, max) — the comparison looks at the tail itself, never at a median shift,
which is nearly blind to "p99 x 2, p50 unchanged". Each sample's percentile gets its
order-statistic bounds as above, and the two are combined by the method of variance
estimates recovery (MOVER: Zou & Donner 2008, "Construction of confidence limits about
effect measures: a general approach", Statistics in Medicine 27) — for a ratio objective
(``<= 1.5x previous``) on the log scale, for a difference (``<= baseline + 200ms``) on the
latencies: ``low = effect - sqrt((current - current_low)^2 + (reference_high -
reference)^2)`` and symmetrically for ``high``. An upper bound below ``factor`` is the
binomial tail statement "fewer than a share 1 - p of current requests lie above factor
times the reference's p-quantile". For ``max`` the reference's value is its observed
maximum and the level is ``n / (n + 1)`` (where the largest of n requests falls on
average): the test asks whether the current run exceeds ``factor`` times the reference's
maximum more often than an unchanged service would. p50 against a reference is a question
about the centre: see ``chaos.verdict.centre``. The coverage of these intervals on
clustered data is checked by simulation in tests/unit/test_verdict_percentiles.py.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, get_args

from scipy import stats

from chaos.verdict.clustering import EffectiveSize, effective_size, whole_requests
from chaos.verdict.model import CheckVerdict, Comparator, Interval, unmeasured, verdict_against

if TYPE_CHECKING:
    from chaos.verdict.sample import PhaseSample

__all__ = [
    "PERCENT_OF",
    "PercentileKey",
    "TAIL_KEYS",
    "check_percentile",
    "check_percentile_relative",
    "difference_interval",
    "order_statistic_ranks",
    "percentile_bounds",
    "ratio_interval",
]

PercentileKey = Literal["p50", "p90", "p95", "p99", "max"]
PERCENT_OF: dict[PercentileKey, float] = {
    "p50": 50.0,
    "p90": 90.0,
    "p95": 95.0,
    "p99": 99.0,
    "max": 100.0,
}
TAIL_KEYS: tuple[PercentileKey, ...] = tuple(key for key in get_args(PercentileKey) if key != "p50")
METHOD = "order statistics, effective size over per-second clusters"
OBSERVED_MAX = "observed maximum (a fact of the run, not an estimate)"
RELATIVE_METHOD = "tail test: MOVER of both samples' order-statistic bounds"


def order_statistic_ranks(size: int, level: float, confidence: float) -> tuple[int, int | None]:
    """(l, u): 1-based ranks whose values bound the `level`-quantile of `size` independent
    values from below and above, each at `confidence`; l = 0 or u = None where no rank does."""
    if size < 1:
        return 0, None
    # (scipy's frozen distributions rebuild their docstrings each time: call the methods)
    upper = int(stats.binom.ppf(confidence, size, level)) + 1
    below = int(stats.binom.ppf(1 - confidence, size, level))  # smallest k: cdf(k) >= 1 - c
    if stats.binom.cdf(below, size, level) > 1 - confidence + 1e-12:
        below -= 1  # the largest k with cdf(k) <= 1 - c
    lower = below + 1
    return max(lower, 0), (upper if upper <= size else None)


def percentile_bounds(
    sample: PhaseSample, percent: float, confidence: float
) -> tuple[float, Interval, EffectiveSize]:
    """(point, one-sided bounds at `confidence`, effective size) of the `percent` percentile."""
    total = sample.total_latencies
    point = sample.percentile(percent)
    size = effective_size(
        sample.at_or_above_per_second(point), sample.latencies_per_second, confidence
    )
    effective = whole_requests(size.effective_units, total)
    lower_rank, upper_rank = order_statistic_ranks(effective, percent / 100, confidence)
    low = (
        0.0
        if lower_rank < 1
        else sample.value_at_rank(max(1, math.floor(lower_rank * total / effective)))
    )
    high = (
        math.inf
        if upper_rank is None
        else sample.value_at_rank(math.ceil(upper_rank * total / effective))
    )
    return point, Interval(min(low, point), max(high, point), confidence, METHOD), size


def check_percentile(
    sample: PhaseSample,
    key: PercentileKey,
    comparator: Comparator,
    threshold_ms: float,
    confidence: float,
) -> CheckVerdict:
    """An absolute objective such as ``latency_p99_ms < 1500``."""
    if sample.total_latencies == 0:
        return unmeasured("not measured: no requests in the phase", comparator, threshold_ms)
    if key == "max":
        observed = sample.max_ms
        interval = Interval(observed, observed, confidence, OBSERVED_MAX)
        return CheckVerdict(
            verdict_against(interval, comparator, threshold_ms),
            observed,
            interval,
            threshold_ms,
            comparator,
        )
    point, interval, size = percentile_bounds(sample, PERCENT_OF[key], confidence)
    return CheckVerdict(
        verdict_against(interval, comparator, threshold_ms),
        point,
        interval,
        threshold_ms,
        comparator,
        details=size.to_dict(),
    )


def check_percentile_relative(
    current: PhaseSample,
    reference: PhaseSample,
    key: PercentileKey,
    comparator: Comparator,
    factor: float,
    offset_ms: float,
    confidence: float,
) -> CheckVerdict:
    """``current_key <comparator> factor * reference_key + offset_ms`` on the tail.

    With no offset the interval bounds the ratio current / reference (compared with
    `factor`), else the difference ``current - factor * reference`` (compared with
    `offset_ms`).
    """
    threshold = factor if offset_ms == 0 else offset_ms
    if current.total_latencies == 0:
        return unmeasured("not measured: no requests in the phase", comparator, threshold)
    if reference.total_latencies == 0:
        return unmeasured("not measured: no requests in the reference", comparator, threshold)
    if key == "max":
        ref_total = reference.total_latencies
        percent = 100.0 * ref_total / (ref_total + 1)
        ref_point = reference.max_ms
        ref_interval = Interval(ref_point, ref_point, confidence, OBSERVED_MAX)
        point, bounds, size = percentile_bounds(current, percent, confidence)
        ref_details: dict[str, float | int] = {"requests": ref_total}
    else:
        point, bounds, size = percentile_bounds(current, PERCENT_OF[key], confidence)
        ref_point, ref_interval, ref_size = percentile_bounds(
            reference, PERCENT_OF[key], confidence
        )
        ref_details = ref_size.to_dict()
    if offset_ms == 0:
        effect, low, high = ratio_interval(point, bounds, ref_point, ref_interval)
    else:
        effect, low, high = difference_interval(
            point, bounds, factor * ref_point, _scaled(ref_interval, factor)
        )
    interval = Interval(min(low, effect), max(high, effect), confidence, RELATIVE_METHOD)
    details = {
        "effect": effect,
        "current": size.to_dict(),
        "reference": ref_details,
        "reference_observed": ref_point,
        "reference_interval": ref_interval.to_dict(),
        "current_interval": bounds.to_dict(),
        "factor": factor,
        "offset": offset_ms,
    }
    return CheckVerdict(
        verdict_against(interval, comparator, threshold),
        point,
        interval,
        threshold,
        comparator,
        details=details,
    )


def _scaled(interval: Interval, factor: float) -> Interval:
    return Interval(
        interval.low * factor, interval.high * factor, interval.confidence, interval.method
    )


def difference_interval(
    point: float, bounds: Interval, ref_point: float, ref_bounds: Interval
) -> tuple[float, float, float]:
    """MOVER bounds of ``current - reference`` from each one's own bounds."""
    effect = point - ref_point
    low = effect - math.hypot(point - bounds.low, ref_bounds.high - ref_point)
    high = effect + math.hypot(bounds.high - point, ref_point - ref_bounds.low)
    return effect, low, high


def ratio_interval(
    point: float, bounds: Interval, ref_point: float, ref_bounds: Interval
) -> tuple[float, float, float]:
    """MOVER bounds of ``current / reference`` on the log scale (latencies are >= 1 ms; a
    lower bound of 0 means "unbounded", so its log is -inf)."""

    def log(value: float) -> float:
        return math.log(value) if value > 0 else -math.inf

    effect = log(point) - log(ref_point)
    low = effect - math.hypot(log(point) - log(bounds.low), log(ref_bounds.high) - log(ref_point))
    high = effect + math.hypot(log(bounds.high) - log(point), log(ref_point) - log(ref_bounds.low))
    return math.exp(effect), math.exp(low), math.exp(high)
