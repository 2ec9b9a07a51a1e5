"""The three-way verdict and the gate's rule, against tables written by hand."""

from __future__ import annotations

import math

import pytest

from chaos.verdict.model import (
    CheckVerdict,
    GateSettings,
    Interval,
    gate_passes,
    unmeasured,
    verdict_against,
)


def interval(low: float, high: float) -> Interval:
    return Interval(low, high, 0.95, "test")


@pytest.mark.parametrize(
    ("low", "high", "comparator", "threshold", "expected"),
    [
        (0.991, 0.999, ">=", 0.99, "passed"),
        (0.990, 0.999, ">=", 0.99, "passed"),  # the bound on the threshold meets >=
        (0.990, 0.999, ">", 0.99, "inconclusive"),
        (0.980, 0.995, ">=", 0.99, "inconclusive"),
        (0.970, 0.989, ">=", 0.99, "failed"),
        (100.0, 1400.0, "<", 1500.0, "passed"),
        (100.0, 1500.0, "<", 1500.0, "inconclusive"),
        (100.0, 1500.0, "<=", 1500.0, "passed"),
        (1200.0, math.inf, "<", 1500.0, "inconclusive"),  # too few requests for an upper bound
        (1600.0, math.inf, "<", 1500.0, "failed"),
        (1500.0, 1700.0, "<", 1500.0, "failed"),
        (0.0, 0.0, "==", 0.0, "passed"),
        (0.0, 2.0, "==", 0.0, "inconclusive"),
        (1.0, 2.0, "==", 0.0, "failed"),
        (1.0, 2.0, "!=", 0.0, "passed"),
        (0.0, 0.0, "!=", 0.0, "failed"),
    ],
)
def test_verdict_against_an_interval(
    low: float, high: float, comparator: str, threshold: float, expected: str
) -> None:
    assert verdict_against(interval(low, high), comparator, threshold) == expected  # type: ignore[arg-type]


def check(verdict: str, note: str | None = None) -> CheckVerdict:
    return CheckVerdict(verdict, 1.0, interval(0.0, 2.0), 1.0, "<=", note=note)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("verdict", "rule", "passes"),
    [
        ("passed", "fail", True),
        ("passed", "pass", True),
        ("failed", "fail", False),
        ("failed", "pass", False),
        ("inconclusive", "fail", False),
        ("inconclusive", "pass", True),
    ],
)
def test_the_gate_rule_decides_only_inconclusive(verdict: str, rule: str, passes: bool) -> None:
    assert gate_passes(check(verdict), GateSettings(inconclusive=rule)) is passes  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reason",
    ["not measured: no requests in the phase", "not settled: CloudWatch was still changing"],
)
def test_unmeasured_fails_whatever_the_setting(reason: str) -> None:
    item = unmeasured(reason, ">=", 0.99)
    assert item.verdict == "failed" and item.observed is None
    assert gate_passes(item, GateSettings(inconclusive="pass")) is False
    # even a check marked inconclusive that was not measured fails
    assert (
        gate_passes(check("inconclusive", note=reason), GateSettings(inconclusive="pass")) is False
    )


def test_default_settings_are_95_percent_and_inconclusive_fails() -> None:
    settings = GateSettings()
    assert (settings.confidence, settings.inconclusive) == (0.95, "fail")


@pytest.mark.parametrize(
    "kwargs",
    [{"confidence": 1.0}, {"confidence": 0.5}, {"confidence": 95}, {"inconclusive": "skip"}],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        GateSettings(**kwargs)  # type: ignore[arg-type]


def test_unmeasured_needs_a_known_reason() -> None:
    with pytest.raises(ValueError):
        unmeasured("missing", "<", 1.0)


def test_an_unbounded_side_is_null_in_json() -> None:
    assert interval(12.0, math.inf).to_dict() == {
        "low": 12.0,
        "high": None,
        "confidence": 0.95,
        "method": "test",
    }
    with pytest.raises(ValueError):
        interval(2.0, 1.0)


def test_result_entry_keeps_a_boolean_passed_beside_the_verdict() -> None:
    entry = check("inconclusive").to_dict(GateSettings())
    assert entry["verdict"] == "inconclusive" and entry["passed"] is False
    assert entry["interval"]["low"] == 0.0
