"""Measurements that hold against AWS's CloudWatch and WAF (sandbox `--realism aws`, delays
at a tenth): settled server-side figures, the WAF cross-check, `report --refresh`
(issue "Measurements that hold", acceptance 1, 2 and 6)."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import AWS_REALISM, gameday_ok, running_sandbox

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
# The sandbox's scaled ingestion lag of standard metrics (60 s x 0.1), plus a margin.
LAG_S = 60 * float(AWS_REALISM["GAMEDAY_SANDBOX_TIME_SCALE"])


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_sandbox(tmp_path_factory.mktemp("realism-metrics-home"), AWS_REALISM) as home:
        yield home


def waf_experiment(directory: Path, name: str, extra: str = "") -> Path:
    source = (REPO / "experiments" / "sandbox" / "waf-rate.yaml").read_text()
    text = (
        source.replace("name: sandbox-waf-rate", f"name: {name}")
        .replace(
            "phases: {baseline: 10s, fault: 40s, recovery: 10s}",
            "phases: {baseline: 5s, fault: 30s, recovery: 5s}",
        )
        .replace("../../loadtests/orders.py", str(REPO / "loadtests" / "orders.py"))
    )
    path = directory / f"{name}.yaml"
    path.write_text(text + extra)
    return path


def run(home: Path, path: Path, report_dir: Path, **env: str) -> tuple[int, dict[str, Any]]:
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        done = gameday_ok(
            home,
            "run",
            "--sandbox",
            str(path),
            "--yes",
            "--report-dir",
            str(report_dir),
            timeout=400,
        )
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return done.returncode, dict(json.loads((report_dir / "result.json").read_text()))


def within_5_percent(cloudwatch: float | None, clients: int) -> bool:
    return cloudwatch is not None and math.isclose(cloudwatch, clients, rel_tol=0.05)


@pytest.mark.timeout(600)
def test_the_waf_cross_check_holds_once_cloudwatch_has_settled(home: Path, tmp_path: Path) -> None:
    code, result = run(home, waf_experiment(tmp_path, "settled"), tmp_path / "settled")
    waf = result["waf"]
    print(
        {
            key: waf[key]
            for key in (
                "client_blocked_requests",
                "cloudwatch_blocked_requests",
                "time_to_block_s",
                "legit_blocked",
            )
        }
    )
    assert code == 0, result["slo"]
    assert result["server_side"]["settled"] is True
    assert waf["client_blocked_requests"] > 0
    assert within_5_percent(waf["cloudwatch_blocked_requests"], waf["client_blocked_requests"])


@pytest.mark.timeout(600)
def test_unsettled_figures_mismatch_until_refreshed(home: Path, tmp_path: Path) -> None:
    """The same run read at once (a test-only switch) shows the mismatch that the settle
    wait prevents; `gameday report --refresh` later reads the complete figures."""
    report_dir = tmp_path / "hasty"
    _, result = run(home, waf_experiment(tmp_path, "hasty"), report_dir, GAMEDAY_SETTLE="off")
    waf = result["waf"]
    assert result["server_side"]["settled"] is False
    assert not within_5_percent(waf["cloudwatch_blocked_requests"], waf["client_blocked_requests"])
    cloudwatch_check = [check for check in result["slo"] if check["sli"] == "waf_legit_blocked"]
    assert cloudwatch_check  # client-side checks are judged as usual
    time.sleep(60 - time.time() % 60 + LAG_S + 2)  # the run's last minute ends, then its lag
    done = gameday_ok(home, "report", str(report_dir / "result.json"), "--refresh")
    assert done.returncode == 0, done.stdout + done.stderr
    refreshed = json.loads((report_dir / "result.json").read_text())
    assert refreshed["server_side"]["settled"] is True
    assert within_5_percent(
        refreshed["waf"]["cloudwatch_blocked_requests"], refreshed["waf"]["client_blocked_requests"]
    )
    assert "settled" in done.stdout
    assert "cloudwatch" in (report_dir / "report.md").read_text().lower()


@pytest.mark.timeout(300)
def test_a_count_slo_on_figures_that_never_settle_fails_as_not_settled(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "never-settles.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: never-settles\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 3s, fault: 3s, recovery: 3s}\nmax_duration: 2m\n"
        "settle_timeout: 5s\nfaults: []\n"
        f"load: {{locustfile: {REPO / 'loadtests' / 'orders.py'}, users: 2, spawn_rate: 2}}\n"
        'slo:\n  - {sli: apigw_5xx, objective: "< 1000"}\n'
    )
    code, result = run(home, path, tmp_path / "never")
    (check,) = [check for check in result["slo"] if check["sli"] == "apigw_5xx"]
    assert code == 1 and result["outcome"] == "failed"
    assert check["passed"] is False and check["note"].startswith("not settled")


@pytest.mark.timeout(400)
def test_ctrl_c_while_cloudwatch_settles_still_writes_every_report(
    home: Path, tmp_path: Path
) -> None:
    """SIGINT during the settle wait (after the restore): result.json and every report are
    written with the server-side figures marked unsettled, exit 3; --refresh completes them."""
    import signal

    from tests.e2e.conftest import gameday

    report_dir = tmp_path / "interrupted"
    process = gameday(
        home,
        "run",
        "--sandbox",
        str(waf_experiment(tmp_path, "interrupted")),
        "--yes",
        "--report-dir",
        str(report_dir),
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # bounded: the run ends within its max_duration
        seen.append(line)
        if "waiting for CloudWatch to settle" in line:
            process.send_signal(signal.SIGINT)
            break
    stdout, stderr = process.communicate(timeout=120)
    output = "".join(seen) + stderr + stdout
    assert any("waiting for CloudWatch to settle" in line for line in seen), output
    assert process.returncode == 3, output
    result = json.loads((report_dir / "result.json").read_text())
    assert result["outcome"] == "aborted" and "interrupted" in result["abort_reason"]
    assert result["server_side"]["settled"] is False
    assert {path.name for path in report_dir.iterdir()} >= {
        "result.json",
        "report.md",
        "report.html",
        "junit.xml",
    }
    assert any("interrupted" in note for note in result["notes"]), result["notes"]
