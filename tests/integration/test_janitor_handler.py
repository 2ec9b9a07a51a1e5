"""The janitor's decisions on moto: finished → nothing; alive → a follow-up; dead → restore."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from chaos.clock import epoch_seconds
from chaos.janitor.handler import FOLLOW_UP_WINDOWS, handler, sweep
from chaos.janitor.timer import JanitorEvent, function_arn
from chaos.journal import JournalTakenOver
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function
from tests.integration.janitor_support import (
    JOURNAL_URI,
    STALE_S,
    die,
    janitor_environment,
    lambda_extension,
    latest_document,
    schedule_input,
    schedules,
    start_run,
)

pytestmark = pytest.mark.usefixtures("aws")
JANITOR_ARN = function_arn(REGION, ACCOUNT_ID)


@pytest.fixture(autouse=True)
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    janitor_environment(monkeypatch)


def function_state() -> str:
    client = boto3.client("lambda", region_name=REGION)
    config = client.get_function_configuration(FunctionName="orders")
    tags = client.list_tags(Resource=config["FunctionArn"])["Tags"]
    return json.dumps([config.get("Layers"), config.get("Environment"), tags], sort_keys=True)


def test_a_dead_run_is_restored_and_its_journal_closed_by_the_janitor(tmp_path: Path) -> None:
    create_function("orders")
    before = function_state()
    run = start_run(tmp_path, "20240501T100000Z-dead-run-aaaaaa")
    lambda_extension(run, ["orders"])
    run.journal.pid = 4_000_000  # the runner's process, on the host that died
    die(run, heartbeat_age_s=10 * STALE_S)
    assert function_state() != before and run.schedule.name in schedules()

    result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)

    assert result.action == "restored", result
    assert (result.restored, result.drifted, result.failed) == (2, 0, 0)
    assert function_state() == before, "layer, keys and the lock tag are gone"
    assert run.schedule.name not in schedules(), "the run's schedule is deleted"
    document = latest_document(run.journal.run_id)
    assert (document["status"], document["finished_by"]) == ("rolled_back", "janitor")
    assert all(
        entry["status"] == "restored" and entry["detail"].startswith("janitor: restored")
        for entry in document["entries"]
    )
    assert {entry["target"] for entry in result.entries} == {
        "orders",
        f"schedule {run.schedule.name}",
    }

    again = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)
    assert again.action == "finished" and function_state() == before
    with pytest.raises(JournalTakenOver, match="the janitor took over"):
        run.journal.beat()  # the runner comes back: it changes nothing more


def test_a_finished_run_is_left_as_it_is(tmp_path: Path) -> None:
    create_function("orders")
    run = start_run(tmp_path, "20240501T100000Z-finished-run-bbbbbb")
    lambda_extension(run, ["orders"])
    during = function_state()
    run.journal.status = "finished"
    for entry in run.journal.entries:
        entry.status = "restored"
    die(run, heartbeat_age_s=10 * STALE_S)
    revision = run.journal.revision

    result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)

    assert result.action == "finished", result
    assert function_state() == during, "a finished journal is never acted on"
    assert latest_document(run.journal.run_id)["revision"] == revision


def test_a_run_with_a_fresh_heartbeat_gets_a_follow_up_instead(tmp_path: Path) -> None:
    create_function("orders")
    run = start_run(tmp_path, "20240501T100000Z-live-run-cccccc")
    lambda_extension(run, ["orders"])
    die(run, heartbeat_age_s=STALE_S / 4)
    during = function_state()

    result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)

    assert result.action == "deferred", result
    assert function_state() == during
    assert latest_document(run.journal.run_id)["status"] == "running"
    follow_up = schedules()[str(result.follow_up)]
    assert schedule_input(follow_up) == run.event.to_dict()
    assert follow_up["Target"]["Arn"] == JANITOR_ARN
    assert (follow_up["ActionAfterCompletion"], follow_up["FlexibleTimeWindow"]) == (
        "DELETE",
        {"Mode": "OFF"},
    )
    at = epoch_seconds(follow_up["ScheduleExpression"][3:-1] + "Z")
    expected = time.time() + FOLLOW_UP_WINDOWS * STALE_S
    assert expected - 60 < at <= expected + 1


def test_a_run_without_a_heartbeat_yet_is_alive_from_its_creation(tmp_path: Path) -> None:
    create_function("orders")
    run = start_run(tmp_path, "20240501T100000Z-local-run-dddddd")
    lambda_extension(run, ["orders"])
    run.journal.hostname, run.journal.pid = "elsewhere.example", 4_000_000  # never looked at
    run.journal.save()
    assert run.journal.heartbeat_at is None

    assert sweep(run.event, own_arn=JANITOR_ARN, region=REGION).action == "deferred"


def test_an_unknown_run_is_nothing_to_do() -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="gameday-journal")
    event = JanitorEvent("20240501T100000Z-never-ran-eeeeee", JOURNAL_URI)
    result = handler(event.to_dict(), None)
    assert result["action"] == "none" and "no journal" in result["detail"]


def test_a_malformed_event_fails_loudly() -> None:
    with pytest.raises(ValueError, match="run_id"):
        handler({"journal": JOURNAL_URI}, None)
