"""judge: each statistical SLI of the catalog goes to the right test."""

from __future__ import annotations

import pytest

from chaos.verdict.checks import Absolute, Relative, judge, statistical_slis
from tests.unit.verdict_data import sample_of

CURRENT = sample_of([[10.0] * 50 for _ in range(20)])
REFERENCE = sample_of([[10.0] * 50 for _ in range(20)])


def test_the_statistical_slis() -> None:
    assert set(statistical_slis()) == {
        "availability",
        "error_rate",
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_max_ms",
    }


@pytest.mark.parametrize(
    ("sli", "objective", "method"),
    [
        ("latency_p50_ms", Relative("<=", "baseline", 1.2), "Hodges-Lehmann"),
        ("latency_p99_ms", Relative("<=", "previous", 1.5), "tail test"),
        ("latency_p99_ms", Absolute("<", 1500.0), "order statistics"),
        ("availability", Absolute(">=", 0.99), "Clopper-Pearson"),
        ("error_rate", Relative("<=", "baseline", 1.0, 0.005), "MOVER"),
    ],
)
def test_each_sli_goes_to_its_test(sli: str, objective: Absolute | Relative, method: str) -> None:
    result = judge(sli, CURRENT, objective, 0.95, REFERENCE)
    assert result.interval is not None and result.interval.method.startswith(method)


def test_a_relative_objective_without_its_reference_is_not_measured() -> None:
    result = judge("latency_p99_ms", CURRENT, Relative("<=", "baseline", 1.5), 0.95)
    assert result.verdict == "failed" and result.unmeasured


def test_other_slis_have_no_statistical_check() -> None:
    with pytest.raises(ValueError):
        judge("waf_time_to_block_s", CURRENT, Absolute("<=", 60.0), 0.95)
