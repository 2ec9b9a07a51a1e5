"""The journal in S3 (moto): revisions written before every change, never overwritten,
and readable from another machine to see and restore a run whose runner is gone."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import pytest

from chaos.cli import main
from chaos.journal import (
    Journal,
    JournalConflict,
    JournalEntry,
    JournalLocation,
    JournalTakenOver,
    S3JournalStore,
    all_journals,
)
from chaos.journal.model import runs_dir
from tests.integration.conftest import REGION, create_function, experiment_yaml

BUCKET = "gameday-journal"
URI = f"s3://{BUCKET}/runs/"


@pytest.fixture
def store(aws: None) -> S3JournalStore:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    return S3JournalStore(s3, JournalLocation.parse(URI))


def new_journal(tmp_path: Path, store: S3JournalStore, run_id: str = "run-1") -> Journal:
    return Journal.create(
        tmp_path / run_id,
        remote=store,
        run_id=run_id,
        experiment_name="x",
        experiment_path="x.yaml",
        region=REGION,
        endpoint_url=None,
        profile=None,
        account_id="123456789012",
    )


def keys(store: S3JournalStore) -> list[str]:
    listed = store.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_location_parsing() -> None:
    assert JournalLocation.parse("s3://b-1/runs/a/") == JournalLocation("b-1", "runs/a/")
    assert JournalLocation.parse("s3://b-1").prefix == ""
    with pytest.raises(Exception, match="expected s3://BUCKET/PREFIX"):
        JournalLocation.parse("https://b-1/runs")


def test_every_save_is_a_new_revision_read_back_as_the_latest(
    tmp_path: Path, store: S3JournalStore
) -> None:
    journal = new_journal(tmp_path, store)
    entry = journal.record(JournalEntry("e", "lambda-extension", "orders", "arn:x", {}, {}))
    journal.update(entry, "applied")
    assert keys(store) == [f"runs/run-1/journal-{n:08d}.json" for n in (1, 2, 3)]
    revision, document = store.latest("run-1")  # type: ignore[misc]
    assert revision == 3 and document["entries"][0]["status"] == "applied"
    assert document["location"] == URI and store.run_ids() == ["run-1"]


def test_a_revision_is_never_overwritten(store: S3JournalStore) -> None:
    store.put("run-2", 1, {"status": "running"})
    with pytest.raises(JournalConflict):
        store.put("run-2", 1, {"status": "overwritten"})
    assert store.latest("run-2") == (1, {"status": "running"})


def test_a_run_whose_journal_the_janitor_closed_changes_nothing_more(
    tmp_path: Path, store: S3JournalStore
) -> None:
    journal = new_journal(tmp_path, store)
    janitor = Journal.from_document(store.latest("run-1")[1], None, store)  # type: ignore[index]
    janitor.take_over("janitor")
    janitor.revision = 1
    janitor.finish("rolled_back", by="janitor")  # revision 2, written by someone else
    with pytest.raises(JournalTakenOver, match="the janitor took over its journal .*closed"):
        journal.record(JournalEntry("e", "lambda-extension", "orders", "arn:x", {}, {}))


def test_a_concurrent_revision_of_the_same_run_is_retried_on_top(
    tmp_path: Path, store: S3JournalStore
) -> None:
    journal = new_journal(tmp_path, store)
    store.put("run-1", 2, {**journal.to_dict(), "revision": 2})  # a heartbeat of ours, say
    journal.beat()
    assert store.latest("run-1")[0] == 3  # type: ignore[index]


def killed_between_local_and_s3_write(
    tmp_path: Path, store: S3JournalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner (GAMEDAY_HOME tmp_path/runner) journals e1 and applies it, then dies while
    journaling e2: its local journal written (revision 4), its S3 revision not (still 3) —
    and e2 never made, since a change waits for its journal save."""
    monkeypatch.setenv("GAMEDAY_HOME", str(tmp_path / "runner"))
    journal = Journal.create(
        runs_dir() / "run-1",
        remote=store,
        run_id="run-1",
        experiment_name="x",
        experiment_path="x.yaml",
        region=REGION,
        endpoint_url=None,
        profile=None,
        account_id="123456789012",
    )
    journal.update(
        journal.record(JournalEntry("e1", "lambda-extension", "orders", "arn:x", {}, {})), "applied"
    )
    assert store.latest("run-1")[0] == journal.revision == 3  # type: ignore[index]

    def killed(*_: Any, **__: Any) -> None:
        raise SystemExit("runner killed")

    with monkeypatch.context() as dying:
        dying.setattr(store, "put", killed)
        with pytest.raises(SystemExit):
            journal.record(JournalEntry("e2", "az-loss", "lambda:orders", "arn:y", {}, {}))
    assert store.latest("run-1")[0] == 3  # type: ignore[index]


