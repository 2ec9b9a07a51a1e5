from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chaos.experiment.model import Experiment, SloCheck
from chaos.metrics.catalog import KNOWN_SLIS, validate_abort_when_sli, validate_sli_names
from chaos.verdict.slo import (
    evaluate_check,
    evaluate_slos,
    format_value,
    slo_outcome,
    slo_passed,
)


def result_with(fault: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    phases: dict[str, Any] = {
        "baseline": {
            "requests": 100,
            "availability": 1.0,
            "error_rate": 0.0,
            "throughput_rps": 10.0,
            "latency_ms": {"p50": 50.0, "p90": 80.0, "p95": 90.0, "p99": 120.0, "max": 300.0},
        },
    }
    if fault is not None:
        phases["fault"] = fault
    return {"phases": phases, **top}


FAULT = {
    "requests": 200,
    "availability": 0.995,
    "error_rate": 0.005,
    "throughput_rps": 20.0,
    "latency_ms": {"p50": 300.0, "p90": 700.0, "p95": 900.0, "p99": 1400.0, "max": 2500.0},
    "server_side": {"lambda_errors": 3.0, "apigw_latency_p99_ms": None},
}


@pytest.mark.parametrize(
    ("objective", "passed"),
    [
        (">= 99%", True),
        (">= 99.5%", True),
        (">= 99.6%", False),
        ("> 99.5%", False),
        ("> 99%", True),
        ("<= 99.5%", True),
        ("< 99.5%", False),
        ("< 100%", True),
        ("== 99.5%", True),
        ("== 99%", False),
        ("!= 99.5%", False),
        ("!= 99%", True),
    ],
)
def test_availability_percent_objectives_compare_fractions(objective: str, passed: bool) -> None:
    [entry] = evaluate_check("availability", ["fault"], objective, result_with(FAULT))
    assert entry == {
        "sli": "availability",
        "phase": "fault",
        "objective": objective,
        "observed": 0.995,
        "passed": passed,
        "verdict": "passed" if passed else "failed",
        "interval": None,
    }


@pytest.mark.parametrize(
    ("sli", "objective", "passed"),
    [
        ("latency_p99_ms", "< 1500", True),
        ("latency_p99_ms", "< 1400", False),
        ("latency_p99_ms", "<= 1400ms", True),
        ("latency_p50_ms", "== 300", True),
        ("latency_p90_ms", "> 700", False),
        ("latency_p95_ms", ">= 900 ms", True),
        ("latency_max_ms", "!= 2500", False),
        ("throughput_rps", ">= 20", True),
        ("requests", "> 199", True),
        ("error_rate", "< 1%", True),
        ("error_rate", "<= 0.4%", False),
        ("lambda_errors", "== 3", True),
        ("lambda_errors", "< 3", False),
    ],
)
def test_each_phase_and_server_sli_and_unit(sli: str, objective: str, passed: bool) -> None:
    [entry] = evaluate_check(sli, ["fault"], objective, result_with(FAULT))
    assert entry["passed"] is passed
    assert entry["observed"] is not None


def test_one_entry_per_phase() -> None:
    entries = evaluate_check("latency_p99_ms", ["baseline", "fault"], "< 1000", result_with(FAULT))
    assert [(e["phase"], e["observed"], e["passed"]) for e in entries] == [
        ("baseline", 120.0, True),
        ("fault", 1400.0, False),
    ]


@pytest.mark.parametrize(
    ("result", "note"),
    [
        (result_with(None), "no SLIs for phase fault"),
        (result_with({**FAULT, "requests": 0}), "no requests in phase fault"),
    ],
)
def test_unmeasured_phase_fails_with_a_note(result: dict[str, Any], note: str) -> None:
    [entry] = evaluate_check("availability", ["fault"], ">= 0%", result)
    assert entry["observed"] is None and entry["passed"] is False
    assert note in entry["note"]


def test_zero_requests_is_observed_for_the_request_count() -> None:
    result = result_with({**FAULT, "requests": 0, "throughput_rps": 0.0})
    assert evaluate_check("requests", ["fault"], "== 0", result)[0]["passed"] is True
    assert evaluate_check("throughput_rps", ["fault"], "> 1", result)[0]["observed"] == 0.0


def test_absent_cloudwatch_metric_is_not_zero() -> None:
    [entry] = evaluate_check("apigw_latency_p99_ms", ["fault"], ">= 0", result_with(FAULT))
    assert entry["observed"] is None and entry["passed"] is False
    assert "not measured" in entry["note"]


def test_waf_slis_read_the_waf_section_and_have_no_phase() -> None:
    waf = {
        "time_to_block_s": 42.0,
        "legit_blocked": 0,
        "leaked_over_limit": 7,
        "time_to_unblock_s": None,
    }
    result = result_with(FAULT, waf=waf)
    assert evaluate_check("waf_time_to_block_s", [], "<= 60", result)[0]["passed"] is True
    assert evaluate_check("waf_time_to_block_s", [], "<= 30", result)[0]["passed"] is False
    assert evaluate_check("waf_legit_blocked", [], "== 0", result)[0]["passed"] is True
    unblock = evaluate_check("waf_time_to_unblock_s", [], "<= 60", result)[0]
    assert unblock["phase"] is None and unblock["passed"] is False
    no_waf = evaluate_check("waf_legit_blocked", [], "== 0", result_with(FAULT))[0]
    assert no_waf["passed"] is False and "no WAF load" in no_waf["note"]


def test_run_wide_phase_sli_reads_overall() -> None:
    result = result_with(FAULT, overall={**FAULT, "availability": 0.97})
    [entry] = evaluate_check("availability", [], ">= 98%", result)
    assert entry["phase"] is None and entry["observed"] == 0.97 and entry["passed"] is False


def test_recovery_time_from_result_or_timeline() -> None:
    assert (
        evaluate_check("recovery_time_s", [], "<= 10", {"recovery_time_s": 6.0})[0]["passed"]
        is True
    )
    never = evaluate_check("recovery_time_s", [], "<= 10", {"recovery_time_s": None})[0]
    assert never["passed"] is False and "did not recover" in never["note"]
    start = 1_700_000_100
    timeline = [
        {"second": start + i, "requests": 10, "failures": 5 if i < 3 else 0} for i in range(20)
    ]
    result = {
        "phases": {
            "recovery": {"started_at": "2023-11-14T22:15:00.000Z"},
            "baseline": {"availability": 1.0, "requests": 10},
        },
        "timeline": timeline,
    }
    [entry] = evaluate_check("recovery_time_s", [], "<= 3", result)
    assert entry["phase"] == "recovery" and entry["observed"] == 3.0 and entry["passed"]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "99%",
        ">=",
        "=> 99",
        ">= abc",
        ">= 101%",
        ">= -1%",
        ">= 99 %%",
        "< 1500 km",
        "< 1500 ms ms",
        ">== 1",
        "> 1e3",
        "≥ 99%",
        ">= 99% or so",
    ],
)
def test_bad_objectives_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid objective"):
        evaluate_check("availability", ["fault"], bad, result_with(FAULT))
    with pytest.raises(ValidationError, match="invalid objective"):
        SloCheck(sli="availability", phase="fault", objective=bad)


