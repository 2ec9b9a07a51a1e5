"""Runs that died on moto, for the janitor's tests: faults applied, journal in S3, no restore.

A run here is built from the real pieces (Journal with an S3 store, the janitor schedule
kind, the fault kinds' plan and apply), then "dies": its journal says it runs on another
host, with a heartbeat as old as the test wants.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from chaos.aws import AwsClients
from chaos.clock import iso_from_epoch
from chaos.faults import (
    AzLossFault,
    FaultContext,
    FaultKind,
    LambdaExtensionFault,
)
from chaos.faults.az_loss.spec import AzLossSpec
from chaos.faults.lambda_extension.spec import LambdaExtensionSpec
from chaos.janitor import HEARTBEAT_STALE_ENV, JOURNAL_ENV
from chaos.janitor.timer import (
    JanitorEvent,
    JanitorSchedule,
    function_arn,
    schedule_name,
    scheduler_role_arn,
)
from chaos.janitor.timer_change import JanitorScheduleKind
from chaos.journal import Journal, JournalLocation, S3JournalStore
from tests.integration.conftest import ACCOUNT_ID, REGION

JOURNAL_URI = "s3://gameday-journal/runs/"
STALE_S = 60.0  # the janitor's own heartbeat setting in these tests (its floor)
DEAD_HOST = "runner-that-died.example"


def janitor_environment(monkeypatch: Any) -> None:
    """The janitor's deployed settings (chaos.janitor.deploy): its journal location and
    heartbeat setting."""
    monkeypatch.setenv(JOURNAL_ENV, JOURNAL_URI)
    monkeypatch.setenv(HEARTBEAT_STALE_ENV, str(STALE_S))


def clients() -> AwsClients:
    return AwsClients(region=REGION)


def journal_store() -> S3JournalStore:
    location = JournalLocation.parse(JOURNAL_URI)
    s3 = clients().client("s3")
    buckets = [bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])]
    if location.bucket not in buckets:
        s3.create_bucket(Bucket=location.bucket)
    return S3JournalStore(s3, location)


@dataclass
class DeadRun:
    journal: Journal
    schedule: JanitorSchedule

    @property
    def event(self) -> JanitorEvent:
        return self.schedule.event


def start_run(tmp_path: Path, run_id: str) -> DeadRun:
    """A run's journal in S3 with its janitor schedule created (as `execute` does)."""
    journal = Journal.create(
        tmp_path / run_id,
        remote=journal_store(),
        run_id=run_id,
        experiment_name="janitor",
        experiment_path="janitor.yaml",
        region=REGION,
        endpoint_url=None,
        profile=None,
        account_id=ACCOUNT_ID,
    )
    schedule = JanitorSchedule(
        name=schedule_name(run_id),
        at=time.time() + 600,
        function_arn=function_arn(REGION, ACCOUNT_ID),
        role_arn=scheduler_role_arn(REGION, ACCOUNT_ID),
        event=JanitorEvent(run_id, JOURNAL_URI),
    )
    kind = JanitorScheduleKind(schedule, context(run_id))
    [change] = kind.plan()
    kind.apply(change, journal)
    return DeadRun(journal, schedule)


def context(run_id: str) -> FaultContext:
    return FaultContext(clients=clients(), run_id=run_id, expires_at=time.time() + 600)


def apply_fault(run: DeadRun, kind: FaultKind[Any]) -> None:
    kind.prepare()
    for change in kind.plan():
        kind.apply(change, run.journal)


def lambda_extension(run: DeadRun, functions: list[str]) -> None:
    spec = LambdaExtensionSpec.model_validate(
        {"type": "lambda-extension", "functions": functions, "latency": {"ms": 100}}
    )
    apply_fault(run, LambdaExtensionFault(spec, context(run.journal.run_id)))


def az_loss(run: DeadRun, targets: dict[str, Any], mode: str = "pin") -> None:
    spec = AzLossSpec.model_validate(
        {
            "type": "az-loss",
            "az_id": "use1-az1",
            "mode": mode,
            "targets": targets,
            "converge_timeout": "2s",
        }
    )
    apply_fault(run, AzLossFault(spec, context(run.journal.run_id)))


def rewrite_history(run: DeadRun) -> None:
    """The run's S3 journal as one revision of its current state (every version of every
    older revision gone): for a state no sequence of saves reaches, such as a crash the
    test simulates after the fact."""
    s3 = clients().client("s3")
    location = JournalLocation.parse(JOURNAL_URI)
    listed = s3.list_object_versions(
        Bucket=location.bucket, Prefix=location.run_prefix(run.journal.run_id)
    )
    for item in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
        s3.delete_object(Bucket=location.bucket, Key=item["Key"], VersionId=item["VersionId"])
    run.journal.revision = 0
    run.journal.save()


def die(run: DeadRun, heartbeat_age_s: float) -> None:
    """The runner is gone (another host); its last heartbeat is this old."""
    journal = run.journal
    journal.hostname = DEAD_HOST
    journal.heartbeat_at = iso_from_epoch(time.time() - heartbeat_age_s)
    journal.save()


def latest_document(run_id: str) -> dict[str, Any]:
    latest = journal_store().latest(run_id)
    assert latest is not None
    return latest[1]


def schedules() -> dict[str, dict[str, Any]]:
    """Every schedule in the default group, by name, as GetSchedule returns it."""
    scheduler = boto3.client("scheduler", region_name=REGION)
    names = [item["Name"] for item in scheduler.list_schedules()["Schedules"]]
    return {name: scheduler.get_schedule(Name=name) for name in names}


def schedule_input(schedule: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(schedule["Target"]["Input"]))
