"""Issue 22, acceptance 1: a function out of concurrency fails the availability SLO.

Reserved concurrency 1, a 300 ms latency fault and 10 users: most fault-phase requests
find the one execution environment busy; Lambda refuses them and API Gateway answers the
client 500 (services-apigateway-errors). They count against availability: the fault phase
is well below 50 % and `availability >= 99%` fails. (The exact 500, and the 429 that stays
API Gateway's own throttling, are checked request by request in
tests/sandbox/test_sandbox_live.py and tests/sandbox/test_http_front.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.aws import AwsClients
from tests.e2e.conftest import gameday

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def throttling_experiment(directory: Path) -> Path:
    path = directory / "throttled.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: throttled\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 3s, fault: 12s, recovery: 3s}\n"
        "max_duration: 5m\n"
        "faults:\n"
        "  - type: lambda-extension\n"
        "    functions: [orders]\n"
        "    latency: {ms: 300, rate: 1.0}\n"
        "load:\n"
        f"  locustfile: {REPO / 'loadtests' / 'orders.py'}\n"
        "  users: 10\n"
        "  spawn_rate: 10\n"
        "slo:\n"
        '  - {sli: availability, phase: fault, objective: ">= 99%"}\n'
    )
    return path


def test_throttles_of_a_function_with_reserved_concurrency_1_fail_availability(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    lambda_ = sandbox_clients.lambda_
    lambda_.put_function_concurrency(FunctionName="orders", ReservedConcurrentExecutions=1)
    reports = tmp_path / "reports"
    try:
        process = gameday(
            sandbox_home,
            "run",
            "--sandbox",
            str(throttling_experiment(tmp_path)),
            "--yes",
            "--report-dir",
            str(reports),
        )
        stdout, stderr = process.communicate(timeout=240)
    finally:
        lambda_.delete_function_concurrency(FunctionName="orders")
    assert process.returncode == 1, stdout + stderr
    result = json.loads((reports / "result.json").read_text())
    fault = result["phases"]["fault"]
    print(
        f"fault phase: {fault['requests']} requests, availability {fault['availability']}, "
        f"status classes {fault['status_classes']}"
    )
    assert fault["requests"] >= 20
    assert fault["availability"] < 0.5
    # the refused requests are API Gateway's 5xx, not a 429 of the function's
    assert fault["status_classes"]["4xx"] == 0
    assert fault["status_classes"]["5xx"] == fault["failures"]
    [check] = [check for check in result["slo"] if check["sli"] == "availability"]
    assert check["passed"] is False
    assert result["outcome"] == "failed"