def test_verdict() -> None:
    entries = evaluate_slos(
        [
            SloCheck(sli="availability", phase="fault", objective=">= 99%"),
            SloCheck(sli="latency_p99_ms", phase="fault", objective="< 1000"),
        ],
        result_with(FAULT),
    )
    assert [e["passed"] for e in entries] == [True, False]
    assert slo_passed(entries) is False and slo_outcome(entries) == "failed"
    assert slo_outcome(entries[:1]) == "passed" and slo_passed([]) is True


def experiment(slo: list[dict[str, Any]], abort_sli: str = "error_rate") -> Experiment:
    return Experiment.model_validate(
        {
            "version": 1,
            "kind": "experiment",
            "name": "x",
            "target": {"region": "us-east-1", "endpoint": "sandbox"},
            "phases": {"baseline": "5s", "fault": "5s", "recovery": "5s"},
            "faults": [],
            "slo": slo,
            "stop_conditions": {
                "abort_when": {"sli": abort_sli, "objective": "> 50%", "for": "5s"}
            },
        }
    )


def test_validate_sli_names_points_at_the_bad_entries() -> None:
    problems = validate_sli_names(
        experiment(
            [
                {"sli": "availability", "phase": "fault", "objective": ">= 99%"},
                {"sli": "latency_p99", "phase": "fault", "objective": "< 1"},
                {"sli": "waf_time_to_block_s", "phase": "fault", "objective": "< 1"},
                {"sli": "recovery_time_s", "phase": "recovery", "objective": "< 1"},
                {"sli": "recovery_time_s", "phase": "fault", "objective": "< 1"},
            ]
        )
    )
    assert [index for index, _ in problems] == [1, 2, 4]
    assert "unknown SLI 'latency_p99'" in problems[0][1]
    assert "did you mean 'latency_p99_ms'" in problems[0][1]
    assert "remove phase" in problems[1][1]
    assert all(sli in KNOWN_SLIS for sli in ("waf_cloudwatch_blocked_requests", "injected_faults"))


def test_validate_abort_when_sli() -> None:
    assert validate_abort_when_sli(experiment([])) is None
    message = validate_abort_when_sli(experiment([], abort_sli="waf_legit_blocked"))
    assert message is not None and "cannot watch 'waf_legit_blocked' live" in message


@pytest.mark.parametrize(
    ("sli", "value", "shown"),
    [
        ("availability", 0.995, "99.5%"),
        ("availability", 1.0, "100%"),
        ("error_rate", 0.0, "0%"),
        ("latency_p99_ms", 1400.0, "1400"),
        ("latency_p99_ms", 12.3456, "12.346"),
        ("requests", None, "not measured"),
    ],
)
def test_format_value(sli: str, value: float | None, shown: str) -> None:
    assert format_value(sli, value) == shown
