"""The shipped sandbox examples, run as pytest items by our own plugin (acceptance of the
plugin and of the examples): each passes its SLOs on a fresh sandbox; a deliberately
impossible SLO fails exactly its item, with the SLO table; junit.xml holds them all."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "experiments" / "sandbox"


def impossible_slo_copy(directory: Path) -> Path:
    source = (EXAMPLES / "lambda-faults.yaml").read_text()
    text = (source.replace("name: sandbox-lambda-faults", "name: impossible-latency")
            .replace("phases: {baseline: 15s, fault: 30s, recovery: 15s}",
                     "phases: {baseline: 5s, fault: 8s, recovery: 5s}")
            .replace("../../loadtests/orders.py", str(REPO / "loadtests" / "orders.py")))
    text += '  - {sli: latency_p99_ms, phase: fault, objective: "< 1"}\n'
    directory.mkdir()
    path = directory / "impossible-latency.yaml"
    path.write_text(text)
    return path


def test_examples_pass_and_a_breached_slo_fails_its_item(
    pytester: pytest.Pytester, sandbox_home: Path
) -> None:
    impossible = impossible_slo_copy(pytester.path / "deliberate")
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--gameday", "--gameday-sandbox", "-p", "no:cacheprovider", f"--junitxml={junit}",
        "-o", "console_output_style=classic", str(EXAMPLES), str(impossible.parent),
        timeout=900,
    )
    examples = sorted(path.stem for path in EXAMPLES.glob("*.yaml"))
    result.assert_outcomes(passed=len(examples), failed=1)
    output = result.stdout.str()
    assert "impossible-latency.yaml: failed" in output
    assert "latency_p99_ms  fault" in output and "BREACHED" in output
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {*examples, "impossible-latency"}
    failed = [name for name, case in cases.items() if case.find("failure") is not None]
    assert failed == ["impossible-latency"]
