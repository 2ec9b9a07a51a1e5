"""Evidence needed: minimal loads computed by hand."""

from __future__ import annotations

import math

from chaos.verdict.evidence import (
    EvidencePlan,
    plan_percentile,
    plan_rate,
    plan_relative_percentile,
    plan_relative_rate,
)
from tests.unit.verdict_data import sample_of

MANY_SECONDS = 10**9  # so many seconds that Student's t is the normal quantile


def test_a_p99_upper_bound_needs_299_independent_requests() -> None:
    # smallest n with 1 - 0.99**n >= 0.95: 0.99**299 = 0.04954, 0.99**298 = 0.05004
    plan = plan_percentile(120, MANY_SECONDS, 99, 0.95, share_above_threshold=0.0)
    assert plan.requests_needed == 299
    assert not plan.decisive
    assert plan_percentile(300, MANY_SECONDS, 99, 0.95, share_above_threshold=0.0).decisive


def test_a_perfect_service_needs_598_requests_to_show_availability_995() -> None:
    # no failure: the bound 1 - 0.05**(1/n) <= 0.005 from n = ln 0.05 / ln 0.995 = 597.6
    plan = plan_rate(150, MANY_SECONDS, "availability", ">=", 0.995, 0.005, 0.95)
    assert plan.requests_needed == 598


def test_dependence_and_few_seconds_raise_the_need() -> None:
    independent = plan_rate(150, MANY_SECONDS, "availability", ">=", 0.995, 0.005, 0.95)
    clustered = plan_rate(150, 15, "availability", ">=", 0.995, 0.005, 0.95, design_effect=2.0)
    assert independent.requests_needed is not None and clustered.requests_needed is not None
    # twice the requests for deff 2, and more again for t with 14 degrees of freedom
    assert clustered.requests_needed > 2 * independent.requests_needed


def test_a_service_exactly_at_the_threshold_is_never_decided() -> None:
    plan = plan_rate(150, MANY_SECONDS, "availability", ">=", 0.99, 0.0, 0.95)
    assert plan.requests_needed is None
    assert "no load can decide it" in plan.describe("availability, fault")


def test_relative_availability_needs_both_samples() -> None:
    against_previous = plan_relative_rate(
        150, 450, MANY_SECONDS, MANY_SECONDS, "availability", ">=", 1.0, 1.0, -0.005, 0.95
    )
    against_baseline = plan_relative_rate(
        150, 150, MANY_SECONDS, MANY_SECONDS, "availability", ">=", 1.0, 1.0, -0.005, 0.95
    )
    # with no failures anywhere only the current side has width: the same 598 as above
    assert against_previous.requests_needed == against_baseline.requests_needed == 598


def test_relative_p99_on_a_known_distribution() -> None:
    # latencies 1..1000 ms evenly: the p99 is 990, its bounds near it (the maximum, 1000,
    # and about 985 for the reference), a ratio bound of about 1.01: factor 1.5 holds as
    # soon as the current p99 has an upper bound at all, 1 - 0.99**n >= 0.95 from n = 299
    reference = sample_of([[float(v) for v in range(1, 1001)]])
    plan = plan_relative_percentile(
        reference, 120, 360, MANY_SECONDS, MANY_SECONDS, 99, 1.5, 0.0, 0.95
    )
    assert plan.requests_needed == 299
    # an unchanged service can never be shown 10 % below itself
    assert (
        plan_relative_percentile(
            reference, 120, 360, MANY_SECONDS, MANY_SECONDS, 99, 0.9, 0.0, 0.95
        ).requests_needed
        is None
    )


def test_power_asks_that_a_phase_pass_that_often() -> None:
    # power 0.99: the bound at Phi(z_0.95 + z_0.99) = Phi(1.644854 + 2.326348) must clear
    # 0.5 %: with no failure, 1 - (1 - c')**(1/n) <= 0.005 from n = ln(1 - c') / ln(0.995)
    confidence = 0.5 * (1 + math.erf((1.644854 + 2.326348) / math.sqrt(2)))
    expected = math.ceil(math.log(1 - confidence) / math.log(0.995))
    plan = plan_rate(150, MANY_SECONDS, "availability", ">=", 0.995, 0.005, 0.95, power=0.99)
    assert plan.requests_needed is not None
    assert abs(plan.requests_needed - expected) <= 1


def test_the_plan_line() -> None:
    line = EvidencePlan(120, 1505).describe("latency_p99_ms, recovery")
    assert line == (
        "latency_p99_ms, recovery: ~120 requests, needs about 1505 — too few: "
        "the check will be inconclusive"
    )
