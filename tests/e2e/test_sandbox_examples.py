"""The shipped sandbox examples, run as pytest items by our own plugin (acceptance of the
plugin and of the examples): each passes its SLOs on a fresh sandbox; a deliberately
impossible SLO fails exactly its item, with the SLO table; junit.xml holds them all."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chaos.pytest_plugin import document_kind
from chaos.sandbox.process import control

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "experiments" / "sandbox"


def impossible_slo_copy(directory: Path) -> Path:
    source = (EXAMPLES / "lambda-faults.yaml").read_text()
    text = (
        source.replace("name: sandbox-lambda-faults", "name: impossible-latency")
        .replace(
            "phases: {baseline: 30s, fault: 30s, recovery: 30s}",
            "phases: {baseline: 5s, fault: 8s, recovery: 5s}",
        )
        .replace("../../loadtests/orders.py", str(REPO / "loadtests" / "orders.py"))
    )
    text += '  - {sli: latency_p99_ms, phase: fault, objective: "< 1"}\n'
    directory.mkdir()
    path = directory / "impossible-latency.yaml"
    path.write_text(text)
    return path


@pytest.mark.alone  # the demo's p99 SLO includes cold starts: on 2 shared cores, CPU-bound
@pytest.mark.timeout(900)  # five examples of about a minute each, one after the other
def test_examples_pass_and_a_breached_slo_fails_its_item(
    pytester: pytest.Pytester, sandbox_home: Path
) -> None:
    impossible = impossible_slo_copy(pytester.path / "deliberate")
    junit = pytester.path / "junit.xml"
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess(
        "--gameday",
        "--gameday-sandbox",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        f"--gameday-report-dir={reports}",
        "-n",
        "0",  # the repository's addopts would spread the examples over xdist workers
        "-o",
        "console_output_style=classic",
        str(EXAMPLES),
        str(impossible.parent),
        timeout=900,
    )
    # Game-day plans (weekly-gameday.yaml) are not items: their experiments are.
    examples = sorted(
        path.stem for path in EXAMPLES.glob("*.yaml") if document_kind(path) == "experiment"
    )
    result.assert_outcomes(passed=len(examples), failed=1)
    output = result.stdout.str()
    assert "impossible-latency.yaml: failed" in output
    assert re.search(r"latency_p99_ms +fault +\d+ +< 1 +BREACHED", output), output
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {*examples, "impossible-latency"}
    failed = [name for name, case in cases.items() if case.find("failure") is not None]
    assert failed == ["impossible-latency"]
    check_waf_rate(json.loads((reports / "waf-rate" / "result.json").read_text()))
    check_distributed(
        json.loads((reports / "lambda-faults" / "result.json").read_text()), sandbox_home
    )


def check_waf_rate(result: dict[str, Any]) -> None:
    """Blocking follows the sandbox's periodic check (every 10 s); CloudWatch agrees."""
    waf = result["waf"]
    assert waf["rule"] == "orders-rate-limit" and waf["limit"] == 100
    assert waf["legit_blocked"] == 0
    # Blocked at the first or second check after crossing the limit (+1 s of rounding).
    assert waf["time_to_block_s"] is not None and 0 <= waf["time_to_block_s"] <= 2 * 10 + 1
    client, cloudwatch = waf["client_blocked_requests"], waf["cloudwatch_blocked_requests"]
    assert client > 0 and cloudwatch is not None
    assert abs(cloudwatch - client) <= 0.05 * client, (client, cloudwatch)


def check_distributed(result: dict[str, Any], home: Path) -> None:
    """workers: 2 — both workers ran, and the result holds their merged traffic, which is
    what the sandbox's API Gateway counted over the run."""
    run_dir = home / "runs" / result["run_id"]
    for worker in ("worker-0", "worker-1"):
        assert (run_dir / f"locust-{worker}.log").is_file()
    state = control.read_state()
    assert state is not None
    cloudwatch = state.clients().client("cloudwatch")
    start = datetime.fromisoformat(
        result["phases"]["baseline"]["started_at"].replace("Z", "+00:00")
    )
    end = datetime.fromisoformat(result["phases"]["recovery"]["ended_at"].replace("Z", "+00:00"))
    # Every second from the baseline's start to the recovery's end, the seconds a phase
    # boundary cuts too (they count in no phase: in the transition, or outside the phases).
    seconds = range(int(start.timestamp()), int(end.timestamp()) + 1)
    clients = sum(entry["requests"] for entry in result["timeline"] if entry["second"] in seconds)
    assert clients >= sum(
        result["phases"][name]["requests"] for name in ("baseline", "fault", "recovery")
    )
    response = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApiGateway",
        MetricName="Count",
        Statistics=["Sum"],
        Period=1,
        Dimensions=[{"Name": "ApiName", "Value": "orders-api"}, {"Name": "Stage", "Value": "prod"}],
        StartTime=start - timedelta(seconds=1),
        EndTime=end + timedelta(seconds=2),
    )
    served = sum(point["Sum"] for point in response["Datapoints"])
    assert clients > 0 and abs(served - clients) <= 0.05 * served, (clients, served)
