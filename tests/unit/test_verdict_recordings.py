"""The verdicts on recorded sandbox phases (bench/recordings): at the shipped load a p99
objective is inconclusive with its interval — never passed — and the plan says so first."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from chaos.verdict import GateSettings, PhaseSample, SecondBlock, judge
from chaos.verdict.checks import Absolute, Relative
from chaos.verdict.evidence import plan_percentile

RECORDINGS = Path(__file__).resolve().parents[2] / "bench" / "recordings" / "lambda-faults"


def recorded_phase(name: str, phase: str) -> PhaseSample:
    raw = json.loads((RECORDINGS / name).read_text())
    blocks = []
    for segment, requests, failures, _statuses, latencies in raw["seconds"]:
        if segment != phase:
            continue
        pairs = (item.split(":") for item in latencies.split(",") if item)
        blocks.append(
            SecondBlock(requests, failures, Counter({float(v): int(c) for v, c in pairs}))
        )
    return PhaseSample.from_seconds(blocks)


@pytest.mark.parametrize("name", ["run-01.json", "run-05.json"])
def test_a_recorded_recovery_phase_cannot_pass_a_p99_objective(name: str) -> None:
    recovery = recorded_phase(name, "recovery")
    assert 100 <= recovery.total_requests <= 130  # the shipped load: 10 users, 15 s
    plan = plan_percentile(
        recovery.total_requests, recovery.seconds, 99, 0.95, share_above_threshold=0.0
    )
    assert not plan.decisive  # plan predicts it: fewer than 299 requests
    result = judge("latency_p99_ms", recovery, Absolute("<", 1500.0), 0.95)
    assert result.verdict == "inconclusive"
    assert result.interval is not None and math.isinf(result.interval.high)
    entry = result.to_dict(GateSettings())
    assert entry["passed"] is False and entry["interval"]["high"] is None
    assert entry["observed"] == recovery.percentile(99)


def test_a_recorded_fault_phase_fails_a_breached_p99_objective() -> None:
    # every fault-phase request carries 300 ms of injected latency: p99 < 100 ms is breached,
    # and the lower bound shows it even at the shipped load
    fault = recorded_phase("run-01.json", "fault")
    assert judge("latency_p99_ms", fault, Absolute("<", 100.0), 0.95).verdict == "failed"
    assert judge("latency_p50_ms", fault, Absolute("<", 100.0), 0.95).verdict == "failed"


def test_the_fault_is_seen_against_the_baseline_at_the_shipped_load() -> None:
    baseline = recorded_phase("run-02.json", "baseline")
    fault = recorded_phase("run-02.json", "fault")
    centre = judge("latency_p50_ms", fault, Relative("<=", "baseline", 1.5), 0.95, baseline)
    assert centre.verdict == "failed" and centre.details["effect"] > 10
    availability = judge(
        "availability", fault, Relative(">=", "baseline", 1.0, -0.005), 0.95, baseline
    )
    assert availability.verdict == "failed"  # about 12 % of fault-phase requests failed
