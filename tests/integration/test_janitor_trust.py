"""The janitor checks its event and the journal, and trusts neither (moto).

Each test forges what someone who may write the journal prefix, or create a schedule, can
forge: an event naming another journal or a stale period of 0, a journal revision that
changes what the run recorded, names a profile or an endpoint, or adds an entry for a
resource in another account; an overwritten revision. The janitor restores exactly the run's
own changes, reports what it refused, and never refuses the whole journal.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError

from chaos.aws import AwsClients
from chaos.clock import iso_from_epoch
from chaos.janitor import HEARTBEAT_STALE_ENV
from chaos.janitor.handler import MAX_FOLLOW_UPS, handler, sweep
from chaos.janitor.package import JANITOR_SERVICES
from chaos.janitor.timer import JanitorEvent, function_arn
from chaos.journal import JournalTakenOver, JournalWriteUnsupported
from chaos.run.restore import RestoreBudget
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function
from tests.integration.janitor_support import (
    JOURNAL_URI,
    STALE_S,
    DeadRun,
    az_loss,
    die,
    janitor_environment,
    journal_store,
    lambda_extension,
    latest_document,
    schedules,
    start_run,
)
from tests.integration.test_janitor_run import function_in_vpc

pytestmark = pytest.mark.usefixtures("aws")
JANITOR_ARN = function_arn(REGION, ACCOUNT_ID)
OTHER_ACCOUNT = "999999999999"


@pytest.fixture(autouse=True)
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    janitor_environment(monkeypatch)


def function_state(name: str = "orders") -> str:
    client = boto3.client("lambda", region_name=REGION)
    config = client.get_function_configuration(FunctionName=name)
    tags = client.list_tags(Resource=config["FunctionArn"])["Tags"]
    return json.dumps([config.get("Layers"), config.get("Environment"), tags], sort_keys=True)


def faulted_run(tmp_path: Path, run_id: str) -> tuple[DeadRun, str]:
    """A run that attached its layer to `orders`; the state before it."""
    create_function("orders")
    before = function_state()
    run = start_run(tmp_path, run_id)
    lambda_extension(run, ["orders"])
    assert function_state() != before
    return run, before


def forge(run: DeadRun, change: Any) -> int:
    """Write the next revision as a forger would: the latest one, changed by `change`."""
    store = journal_store()
    latest = store.latest(run.journal.run_id)
    assert latest is not None
    revision, document = latest
    forged = copy.deepcopy(document)
    change(forged)
    forged["revision"] = revision + 1
    store.put(run.journal.run_id, revision + 1, forged)
    return revision + 1


def entry_of(document: dict[str, Any], fault_type: str) -> dict[str, Any]:
    return next(entry for entry in document["entries"] if entry["fault_type"] == fault_type)


def test_an_event_naming_another_journal_is_refused_and_nothing_is_read(tmp_path: Path) -> None:
    run, _ = faulted_run(tmp_path, "20240501T100000Z-elsewhere-aaaaaa")
    die(run, heartbeat_age_s=10 * STALE_S)
    during = function_state()

    result = sweep(
        JanitorEvent(run.journal.run_id, "s3://gameday-journal/other-team/"),
        own_arn=JANITOR_ARN,
        region=REGION,
    )

    assert result.action == "refused" and "reads only s3://gameday-journal/runs/" in result.detail
    assert function_state() == during
    assert latest_document(run.journal.run_id)["status"] == "running"


def test_without_its_deployed_location_the_janitor_reads_no_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = faulted_run(tmp_path, "20240501T100000Z-unset-aaaaaa")
    die(run, heartbeat_age_s=10 * STALE_S)
    monkeypatch.delenv("GAMEDAY_JANITOR_JOURNAL")
    during = function_state()
    assert sweep(run.event, own_arn=JANITOR_ARN, region=REGION).action == "refused"
    assert function_state() == during


def test_a_stale_period_of_zero_in_the_event_does_not_restore_a_live_run(tmp_path: Path) -> None:
    run, _ = faulted_run(tmp_path, "20240501T100000Z-live-zero-aaaaaa")
    die(run, heartbeat_age_s=STALE_S / 4)  # alive by the janitor's own setting
    during = function_state()
    event = {**run.event.to_dict(), "heartbeat_stale_s": 0}

    result = handler(event, None)

    assert result["action"] == "deferred", result
    assert function_state() == during
    assert latest_document(run.journal.run_id)["writer"] == run.journal.writer, (
        "nothing written to a live run's journal"
    )


def test_the_janitors_heartbeat_setting_has_a_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HEARTBEAT_STALE_ENV, "1")  # below the floor: 60 s count
    run, _ = faulted_run(tmp_path, "20240501T100000Z-floor-aaaaaa")
    die(run, heartbeat_age_s=30)
    assert sweep(run.event, own_arn=JANITOR_ARN, region=REGION).action == "deferred"


def test_a_pid_and_host_in_the_journal_never_keep_the_janitor_away(tmp_path: Path) -> None:
    run, before = faulted_run(tmp_path, "20240501T100000Z-local-pid-aaaaaa")
    die(run, heartbeat_age_s=10 * STALE_S)
    run.journal.hostname, run.journal.pid = socket.gethostname(), 1  # "alive here"
    run.journal.save()

    result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)

    assert result.action == "restored", result
    assert function_state() == before


def test_past_its_deadline_a_run_is_restored_whatever_its_heartbeat(tmp_path: Path) -> None:
    run, before = faulted_run(tmp_path, "20240501T100000Z-deadline-aaaaaa")
    run.journal.deadline_at = iso_from_epoch(time.time() - 1)  # as journaled at creation
    run.journal.revision = 0
    from tests.integration.janitor_support import rewrite_history

    rewrite_history(run)
    die(run, heartbeat_age_s=1)  # a fresh heartbeat
    assert sweep(run.event, own_arn=JANITOR_ARN, region=REGION).action == "restored"
    assert function_state() == before


def test_a_revision_that_changes_what_the_run_recorded_is_left_out_and_reported(
    tmp_path: Path,
) -> None:
    run, before = faulted_run(tmp_path, "20240501T100000Z-forged-aaaaaa")
    die(run, heartbeat_age_s=10 * STALE_S)

    def evil_originals(document: dict[str, Any]) -> None:
        attached = entry_of(document, "lambda-extension")
        attached["original"]["environment_overwritten"] = {"TABLE": "evil", "SECRET_TOKEN": ""}
        attached["intended"]["environment"]["TABLE"] = "evil"
        document["profile"], document["endpoint_url"] = "attacker", "http://127.0.0.1:9"

    forged = forge(run, evil_originals)

    result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)

    assert result.action == "restored" and result.failed == 0, result
    assert function_state() == before, "the run's own change undone, nothing else written"
    [line] = [line for line in result.journal_breaks if line.startswith(f"revision {forged}")]
    assert "changes the run's endpoint_url, profile" in line and line.endswith("left out")
    document = latest_document(run.journal.run_id)
    assert document["revision"] > forged and document["writer"].startswith("janitor:"), (
        "its revisions come after every stored one"
    )
    assert (document["profile"], document["endpoint_url"]) == (None, None)
    again = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)
    assert again.action == "finished", "the janitor's own revisions follow the valid ones"


def test_an_overwritten_revision_is_read_as_first_written(tmp_path: Path) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="gameday-journal")
    boto3.client("s3", region_name=REGION).put_bucket_versioning(
        Bucket="gameday-journal", VersioningConfiguration={"Status": "Enabled"}
    )
    run, before = faulted_run(tmp_path, "20240501T100000Z-overwritten-aaaaaa")
    die(run, heartbeat_age_s=10 * STALE_S)
    store = journal_store()
    revision, document = store.latest(run.journal.run_id)  # type: ignore[misc]
    emptied = {
        **document,
        "entries": [
            entry for entry in document["entries"] if entry["fault_type"] != "lambda-extension"
        ],
    }
    boto3.client("s3", region_name=REGION).put_object(  # no If-None-Match: no bucket policy
        Bucket="gameday-journal",
        Key=store.location.revision_key(run.journal.run_id, revision),
        Body=json.dumps(emptied).encode(),
    )

    result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)

    assert result.action == "restored" and result.restored == 2, result
    assert function_state() == before
    assert (
        f"revision {revision} was written 2 times (overwritten or deleted): its first "
        "version is used" in result.journal_breaks
    )


def test_an_entry_outside_the_janitors_account_is_refused_and_the_rest_restored(
    tmp_path: Path,
) -> None:
    run, before = faulted_run(tmp_path, "20240501T100000Z-other-account-aaaaaa")
    die(run, heartbeat_age_s=10 * STALE_S)
    victim = f"arn:aws:lambda:{REGION}:{OTHER_ACCOUNT}:function:victim"

    def add_victim(document: dict[str, Any]) -> None:
        entry = copy.deepcopy(entry_of(document, "lambda-extension"))
        entry.update(entry_id=f"lambda-extension:{victim}", target="victim", target_arn=victim)
        document["entries"].append(entry)

    forge(run, add_victim)  # a well-formed revision: the chain keeps it

    result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)

    assert (result.action, result.restored, result.refused) == ("restored", 2, 1), result
    [refused] = [entry for entry in result.entries if entry["status"] == "refused"]
    assert refused["target"] == "victim"
    assert refused["detail"] == (
        f"janitor: refused ({victim} is in account {OTHER_ACCOUNT}, not {ACCOUNT_ID})"
    )
    assert function_state() == before


def test_a_run_journaled_for_another_account_or_region_is_not_the_janitors(tmp_path: Path) -> None:
    create_function("orders")
    run = start_run(tmp_path, "20240501T100000Z-foreign-run-aaaaaa")
    lambda_extension(run, ["orders"])
    die(run, heartbeat_age_s=10 * STALE_S)
    during = function_state()
    result = sweep(run.event, own_arn=function_arn("eu-west-1", ACCOUNT_ID), region="eu-west-1")
    assert result.action == "refused" and "restores 123456789012 in eu-west-1 only" in result.detail
    assert function_state() == during


def test_every_s3_call_names_the_janitors_account_as_the_bucket_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, before = faulted_run(tmp_path, "20240501T100000Z-owner-aaaaaa")
    die(run, heartbeat_age_s=10 * STALE_S)
    calls: list[tuple[str, str | None]] = []
    services: set[str] = set()
    original = AwsClients.client

    def client(self: AwsClients, service: str) -> Any:
        created = original(self, service)
        services.add(service)
        if service == "s3" and not getattr(created, "_owner_recorded", False):
            created.meta.events.register(
                "before-parameter-build.s3.*",
                lambda model, params, **_: calls.append(
                    (model.name, params.get("ExpectedBucketOwner"))
                ),
            )
            created._owner_recorded = True
        return created

    monkeypatch.setattr(AwsClients, "client", client)
    assert sweep(run.event, own_arn=JANITOR_ARN, region=REGION).action == "restored"
    assert function_state() == before
    assert {name for name, _ in calls} >= {"ListObjectsV2", "GetObject", "PutObject"}
    assert {owner for _, owner in calls} == {ACCOUNT_ID}
    assert services <= set(JANITOR_SERVICES), "its package has the models it uses"


def test_a_botocore_without_conditional_writes_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = faulted_run(tmp_path, "20240501T100000Z-old-botocore-aaaaaa")
    die(run, heartbeat_age_s=10 * STALE_S)
    during = function_state()
    revision = latest_document(run.journal.run_id)["revision"]
    original = AwsClients.client

    def client(self: AwsClients, service: str) -> Any:
        created = original(self, service)
        if service == "s3":

            def refuse(**params: Any) -> None:
                if "IfNoneMatch" in params:  # what botocore before 2024-08 answers
                    raise ParamValidationError(report='Unknown parameter in input: "IfNoneMatch"')

            monkeypatch.setattr(created, "put_object", refuse)
        return created

    monkeypatch.setattr(AwsClients, "client", client)
    with pytest.raises(JournalWriteUnsupported, match="cannot send S3 conditional writes"):
        sweep(run.event, own_arn=JANITOR_ARN, region=REGION)
    assert function_state() == during, "no journal write, no restore"
    assert latest_document(run.journal.run_id)["revision"] == revision


def test_a_runner_finds_any_revision_of_the_janitor_and_changes_nothing_more(
    tmp_path: Path,
) -> None:
    function_in_vpc()
    run = start_run(tmp_path, "20240501T100000Z-paused-aaaaaa")
    az_loss(run, {"lambda": ["orders"]})
    die(run, heartbeat_age_s=10 * STALE_S)

    # The janitor's time runs out before its restores: it has only claimed the journal.
    result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION, budget=RestoreBudget.lasting(0))
    assert (
        result.action == "continuing"
        and latest_document(run.journal.run_id)["status"] == "rollback_incomplete"
    )
    with pytest.raises(JournalTakenOver, match="the janitor took over its journal"):
        run.journal.beat()  # the paused runner wakes up


def test_entries_left_by_the_budget_are_finished_by_the_follow_up_it_scheduled(
    tmp_path: Path,
) -> None:
    function_in_vpc()
    before = json.dumps(
        boto3.client("lambda", region_name=REGION).get_function_configuration(
            FunctionName="orders"
        )["VpcConfig"]["SubnetIds"]
    )
    run = start_run(tmp_path, "20240501T100000Z-budget-aaaaaa")
    az_loss(run, {"lambda": ["orders"]})  # converge_timeout 2s: at most 32 s to restore
    die(run, heartbeat_age_s=10 * STALE_S)

    first = sweep(run.event, own_arn=JANITOR_ARN, region=REGION, budget=RestoreBudget.lasting(20))

    assert first.action == "continuing", first
    assert first.follow_up in schedules(), "created"
    document = latest_document(run.journal.run_id)
    follow_up = next(
        entry for entry in document["entries"] if entry["intended"].get("follow_up") == 1
    )
    assert (follow_up["status"], follow_up["intended"]["name"]) == ("applied", first.follow_up)
    assert (document["status"], document["finished_by"]) == ("rollback_incomplete", "janitor")
    pin = entry_of(document, "az-loss")
    assert pin["status"] == "applied" and pin["restore_started_at"] is None, "not started"

    second = sweep(run.event, own_arn=JANITOR_ARN, region=REGION, budget=RestoreBudget.lasting(600))

    assert (second.action, second.failed) == ("restored", 0), second
    after = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName="orders"
    )["VpcConfig"]["SubnetIds"]
    assert json.dumps(after) == before
    assert schedules() == {}, "every schedule, the follow-up too, deleted"
    assert latest_document(run.journal.run_id)["status"] == "rolled_back"


def test_follow_ups_are_bounded(tmp_path: Path) -> None:
    function_in_vpc()
    run = start_run(tmp_path, "20240501T100000Z-bounded-aaaaaa")
    az_loss(run, {"lambda": ["orders"]})
    die(run, heartbeat_age_s=10 * STALE_S)
    actions = [
        sweep(run.event, own_arn=JANITOR_ARN, region=REGION, budget=RestoreBudget.lasting(0)).action
        for _ in range(MAX_FOLLOW_UPS + 1)
    ]
    assert actions == ["continuing"] * MAX_FOLLOW_UPS + ["restored"]
    last = latest_document(run.journal.run_id)
    assert last["status"] == "rollback_incomplete", "left to gameday rollback, and status"


def test_a_run_id_that_is_not_one_never_names_a_path() -> None:
    with pytest.raises(ValueError, match="is not a run id"):
        handler({"run_id": "..", "journal": JOURNAL_URI}, None)
    with pytest.raises(ValueError, match="is not a run id"):
        handler({"run_id": "a/../../etc", "journal": JOURNAL_URI}, None)
    store = journal_store()
    store.s3.put_object(Bucket="gameday-journal", Key="runs/../journal-00000001.json", Body=b"{}")
    assert ".." not in store.run_ids()
    assert os.sep not in "".join(store.run_ids())


def test_a_runner_that_writes_first_wins_the_claim_and_the_janitor_decides_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaos.janitor import handler as janitor_handler

    run, _ = faulted_run(tmp_path, "20240501T100000Z-contended-aaaaaa")
    die(run, heartbeat_age_s=10 * STALE_S)
    during = function_state()
    read = janitor_handler.verified_journal
    woke: list[int] = []

    def read_then_the_runner_beats(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        if not woke:  # between the janitor's read and its claim, the runner wakes up
            run.journal.hostname = "runner-that-woke.example"
            run.journal.beat()
            woke.append(run.journal.revision)
        return found

    monkeypatch.setattr(janitor_handler, "verified_journal", read_then_the_runner_beats)

    result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)

    assert result.action == "deferred", result
    assert function_state() == during
    assert latest_document(run.journal.run_id)["writer"] == run.journal.writer
    run.journal.beat()  # the runner carries on: nobody took it over
