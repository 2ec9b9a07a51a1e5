"""Acceptance 3 of issue 24, on the sandbox: a phase with too few requests for a p99
objective yields `inconclusive` with its interval, never `passed`, and `gameday plan`
predicted it; the verdict is a function of result.json alone."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaos.verdict.slo import evaluate_check
from tests.e2e.conftest import gameday

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def small_experiment(directory: Path, gate: str = "") -> Path:
    path = directory / "few-requests.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: few-requests\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 5s, fault: 5s, recovery: 6s}\n"
        "max_duration: 5m\n"
        "faults:\n"
        "  - type: lambda-extension\n"
        "    functions: [orders]\n"
        "    latency: {ms: 100, rate: 1.0}\n"
        "load:\n"
        f"  locustfile: {REPO / 'loadtests' / 'orders.py'}\n"
        "  users: 4\n"
        "  spawn_rate: 4\n"
        f"{gate}"
        "slo:\n"
        '  - {sli: latency_p99_ms, phase: recovery, objective: "< 10s"}\n'
    )
    return path


def test_too_few_requests_for_a_p99_is_inconclusive_and_plan_said_so(
    sandbox_home: Path, tmp_path: Path
) -> None:
    experiment = small_experiment(tmp_path)
    plan = gameday(sandbox_home, "plan", "--sandbox", str(experiment))
    plan_out, plan_err = plan.communicate(timeout=120)
    assert plan.returncode == 0, plan_out + plan_err
    predicted = re.search(
        r"latency_p99_ms, recovery: ~(\d+) requests .* needs about (\d+) .*"
        r"too few: it will be inconclusive, which the gate counts as a failure",
        plan_out,
    )
    assert predicted, plan_out
    assert int(predicted[1]) < int(predicted[2])

    reports = tmp_path / "reports"
    process = gameday(
        sandbox_home, "run", "--sandbox", str(experiment), "--yes", "--report-dir", str(reports)
    )
    stdout, stderr = process.communicate(timeout=180)
    result = json.loads((reports / "result.json").read_text())
    [check] = [entry for entry in result["slo"] if entry["sli"] == "latency_p99_ms"]
    recovery = result["phases"]["recovery"]
    assert 0 < recovery["requests"] < 299  # a p99 has no upper bound below that (95 %)
    assert check["observed"] < 10_000  # the point value meets the objective by far ...
    assert check["verdict"] == "inconclusive"  # ... but the evidence cannot show it
    assert check["passed"] is False
    assert check["interval"]["high"] is None and check["interval"]["low"] > 0
    assert process.returncode == 1, stdout + stderr  # inconclusive fails by default
    # the evidence the verdict came from is in result.json: judging it again agrees
    seconds = recovery["evidence"]
    assert sum(int(second[0]) for second in seconds) == recovery["requests"]
    assert evaluate_check("latency_p99_ms", ["recovery"], "< 10s", result) == [check]
    # JUnit: a failure that says inconclusive, never skipped
    junit = ET.parse(reports / "junit.xml").getroot()
    assert junit.find(".//skipped") is None
    failure = next(
        case for case in junit.iter("testcase") if case.get("name", "").startswith("latency_p99_ms")
    ).find("failure")
    assert failure is not None and (failure.get("message") or "").startswith("inconclusive")
