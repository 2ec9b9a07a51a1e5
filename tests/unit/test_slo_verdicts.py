"""SLO checks judged from result.json's per-second evidence: interval and three-way verdict."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chaos.experiment.model import SloCheck
from chaos.verdict.sample import PhaseSample, sample_from_record
from chaos.verdict.slo import evaluate_check, evaluate_slos, slo_outcome

Record = list[list[int | str]]


def seconds(count: int, per_second: int, latency_ms: int, failures: int = 0) -> Record:
    """`count` seconds of `per_second` requests at one latency (a latency tail as needed)."""
    return [[per_second, failures, f"{latency_ms}:{per_second}"] for _ in range(count)]


def with_tail(record: Record, every: int, slow_ms: int) -> Record:
    """One request of every `every`-th second at `slow_ms` instead."""
    out: Record = []
    for index, (requests, failures, counts) in enumerate(record):
        if index % every == 0:
            value, count = str(counts).split(":")
            counts = f"{value}:{int(count) - 1},{slow_ms}:1"
        out.append([requests, failures, counts])
    return out


def phase_of(record: Record) -> dict[str, Any]:
    sample = sample_from_record(record)
    requests, failures = sample.total_requests, sample.total_failures
    latency = {
        key: sample.percentile(p)
        for key, p in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("max", 100))
    }
    return {
        "requests": requests,
        "availability": 1 - failures / requests,
        "error_rate": failures / requests,
        "latency_ms": latency,
        "evidence": record,
    }


def result_of(gate: dict[str, Any] | None = None, **phases: Record) -> dict[str, Any]:
    result: dict[str, Any] = {"phases": {name: phase_of(rec) for name, rec in phases.items()}}
    if gate is not None:
        result["gate"] = gate
    return result


def check(sli: str, phase: str, objective: str, result: dict[str, Any]) -> dict[str, Any]:
    [entry] = evaluate_check(sli, [phase], objective, result)
    return entry


# --------------------------------------------------------------------------- acceptance 3

FEW = seconds(15, 8, 100)  # 120 requests: no upper bound on a p99 exists (needs ~299)


def test_too_few_requests_for_a_p99_is_inconclusive_with_its_interval_never_passed() -> None:
    entry = check("latency_p99_ms", "recovery", "< 1500", result_of(recovery=FEW))
    assert entry["observed"] == 100.0  # the point value is far below the threshold ...
    assert entry["verdict"] == "inconclusive"  # ... but 120 requests cannot bound a p99
    assert entry["passed"] is False
    assert entry["interval"]["low"] == 100.0 and entry["interval"]["high"] is None
    assert entry["interval"]["confidence"] == 0.95


def test_inconclusive_follows_the_gate_setting() -> None:
    result = result_of(gate={"confidence": 0.95, "inconclusive": "pass"}, recovery=FEW)
    entry = check("latency_p99_ms", "recovery", "< 1500", result)
    assert (entry["verdict"], entry["passed"]) == ("inconclusive", True)


def test_enough_requests_decide_both_ways() -> None:
    many = with_tail(seconds(30, 300, 100), every=10, slow_ms=2000)
    result = result_of(fault=many)
    passed = check("latency_p99_ms", "fault", "< 1500", result)
    failed = check("latency_p50_ms", "fault", "< 50", result)
    assert (passed["verdict"], passed["passed"]) == ("passed", True)
    assert passed["interval"]["high"] is not None and passed["interval"]["high"] < 1500
    assert (failed["verdict"], failed["passed"]) == ("failed", False)
    assert failed["interval"]["low"] >= 50


def test_availability_interval_and_verdict() -> None:
    result = result_of(fault=seconds(30, 100, 50, failures=5))  # 95 % available
    entry = check("availability", "fault", ">= 99%", result)
    assert entry["verdict"] == "failed" and entry["passed"] is False
    assert entry["interval"]["high"] < 0.99 < 1
    few = check("availability", "fault", ">= 99%", result_of(fault=FEW))
    assert few["verdict"] == "inconclusive" and few["interval"]["low"] < 0.99


# --------------------------------------------------------------------------- relative


def test_relative_to_baseline_detects_a_tail_regression() -> None:
    baseline = seconds(30, 300, 50)
    doubled: Record = [[300, 0, "50:291,400:9"] for _ in range(30)]  # 3 % at 400 ms
    result = result_of(baseline=baseline, fault=doubled, recovery=baseline)
    worse = check("latency_p99_ms", "fault", "<= 1.5x baseline", result)
    same = check("latency_p99_ms", "recovery", "<= 1.5x baseline", result)
    assert worse["verdict"] == "failed" and worse["effect"] == "ratio"
    assert worse["interval"]["low"] > 1.5
    assert same["verdict"] == "passed" and same["interval"]["high"] <= 1.5
    offset = check("latency_p95_ms", "recovery", "<= baseline + 20ms", result)
    assert offset["verdict"] == "passed" and offset["effect"] == "difference"
    assert offset["threshold"] == 20.0


def test_relative_without_a_baseline_is_not_measured() -> None:
    entry = check("latency_p99_ms", "fault", "<= 1.5x baseline", result_of(fault=FEW))
    assert entry["verdict"] == "failed" and entry["passed"] is False
    assert entry["note"].startswith("not measured")


def test_unmeasured_fails_whatever_the_gate_setting() -> None:
    result = result_of(gate={"inconclusive": "pass"}, baseline=FEW)
    entry = check("latency_p99_ms", "fault", "< 1500", result)
    assert (entry["verdict"], entry["passed"]) == ("failed", False)
    assert entry["note"].startswith("not measured")


def test_previous_reads_the_reference_it_is_given_and_keeps_it() -> None:
    current = seconds(30, 300, 100)
    earlier = sample_from_record(seconds(90, 300, 100))
    result = result_of(fault=current)
    asked: list[str] = []

    def previous_for(phase: str) -> tuple[PhaseSample | None, list[str], str | None]:
        asked.append(phase)
        return earlier, ["run-1", "run-2", "run-3"], None

    checks = [SloCheck(sli="latency_p99_ms", phase="fault", objective="<= 1.2x previous")]
    [entry] = evaluate_slos(checks, result, previous_for)
    assert asked == ["fault"]
    assert entry["verdict"] == "passed" and entry["details"]["previous_runs"] == [
        "run-1",
        "run-2",
        "run-3",
    ]
    # judged again from result.json alone (refresh, re-render): the same verdict
    again = json.loads(json.dumps(result))
    assert evaluate_check("latency_p99_ms", ["fault"], "<= 1.2x previous", again) == [entry]


def test_previous_without_enough_runs_is_inconclusive() -> None:
    result = result_of(fault=seconds(30, 300, 100))
    checks = [SloCheck(sli="latency_p99_ms", phase="fault", objective="<= 1.2x previous")]
    [entry] = evaluate_slos(checks, result, lambda phase: (None, ["run-1"], "inconclusive: 1"))
    assert (entry["verdict"], entry["passed"], entry["note"]) == (
        "inconclusive",
        False,
        "inconclusive: 1",
    )
    [no_history] = evaluate_slos(checks, result_of(fault=seconds(30, 300, 100)))
    assert no_history["verdict"] == "inconclusive" and no_history["passed"] is False


# --------------------------------------------------------------------------- compatibility


def test_absolute_objectives_without_evidence_keep_working() -> None:
    result = result_of(fault=FEW)
    del result["phases"]["fault"]["evidence"]  # a result.json written before evidence
    entry = check("latency_p99_ms", "fault", "< 1500", result)
    assert (entry["verdict"], entry["passed"], entry["interval"]) == ("passed", True, None)


def test_every_existing_key_is_kept_and_the_outcome_follows_passed() -> None:
    result = result_of(fault=FEW)
    entry = check("latency_p99_ms", "fault", "< 1500", result)
    assert list(entry)[:5] == ["sli", "phase", "objective", "observed", "passed"]
    assert slo_outcome([entry]) == "failed"
    json.dumps(entry, allow_nan=False)  # strict JSON (no infinity)


def test_judging_the_same_result_twice_gives_the_same_entries() -> None:
    result = result_of(baseline=seconds(20, 50, 30), fault=with_tail(seconds(20, 50, 90), 3, 900))
    first = check("latency_p95_ms", "fault", "<= 2x baseline", result)
    assert check("latency_p95_ms", "fault", "<= 2x baseline", copy.deepcopy(result)) == first


# --------------------------------------------------------------------------- recovery


@pytest.mark.parametrize(("slow_seconds", "expected"), [(0, 0.0), (4, 4.0)])
def test_recovery_time_relative_to_baseline(slow_seconds: int, expected: float) -> None:
    baseline = seconds(20, 20, 30)
    recovery = seconds(slow_seconds, 20, 900, failures=10) + seconds(16, 20, 30)
    result = result_of(baseline=baseline, recovery=recovery)
    [entry] = evaluate_check("recovery_time_s", [], "<= 3s", result, relative_to="baseline")
    assert entry["observed"] == expected
    assert entry["passed"] is (expected <= 3) and entry["relative_to"] == "baseline"
    assert entry["verdict"] == ("passed" if expected <= 3 else "failed")


def test_recovery_never_back_in_band_is_not_measured() -> None:
    result = result_of(baseline=seconds(20, 20, 30), recovery=seconds(20, 20, 900, failures=10))
    [entry] = evaluate_check("recovery_time_s", [], "<= 60s", result, relative_to="baseline")
    assert entry["passed"] is False and entry["note"].startswith("not measured")
