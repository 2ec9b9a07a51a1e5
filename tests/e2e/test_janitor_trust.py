"""Issue 20, acceptance 2: a forged journal and a forged event do not make the janitor (or
`gameday rollback --journal`) a confused deputy.

On the sandbox with its janitor deployed, a real run (the CLI, from its own directory, with
the exports of `gameday sandbox env`) is SIGKILLed in its fault phase, its directory
deleted, and its S3 journal then edited as anyone who may write the journal prefix can:

* a new revision adds an entry for a resource the run never locked (function
  ``payments``, created here beside the sandbox's ``orders``);
* the run's own last revision is overwritten in place with changed original values for
  keys it does not own (``TABLE``), a profile and an endpoint of the forger's (the sandbox's
  journal bucket is versioned: the first version stays readable);

and another run, alive, gets a schedule of someone else's invoking the janitor with
``heartbeat_stale_s: 0``. The janitor restores exactly the dead run's own change, changes
nothing else (``payments`` and the live run untouched), and reports each refused entry
and each revision it left out. The same edits on a second killed run, and `gameday rollback
--all --journal` from yet another directory, give the same.

The refusal of the never-locked resource is the lock-tag check of the restore (issue 20,
"The lock tag is the capability"); without it the assertions on ``payments``' entry fail.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chaos.aws import AwsClients
from chaos.janitor.timer import at_expression, schedule_name
from tests.e2e.conftest import wait_for
from tests.e2e.test_janitor import (
    fault_applied,
    latest_journal,
    runner_env,
    schedule_names,
)

pytestmark = pytest.mark.e2e

BUCKET, PREFIX = "gameday-journal", "runs/"
FAULT = "  - type: lambda-extension\n    functions: [orders]\n    latency: {ms: 100, rate: 1.0}\n"
JANITOR_WITHIN_S = 240.0
VICTIM = "payments"


def victim(clients: AwsClients) -> None:
    """A function no run ever locked, in the sandbox's account (created once)."""
    try:
        clients.lambda_.get_function_configuration(FunctionName=VICTIM)
        return
    except clients.lambda_.exceptions.ResourceNotFoundException:
        pass
    orders = clients.lambda_.get_function(FunctionName="orders")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    clients.lambda_.create_function(
        FunctionName=VICTIM,
        Runtime="python3.12",
        Role=orders["Configuration"]["Role"],
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": {"TABLE": "payments", "API_KEY": "not-yours"}},
    )


def state(clients: AwsClients, name: str) -> str:
    config = clients.lambda_.get_function_configuration(FunctionName=name)
    tags = clients.lambda_.list_tags(Resource=config["FunctionArn"])["Tags"]
    return json.dumps(
        {key: config.get(key) for key in ("Layers", "Environment", "VpcConfig")} | {"Tags": tags},
        sort_keys=True,
    )


def write_experiment(workdir: Path, name: str, fault: str, max_duration: str) -> Path:
    workdir.mkdir(parents=True)
    path = workdir / f"{name}.yaml"
    path.write_text(
        "version: 1\nkind: experiment\n"
        f"name: {name}\n"
        'target: {region: us-east-1, account_id: "123456789012"}\n'
        f"phases: {{baseline: 0s, fault: {fault}, recovery: 0s}}\n"
        f"max_duration: {max_duration}\nexpiry_margin: 10s\n"
        f"faults:\n{FAULT}"
    )
    return path


def start(workdir: Path, name: str, fault: str, max_duration: str) -> subprocess.Popen[str]:
    experiment = write_experiment(workdir, name, fault, max_duration)
    return subprocess.Popen(
        [sys.executable, "-m", "chaos", "run", str(experiment), "--yes"],
        cwd=workdir,
        env=runner_env(workdir / ".gameday"),
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_and_kill(workdir: Path, name: str, fault: str, max_duration: str) -> str:
    process = start(workdir, name, fault, max_duration)
    try:
        journal = wait_for(
            lambda: fault_applied(workdir / ".gameday"),
            timeout=90,
            what="the fault to be applied",
            process=process,
        )
    finally:
        process.kill()
        process.communicate(timeout=30)
    shutil.rmtree(workdir)
    return str(journal["run_id"])


def revisions(clients: AwsClients, run_id: str) -> list[str]:
    s3 = clients.client("s3")
    return sorted(
        item["Key"]
        for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}{run_id}/").get(
            "Contents", []
        )
    )


def forge(clients: AwsClients, run_id: str) -> dict[str, int]:
    """The edits of the module doc; returns the revision numbers they touched."""
    s3 = clients.client("s3")
    keys = revisions(clients, run_id)
    last_key = keys[-1]
    last = json.loads(s3.get_object(Bucket=BUCKET, Key=last_key)["Body"].read())
    number = int(last["revision"])
    node = clients.lambda_.get_function_configuration(FunctionName=VICTIM)

    added = copy.deepcopy(last)
    attached = next(
        entry for entry in added["entries"] if entry["fault_type"] == "lambda-extension"
    )
    extra = copy.deepcopy(attached)
    extra.update(
        entry_id=f"lambda-extension:{node['FunctionArn']}",
        target=VICTIM,
        target_arn=node["FunctionArn"],
        status="applied",
    )
    added["entries"].append(extra)
    added["revision"] = number + 1
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{PREFIX}{run_id}/journal-{number + 1:08d}.json",
        Body=json.dumps(added).encode(),
        IfNoneMatch="*",
    )

    edited = copy.deepcopy(last)
    own = next(entry for entry in edited["entries"] if entry["fault_type"] == "lambda-extension")
    own["original"]["environment_overwritten"] = {"TABLE": "forged-by-someone"}
    edited["profile"], edited["endpoint_url"] = "attacker", "http://127.0.0.1:9"
    s3.put_object(Bucket=BUCKET, Key=last_key, Body=json.dumps(edited).encode())  # in place
    return {"overwritten": number, "added": number + 1}


