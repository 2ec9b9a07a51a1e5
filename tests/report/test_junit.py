from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from chaos.report import render_junit
from tests.report.synthetic import HOSTILE_NAME, synthetic_result, unsettled

SCHEMA = xmlschema.XMLSchema(Path(__file__).with_name("junit.xsd"))


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return synthetic_result()


def test_junit_validates_against_the_schema(result: dict[str, Any]) -> None:
    SCHEMA.validate(render_junit(result))


def test_the_schema_rejects_what_ci_would_reject() -> None:
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        SCHEMA.validate(
            '<testsuites><testsuite name="x" tests="one" failures="0" errors="0">'
            "</testsuite></testsuites>"
        )
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        SCHEMA.validate(
            '<testsuites><testsuite name="x" tests="1" failures="0" errors="0">'
            '<testcase classname="c"/></testsuite></testsuites>'
        )


def test_one_testcase_per_slo_check_and_failure_messages(result: dict[str, Any]) -> None:
    suite = ET.fromstring(render_junit(result)).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(result["slo"]) == 8
    failed = [check for check in result["slo"] if not check["passed"]]
    assert suite.get("failures") == str(len(failed)) == "2"
    messages = [
        case.find("failure").get("message")
        for case in cases  # type: ignore[union-attr]
        if case.find("failure") is not None
    ]
    assert messages == [
        "observed 93.868% vs objective >= 99%",
        "observed not measured vs objective < 2000",
    ]
    assert cases[0].get("name") == "availability [fault] >= 99%"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["outcome"] == "failed" and properties["run_id"] == result["run_id"]


def test_hostile_names_are_escaped_and_control_characters_dropped(result: dict[str, Any]) -> None:
    hostile = dict(result, abort_reason="alarm \x07<x>&\x1b in ALARM", outcome="aborted")
    text = render_junit(hostile)
    SCHEMA.validate(text)
    root = ET.fromstring(text)
    assert HOSTILE_NAME in (root.findtext("testsuite/system-out") or "")
    assert "<x>" not in text and "\x07" not in text


def test_no_checks_is_an_empty_valid_suite() -> None:
    text = render_junit({"outcome": "aborted", "run_id": "r", "slo": []})
    SCHEMA.validate(text)
    assert ET.fromstring(text).get("tests") == "0"


def test_the_suite_says_whether_server_side_figures_settled_and_that_waf_timings_estimate(
    result: dict[str, Any],
) -> None:
    settled = ET.fromstring(render_junit(result)).find("testsuite")
    assert settled is not None
    properties = {p.get("name"): p.get("value") for p in settled.iter("property")}
    assert properties["server_side_settled"] == "true"
    out = settled.findtext("system-out") or ""
    assert "server side (CloudWatch) fault: minutes 22:13-22:15 UTC (2 min), settled" in out
    assert "time to block (s, estimate) 12" in out and "other_403 7" in out
    assert "WAF timings are estimates" in out
    text = render_junit(unsettled(synthetic_result()))
    SCHEMA.validate(text)
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None
    assert {p.get("name"): p.get("value") for p in suite.iter("property")}[
        "server_side_settled"
    ] == "false"
    assert "run: minutes 22:13-22:15 UTC (2 min), NOT settled" in (
        suite.findtext("system-out") or ""
    )
