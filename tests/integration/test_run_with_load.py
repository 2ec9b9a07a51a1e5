"""A whole run with real Locust load: rows flow live, phases get SLIs, reports are written."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaos.cli import main
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function
from tests.load.local_target import LocalTarget

REPO = Path(__file__).resolve().parents[2]


def experiment(tmp_path: Path, url: str, slo: str) -> Path:
    path = tmp_path / "with-load.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: with-load\n"
        f'target: {{region: {REGION}, account_id: "{ACCOUNT_ID}", endpoint: "{url}/prod"}}\n'
        "phases: {baseline: 3s, fault: 3s, recovery: 3s}\n"
        "max_duration: 2m\n"
        "settle_timeout: 2s\n"  # moto in this process: no CloudWatch lag to wait for
        # 3 s phases cannot decide ">= 99%" at 95 %: the gate passes what they cannot decide
        "gate: {confidence: 0.95, inconclusive: pass}\n"
        "faults:\n"
        "  - type: lambda-extension\n"
        "    functions: [orders]\n"
        "    latency: {ms: 100}\n"
        "load:\n"
        f"  locustfile: {REPO / 'loadtests' / 'orders.py'}\n"
        "  users: 4\n"
        "  spawn_rate: 4\n"
        f"slo:\n{slo}"
    )
    return path


@pytest.mark.usefixtures("aws")
def test_run_with_load_measures_each_phase_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    with LocalTarget() as target:
        path = experiment(
            tmp_path,
            target.url,
            slo=(
                '  - {sli: availability, phase: [baseline, fault, recovery], objective: ">= 99%"}\n'
                '  - {sli: requests, phase: fault, objective: "> 100000"}\n'
            ),
        )
        reports = tmp_path / "reports"
        code = main(["run", str(path), "--yes", "--report-dir", str(reports)])
        served = target.total
    captured = capsys.readouterr()
    assert code == 1, captured.err  # the deliberately impossible SLO breaches
    # A failed run says which checks failed and where the report is, not only "failed".
    assert "failed checks (" in captured.out, captured.out
    failed_rows = captured.out.split("failed checks (", 1)[1].split("report: ", 1)[0]
    assert "requests" in failed_rows and "availability" not in failed_rows, captured.out
    assert f"report: {reports / 'report.html'}" in captured.out
    result = json.loads((reports / "result.json").read_text())
    assert result["outcome"] == "failed"
    for name in ("baseline", "fault", "recovery"):
        phase = result["phases"][name]
        assert phase["requests"] > 0, name
        assert phase["availability"] == 1.0
        assert set(phase["latency_ms"]) >= {"p50", "p90", "p95", "p99", "max"}
    measured = sum(result["phases"][name]["requests"] for name in ("baseline", "fault", "recovery"))
    assert 0 < measured <= served
    verdicts = {(check["sli"], check["phase"]): check["passed"] for check in result["slo"]}
    assert verdicts[("availability", "fault")] is True
    fault_availability = next(
        check
        for check in result["slo"]
        if (check["sli"], check["phase"]) == ("availability", "fault")
    )
    assert fault_availability["verdict"] in ("passed", "inconclusive")
    assert verdicts[("requests", "fault")] is False
    assert result["timeline"] and {"baseline", "fault", "recovery"} <= {
        row["phase"] for row in result["timeline"]
    }
    junit = ET.parse(reports / "junit.xml").getroot()
    assert len(list(junit.iter("testcase"))) == len(result["slo"])
    assert (reports / "report.md").read_text().count("availability") >= 1
    assert "<svg" in (reports / "report.html").read_text()
