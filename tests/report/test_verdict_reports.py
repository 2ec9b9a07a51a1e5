"""Reports show the interval beside the point value and the three-way verdict (issue 24,
acceptance 5); JUnit shows an inconclusive check as a failure, never as skipped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from chaos.experiment.model import SloCheck
from chaos.report import render_html, render_junit, render_markdown
from chaos.verdict.slo import evaluate_slos, slo_outcome
from tests.report.synthetic import synthetic_result

FEW = [[8, 0, "100:8"] for _ in range(15)]  # 120 requests: a p99 cannot be bounded
MANY = [[300, 0, "50:291,400:9"] for _ in range(30)]


def judged(gate: dict[str, Any] | None = None) -> dict[str, Any]:
    result = synthetic_result()
    result["phases"]["recovery"]["evidence"] = FEW
    result["phases"]["baseline"]["evidence"] = [[300, 0, "50:300"] for _ in range(30)]
    result["phases"]["fault"]["evidence"] = MANY
    if gate is not None:
        result["gate"] = gate
    checks = [
        SloCheck(sli="latency_p99_ms", phase="recovery", objective="< 1500"),
        SloCheck(sli="latency_p99_ms", phase="fault", objective="<= 1.5x baseline"),
        SloCheck(sli="latency_p50_ms", phase="fault", objective="< 2s"),
    ]
    result["slo"] = evaluate_slos(checks, result)
    result["outcome"] = slo_outcome(result["slo"])
    return result


def test_the_entries_carry_verdict_and_interval() -> None:
    recovery, fault, median = judged()["slo"]
    assert (recovery["verdict"], recovery["passed"]) == ("inconclusive", False)
    assert (fault["verdict"], fault["passed"]) == ("failed", False)
    assert (median["verdict"], median["passed"]) == ("passed", True)


def test_markdown_shows_interval_and_verdict() -> None:
    lines = render_markdown(judged()).splitlines()
    assert (
        "| **FAIL** | `latency_p99_ms` | recovery | `< 1500` | 136 | \\[100, ∞) ms (95% bounds) "
        "| inconclusive |  |" in lines
    )
    [fault] = [line for line in lines if "`<= 1.5x baseline`" in line]
    assert "×\\[8.00, 8.00\\] of baseline" in fault and "| failed |" in fault


def test_html_shows_interval_and_verdict() -> None:
    text = render_html(judged())
    assert "[100, ∞) ms (95% bounds)" in text and "inconclusive" in text
    assert "<th>interval</th>" in text and "<th>verdict</th>" in text


def test_junit_inconclusive_is_a_failure_never_skipped() -> None:
    root = ET.fromstring(render_junit(judged()))
    assert root.find(".//skipped") is None
    cases = {case.get("name"): case for case in root.iter("testcase")}
    failure = cases["latency_p99_ms [recovery] < 1500"].find("failure")
    assert failure is not None and failure.get("type") == "SLOInconclusive"
    assert (failure.get("message") or "").startswith("inconclusive: observed 136")
    assert "[100, ∞) ms" in (failure.get("message") or "")
    assert cases["latency_p50_ms [fault] < 2s"].find("failure") is None


def test_junit_inconclusive_pass_is_a_passing_testcase_that_says_so() -> None:
    root = ET.fromstring(render_junit(judged({"confidence": 0.95, "inconclusive": "pass"})))
    assert root.find(".//skipped") is None
    case = next(
        case
        for case in root.iter("testcase")
        if case.get("name") == "latency_p99_ms [recovery] < 1500"
    )
    assert case.find("failure") is None
    out = case.find("system-out")
    assert out is not None and (out.text or "").startswith("inconclusive")
