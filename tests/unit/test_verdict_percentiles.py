"""Percentile intervals: exact order statistics by hand, coverage on clustered data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chaos.verdict.percentiles import (
    check_percentile,
    check_percentile_relative,
    order_statistic_ranks,
    percentile_bounds,
)
from tests.unit.verdict_data import clustered_latencies, sample_of, true_quantile


def binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def hand_ranks(n: int, p: float, c: float) -> tuple[int, int | None]:
    """Upper: the smallest u with P(B <= u-1) >= c. Lower: l = 1 + the largest k with
    P(B <= k) <= 1 - c (0 when there is none)."""
    upper = next((u for u in range(1, n + 1) if binomial_cdf(u - 1, n, p) >= c), None)
    below = [k for k in range(n + 1) if binomial_cdf(k, n, p) <= 1 - c]
    return (max(below) + 1 if below else 0), upper


def test_median_of_ten_by_hand() -> None:
    # Binomial(10, 1/2): P(B <= 1) = 11/1024 = 0.011, P(B <= 2) = 56/1024 = 0.055,
    # P(B <= 7) = 968/1024 = 0.945, P(B <= 8) = 1013/1024 = 0.989: ranks 2 and 9.
    assert order_statistic_ranks(10, 0.5, 0.95) == (2, 9)


def test_a_p99_needs_299_requests_for_any_upper_bound() -> None:
    # 1 - 0.99**299 = 0.95046 >= 0.95 (the maximum bounds it); 1 - 0.99**298 = 0.94996
    assert order_statistic_ranks(299, 0.99, 0.95)[1] == 299
    assert order_statistic_ranks(298, 0.99, 0.95)[1] is None


@pytest.mark.parametrize("level", [0.5, 0.9, 0.95])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_ranks_match_binomial_sums(level: float, confidence: float) -> None:
    for n in range(1, 70):
        assert order_statistic_ranks(n, level, confidence) == hand_ranks(n, level, confidence), n


def one_request_per_second(values: list[float]) -> list[list[float]]:
    return [[value] for value in values]


def test_too_few_requests_for_a_p99_is_inconclusive_never_passed() -> None:
    sample = sample_of([[10.0] * 8 for _ in range(15)])  # 120 requests, all fast
    result = check_percentile(sample, "p99", "<", 1500.0, 0.95)
    assert result.verdict == "inconclusive"
    assert result.observed == 10.0 and math.isinf(result.interval.high)  # type: ignore[union-attr]
    assert (
        result.to_dict(__import__("chaos.verdict", fromlist=["GateSettings"]).GateSettings())[
            "interval"
        ]["high"]
        is None
    )


def test_enough_requests_decide_a_p99_both_ways() -> None:
    fast = sample_of([[10.0] * 100 for _ in range(30)])
    assert check_percentile(fast, "p99", "<", 1500.0, 0.95).verdict == "passed"
    slow = sample_of([[10.0] * 95 + [2000.0] * 5 for _ in range(30)])  # 5 % at 2 s
    assert check_percentile(slow, "p99", "<", 1500.0, 0.95).verdict == "failed"


def test_max_is_the_observed_fact() -> None:
    sample = sample_of([[10.0, 12.0], [900.0]])
    result = check_percentile(sample, "max", "<", 1000.0, 0.95)
    assert (result.verdict, result.observed) == ("passed", 900.0)
    assert check_percentile(sample, "max", "<", 900.0, 0.95).verdict == "failed"


def test_no_requests_is_not_measured() -> None:
    result = check_percentile(sample_of([[], []]), "p99", "<", 10.0, 0.95)
    assert result.verdict == "failed" and result.unmeasured


REPLICATES = 400
# Monte Carlo slack: three standard errors of a 95 % coverage over REPLICATES runs.
SLACK = 3 * math.sqrt(0.05 * 0.95 / REPLICATES)


@pytest.mark.parametrize("percent", [50.0, 90.0])
def test_bounds_cover_the_true_percentile_on_clustered_data(percent: float) -> None:
    truth = true_quantile(percent)
    rng = np.random.default_rng(int(percent))
    low_ok = high_ok = naive_high_ok = 0
    for _ in range(REPLICATES):
        per_second = clustered_latencies(rng, seconds=30, per_second=20)
        sample = sample_of(per_second)
        _, bounds, _ = percentile_bounds(sample, percent, 0.95)
        low_ok += bounds.low <= truth
        high_ok += bounds.high >= truth
        # the same interval treating the 600 requests as independent
        _, upper = order_statistic_ranks(sample.total_latencies, percent / 100, 0.95)
        naive_high_ok += upper is None or sample.value_at_rank(upper) >= truth
    assert low_ok / REPLICATES >= 0.95 - SLACK
    assert high_ok / REPLICATES >= 0.95 - SLACK
    # and the dependence matters: ignoring it under-covers in this model
    assert naive_high_ok / REPLICATES < 0.88


def stretched(values: list[list[float]], above: float, scale: float) -> list[list[float]]:
    return [[above + (v - above) * scale if v > above else v for v in second] for second in values]


def test_the_tail_test_sees_p99_doubled_where_the_median_is_unchanged() -> None:
    rng = np.random.default_rng(3)
    reference = sample_of(clustered_latencies(rng, 60, 60, between=0.1))
    current_values = clustered_latencies(rng, 60, 60, between=0.1)
    p90, p99 = reference.percentile(90), reference.percentile(99)
    regressed = sample_of(stretched(current_values, p90, (2 * p99 - p90) / (p99 - p90)))
    unchanged = sample_of(current_values)
    assert regressed.percentile(50) == unchanged.percentile(50)
    assert (
        check_percentile_relative(regressed, reference, "p99", "<=", 1.5, 0.0, 0.95).verdict
        == "failed"
    )
    assert (
        check_percentile_relative(unchanged, reference, "p99", "<=", 1.5, 0.0, 0.95).verdict
        == "passed"
    )


def test_the_relative_interval_is_in_the_objectives_terms() -> None:
    reference = sample_of([[10.0] * 98 + [100.0] * 2 for _ in range(40)])
    current = sample_of([[10.0] * 98 + [120.0] * 2 for _ in range(40)])
    ratio = check_percentile_relative(current, reference, "p99", "<=", 1.5, 0.0, 0.95)
    assert ratio.threshold == 1.5 and ratio.details["effect"] == pytest.approx(1.2)
    difference = check_percentile_relative(current, reference, "p99", "<=", 1.0, 50.0, 0.95)
    assert difference.threshold == 50.0 and difference.details["effect"] == pytest.approx(20.0)
    assert difference.verdict == "passed"


@pytest.mark.parametrize(
    ("key", "seconds", "per_second", "factor", "offset"),
    [
        ("p90", 30, 40, 1.0, 0.0),
        ("p99", 60, 60, 1.0, 0.0),
        ("p95", 30, 40, 1.0, 0.0001),  # the difference form at its boundary
    ],
)
def test_an_unchanged_service_rarely_gets_a_wrong_verdict_at_the_boundary(
    key: str, seconds: int, per_second: int, factor: float, offset: float
) -> None:
    """Same distribution, objective "p <= 1.0x reference" (the true ratio is exactly 1):
    each of passed and failed is an error here and must stay near 1 - confidence."""
    rng = np.random.default_rng(11)
    replicates = 200
    failed = passed = 0
    for _ in range(replicates):
        reference = sample_of(clustered_latencies(rng, seconds, per_second))
        current = sample_of(clustered_latencies(rng, seconds, per_second))
        verdict = check_percentile_relative(
            current,
            reference,
            key,
            "<=",
            factor,  # type: ignore[arg-type]
            offset,
            0.95,
        ).verdict
        failed += verdict == "failed"
        passed += verdict == "passed"
    slack = 3 * math.sqrt(0.05 * 0.95 / replicates)
    assert failed / replicates <= 0.05 + slack
    assert passed / replicates <= 0.05 + slack
