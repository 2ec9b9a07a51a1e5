"""Every fault kind expires: runs SIGKILLed with their disk gone are restored by the janitor.

One sandbox (its own GAMEDAY_HOME, which holds its state file) serves three runs of the
real CLI, each reaching the sandbox as a user reaches AWS: through the exports of
`gameday sandbox env` (AWS_ENDPOINT_URL, credentials, GAMEDAY_JOURNAL), with a GAMEDAY_HOME
and working directory of its own. Each run (max_duration 70s, expiry_margin 10s) is
SIGKILLed once its fault is applied and its directory deleted; no command runs afterwards.
The sandbox fires each run's schedule at start + 80 s, the janitor function (the real
package, run by the real Lambda runtime client) restores from the S3 journal. Each run is
held to the issue's bound on its own: restored within 180 s of its own SIGKILL, as the
janitor's timestamps in its journal show.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos.aws import AwsClients
from chaos.clock import epoch_seconds
from chaos.janitor import NO_JANITOR_ENV
from chaos.sandbox.process import control
from tests.e2e.conftest import function_state, wait_for

pytestmark = pytest.mark.e2e

LOCK = "gameday:run-id"
JANITOR_WITHIN_S = 180.0  # from each run's own SIGKILL; its schedule is due 80 s after its start
FAULTS = {
    "lambda-extension": (
        "  - type: lambda-extension\n    functions: [orders]\n    latency: {ms: 100, rate: 1.0}\n"
    ),
    "az-loss-pin": (
        "  - type: az-loss\n    az_id: use1-az1\n    mode: pin\n"
        "    targets: {ecs_services: [orders/web]}\n"
    ),
    "az-loss-blackhole": (
        "  - type: az-loss\n    az_id: use1-az1\n    mode: blackhole\n"
        "    targets: {autoscaling_groups: [web-asg]}\n"
    ),
}


@dataclass
class KilledRun:
    fault: str
    run_id: str
    before: str  # what the janitor must give back, as `state_of` reads it
    killed_at: float  # epoch seconds of its SIGKILL (the journal's clock)


# -- what the sandbox shows, read through its AWS API ----------------------------------


def lambda_state(clients: AwsClients) -> str:
    config = clients.lambda_.get_function_configuration(FunctionName="orders")
    tags = clients.lambda_.list_tags(Resource=config["FunctionArn"])["Tags"]
    return json.dumps([function_state(clients), sorted(tags)])


def ecs_state(clients: AwsClients) -> str:
    ecs = clients.client("ecs")
    [service] = ecs.describe_services(cluster="orders", services=["web"])["services"]
    tags = ecs.list_tags_for_resource(resourceArn=service["serviceArn"]).get("tags", [])
    subnets = service["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
    return json.dumps([subnets, sorted(tag["key"] for tag in tags)])


def network_state(clients: AwsClients) -> str:
    ec2 = clients.client("ec2")
    acls = ec2.describe_network_acls()["NetworkAcls"]
    associations = sorted(
        (association["SubnetId"], acl["NetworkAclId"])
        for acl in acls
        for association in acl["Associations"]
    )
    subnet_tags = sorted(
        (subnet["SubnetId"], tag["Key"])
        for subnet in ec2.describe_subnets()["Subnets"]
        for tag in subnet.get("Tags", [])
    )
    return json.dumps([associations, sorted(acl["NetworkAclId"] for acl in acls), subnet_tags])


STATE_OF: dict[str, Callable[[AwsClients], str]] = {
    "lambda-extension": lambda_state,
    "az-loss-pin": ecs_state,
    "az-loss-blackhole": network_state,
}


def schedule_names(clients: AwsClients) -> list[str]:
    return [item["Name"] for item in clients.client("scheduler").list_schedules()["Schedules"]]


def latest_journal(clients: AwsClients, run_id: str) -> dict[str, Any] | None:
    s3 = clients.client("s3")
    keys = sorted(
        item["Key"]
        for item in s3.list_objects_v2(Bucket="gameday-journal", Prefix=f"runs/{run_id}/").get(
            "Contents", []
        )
    )
    if not keys:
        return None
    return dict(json.loads(s3.get_object(Bucket="gameday-journal", Key=keys[-1])["Body"].read()))


# -- a run that dies with its disk ----------------------------------------------------


def runner_env(home: Path) -> dict[str, str]:
    """The shell of a user who ran `eval $(gameday sandbox env)`, janitor on."""
    state = control.read_state()
    assert state is not None
    exports = dict(line.removeprefix("export ").split("=", 1) for line in control.env_lines(state))
    env = {**os.environ, **exports, "GAMEDAY_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop(NO_JANITOR_ENV, None)
    return env


def fault_applied(home: Path) -> dict[str, Any] | None:
    for path in (home / "runs").glob("*/journal.json"):
        journal = json.loads(path.read_text())
        faults = [
            entry for entry in journal["entries"] if entry["fault_type"] != "janitor-schedule"
        ]
        if faults and all(entry["status"] == "applied" for entry in faults):
            return dict(journal)
    return None


def run_and_kill(workdir: Path, fault: str) -> tuple[str, float]:
    """Start the run, SIGKILL it once its fault is in force, delete its directory; its run id
    and when it was killed (epoch seconds)."""
    workdir.mkdir()
    experiment = workdir / f"{fault}.yaml"
    experiment.write_text(
        "version: 1\nkind: experiment\n"
        f"name: janitor-{fault}\n"
        'target: {region: us-east-1, account_id: "123456789012"}\n'
        "phases: {baseline: 0s, fault: 40s, recovery: 0s}\n"
        "max_duration: 70s\nexpiry_margin: 10s\n"
        f"faults:\n{FAULTS[fault]}"
    )
    home = workdir / ".gameday"
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos", "run", str(experiment), "--yes"],
        cwd=workdir,
        env=runner_env(home),
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        journal = wait_for(
            lambda: fault_applied(home),
            timeout=90,
            what=f"the {fault} fault to be applied",
            process=process,
        )
    finally:
        killed_at = time.time()
        process.kill()
        process.communicate(timeout=30)
    shutil.rmtree(workdir)
    return str(journal["run_id"]), killed_at


def restored_by_janitor(clients: AwsClients, run: KilledRun) -> bool:
    journal = latest_journal(clients, run.run_id)
    return bool(
        journal
        and journal.get("finished_by") == "janitor"
        and STATE_OF[run.fault](clients) == run.before
    )


def test_sigkilled_runs_without_their_disk_are_restored_by_the_janitor(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    runs = []
    # What the janitor gives back: each state as it was before any of the runs (a pin marks
    # the subnets it removes, which the blackhole's network state shows too).
    initially = {fault: STATE_OF[fault](sandbox_clients) for fault in FAULTS}
    for fault in FAULTS:
        before = STATE_OF[fault](sandbox_clients)
        run_id, killed_at = run_and_kill(tmp_path / fault, fault)
        assert STATE_OF[fault](sandbox_clients) != before, f"{fault} changed nothing"
        assert not (tmp_path / fault).exists()
        runs.append(KilledRun(fault, run_id, initially[fault], killed_at))
    assert len(schedule_names(sandbox_clients)) == len(FAULTS), "one schedule per run"

    for run in runs:  # each against its own deadline
        wait_for(
            functools.partial(restored_by_janitor, sandbox_clients, run),
            timeout=max(1.0, run.killed_at + JANITOR_WITHIN_S - time.time()),
            what=f"the janitor to restore the {run.fault} run {run.run_id} within "
            f"{JANITOR_WITHIN_S:g} s of its SIGKILL",
        )

    for run in runs:
        journal = latest_journal(sandbox_clients, run.run_id)
        assert journal is not None
        assert (journal["status"], journal["finished_by"]) == ("rolled_back", "janitor")
        assert {entry["status"] for entry in journal["entries"]} == {"restored"}, journal
        assert all(entry["detail"].startswith("janitor: ") for entry in journal["entries"])
        # The janitor's own timestamps: every entry restored within the bound of this run's
        # SIGKILL (its schedule entry, deleted last, included), none before the kill.
        restored = [epoch_seconds(entry["restored_at"]) for entry in journal["entries"]]
        started = [epoch_seconds(entry["restore_started_at"]) for entry in journal["entries"]]
        assert min(started) > run.killed_at, f"{run.fault}: restored before its SIGKILL"
        took_s = max(restored) - run.killed_at
        assert took_s <= JANITOR_WITHIN_S, (
            f"{run.fault}: the janitor restored it {took_s:.0f} s after its SIGKILL"
        )
        assert {entry["fault_type"] for entry in journal["entries"]} == {
            run.fault.removesuffix("-pin").removesuffix("-blackhole"),
            "janitor-schedule",
        }
    assert LOCK not in lambda_state(sandbox_clients)
    assert LOCK not in ecs_state(sandbox_clients)
    assert LOCK not in network_state(sandbox_clients)
    assert schedule_names(sandbox_clients) == [], "every schedule fired and was deleted"


def full_state(clients: AwsClients) -> str:
    """Layers, Environment, VpcConfig and tags of `orders`, byte for byte."""
    config = clients.lambda_.get_function_configuration(FunctionName="orders")
    tags = clients.lambda_.list_tags(Resource=config["FunctionArn"])["Tags"]
    return json.dumps(
        {key: config.get(key) for key in ("Layers", "Environment", "VpcConfig")} | {"Tags": tags},
        sort_keys=True,
    )


def test_a_run_killed_with_its_disk_is_seen_and_rolled_back_from_another_directory(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    """SIGKILL while the layer is attached and the subnets are pinned, delete the working
    directory, then from a new one: `status` lists the run, `rollback --all` restores it."""
    before = full_state(sandbox_clients)
    workdir = tmp_path / "ci-runner"
    workdir.mkdir()
    experiment = workdir / "both.yaml"
    experiment.write_text(
        "version: 1\nkind: experiment\nname: killed-with-its-disk\n"
        'target: {region: us-east-1, account_id: "123456789012"}\n'
        "phases: {baseline: 0s, fault: 10m, recovery: 0s}\nmax_duration: 15m\n"
        "faults:\n"
        "  - type: lambda-extension\n    functions: [orders]\n    latency: {ms: 100}\n"
        "  - type: az-loss\n    az_id: use1-az1\n    targets: {lambda: [orders]}\n"
    )
    home = workdir / ".gameday"
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos", "run", str(experiment), "--yes"],
        cwd=workdir,
        env=runner_env(home),
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        journal = wait_for(
            lambda: fault_applied(home),
            timeout=90,
            what="the layer and the pin to be applied",
            process=process,
        )
    finally:
        process.kill()
        process.communicate(timeout=30)
    shutil.rmtree(workdir)
    killed = full_state(sandbox_clients)
    assert killed != before and LOCK in killed and "gameday-chaos" in killed

    elsewhere = tmp_path / "another-machine"
    elsewhere.mkdir()
    env = runner_env(elsewhere / ".gameday")

    def gameday_there(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chaos", *args],
            cwd=elsewhere,
            env=env,
            text=True,
            capture_output=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )

    status = gameday_there("status")
    assert status.returncode == 0 and journal["run_id"] in status.stdout, status
    assert "status=dead" in status.stdout
    rollback = gameday_there("rollback", "--all")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert full_state(sandbox_clients) == before
    assert "no unfinished runs" in gameday_there("status").stdout
    assert schedule_names(sandbox_clients) == [], "the rollback deleted the run's schedule"
