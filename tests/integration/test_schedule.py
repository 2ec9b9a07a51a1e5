"""`gameday schedule`: every snippet parses with the tool that will consume it, names the
plan from the repository root, and does what it says when it runs (shell snippets are run
here with a stand-in `gameday` that records its calls)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator
from croniter import croniter

from chaos.cli import main
from chaos.errors import InputError
from chaos.experiment import load_experiment, load_plan
from chaos.gameday.cron import (
    PlanTargets,
    Schedule,
    SnippetOptions,
    eventbridge_cron,
    render_snippet,
)

REPO = Path(__file__).resolve().parents[2]
WEEKLY_PLAN = "experiments/sandbox/weekly-gameday.yaml"

AWS_EXPERIMENT = """\
version: 1
kind: experiment
name: orders-latency
target: {region: eu-west-1, account_id: "123456789012", endpoint: "https://api.example.com/prod"}
phases: {baseline: 10s, fault: 30s, recovery: 10s}
max_duration: 5m
expiry_margin: 4m
settle_timeout: 2m
faults:
  - type: lambda-extension
    functions: [orders]
    latency: {ms: 100}
"""

SANDBOX_EXPERIMENT = AWS_EXPERIMENT.replace(
    'target: {region: eu-west-1, account_id: "123456789012", endpoint: '
    '"https://api.example.com/prod"}',
    "target: {region: us-east-1, endpoint: sandbox}",
)


def write_plan(
    folder: Path, cron: str, experiment: str = "placeholder: true\n", extra: str = ""
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.yaml").write_text(experiment)
    plan = folder / "plan.yaml"
    plan.write_text(
        f"version: 1\nkind: gameday\nname: weekly\nexperiments: [a.yaml]\n"
        f"schedule: '{cron}'\nstop_on_failure: true\n{extra}"
    )
    return plan


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "clone"
    (repo / ".git").mkdir(parents=True)
    return repo


def gameday(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def snippet(plan: Path, kind: str, *args: str, cwd: Path) -> str:
    result = gameday("schedule", str(plan), "--format", kind, *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --------------------------------------------------------------------------- paths


def test_next_runs_follow_the_cron_expression() -> None:
    schedule = Schedule(PurePosixPath("plan.yaml"), "weekly", "30 9 * * 2")
    runs = schedule.next_runs(3, after=datetime(2026, 11, 25, tzinfo=timezone.utc))
    assert [run.isoformat() for run in runs] == [
        "2026-12-01T09:30:00+00:00",
        "2026-12-08T09:30:00+00:00",
        "2026-12-15T09:30:00+00:00",
    ]


def test_snippets_name_the_plan_from_the_repository_root(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "gamedays" / "orders", "30 9 * * 2", AWS_EXPERIMENT)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = gameday("schedule", str(plan), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "gameday run gamedays/orders/plan.yaml --yes" in result.stdout
    assert str(tmp_path) not in result.stdout  # no path of this machine, anywhere
    assert not re.search(r"(?<![\w$\"])/(home|tmp|root|Users)/", result.stdout)


def test_without_a_repository_the_current_directory_is_the_root(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "gamedays", "30 9 * * 2")
    crontab = snippet(plan.relative_to(tmp_path), "crontab", cwd=tmp_path)
    assert "gameday run gamedays/plan.yaml --yes" in crontab


def test_a_plan_outside_any_repository_and_the_current_directory_is_refused(
    tmp_path: Path,
) -> None:
    plan = write_plan(tmp_path / "away", "30 9 * * 2")
    here = tmp_path / "here"
    here.mkdir()
    result = gameday("schedule", str(plan), cwd=here)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not inside a repository" in result.stderr


# --------------------------------------------------------------------------- crontab


def parse_crontab(text: str) -> tuple[dict[str, str], str, str]:
    """(environment lines, cron expression, command) of a one-entry crontab."""
    env: dict[str, str] = {}
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assignment = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
        if assignment:
            env[assignment.group(1)] = assignment.group(2)
        else:
            entries.append(line)
    assert len(entries) == 1, entries
    fields = entries[0].split(None, 5)
    return env, " ".join(fields[:5]), fields[5].replace(r"\%", "%")


FAKE_GAMEDAY = """\
#!/bin/sh
echo "$* | journal=${GAMEDAY_JOURNAL:-} profile=${AWS_PROFILE:-} pwd=$(pwd)" >> "$CALLS"
case "$1 $2" in
  "run "*) exit "$RUN_EXIT" ;;
  "sandbox env") echo "export FROM_SANDBOX_ENV=1" ;;
