"""`gameday schedule`: every snippet parses with the tool that will consume it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator
from croniter import croniter

from chaos.errors import InputError
from chaos.schedule import Schedule, eventbridge_cron


def write_plan(tmp_path: Path, cron: str) -> Path:
    (tmp_path / "a.yaml").write_text("placeholder: true\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"version: 1\nkind: gameday\nname: weekly\nexperiments: [a.yaml]\n"
                    f"schedule: '{cron}'\nstop_on_failure: true\n")
    return plan


def gameday(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos", *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_next_runs_follow_the_cron_expression() -> None:
    schedule = Schedule(Path("plan.yaml"), "weekly", "30 9 * * 2")
    runs = schedule.next_runs(3, after=datetime(2026, 11, 25, tzinfo=timezone.utc))
    assert [run.isoformat() for run in runs] == [
        "2026-12-01T09:30:00+00:00", "2026-12-08T09:30:00+00:00", "2026-12-15T09:30:00+00:00"]


def test_crontab_line_parses(tmp_path: Path) -> None:
    result = gameday("schedule", str(write_plan(tmp_path, "30 9 * * 2")), "--format", "crontab")
    assert result.returncode == 0, result.stderr
    fields = result.stdout.split()
    assert croniter.is_valid(" ".join(fields[:5]))
    assert "gameday run" in result.stdout and "--yes" in result.stdout


def test_github_actions_snippet_is_a_workflow(tmp_path: Path) -> None:
    result = gameday("schedule", str(write_plan(tmp_path, "0 6 1 * *")), "--format", "github")
    workflow = yaml.safe_load(result.stdout)
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["schedule"] == [{"cron": "0 6 1 * *"}]
    steps = workflow["jobs"]["gameday"]["steps"]
    assert any("gameday run" in step.get("run", "") for step in steps)


@pytest.mark.parametrize(("cron", "expected"), [
    ("30 9 * * 2", "30 9 ? * 3 *"),
    ("0 6 1 * *", "0 6 1 * ? *"),
    ("*/15 * * * 1-5", "*/15 * ? * 2-6 *"),
    ("0 0 * * 0,6", "0 0 ? * 1,7 *"),
])
def test_eventbridge_input_validates_against_the_scheduler_api(
    tmp_path: Path, cron: str, expected: str
) -> None:
    assert eventbridge_cron(cron) == expected
    result = gameday("schedule", str(write_plan(tmp_path, cron)), "--format", "eventbridge",
                     "--target-arn", "arn:aws:ecs:us-east-1:123456789012:cluster/runner",
                     "--role-arn", "arn:aws:iam::123456789012:role/scheduler")
    document = json.loads(result.stdout)
    model = botocore.session.get_session().get_service_model("scheduler")
    report = ParamValidator().validate(
        document, model.operation_model("CreateSchedule").input_shape)
    assert not report.has_errors(), report.generate_report()
    assert document["ScheduleExpression"] == f"cron({expected})"


def test_day_of_month_and_week_together_is_refused() -> None:
    with pytest.raises(InputError, match="cannot combine"):
        eventbridge_cron("0 0 1 * 1")


def test_plan_without_schedule_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("x: 1\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\nkind: gameday\nname: adhoc\nexperiments: [a.yaml]\n")
    result = gameday("schedule", str(plan))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no `schedule`" in result.stderr
