"""Rate intervals: Clopper–Pearson by hand, the design effect by hand, coverage when
failures cluster by second."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chaos.verdict.clustering import EffectiveSize, design_effect, effective_requests
from chaos.verdict.rates import check_rate, check_rate_relative, failure_bounds, rate_bounds
from tests.unit.verdict_data import clustered_failures, sample_of


def binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def independent(requests: int, failures: int) -> EffectiveSize:
    return EffectiveSize(requests, failures, requests, 1.0, float(requests))


def test_no_failure_in_59_requests_bounds_the_failure_share_at_5_percent() -> None:
    # x = 0: the upper bound solves (1 - p)^n = 1 - c, p = 1 - 0.05**(1/59) = 0.04950
    low, high = failure_bounds(independent(59, 0), 0.95)
    assert low == 0.0
    assert high == pytest.approx(1 - 0.05 ** (1 / 59), rel=1e-9)
    assert high == pytest.approx(0.0495, abs=1e-4)


@pytest.mark.parametrize(("n", "x"), [(20, 1), (50, 7), (200, 3), (40, 39)])
def test_clopper_pearson_bounds_solve_the_binomial_tails(n: int, x: int) -> None:
    low, high = failure_bounds(independent(n, x), 0.95)
    # upper: P(B <= x | high) = 0.05; lower: P(B >= x | low) = 0.05
    assert binomial_cdf(x, n, high) == pytest.approx(0.05, abs=1e-9)
    assert 1 - binomial_cdf(x - 1, n, low) == pytest.approx(0.05, abs=1e-9)


def test_design_effect_by_hand() -> None:
    # p = 2/8; residuals 1.5, -0.5, -0.5, -0.5; sum of squares 3; variance 4/3 * 3 / 64
    # = 0.0625; binomial 0.25 * 0.75 / 8 = 0.0234375; ratio 2.6667
    assert design_effect(np.array([2, 0, 0, 0]), np.array([2, 2, 2, 2])) == pytest.approx(
        0.0625 / 0.0234375
    )
    # spread evenly, the variance is below binomial: never below 1
    assert design_effect(np.array([1, 1, 1, 1]), np.array([4, 4, 4, 4])) == 1.0


def test_effective_requests_with_few_seconds() -> None:
    # 100 requests / deff 2 * (z_0.95 / t_0.95,14)^2 = 50 * (1.644854 / 1.761310)^2
    assert effective_requests(100, 15, 2.0, 0.95) == pytest.approx(
        50 * (1.644854 / 1.761310) ** 2, rel=1e-5
    )
    assert effective_requests(100, 1, 1.0, 0.95) == 1.0  # one second: one observation


def test_availability_checks_decide_with_enough_requests() -> None:
    good = sample_of([[10.0] * 100 for _ in range(30)])
    assert check_rate(good, "availability", ">=", 0.99, 0.95).verdict == "passed"
    bad = sample_of([[10.0] * 100 for _ in range(30)], [5] * 30)
    assert check_rate(bad, "availability", ">=", 0.99, 0.95).verdict == "failed"
    assert check_rate(bad, "error_rate", "<=", 0.01, 0.95).verdict == "failed"


def test_150_requests_cannot_pass_availability_at_995() -> None:
    # no failure in 150: the upper bound on failures is above 1 - 0.05**(1/150) = 1.98 %
    sample = sample_of([[10.0] * 10 for _ in range(15)])
    result = check_rate(sample, "availability", ">=", 0.995, 0.95)
    assert result.verdict == "inconclusive" and result.observed == 1.0
    assert result.interval is not None and result.interval.low < 1 - 0.0198


REPLICATES = 500
SLACK = 3 * math.sqrt(0.05 * 0.95 / REPLICATES)


def test_bounds_cover_a_clustered_failure_rate() -> None:
    rng = np.random.default_rng(5)
    truth = 0.05
    low_ok = high_ok = naive_high_ok = 0
    for _ in range(REPLICATES):
        failures = clustered_failures(rng, seconds=30, per_second=20, rate=truth, correlation=0.1)
        sample = sample_of([[10.0] * 20 for _ in range(30)], failures)
        _, bounds, _ = rate_bounds(sample, "error_rate", 0.95)
        low_ok += bounds.low <= truth
        high_ok += bounds.high >= truth
        _, naive_high = failure_bounds(independent(600, sum(failures)), 0.95)
        naive_high_ok += naive_high >= truth
    assert low_ok / REPLICATES >= 0.95 - SLACK
    assert high_ok / REPLICATES >= 0.95 - SLACK
    # treating the 600 requests as independent under-covers (design effect about 2.9)
    assert naive_high_ok / REPLICATES < 0.9


def test_the_difference_interval_covers_on_clustered_data() -> None:
    rng = np.random.default_rng(9)
    current_rate, reference_rate = 0.03, 0.05
    low_ok = high_ok = 0
    for _ in range(REPLICATES):
        current = sample_of(
            [[10.0] * 20 for _ in range(30)], clustered_failures(rng, 30, 20, current_rate, 0.05)
        )
        reference = sample_of(
            [[10.0] * 20 for _ in range(45)], clustered_failures(rng, 45, 20, reference_rate, 0.05)
        )
        result = check_rate_relative(current, reference, "error_rate", "<=", 1.0, 0.0, 0.95)
        assert result.interval is not None
        low_ok += result.interval.low <= current_rate - reference_rate
        high_ok += result.interval.high >= current_rate - reference_rate
    assert low_ok / REPLICATES >= 0.95 - SLACK
    assert high_ok / REPLICATES >= 0.95 - SLACK


def test_availability_against_the_baseline() -> None:
    baseline = sample_of([[10.0] * 100 for _ in range(20)])
    same = sample_of([[10.0] * 100 for _ in range(20)])
    worse = sample_of([[10.0] * 100 for _ in range(20)], [2] * 20)  # 98 %
    assert (
        check_rate_relative(same, baseline, "availability", ">=", 1.0, -0.005, 0.95).verdict
        == "passed"
    )
    result = check_rate_relative(worse, baseline, "availability", ">=", 1.0, -0.005, 0.95)
    assert result.verdict == "failed" and result.details["effect"] == pytest.approx(-0.02)
    empty = sample_of([[], []])
    assert check_rate_relative(same, empty, "availability", ">=", 1.0, -0.005, 0.95).unmeasured
