"""Real sandbox runs with load: an alarm stop condition aborts and restores; the HTML
report of a real run renders in headless Chromium with its charts."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from chaos.aws import AwsClients
from tests.e2e.conftest import function_state, gameday, wait_until_applied
from tests.report.test_html_chromium import ARTIFACTS, Dom, console_lines, run_browser

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def experiment_with_load(
    directory: Path, name: str, phases: str, extra: str = "", error_rate: float = 0.1
) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        "version: 1\nkind: experiment\n"
        f"name: {name}\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        f"phases: {phases}\n"
        "max_duration: 5m\n"
        "faults:\n"
        "  - type: lambda-extension\n"
        "    functions: [orders]\n"
        "    latency: {ms: 150, rate: 1.0}\n"
        f"    error: {{status_code: 503, rate: {error_rate}}}\n"
        "load:\n"
        f"  locustfile: {REPO / 'loadtests' / 'orders.py'}\n"
        "  users: 6\n"
        "  spawn_rate: 6\n" + extra
    )
    return path


def test_an_alarm_the_fault_trips_aborts_the_run_restores_and_exits_3(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    """Every response a 503: the sandbox's CloudWatch evaluates orders-5xx-high (more than
    100 5xx in a minute) by itself, as CloudWatch would, and the run stops on it."""
    before = function_state(sandbox_clients)
    experiment = experiment_with_load(
        tmp_path,
        "alarm-stop",
        "{baseline: 2s, fault: 3m, recovery: 2s}",
        "stop_conditions:\n  alarms: [orders-5xx-high]\n",
        error_rate=1.0,
    )
    process = gameday(
        sandbox_home,
        "run",
        "--sandbox",
        str(experiment),
        "--yes",
        "--report-dir",
        str(tmp_path / "reports"),
    )
    try:
        wait_until_applied(sandbox_home, process)
        applied = time.monotonic()
        stdout, stderr = process.communicate(timeout=150)
        took_s = time.monotonic() - applied
    finally:
        if process.poll() is None:
            process.kill()
    print(f"aborted and restored {took_s:.1f}s after the fault was applied")
    assert process.returncode == 3, stdout + stderr
    assert "alarm orders-5xx-high" in stdout
    assert took_s < 90, "the fault phase lasts 3 minutes: the alarm must stop it well before"
    [alarm] = sandbox_clients.client("cloudwatch").describe_alarms(AlarmNames=["orders-5xx-high"])[
        "MetricAlarms"
    ]
    assert alarm["StateValue"] == "ALARM"  # set by the sandbox's evaluation, not by a test
    assert alarm["StateReason"].startswith("Threshold Crossed"), alarm["StateReason"]
    assert function_state(sandbox_clients) == before
    result = json.loads((tmp_path / "reports" / "result.json").read_text())
    assert result["outcome"] == "aborted"
    assert "orders-5xx-high" in result["abort_reason"]
    assert [fault["restore_status"] for fault in result["faults"]] == ["restored"]
    assert result["phases"]["fault"]["requests"] > 0


def test_html_report_of_a_real_run_renders_in_chromium(sandbox_home: Path, tmp_path: Path) -> None:
    experiment = experiment_with_load(
        tmp_path,
        "report-run",
        "{baseline: 4s, fault: 6s, recovery: 4s}",
        'slo:\n  - {sli: availability, phase: baseline, objective: ">= 99%"}\n',
    )
    reports = tmp_path / "reports"
    process = gameday(
        sandbox_home, "run", "--sandbox", str(experiment), "--yes", "--report-dir", str(reports)
    )
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode in (0, 1), stdout + stderr
    result = json.loads((reports / "result.json").read_text())
    assert all(result["phases"][name]["requests"] > 0 for name in ("baseline", "fault", "recovery"))
    dumped = run_browser(reports / "report.html", tmp_path / "profile", "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert console_lines(dumped.stderr) == []
    dom = Dom()
    dom.feed(dumped.stdout)
    # The run is recorded in the history ($GAMEDAY_HOME/history), so the report also draws
    # its "Recent runs on this target" chart, this run marked, after the three run charts.
    assert any(run.get("current") for run in result["history"]["runs"])
    assert [attrs.get("id") for name, attrs in dom.tags if name == "svg"] == [
        "chart-throughput",
        "chart-latency",
        "chart-errors",
        "history-chart",
    ]
    assert dom.count("rect", "phase") == 9  # three phases shaded on three charts
    assert dom.count("g", "fault-inject") == 3  # one fault marked on each chart
    assert dom.count("path", "series") >= 5
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = run_browser(
        reports / "report.html",
        tmp_path / "profile",
        f"--screenshot={ARTIFACTS / 'sandbox-report.png'}",
        "--window-size=1280,2000",
        "--hide-scrollbars",
    )
    assert shot.returncode == 0
    shutil.copy(reports / "report.html", ARTIFACTS / "sandbox-report.html")