def forged_event(clients: AwsClients, run_id: str) -> str:
    """Someone else's schedule: the janitor, now, for a live run, with a stale period of 0."""
    scheduler = clients.client("scheduler")
    janitor = clients.lambda_.get_function_configuration(FunctionName="gameday-janitor")
    role = janitor["Environment"]["Variables"]["GAMEDAY_JANITOR_SCHEDULER_ROLE_ARN"]
    name = "gameday-someone-elses"
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression=at_expression(time.time()),
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={
            "Arn": janitor["FunctionArn"],
            "RoleArn": role,
            "Input": json.dumps(
                {"run_id": run_id, "journal": f"s3://{BUCKET}/{PREFIX}", "heartbeat_stale_s": 0}
            ),
        },
    )
    return name


def entries(journal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["target"]: entry for entry in journal["entries"]}


def closed_by_janitor(clients: AwsClients, run_id: str) -> dict[str, Any] | None:
    journal = latest_journal(clients, run_id)
    return journal if journal and journal.get("finished_by") == "janitor" else None


def test_the_janitor_restores_only_the_runs_own_change_from_a_forged_journal(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    clients = sandbox_clients
    victim(clients)
    before = {name: state(clients, name) for name in ("orders", VICTIM)}
    dead = run_and_kill(tmp_path / "doomed", "forged-journal", "40s", "70s")
    killed_at = time.time()
    assert state(clients, "orders") != before["orders"]
    touched = forge(clients, dead)

    journal = wait_for(
        lambda: closed_by_janitor(clients, dead),
        timeout=max(1.0, killed_at + JANITOR_WITHIN_S - time.time()),
        what=f"the janitor to close run {dead}",
    )

    assert state(clients, "orders") == before["orders"], "the run's own change undone"
    assert state(clients, VICTIM) == before[VICTIM], "nothing else changed"
    by_target = entries(journal)
    assert by_target[VICTIM]["status"] == "refused", by_target[VICTIM]
    assert by_target[VICTIM]["detail"].startswith("janitor: refused")
    assert by_target["orders"]["status"] == "restored"
    assert journal["status"] == "rolled_back"
    assert (journal["profile"], journal["endpoint_url"]) == (None, None), (
        "the first version of the overwritten revision"
    )
    assert journal["revision"] > touched["added"]
    assert schedule_names(clients) == []


def test_a_forged_event_with_a_stale_period_of_zero_leaves_a_live_run_alone(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    clients = sandbox_clients
    before = state(clients, "orders")
    live = start(tmp_path / "alive", "alive-run", "20s", "50s")
    try:
        journal = wait_for(
            lambda: fault_applied(tmp_path / "alive" / ".gameday"),
            timeout=90,
            what="the live run's fault to be applied",
            process=live,
        )
        run_id = str(journal["run_id"])
        ours = {name for name in schedule_names(clients)}
        forged = forged_event(clients, run_id)
        # The janitor was invoked and deferred: Scheduler deleted the forged schedule, the
        # janitor created a follow-up of its own.
        follow_ups = wait_for(
            lambda: [
                name
                for name in schedule_names(clients)
                if name not in ours | {forged} and "-f" in name
            ],
            timeout=60,
            what="the janitor's follow-up for the live run",
            process=live,
        )
        assert forged not in schedule_names(clients)
        assert state(clients, "orders") != before, "the live run's fault is still in force"
        out, err = live.communicate(timeout=180)
    finally:
        if live.poll() is None:
            live.kill()
            live.communicate(timeout=30)
    assert live.returncode == 0, out + err
    assert state(clients, "orders") == before
    document = latest_journal(clients, run_id)
    assert document is not None
    assert (document["status"], document["finished_by"]) == ("finished", "run")
    assert document["writer"].startswith("run:"), "the janitor wrote nothing to a live run"
    assert len(follow_ups) == 1


def test_rollback_from_another_directory_restores_only_the_runs_own_change(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    clients = sandbox_clients
    victim(clients)
    before = {name: state(clients, name) for name in ("orders", VICTIM)}
    dead = run_and_kill(tmp_path / "doomed", "forged-rollback", "10m", "11m")
    touched = forge(clients, dead)
    elsewhere = tmp_path / "another-machine"
    elsewhere.mkdir()

    rollback = subprocess.run(
        [sys.executable, "-m", "chaos", "rollback", "--all"],
        cwd=elsewhere,
        env=runner_env(elsewhere / ".gameday"),
        text=True,
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )

    report = rollback.stdout
    assert f"run {dead}: restored" in report, rollback.stdout + rollback.stderr
    assert "payments: refused" in report
    assert f"journal: revision {touched['overwritten']} was written 2 times" in report
    assert state(clients, "orders") == before["orders"]
    assert state(clients, VICTIM) == before[VICTIM]
    assert not [name for name in schedule_names(clients) if name.startswith(schedule_name(dead))], (
        "its schedule deleted by the rollback"
    )
    journal = latest_journal(clients, dead)
    assert journal is not None and journal["finished_by"] == "rollback"
