"""The clustered rank test and the Hodges–Lehmann shift, against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from chaos.verdict.centre import check_centre_relative, rank_comparison
from tests.unit.verdict_data import clustered_latencies, sample_of


def flat(per_second: list[list[float]]) -> np.ndarray:
    return np.array([value for second in per_second for value in second])


@pytest.mark.parametrize("seed", range(4))
def test_theta_is_mann_whitney_u_over_the_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    current = [list(rng.integers(5, 40, size=rng.integers(1, 8)).astype(float)) for _ in range(25)]
    reference = [
        list(rng.integers(8, 45, size=rng.integers(1, 8)).astype(float)) for _ in range(20)
    ]
    a, b = sample_of(current), sample_of(reference)
    theta = rank_comparison(
        a.latency_values, a.latency_counts, b.latency_values, b.latency_counts
    ).theta
    u = mannwhitneyu(flat(current), flat(reference)).statistic
    assert theta == pytest.approx(u / (len(flat(current)) * len(flat(reference))))


@pytest.mark.parametrize("seed", range(4))
def test_the_effect_is_the_median_of_pairwise_differences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    current = [list(rng.integers(10, 60, size=5).astype(float)) for _ in range(12)]
    reference = [list(rng.integers(10, 50, size=5).astype(float)) for _ in range(12)]
    a, b = flat(current), flat(reference)
    difference = check_centre_relative(
        sample_of(current), sample_of(reference), "<=", 1.0, 10.0, 0.95
    )
    assert difference.details["effect"] == pytest.approx(float(np.median(np.subtract.outer(a, b))))
    ratio = check_centre_relative(sample_of(current), sample_of(reference), "<=", 1.2, 0.0, 0.95)
    assert ratio.details["effect"] == pytest.approx(
        math.exp(float(np.median(np.subtract.outer(np.log(a), np.log(b)))))
    )


def test_without_clustering_the_variance_is_the_textbook_one() -> None:
    """One request per second, same distribution: theta's variance under no difference is
    (n1 + n2 + 1) / (12 n1 n2) (Mann & Whitney); the clustered estimate agrees on average."""
    rng = np.random.default_rng(2)
    n1 = n2 = 200
    ratios = []
    for _ in range(40):
        a = sample_of([[float(v)] for v in rng.permutation(100_000)[:n1] + 1])
        b = sample_of([[float(v)] for v in rng.permutation(100_000)[:n2] + 1])
        se = rank_comparison(
            a.latency_values, a.latency_counts, b.latency_values, b.latency_counts
        ).standard_error
        ratios.append(se**2 / ((n1 + n2 + 1) / (12 * n1 * n2)))
    assert 0.85 <= float(np.mean(ratios)) <= 1.15


def test_shift_bounds_cover_a_known_shift_on_clustered_data() -> None:
    rng = np.random.default_rng(4)
    shift = 5.0
    replicates = 300
    low_ok = high_ok = 0
    for _ in range(replicates):
        reference = clustered_latencies(rng, 20, 15)
        current = [
            [value + shift for value in second] for second in clustered_latencies(rng, 20, 15)
        ]
        result = check_centre_relative(
            sample_of(current), sample_of(reference), "<=", 1.0, shift, 0.95
        )
        assert result.interval is not None
        low_ok += result.interval.low <= shift
        high_ok += result.interval.high >= shift
    slack = 3 * math.sqrt(0.05 * 0.95 / replicates)
    assert low_ok / replicates >= 0.95 - slack
    assert high_ok / replicates >= 0.95 - slack


def test_a_slower_centre_fails_and_the_same_one_passes() -> None:
    rng = np.random.default_rng(8)
    reference = sample_of(clustered_latencies(rng, 30, 40, between=0.1))
    same = sample_of(clustered_latencies(rng, 30, 40, between=0.1))
    doubled = sample_of(
        [[2 * v for v in second] for second in clustered_latencies(rng, 30, 40, between=0.1)]
    )
    assert check_centre_relative(same, reference, "<=", 1.2, 0.0, 0.95).verdict == "passed"
    result = check_centre_relative(doubled, reference, "<=", 1.2, 0.0, 0.95)
    assert result.verdict == "failed"
    assert result.details["effect"] == pytest.approx(2.0, rel=0.15)
