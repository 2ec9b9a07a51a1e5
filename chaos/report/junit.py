"""junit.xml: one testcase per SLO check, for GitHub Actions / GitLab / Jenkins test reports.

A breached or unmeasured check is a ``<failure message="observed <x> vs objective <y>">``.
The run's outcome, id and abort reason travel as suite properties.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from chaos.clock import epoch_seconds
from chaos.report.sections import (
    WAF_ESTIMATE_NOTE,
    fault_kind_text,
    interval_text,
    minutes_text,
    verdict_word,
)
from chaos.verdict.slo import format_value

__all__ = ["render_junit", "testcase_name"]

# Characters XML 1.0 cannot carry, even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _INVALID_XML.sub("\ufffd", "" if value is None else str(value))


def testcase_name(check: Mapping[str, Any]) -> str:
    phase = check.get("phase")
    where = f" [{phase}]" if phase else ""
    fault = f" {check['fault']}" if check.get("fault") else ""
    return f"{check.get('sli')}{fault}{where} {check.get('objective')}"


def failure_message(check: Mapping[str, Any]) -> str:
    observed = format_value(str(check.get("sli")), check.get("observed"))
    message = f"observed {observed} vs objective {check.get('objective')}"
    interval = interval_text(check)
    if interval:
        message += f", interval {interval}"
    verdict = verdict_word(check)
    return f"{verdict}: {message}" if verdict == "inconclusive" else message


def run_seconds(result: Mapping[str, Any]) -> float:
    try:
        return max(
            0.0, epoch_seconds(str(result["ended_at"])) - epoch_seconds(str(result["started_at"]))
        )
    except (KeyError, ValueError):
        return 0.0


def render_junit(result: Mapping[str, Any]) -> str:
    """The junit.xml text of a result dict."""
    checks = [check for check in result.get("slo") or [] if isinstance(check, Mapping)]
    failures = sum(1 for check in checks if not check.get("passed"))
    experiment = _text(result.get("experiment") or "experiment")
    seconds = f"{run_seconds(result):.3f}"
    counts = {
        "tests": str(len(checks)),
        "failures": str(failures),
        "errors": "0",
        "skipped": "0",
        "time": seconds,
    }
    suites = ET.Element("testsuites", {"name": "gameday", **counts})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": experiment,
            **counts,
            "hostname": "gameday",
            "id": "0",
            "package": "gameday",
        },
    )
    started = _text(result.get("started_at") or "")[:19]
    if _TIMESTAMP.fullmatch(started):
        suite.set("timestamp", started)
    properties = ET.SubElement(suite, "properties")
    for key in ("run_id", "outcome", "abort_reason", "experiment_path", "sandbox"):
        if result.get(key) is not None:
            ET.SubElement(properties, "property", {"name": key, "value": _text(result[key])})
    server = result.get("server_side")
    if isinstance(server, Mapping) and server.get("settled") is not None:
        ET.SubElement(
            properties,
            "property",
            {"name": "server_side_settled", "value": _text(bool(server["settled"]))},
        )
    for check in checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "name": _text(testcase_name(check)),
                "classname": f"gameday.{experiment}",
                "time": "0",
            },
        )
        # An inconclusive check is a failure (never <skipped>, which CI shows green) unless
        # the gate says `inconclusive: pass`: then a passing testcase that says so.
        if not check.get("passed"):
            inconclusive = verdict_word(check) == "inconclusive"
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "message": _text(failure_message(check)),
                    "type": "SLOInconclusive" if inconclusive else "SLOBreach",
                },
            )
            failure.text = _text(check.get("note") or failure_message(check))
        elif verdict_word(check) == "inconclusive":
            ET.SubElement(case, "system-out").text = _text(
                f"inconclusive (passes: the gate says inconclusive: pass): {failure_message(check)}"
            )
    out = ET.SubElement(suite, "system-out")
    out.text = _text(summary_text(result))
    ET.SubElement(suite, "system-err").text = _text(result.get("abort_reason") or "")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def summary_text(result: Mapping[str, Any]) -> str:
    lines = [f"run {result.get('run_id')}: {result.get('outcome')}"]
    if result.get("abort_reason"):
        lines.append(f"aborted: {result['abort_reason']}")
    for fault in result.get("faults") or []:
        lines.append(
            f"fault {fault_kind_text(fault)} on {fault.get('target')}: "
            f"{fault.get('restore_status')}"
        )
    lines += server_side_lines(result)
    lines += waf_lines(result)
    return "\n".join(lines)


def server_side_lines(result: Mapping[str, Any]) -> list[str]:
    """Per phase (and the run): the CloudWatch minutes its figures cover, settled or not."""
    columns = [
        (str(name), values.get("server_side"))
        for name, values in (result.get("phases") or {}).items()
        if isinstance(values, Mapping)
    ]
    columns.append(("run", result.get("server_side")))
    lines = [
        f"server side (CloudWatch) {name}: minutes {minutes_text(server.get('minutes'))}, "
        + (
            "settled"
            if server.get("settled") is not False
            else "NOT settled (partial; gameday report --refresh reads it again)"
        )
        for name, server in columns
        if isinstance(server, Mapping)
    ]
    return lines


def waf_lines(result: Mapping[str, Any]) -> list[str]:
    waf = result.get("waf")
    if not isinstance(waf, Mapping):
        return []
    timings = ", ".join(
        f"{label} {format_value(key, waf.get(key))}"
        for key, label in (
            ("time_to_block_s", "time to block (s, estimate)"),
            ("time_to_unblock_s", "time to unblock (s, estimate)"),
        )
    )
    return [
        f"WAF rule {waf.get('rule')}: {timings}, other_403 "
        f"{format_value('other_403', waf.get('other_403'))}",
        WAF_ESTIMATE_NOTE,
    ]
