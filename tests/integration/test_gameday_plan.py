"""`gameday run plan.yaml`: experiments in order, worst exit code, one consolidated report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.cli import main
from tests.integration.conftest import create_function, experiment_yaml


def write_plan(tmp_path: Path, stop_on_failure: bool) -> Path:
    (tmp_path / "a-refused.yaml").write_text(experiment_yaml("[missing-function]"))
    (tmp_path / "b-ok.yaml").write_text(experiment_yaml("[orders]"))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "version: 1\nkind: gameday\nname: weekly\n"
        "experiments: [a-refused.yaml, b-ok.yaml]\n"
        f"stop_on_failure: {str(stop_on_failure).lower()}\n"
        "runbook: |\n  Page the on-call before starting.\n"
    )
    return plan


@pytest.mark.usefixtures("aws")
def test_plan_runs_every_experiment_and_exits_with_the_worst(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    reports = tmp_path / "reports"
    code = main(["run", str(write_plan(tmp_path, False)), "--yes", "--report-dir", str(reports)])
    assert code == 2
    summary = json.loads((reports / "gameday.json").read_text())
    assert [(Path(e["path"]).name, e["outcome"]) for e in summary["experiments"]] == [
        ("a-refused.yaml", "invalid"),
        ("b-ok.yaml", "passed"),
    ]
    assert (reports / "b-ok" / "result.json").is_file()
    markdown = (reports / "gameday.md").read_text()
    assert "Page the on-call" in markdown and "b-ok/report.md" in markdown
    assert "missing-function" in capsys.readouterr().err


@pytest.mark.usefixtures("aws")
def test_stop_on_failure_skips_the_rest(tmp_path: Path) -> None:
    create_function("orders")
    reports = tmp_path / "reports"
    code = main(["run", str(write_plan(tmp_path, True)), "--yes", "--report-dir", str(reports)])
    assert code == 2
    summary = json.loads((reports / "gameday.json").read_text())
    assert len(summary["experiments"]) == 1
    assert [Path(path).name for path in summary["skipped"]] == ["b-ok.yaml"]
    assert not (reports / "b-ok").exists()