def test_a_runner_killed_between_its_local_and_its_s3_write_is_read_right_from_both(
    tmp_path: Path, store: S3JournalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed_between_local_and_s3_write(tmp_path, store, monkeypatch)
    # Where the disk survived, the local journal is the newer one: it names the change
    # that may have begun, and its next save lands in S3 on top of what is there.
    (found,) = all_journals(store)
    assert found.revision == 4 and [entry.entry_id for entry in found.entries] == ["e1", "e2"]
    assert found.remote is store
    found.finish("rolled_back", by="rollback")
    revision, document = store.latest("run-1")  # type: ignore[misc]
    assert revision == 5 and document["status"] == "rolled_back"
    assert [entry["entry_id"] for entry in document["entries"]] == ["e1", "e2"]


def test_without_the_runner_disk_the_s3_journal_holds_every_change_made(
    tmp_path: Path, store: S3JournalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed_between_local_and_s3_write(tmp_path, store, monkeypatch)
    shutil.rmtree(tmp_path / "runner")
    monkeypatch.setenv("GAMEDAY_HOME", str(tmp_path / "other-machine"))
    (found,) = all_journals(store)
    assert found.revision == 3 and [entry.entry_id for entry in found.entries] == ["e1"]
    assert found.entries[0].status == "applied"


@pytest.mark.usefixtures("aws")
def test_status_and_rollback_from_another_machine_find_the_run_in_s3(
    tmp_path: Path,
    store: S3JournalStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_function("orders")
    lambda_ = boto3.client("lambda", region_name=REGION)
    before = lambda_.get_function_configuration(FunctionName="orders")
    runner_home = tmp_path / "runner"
    monkeypatch.setenv("GAMEDAY_HOME", str(runner_home))
    experiment = tmp_path / "x.yaml"
    experiment.write_text(
        experiment_yaml()
        .replace("fault: 100ms", "fault: 30s")
        .replace("max_duration: 1m", "max_duration: 2m")
    )
    # The runner applies the fault, then vanishes with its disk (no restore ran).
    lifecycle = __import__("chaos.run.lifecycle", fromlist=["restore_journal"])
    original_restore = lifecycle.restore_journal

    def die(*_: Any, **__: Any) -> Any:
        raise SystemExit("runner killed")

    waits: list[float] = []

    def wait_then_die_in_the_fault_phase(self: Any, seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # baseline done, fault applied: the runner dies here
            die()

    monkeypatch.setattr("chaos.run.lifecycle.restore_journal", die)
    monkeypatch.setattr("chaos.run.stop.StopSignal.wait", wait_then_die_in_the_fault_phase)
    with pytest.raises(SystemExit):
        main(["run", str(experiment), "--yes", "--journal", URI])
    monkeypatch.setattr("chaos.run.lifecycle.restore_journal", original_restore)
    shutil.rmtree(runner_home)
    attached = lambda_.get_function_configuration(FunctionName="orders")
    assert attached.get("Layers"), "the fault was applied"
    # Another machine: an empty GAMEDAY_HOME, another hostname.
    monkeypatch.setenv("GAMEDAY_HOME", str(tmp_path / "other-machine"))
    monkeypatch.setattr("socket.gethostname", lambda: "other-machine")
    capsys.readouterr()
    assert main(["status", "--journal", URI]) == 0
    assert "status=running" in capsys.readouterr().out  # its heartbeat is still fresh
    monkeypatch.setattr("chaos.journal.model.HEARTBEAT_STALE_S", 0.0)  # ... and now stale
    assert main(["status", "--journal", URI]) == 0
    status = capsys.readouterr().out
    assert "status=dead" in status and "journal=s3://gameday-journal/runs/" in status
    assert main(["rollback", "--all", "--journal", URI]) == 0
    after = lambda_.get_function_configuration(FunctionName="orders")
    assert after.get("Layers") == before.get("Layers")
    assert after["Environment"] == before["Environment"]
    (journal,) = all_journals(store)
    assert journal.status == "rolled_back" and journal.finished_by == "rollback"
    assert main(["status", "--journal", URI]) == 0
    assert "no unfinished runs" in capsys.readouterr().out


#: Secrets in the function's environment before the run: one plain, one whose every
#: encoding differs from it (JSON escapes, URL-encoding, non-ASCII).
SECRETS = {"SECRET_TOKEN": "s3cr3t-value", "DB_PASSWORD": 'p@ss w/\u00f6rd "q"+&=\\\n%-k3y'}


def encodings(secret: str) -> dict[str, bytes]:
    """The secret as a journal could hold it without holding it verbatim: raw, JSON-escaped
    (ASCII-only or not), URL-encoded, base64 (standard and URL-safe, at every alignment
    within a longer blob), hex (either case), and a bare unsalted SHA-256."""
    raw = secret.encode()
    found = {
        "raw": raw,
        "json": json.dumps(secret)[1:-1].encode(),
        "json-unicode": json.dumps(secret, ensure_ascii=False)[1:-1].encode(),
        "url": urllib.parse.quote(secret, safe="").encode(),
        "url-plus": urllib.parse.quote_plus(secret).encode(),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
        "sha256": hashlib.sha256(raw).hexdigest().encode(),
    }
    for offset in range(3):  # base64 of a longer blob: the secret starts at any byte of 3
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            encoded = encode(b"\0" * offset + raw)
            # Drop the group of 4 characters the prefix touches and the last one (padding):
            # the rest is the same whatever surrounds the secret.
            core = encoded[4 if offset else 0 : -4]
            found[f"{name}+{offset}"] = core
    return found


def test_the_encodings_looked_for_are_the_secret() -> None:
    """The check below finds each encoding in a blob that holds the secret so encoded."""
    secret = SECRETS["DB_PASSWORD"]
    blob = json.dumps({"env": {"DB_PASSWORD": secret}}).encode()
    assert encodings(secret)["json"] in blob
    for offset in range(3):
        wrapped = b"x" * offset + secret.encode() + b"tail"
        assert encodings(secret)[f"base64+{offset}"] in base64.b64encode(wrapped)
        assert encodings(secret)[f"base64url+{offset}"] in base64.urlsafe_b64encode(wrapped)
    assert all(len(value) >= 12 for value in encodings(secret).values())


@pytest.mark.usefixtures("aws")
def test_the_journal_holds_no_secret_and_restore_puts_every_key_back(
    tmp_path: Path, store: S3JournalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_function("orders")  # its environment holds SECRET_TOKEN=s3cr3t-value
    lambda_ = boto3.client("lambda", region_name=REGION)
    variables = lambda_.get_function_configuration(FunctionName="orders")["Environment"][
        "Variables"
    ]
    lambda_.update_function_configuration(
        FunctionName="orders", Environment={"Variables": {**variables, **SECRETS}}
    )
    before = lambda_.get_function_configuration(FunctionName="orders")["Environment"]
    assert {key: before["Variables"][key] for key in SECRETS} == SECRETS
    monkeypatch.setenv("GAMEDAY_HOME", str(tmp_path / "home"))
    experiment = tmp_path / "x.yaml"
    experiment.write_text(experiment_yaml())
    assert main(["run", str(experiment), "--yes", "--journal", URI]) == 0
    written = {str(path): path.read_bytes() for path in (tmp_path / "home").rglob("journal.json")}
    written.update(
        {key: store.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys(store)}
    )
    assert any(name.startswith("runs/") for name in written), "the journal in S3"
    assert any(name.endswith("journal.json") for name in written), "the local journal"
    for name, content in written.items():
        for key, secret in SECRETS.items():
            for encoding, encoded in encodings(secret).items():
                assert encoded not in content, f"{name} holds {key} ({encoding})"
    for key in SECRETS:  # named, digested (for drift detection)
        assert any(key.encode() in content for content in written.values()), key
    after = lambda_.get_function_configuration(FunctionName="orders")["Environment"]
    assert after == before