esac
exit 0
"""


def fake_gameday(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "gameday"
    script.write_text(FAKE_GAMEDAY)
    script.chmod(0o755)
    return bin_dir


def run_cron_entry(crontab: str, tmp_path: Path, run_exit: int) -> tuple[int, list[str]]:
    """Run the entry as cron would (/bin/sh -c, the crontab's variables), with a stand-in
    `gameday`; the clone placeholder is filled in, as the user would."""
    env, _, command = parse_crontab(crontab)
    clone = tmp_path / "clone-on-the-cron-host"
    clone.mkdir(exist_ok=True)
    calls = tmp_path / "calls.log"
    calls.unlink(missing_ok=True)
    environment = {
        **env,
        "GAMEDAY_REPO": str(clone),
        "CALLS": str(calls),
        "RUN_EXIT": str(run_exit),
        "HOME": str(tmp_path),
        "PATH": f"{fake_gameday_dir(tmp_path)}:{env['PATH']}",
    }
    result = subprocess.run(
        ["/bin/sh", "-c", command], env=environment, capture_output=True, text=True, timeout=30
    )
    return result.returncode, calls.read_text().splitlines()


def fake_gameday_dir(tmp_path: Path) -> Path:
    existing = tmp_path / "bin"
    return existing if existing.is_dir() else fake_gameday(tmp_path)


@pytest.mark.parametrize("run_exit", [0, 1, 4])
def test_crontab_rolls_back_after_the_run_and_keeps_its_exit_code(
    tmp_path: Path, run_exit: int
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "gamedays", "30 9 * * 2", AWS_EXPERIMENT)
    crontab = snippet(plan, "crontab", "--journal", "s3://acme-gameday/runs/", cwd=tmp_path)
    env, cron, _ = parse_crontab(crontab)
    assert croniter.is_valid(cron) and cron == "30 9 * * 2"
    assert env["GAMEDAY_REPO"] == "/path/to/your/clone"  # a placeholder, stated as such
    code, calls = run_cron_entry(crontab, tmp_path, run_exit)
    assert code == run_exit
    assert [call.split(" | ")[0] for call in calls] == [
        "run gamedays/plan.yaml --yes --report-dir reports/weekly",
        "rollback --all",
    ]
    clone = tmp_path / "clone-on-the-cron-host"
    for call in calls:  # both see the S3 journal and the profile, in the clone
        assert f"journal=s3://acme-gameday/runs/ profile=gameday pwd={clone}" in call


def test_sandbox_crontab_starts_the_sandbox_and_stops_it_after_the_rollback(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "gamedays", "30 9 * * 2", SANDBOX_EXPERIMENT)
    crontab = snippet(plan, "crontab", cwd=tmp_path)
    env, _, command = parse_crontab(crontab)
    assert "GAMEDAY_JOURNAL" not in env and "AWS_PROFILE" not in env
    code, calls = run_cron_entry(crontab, tmp_path, 3)
    assert code == 3
    assert [call.split(" | ")[0] for call in calls] == [
        "sandbox up",
        "sandbox env",
        "run gamedays/plan.yaml --yes --report-dir reports/weekly",
        "rollback --all",
        "sandbox down",
    ]


def test_percent_signs_are_escaped_for_cron(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "50%", "30 9 * * 2")
    crontab = snippet(plan, "crontab", cwd=tmp_path)
    entry = crontab.splitlines()[-1]
    assert r"50\%/plan.yaml" in entry and not re.search(r"(?<!\\)%", entry)


# --------------------------------------------------------------------------- GitHub Actions


def workflow(text: str) -> dict[Any, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    document["on"] = document.pop(True, document.get("on"))
    return document


def step_index(steps: list[dict[str, Any]], predicate: Any) -> int:
    matches = [index for index, step in enumerate(steps) if predicate(step)]
    assert len(matches) == 1, (matches, steps)
    return matches[0]


def test_github_workflow_assumes_a_role_rolls_back_always_and_uploads_reports_only(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "gamedays", "0 6 1 * *", AWS_EXPERIMENT)
    document = workflow(
        snippet(plan, "github", "--journal", "s3://acme-gameday/runs/", cwd=tmp_path)
    )
    assert document["on"]["schedule"] == [{"cron": "0 6 1 * *"}]
    assert document["concurrency"] == {"group": "gameday-123456789012", "cancel-in-progress": False}
    assert document["permissions"]["id-token"] == "write"
    job = document["jobs"]["gameday"]
    # max_duration 5m + settle_timeout 2m + expiry_margin 4m, and the job's own setup on top.
    assert job["timeout-minutes"] > 5 + 2 + 4
    assert job["env"]["GAMEDAY_JOURNAL"] == "s3://acme-gameday/runs/"
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert steps[1]["uses"].startswith("actions/setup-python@")
    credentials = steps[
        step_index(
            steps, lambda s: s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
        )
    ]
    assert credentials["with"]["role-to-assume"] == (
        "arn:aws:iam::123456789012:role/gameday-runner"
    )
    assert credentials["with"]["aws-region"] == "eu-west-1"
    assert credentials["with"]["role-duration-seconds"] >= job["timeout-minutes"] * 60
    install = step_index(steps, lambda s: s.get("run") == "pip install .")
    run = step_index(steps, lambda s: s.get("run", "").startswith("gameday run "))
    assert steps[run]["run"] == "gameday run gamedays/plan.yaml --yes --report-dir reports/weekly"
    assert "if" not in steps[run]
    rollback = step_index(steps, lambda s: s.get("run") == "gameday rollback --all")
    assert steps[rollback]["if"] == "always()"
    upload = step_index(steps, lambda s: s.get("uses", "").startswith("actions/upload-artifact@"))
    assert steps[upload]["if"] == "always()"
    assert steps[upload]["with"]["path"] == "reports/weekly"  # never .gameday (the journal)
    assert install < run < rollback < upload


def test_github_workflow_of_a_sandbox_plan_needs_no_account(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "gamedays", "0 6 * * 1", SANDBOX_EXPERIMENT)
    document = workflow(snippet(plan, "github", cwd=tmp_path))
    job = document["jobs"]["gameday"]
    steps = job["steps"]
    assert "id-token" not in document["permissions"] and "env" not in job
    assert not any("configure-aws-credentials" in step.get("uses", "") for step in steps)
    start = step_index(steps, lambda s: "sandbox up" in s.get("run", ""))
    run = step_index(steps, lambda s: s.get("run", "").startswith("gameday run "))
    rollback = step_index(steps, lambda s: s.get("run") == "gameday rollback --all")
    stop = step_index(steps, lambda s: s.get("run") == "gameday sandbox down")
    assert start < run < rollback < stop
    assert steps[rollback]["if"] == steps[stop]["if"] == "always()"
    # The start step hands the sandbox's variables to the later steps through $GITHUB_ENV.
    github_env = tmp_path / "github_env"
    calls = tmp_path / "calls.log"
    result = subprocess.run(
        ["bash", "-e", "-c", steps[start]["run"]],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            "PATH": f"{fake_gameday(tmp_path)}:{os.environ['PATH']}",
            "CALLS": str(calls),
            "GITHUB_ENV": str(github_env),
            "RUN_EXIT": "0",
        },
    )
    assert result.returncode == 0, result.stderr
    assert github_env.read_text().splitlines() == ["FROM_SANDBOX_ENV=1"]


def test_unknown_targets_leave_placeholders(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "gamedays", "0 6 * * 1")  # its experiment does not load
    document = workflow(snippet(plan, "github", cwd=tmp_path))
    steps = document["jobs"]["gameday"]["steps"]
    credentials = next(s for s in steps if "configure-aws-credentials" in s.get("uses", ""))
    assert credentials["with"]["aws-region"] == "REGION"
    assert credentials["with"]["role-to-assume"] == "arn:aws:iam::ACCOUNT_ID:role/gameday-runner"
    assert document["jobs"]["gameday"]["env"]["GAMEDAY_JOURNAL"].startswith(
        "s3://YOUR-JOURNAL-BUCKET/"
    )


def test_the_plans_own_journal_is_used_and_the_option_wins(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        repo / "gamedays", "0 6 * * 1", AWS_EXPERIMENT, extra="journal: s3://plan-journal/gd/\n"
    )
    env, _, _ = parse_crontab(snippet(plan, "crontab", cwd=tmp_path))
    assert env["GAMEDAY_JOURNAL"] == "s3://plan-journal/gd/"
    env, _, _ = parse_crontab(snippet(plan, "crontab", "--journal", "s3://other/x/", cwd=tmp_path))
    assert env["GAMEDAY_JOURNAL"] == "s3://other/x/"


# --------------------------------------------------------------------------- EventBridge


def validate(service: str, operation: str, document: Any, member: str | None = None) -> None:
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    if member is not None:
        shape = shape.members[member]
    report = ParamValidator().validate(document, shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("30 9 * * 2", "30 9 ? * 3 *"),
        ("0 6 1 * *", "0 6 1 * ? *"),
        ("*/15 * * * 1-5", "*/15 * ? * 2-6 *"),
        ("0 0 * * 0,6", "0 0 ? * 1,7 *"),
        ("0 9 * * TUE", "0 9 ? * TUE *"),
    ],
)
def test_eventbridge_input_is_an_ecs_runtask_the_apis_accept(
    tmp_path: Path, cron: str, expected: str
) -> None:
    assert eventbridge_cron(cron) == expected
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "gamedays", cron, AWS_EXPERIMENT)
    cluster = "arn:aws:ecs:eu-west-1:123456789012:cluster/runner"
    task_definition = "arn:aws:ecs:eu-west-1:123456789012:task-definition/gameday:7"
    document = json.loads(
        snippet(
            plan,
            "eventbridge",
            "--cluster-arn",
            cluster,
            "--task-definition-arn",
            task_definition,
            "--subnet",
            "subnet-0a",
            "--subnet",
            "subnet-0b",
            "--security-group",
            "sg-01",
            "--role-arn",
            "arn:aws:iam::123456789012:role/scheduler",
            "--journal",
            "s3://acme-gameday/runs/",
            cwd=tmp_path,
        )
    )
    validate("scheduler", "CreateSchedule", document)
    assert document["ScheduleExpression"] == f"cron({expected})"
    target = document["Target"]
    assert target["Arn"] == cluster
    ecs = target["EcsParameters"]
    assert ecs["TaskDefinitionArn"] == task_definition and ecs["LaunchType"] == "FARGATE"
    assert ecs["NetworkConfiguration"]["awsvpcConfiguration"]["Subnets"] == [
        "subnet-0a",
        "subnet-0b",
    ]
    assert ecs["NetworkConfiguration"]["awsvpcConfiguration"]["SecurityGroups"] == ["sg-01"]
    overrides = json.loads(target["Input"])
    validate("ecs", "RunTask", overrides, member="overrides")
    (container,) = overrides["containerOverrides"]
    assert container["name"] == "gameday"
    assert container["command"] == [
        "run",
        "gamedays/plan.yaml",
        "--yes",
        "--report-dir",
        "reports/weekly",
    ]
    assert container["environment"] == [
        {"name": "GAMEDAY_JOURNAL", "value": "s3://acme-gameday/runs/"}
    ]


def test_eventbridge_placeholders_follow_the_plans_region_and_account(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "gamedays", "0 6 * * 1", AWS_EXPERIMENT)
    document = json.loads(snippet(plan, "eventbridge", cwd=tmp_path))
    validate("scheduler", "CreateSchedule", document)
    assert document["Target"]["Arn"] == "arn:aws:ecs:eu-west-1:123456789012:cluster/gameday"
    assert document["Target"]["RoleArn"] == "arn:aws:iam::123456789012:role/gameday-scheduler"
    # A game day that could not start must not start a day later (the default retries 24 h).
    assert document["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 3600


def test_the_old_target_arn_option_still_names_the_cluster(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(repo / "gamedays", "0 6 * * 1", AWS_EXPERIMENT)
    document = json.loads(
        snippet(plan, "eventbridge", "--target-arn", "arn:aws:ecs:x:1:cluster/c", cwd=tmp_path)
    )
    assert document["Target"]["Arn"] == "arn:aws:ecs:x:1:cluster/c"


def test_day_of_month_and_week_together_is_refused() -> None:
    with pytest.raises(InputError, match="cannot combine"):
        eventbridge_cron("0 0 1 * 1")


def test_plan_without_schedule_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("x: 1\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\nkind: gameday\nname: adhoc\nexperiments: [a.yaml]\n")
    result = gameday("schedule", str(plan), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no `schedule`" in result.stderr


# --------------------------------------------------------------------------- the weekly plan


def test_the_weekly_sandbox_plan_is_short_and_weekly() -> None:
    plan = load_plan(REPO / WEEKLY_PLAN)
    assert plan.kind == "gameday" and plan.stop_on_failure is True and plan.schedule
    runs = Schedule(PurePosixPath(WEEKLY_PLAN), plan.name, plan.schedule).next_runs(3)
    assert {runs[index + 1] - runs[index] for index in range(2)} == {timedelta(days=7)}
    experiments = [load_experiment(path) for path in plan.experiment_paths()]
    assert len(experiments) >= 2
    assert all(experiment.target.is_sandbox for experiment in experiments)
    assert "gameday-demo.yaml" not in plan.experiments
    assert sum(experiment.phases.total for experiment in experiments) <= 5 * 60


def test_the_weekly_plan_snippets_are_the_same_from_any_directory(tmp_path: Path) -> None:
    from_root = gameday("schedule", WEEKLY_PLAN, cwd=REPO)
    from_elsewhere = gameday("schedule", str(REPO / WEEKLY_PLAN), cwd=tmp_path)
    assert from_root.returncode == from_elsewhere.returncode == 0, from_elsewhere.stderr

    def snippets(output: str) -> str:  # drop the next run times (they move with the clock)
        return output.split("\n\n", 1)[1]

    assert snippets(from_root.stdout) == snippets(from_elsewhere.stdout)
    assert f"gameday run {WEEKLY_PLAN} --yes" in from_root.stdout
    assert "targets: the sandbox (no AWS account)" in from_root.stdout


@pytest.mark.parametrize(
    ("region", "partition"),
    [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("eu-west-1", "aws")],
)
def test_placeholder_arns_are_in_the_partition_of_the_plans_region(
    region: str, partition: str
) -> None:
    schedule = Schedule(
        PurePosixPath("gamedays/plan.yaml"),
        "weekly",
        "0 6 * * 1",
        PlanTargets(regions=(region,), account_ids=("123456789012",)),
    )
    document = json.loads(render_snippet(schedule, "eventbridge", SnippetOptions()))
    validate("scheduler", "CreateSchedule", document)
    target = document["Target"]
    assert target["Arn"] == f"arn:{partition}:ecs:{region}:123456789012:cluster/gameday"
    assert target["EcsParameters"]["TaskDefinitionArn"] == (
        f"arn:{partition}:ecs:{region}:123456789012:task-definition/gameday:REVISION"
    )
    assert target["RoleArn"] == f"arn:{partition}:iam::123456789012:role/gameday-scheduler"
    steps = workflow(render_snippet(schedule, "github", SnippetOptions()))["jobs"]["gameday"][
        "steps"
    ]
    credentials = next(s for s in steps if "configure-aws-credentials" in s.get("uses", ""))
    assert credentials["with"]["role-to-assume"] == (
        f"arn:{partition}:iam::123456789012:role/gameday-runner"
    )


def test_the_schedule_help_names_no_fixed_partition(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # argparse would break an ARN at its hyphens
    with pytest.raises(SystemExit):
        main(["schedule", "--help"])
    text = capsys.readouterr().out
    assert "arn:aws:" not in text
    assert "arn:PARTITION:iam::ACCOUNT_ID:role/gameday-runner" in text
    assert "arn:PARTITION:iam::ACCOUNT_ID:role/gameday-scheduler" in text
