"""The pytest plugin: experiments collected as tests, SLO table on failure, the fixture."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.e2e

PASSING = """\
version: 1
kind: experiment
name: quick-pass
target: {region: us-east-1, endpoint: sandbox}
phases: {baseline: 0s, fault: 1s, recovery: 0s}
max_duration: 1m
faults:
  - type: lambda-extension
    functions: [orders]
    latency: {ms: 50}
"""

FAILING = (
    PASSING.replace("quick-pass", "quick-fail")
    + """\
slo:
  - {sli: availability, phase: fault, objective: ">= 99.9%"}
"""
)

INVALID = PASSING.replace("quick-pass", "quick-invalid").replace(
    "latency: {ms: 50}", "latency: {ms: 50, rat: 1}"
)


def test_experiments_are_collected_and_judged(
    pytester: pytest.Pytester, sandbox_home: Path
) -> None:
    pytester.makefile(
        ".yaml", **{"quick-pass": PASSING, "quick-fail": FAILING, "quick-invalid": INVALID}
    )
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--gameday",
        "--gameday-sandbox",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        str(pytester.path),
    )
    result.assert_outcomes(passed=1, failed=1, errors=1)
    output = result.stdout.str()
    assert "quick-fail.yaml: failed" in output or "experiment quick-fail.yaml: failed" in output
    assert "availability" in output and ">= 99.9%" in output and "BREACHED" in output
    assert "did you mean" in output  # the invalid file's one-line error
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"quick-pass", "quick-fail", "quick-invalid"}
    assert cases["quick-fail"].find("failure") is not None
    assert cases["quick-pass"].find("failure") is None


def test_fixture_returns_a_typed_result(pytester: pytest.Pytester, sandbox_home: Path) -> None:
    experiment = pytester.makefile(".yaml", **{"quick-pass": PASSING})
    pytester.makepyfile(f"""
        from chaos.result import RunResult

        def test_run(gameday):
            result = gameday.run({str(experiment)!r}, sandbox=True, phases={{"fault": "0.5s"}})
            assert isinstance(result, RunResult)
            assert result.outcome == "passed" and result.exit_code == 0 and result.passed
            assert [f["restore_status"] for f in result.faults] == ["restored"]
            assert set(result.phases) == {{"baseline", "fault", "recovery"}}
            assert "result" in result.report_paths
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
