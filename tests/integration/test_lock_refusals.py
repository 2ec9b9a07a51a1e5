"""A resource locked by another run: the refusal says whether that run is unfinished in a
journal this run can read (local, or the run's S3 journal) and how to clear it - for every
fault kind, from one lookup (chaos.faults.locks)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from chaos.journal import Journal, JournalLocation, S3JournalStore, runs_dir
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function, experiment_yaml
from tests.integration.test_refusals import run_refused

BUCKET = "gameday-journal"
JOURNAL = f"s3://{BUCKET}/runs/"
LOCK = "gameday:run-id"


def journal_of(run_id: str, run_dir: Path, remote: S3JournalStore | None = None) -> Journal:
    """A run that journaled a change and died: unfinished."""
    return Journal.create(
        run_dir,
        remote=remote,
        run_id=run_id,
        experiment_name="other",
        experiment_path="other.yaml",
        region=REGION,
        endpoint_url=None,
        profile=None,
        account_id=ACCOUNT_ID,
    )


@pytest.fixture
def s3_journal(aws: None) -> S3JournalStore:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    return S3JournalStore(s3, JournalLocation.parse(JOURNAL))


def test_a_lock_of_a_run_unfinished_in_the_s3_journal_names_the_run_and_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_journal: S3JournalStore
) -> None:
    # Its runner was another machine: the journal is in S3 only.
    journal_of("dead-run-1", tmp_path / "another-machine" / "dead-run-1", s3_journal)
    create_function("orders", Tags={LOCK: "dead-run-1"})

    line = run_refused(
        tmp_path, capsys, experiment_yaml(), ["orders"], "--yes", "--journal", JOURNAL
    )

    assert (
        "orders: locked by run dead-run-1 (unfinished, journal "
        f"{JOURNAL}dead-run-1/): gameday rollback --run-id dead-run-1"
    ) in line, line
    assert line.endswith(f"--journal {JOURNAL}"), "the rollback must find that journal"


@pytest.mark.usefixtures("s3_journal")
def test_a_lock_of_a_run_no_journal_knows_keeps_the_general_wording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders", Tags={LOCK: "ghost-run"})

    line = run_refused(
        tmp_path, capsys, experiment_yaml(), ["orders"], "--yes", "--journal", JOURNAL
    )

    assert line.endswith(
        "orders: locked by run ghost-run (tag gameday:run-id); if that run "
        "is dead: gameday rollback --run-id ghost-run"
    ), line


@pytest.mark.usefixtures("aws")
def test_a_lock_of_a_finished_run_is_not_called_unfinished(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal_of("done-run", runs_dir() / "done-run").finish("finished")
    create_function("orders", Tags={LOCK: "done-run"})

    line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])

    assert "locked by run done-run (tag gameday:run-id); if that run is dead" in line, line


@pytest.mark.usefixtures("aws")
def test_an_az_loss_target_locked_by_a_run_unfinished_here_names_its_local_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = journal_of("dead-run-2", runs_dir() / "dead-run-2")
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7.{index}.0/24", AvailabilityZoneId=az_id)[
            "Subnet"
        ]["SubnetId"]
        for index, az_id in enumerate(("use1-az1", "use1-az2"))
    ]
    group = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
    create_function(
        "orders",
        Tags={LOCK: "dead-run-2"},
        VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": [group]},
    )
    az_loss = experiment_yaml().split("faults:")[0] + (
        "faults:\n  - type: az-loss\n    az_id: use1-az1\n    targets: {lambda: [orders]}\n"
    )

    line = run_refused(tmp_path, capsys, az_loss, ["orders"])

    assert (
        f"orders: locked by run dead-run-2 (unfinished, journal {journal.path}): "
        "gameday rollback --run-id dead-run-2"
    ) in line, line


@pytest.mark.usefixtures("aws")
def test_a_lock_of_a_live_run_says_to_wait_and_never_suggests_rolling_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        journal = journal_of("live-run-3", runs_dir() / "live-run-3")
        journal.pid = live.pid  # its runner, alive on this host
        journal.save()
        create_function("orders", Tags={LOCK: "live-run-3"})

        line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
    finally:
        live.kill()
        live.wait()

    assert "orders: locked by run live-run-3, which is still running" in line, line
    assert "wait for it to end" in line and "rollback" not in line, line
