"""`gameday rollback --journal` from another machine checks the journal, as the janitor does
(moto): it takes no profile or endpoint from it, restores only a journal of the caller's
account, refuses an entry in another account, and leaves out a revision that changes what
the run recorded."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from chaos.cli import main
from chaos.journal import Journal
from tests.integration.conftest import REGION, create_function
from tests.integration.janitor_support import (
    STALE_S,
    DeadRun,
    die,
    journal_store,
    lambda_extension,
    latest_document,
    start_run,
)

pytestmark = pytest.mark.usefixtures("aws")
JOURNAL = "s3://gameday-journal/runs/"


def function_state() -> str:
    client = boto3.client("lambda", region_name=REGION)
    config = client.get_function_configuration(FunctionName="orders")
    tags = client.list_tags(Resource=config["FunctionArn"])["Tags"]
    return json.dumps([config.get("Layers"), config.get("Environment"), tags], sort_keys=True)


def dead_run(tmp_path: Path, run_id: str, **header: Any) -> DeadRun:
    """A run that attached its layer to `orders` and died; `header` overrides what its
    journal was created with (as a forger who wrote its first revision would)."""
    create_function("orders")
    run = start_run(tmp_path, run_id)
    if header:
        for name, value in header.items():
            setattr(run.journal, name, value)
        first = journal_store().history(run_id)[0].document
        store = journal_store()
        s3 = store.s3
        s3.delete_object(Bucket="gameday-journal", Key=store.location.revision_key(run_id, 1))
        run.journal.revision = 0
        run.journal.save()
        assert first["revision"] == 1
    lambda_extension(run, ["orders"])
    die(run, heartbeat_age_s=10 * STALE_S)
    return run


def rollback(capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["rollback", "--all", "--journal", JOURNAL])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("gameday_home")
def test_a_journal_naming_a_profile_and_an_endpoint_is_restored_without_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    before = function_state()
    boto3.client("lambda", region_name=REGION).delete_function(FunctionName="orders")
    dead_run(
        tmp_path,
        "20240501T100000Z-profiled-aaaaaa",
        profile="attacker",
        endpoint_url="http://127.0.0.1:9",
    )

    code, out, err = rollback(capsys)

    assert code == 0, out + err
    assert "run 20240501T100000Z-profiled-aaaaaa: restored 2" in out
    assert function_state() == before


@pytest.mark.usefixtures("gameday_home")
def test_a_journal_of_another_account_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = dead_run(tmp_path, "20240501T100000Z-their-account-aaaaaa", account_id="999999999999")
    during = function_state()

    code, out, err = rollback(capsys)

    assert code == 0
    assert (
        "its journal names 999999999999, the credentials are for account 123456789012: "
        "skipped" in err
    )
    assert function_state() == during
    assert latest_document(run.journal.run_id)["status"] == "running"


@pytest.mark.usefixtures("gameday_home")
def test_rollback_refuses_an_entry_elsewhere_and_leaves_out_a_changed_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    before = function_state()
    boto3.client("lambda", region_name=REGION).delete_function(FunctionName="orders")
    run = dead_run(tmp_path, "20240501T100000Z-forged-bbbbbb")
    store = journal_store()
    revision, document = store.latest(run.journal.run_id)  # type: ignore[misc]
    victim = "arn:aws:lambda:us-east-1:999999999999:function:victim"
    added = copy.deepcopy(document)
    entry = copy.deepcopy(
        next(item for item in added["entries"] if item["fault_type"] == "lambda-extension")
    )
    entry.update(entry_id=f"lambda-extension:{victim}", target="victim", target_arn=victim)
    added["entries"].append(entry)
    added["revision"] = revision + 1
    store.put(run.journal.run_id, revision + 1, added)
    changed = copy.deepcopy(added)
    changed["entries"][1]["original"]["environment_overwritten"] = {"TABLE": "evil"}
    changed["revision"] = revision + 2
    store.put(run.journal.run_id, revision + 2, changed)

    code, out, err = rollback(capsys)

    assert code == 0, out + err
    assert f"run {run.journal.run_id}: restored 2, drifted 0, failed 0" in out
    assert f"victim: refused: {victim} is in account 999999999999, not 123456789012" in out
    assert f"journal: revision {revision + 2}: changes entry" in out, "the break is reported"
    assert function_state() == before
    assert Journal.from_document(latest_document(run.journal.run_id), None).status == "rolled_back"
