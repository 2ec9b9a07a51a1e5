"""A run's janitor on moto: refused without one, scheduled before the first change and
deleted by the restore, moved later before a restore that may outlast it; --no-janitor
says what then does not expire; the run's IAM policy covers (exactly) its janitor calls."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from chaos.aws import AwsClients
from chaos.cli import main
from chaos.experiment import load_experiment
from chaos.janitor.arming import RESTORE_SLACK_S, JanitorArrangement, postpone_janitor
from chaos.janitor.deploy import deploy_janitor
from chaos.janitor.timer import at_expression, dead_letter_arn, move_schedule
from chaos.journal import JournalLocation
from chaos.run import preflight
from chaos.run.permissions import experiment_policy
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function, experiment_yaml
from tests.integration.janitor_support import (
    JOURNAL_URI,
    az_loss,
    journal_store,
    latest_document,
    start_run,
)
from tests.integration.test_janitor_deploy import ALLOW_ALL, Enforcer

PIN = experiment_yaml().split("faults:")[0] + (
    "faults:\n  - type: az-loss\n    az_id: use1-az1\n    targets: {lambda: [orders]}\n"
)
JANITOR_ACTIONS = {
    "lambda:getfunctionconfiguration",
    "scheduler:createschedule",
    "scheduler:updateschedule",
    "scheduler:deleteschedule",
    "iam:passrole",
}


@pytest.fixture
def janitor_on(monkeypatch: pytest.MonkeyPatch, aws: None) -> None:
    monkeypatch.delenv("GAMEDAY_NO_JANITOR", raising=False)
    monkeypatch.delenv("GAMEDAY_JOURNAL", raising=False)
    journal_store()  # the bucket


def function_in_vpc() -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{index}.0/24", AvailabilityZoneId=az_id)[
            "Subnet"
        ]["SubnetId"]
        for index, az_id in enumerate(("use1-az1", "use1-az2", "use1-az3"))
    ]
    group = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
    create_function("orders", VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": [group]})


def function_state() -> str:
    config = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName="orders"
    )
    return json.dumps(
        [
            config.get("VpcConfig", {}).get("SubnetIds"),
            config.get("Layers"),
            config.get("Environment"),
        ],
        sort_keys=True,
    )


def experiment(tmp_path: Path, text: str = PIN) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    return path


def schedules() -> list[str]:
    scheduler = boto3.client("scheduler", region_name=REGION)
    return [item["Name"] for item in scheduler.list_schedules()["Schedules"]]


@pytest.mark.usefixtures("janitor_on")
def test_without_a_janitor_a_changing_run_is_refused_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gameday_home: Path
) -> None:
    function_in_vpc()
    before = function_state()
    path = experiment(tmp_path)

    assert main(["run", str(path), "--yes", "--journal", JOURNAL_URI]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no janitor in us-east-1" in error
    assert "gameday janitor deploy --journal s3://gameday-journal/runs/" in error

    assert main(["run", str(path), "--yes"]) == 2
    assert "the janitor reads the run's journal from S3" in capsys.readouterr().err
    assert function_state() == before
    assert not (gameday_home / "runs").exists() or not any((gameday_home / "runs").iterdir())

    deploy_janitor(
        AwsClients(region=REGION),
        ACCOUNT_ID,
        JournalLocation.parse("s3://gameday-journal/other/"),
        say=lambda _: None,
    )
    assert main(["run", str(path), "--yes", "--journal", JOURNAL_URI]) == 2
    assert "the janitor reads journals under s3://gameday-journal/other/" in capsys.readouterr().err


#: What --no-janitor must say in the plan and in every report (PRODUCT.md, "Expiry and the
#: janitor"): az-loss faults do not expire then.
WILL_NOT_EXPIRE = "az-loss faults will not expire"


@pytest.mark.usefixtures("janitor_on")
def test_no_janitor_runs_and_says_what_will_not_expire(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    function_in_vpc()
    path = experiment(tmp_path)
    assert main(["plan", str(path), "--no-janitor"]) == 0
    [janitor_line] = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("janitor:")
    ]
    assert janitor_line.startswith("janitor: no janitor (--no-janitor)")
    assert WILL_NOT_EXPIRE in janitor_line, janitor_line

    report_dir = tmp_path / "reports"
    assert main(["run", str(path), "--yes", "--no-janitor", "--report-dir", str(report_dir)]) == 0
    out = capsys.readouterr().out
    result = json.loads(Path(out.split("result: ", 1)[1].strip()).read_text())
    assert any(WILL_NOT_EXPIRE in note for note in result["notes"]), result["notes"]
    for report in ("report.md", "report.html"):
        assert WILL_NOT_EXPIRE in (report_dir / report).read_text(), report
    assert schedules() == []


@pytest.mark.usefixtures("janitor_on")
def test_with_a_janitor_the_plan_does_not_say_faults_will_not_expire(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    function_in_vpc()
    deploy_janitor(
        AwsClients(region=REGION),
        ACCOUNT_ID,
        JournalLocation.parse(JOURNAL_URI),
        say=lambda _: None,
    )
    assert main(["plan", str(experiment(tmp_path)), "--journal", JOURNAL_URI]) == 0
    out = capsys.readouterr().out
    assert "janitor: gameday-janitor restores the run" in out
    assert WILL_NOT_EXPIRE not in out


@pytest.mark.usefixtures("janitor_on")
def test_the_plan_says_where_the_journal_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    function_in_vpc()
    path = experiment(tmp_path)

    def journal_line(*options: str) -> str:
        assert main(["plan", str(path), *options]) == 0
        [line] = [
            line for line in capsys.readouterr().out.splitlines() if line.startswith("journal:")
        ]
        return line

    in_s3 = "in the target account, and locally"
    assert journal_line("--journal", JOURNAL_URI) == f"journal: {JOURNAL_URI}<run-id>/ {in_s3}"
    monkeypatch.setenv("GAMEDAY_JOURNAL", "s3://gameday-journal/from-env/")
    assert journal_line() == f"journal: s3://gameday-journal/from-env/<run-id>/ {in_s3}"
    assert journal_line("--journal", "s3://other-bucket/gd/") == (
        f"journal: s3://other-bucket/gd/<run-id>/ {in_s3}"
    ), "the option over the environment"
    monkeypatch.delenv("GAMEDAY_JOURNAL")
    assert journal_line("--no-janitor") == (
        "journal: local only (.gameday/runs/<run-id>/journal.json); --journal s3://... keeps "
        "it in the target account"
    )


@pytest.mark.usefixtures("janitor_on", "gameday_home")
def test_the_run_schedules_its_janitor_first_moves_it_before_restoring_then_deletes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    function_in_vpc()
    before = function_state()
    enforcer = Enforcer()
    original = AwsClients.client

    def client(self: AwsClients, service: str) -> Any:
        created = original(self, service)
        if not getattr(created, "_run_policy_enforced", False):
            created.meta.events.register("before-parameter-build.*.*", enforcer)
            created._run_policy_enforced = True
        return created

    monkeypatch.setattr(AwsClients, "client", client)
    deploy_janitor(
        AwsClients(region=REGION),
        ACCOUNT_ID,
        JournalLocation.parse(JOURNAL_URI),
        say=lambda _: None,
    )
    path = experiment(tmp_path)
    assert main(["plan", str(path), "--journal", JOURNAL_URI]) == 0
    assert (
        "janitor: gameday-janitor restores the run from s3://gameday-journal/runs/"
        in capsys.readouterr().out
    )
    enforcer.policy = experiment_policy(
        load_experiment(path), ACCOUNT_ID, AwsClients(region=REGION), journal=JOURNAL_URI
    )
    enforcer.calls = []

    code = main(["run", str(path), "--yes", "--journal", JOURNAL_URI])

    out, err = capsys.readouterr()
    assert code == 0, err
    enforcer.policy = ALLOW_ALL
    actions = [action for action, _ in enforcer.calls]
    first_change = min(
        actions.index(action)
        for action in ("lambda:tagresource", "lambda:updatefunctionconfiguration")
        if action in actions
    )
    assert actions.index("scheduler:createschedule") < first_change
    assert actions.index("scheduler:deleteschedule") > first_change
    assert schedules() == [] and function_state() == before
    policy_actions = {
        action.lower()
        for statement in enforcer_policy_statements(path)
        for action in statement["Action"]
    }
    # UpdateSchedule: only before a restore that may outlast the schedule (see below).
    assert policy_actions == JANITOR_ACTIONS
    assert JANITOR_ACTIONS - {"scheduler:updateschedule"} <= set(actions)

    result = json.loads(Path(out.split("result: ", 1)[1].strip()).read_text())
    assert [fault["type"] for fault in result["faults"]] == ["az-loss"]
    assert any(note.startswith("janitor: schedule gameday-") for note in result["notes"])
    run_id = result["run_id"]
    latest = journal_store().latest(run_id)
    assert latest is not None
    [schedule_entry] = [
        entry for entry in latest[1]["entries"] if entry["fault_type"] == "janitor-schedule"
    ]
    assert schedule_entry["status"] == "restored"
    assert schedule_entry["intended"]["event"] == {"run_id": run_id, "journal": JOURNAL_URI}
    # Undeliverable invocations go to the janitor's queue, after Scheduler's retries.
    assert schedule_entry["intended"]["dead_letter_arn"] == dead_letter_arn(REGION, ACCOUNT_ID)


@pytest.mark.usefixtures("janitor_on", "gameday_home")
def test_a_cli_run_arranges_its_janitor_once_before_asking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    function_in_vpc()
    deploy_janitor(
        AwsClients(region=REGION),
        ACCOUNT_ID,
        JournalLocation.parse(JOURNAL_URI),
        say=lambda _: None,
    )
    arranged: list[JanitorArrangement] = []
    original = preflight.arrange_janitor

    def arrange_janitor(*args: Any, **kwargs: Any) -> JanitorArrangement:
        arranged.append(original(*args, **kwargs))
        return arranged[-1]

    monkeypatch.setattr(preflight, "arrange_janitor", arrange_janitor)

    code = main(["run", str(experiment(tmp_path)), "--yes", "--journal", JOURNAL_URI])

    assert code == 0, capsys.readouterr().err
    assert [arrangement.journal for arrangement in arranged] == [JOURNAL_URI]
    assert schedules() == []


@pytest.mark.usefixtures("aws")
def test_a_restore_that_may_outlast_the_schedule_moves_it_later(tmp_path: Path) -> None:
    function_in_vpc()
    run = start_run(tmp_path, "20240501T100000Z-slow-restore-aaaaaa")
    az_loss(run, {"lambda": ["orders"]})  # converge_timeout 2s: a budget of 2 + 120 s
    [entry] = [item for item in run.journal.entries if item.fault_type == "janitor-schedule"]
    scheduler = boto3.client("scheduler", region_name=REGION)

    postpone_janitor(run.journal, AwsClients(region=REGION))
    assert entry.intended["at_epoch"] == run.schedule.at, "far enough: left alone"

    soon = replace(run.schedule, at=time.time() + 10)
    move_schedule(AwsClients(region=REGION), soon)
    run.journal.update(entry, intended={**entry.intended, **soon.to_dict()})
    postpone_janitor(run.journal, AwsClients(region=REGION))

    moved = entry.intended["at_epoch"]
    assert moved >= time.time() + 2 + RESTORE_SLACK_S - 5
    expression = scheduler.get_schedule(Name=run.schedule.name)["ScheduleExpression"]
    assert expression == at_expression(moved)
    assert latest_document(run.journal.run_id)["entries"][0]["intended"]["at_epoch"] == moved


@pytest.mark.usefixtures("aws")
def test_the_later_time_is_journaled_before_the_schedule_moves_and_undone_if_it_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    function_in_vpc()
    run = start_run(tmp_path, "20240501T100000Z-journal-first-bbbbbb")
    az_loss(run, {"lambda": ["orders"]})
    [entry] = [item for item in run.journal.entries if item.fault_type == "janitor-schedule"]
    soon = replace(run.schedule, at=time.time() + 10)
    move_schedule(AwsClients(region=REGION), soon)
    run.journal.update(entry, intended={**entry.intended, **soon.to_dict()})
    journaled_when_moved: list[float] = []

    def moving(clients: AwsClients, schedule: Any) -> bool:
        journaled_when_moved.append(
            latest_document(run.journal.run_id)["entries"][0]["intended"]["at_epoch"]
        )
        assert schedule.at == journaled_when_moved[-1]
        raise RuntimeError("UpdateSchedule failed")

    monkeypatch.setattr("chaos.janitor.arming.move_schedule", moving)
    postpone_janitor(run.journal, AwsClients(region=REGION))

    assert journaled_when_moved and journaled_when_moved[0] > soon.at
    assert entry.intended["at_epoch"] == soon.at, "not moved: the journal says so again"
    assert latest_document(run.journal.run_id)["entries"][0]["intended"]["at_epoch"] == soon.at


def enforcer_policy_statements(path: Path) -> list[dict[str, Any]]:
    policy = experiment_policy(
        load_experiment(path), ACCOUNT_ID, AwsClients(region=REGION), journal=JOURNAL_URI
    )
    return [
        statement for statement in policy["Statement"] if statement["Sid"].startswith("Janitor")
    ]


@pytest.mark.usefixtures("janitor_on")
def test_iam_policy_names_the_janitor_calls_only_with_a_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = experiment(tmp_path)
    assert main(["iam-policy", str(path), "--offline", "--journal", JOURNAL_URI]) == 0
    by_sid = {
        statement["Sid"]: statement
        for statement in json.loads(capsys.readouterr().out)["Statement"]
    }
    assert by_sid["JanitorSchedule"]["Resource"] == (
        f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/gameday-*"
    )
    assert sorted(by_sid["JanitorSchedule"]["Action"]) == [
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:UpdateSchedule",
    ]
    assert by_sid["JanitorSchedulerRole"]["Resource"] == (
        f"arn:aws:iam::{ACCOUNT_ID}:role/gameday-janitor-scheduler"
    )
    assert by_sid["JanitorSchedulerRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
    }

    for extra in ([], ["--journal", JOURNAL_URI, "--no-janitor"]):
        assert main(["iam-policy", str(path), "--offline", *extra]) == 0
        sids = {statement["Sid"] for statement in json.loads(capsys.readouterr().out)["Statement"]}
        assert not any(sid.startswith("Janitor") for sid in sids)
