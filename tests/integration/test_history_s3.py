"""The history beside the S3 journal (moto): its own prefix, never among the journals,
written once with conditional writes, read back merged with the local history."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from chaos.cli import main
from chaos.experiment.model import Experiment
from chaos.history import (
    HistoryConflict,
    LocalHistoryStore,
    RunHistory,
    S3HistoryStore,
    history_key,
    history_location,
    history_record,
    key_digest,
)
from chaos.janitor.policy import janitor_policy
from chaos.journal import JournalLocation, S3JournalStore
from chaos.run.permissions import experiment_policy
from tests.integration.conftest import REGION
from tests.unit.test_history import KEY, result

BUCKET = "gameday-journal"
EXPERIMENT = {
    "version": 1,
    "kind": "experiment",
    "name": "orders-latency",
    "target": {
        "region": REGION,
        "account_id": "123456789012",
        "endpoint": "https://abc.execute-api.us-east-1.amazonaws.com/prod",
    },
    "phases": {"baseline": "10s", "fault": "10s", "recovery": "10s"},
    "faults": [
        {"type": "lambda-extension", "functions": ["orders"], "latency": {"ms": 300, "rate": 1.0}}
    ],
}


@pytest.fixture
def s3(aws: None) -> object:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.mark.parametrize(
    ("journal", "history"),
    [
        ("s3://b-1/runs/", "s3://b-1/runs.history/"),
        ("s3://b-1/team/runs", "s3://b-1/team/runs.history/"),
        ("s3://b-1", "s3://b-1/.history/"),
    ],
)
def test_the_history_prefix_is_beside_the_journals(journal: str, history: str) -> None:
    assert history_location(JournalLocation.parse(journal)).uri == history


@pytest.mark.parametrize("journal_uri", [f"s3://{BUCKET}/runs/", f"s3://{BUCKET}"])
def test_records_are_written_once_and_never_listed_as_runs(s3: object, journal_uri: str) -> None:
    journal = JournalLocation.parse(journal_uri)
    store = S3HistoryStore(s3, history_location(journal))
    history = RunHistory([store])
    history.append(KEY, history_record(result("r1", "2026-12-01T00:00:00Z"), KEY))
    with pytest.raises(HistoryConflict):
        store.append(KEY, history_record(result("r1", "2026-12-01T00:00:00Z", latency=9.0), KEY))
    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]  # type: ignore[attr-defined]
    assert [item["Key"] for item in listed] == [f"{store.location.prefix}{key_digest(KEY)}/r1.json"]
    assert S3JournalStore(s3, journal).run_ids() == []
    (kept,) = history.records(KEY)
    assert kept["phases"]["fault"]["slis"]["latency_ms"]["p99"] == 20.0


def test_local_and_s3_records_merge_by_run_id(s3: object, gameday_home: Path) -> None:
    s3_store = S3HistoryStore(s3, history_location(JournalLocation.parse(f"s3://{BUCKET}/runs/")))
    both = RunHistory([LocalHistoryStore(), s3_store])
    both.append(KEY, history_record(result("r1", "2026-12-01T00:00:00Z"), KEY))
    # another machine recorded two runs in S3 only
    RunHistory([s3_store]).append(KEY, history_record(result("r2", "2026-12-02T00:00:00Z"), KEY))
    RunHistory([s3_store]).append(KEY, history_record(result("r3", "2026-12-03T00:00:00Z"), KEY))
    assert [record["run_id"] for record in both.records(KEY)] == ["r1", "r2", "r3"]
    reference = both.reference_for(KEY, "fault", current_run_id="r4")
    assert reference.reason is None and sorted(reference.run_ids) == ["r1", "r2", "r3"]


def test_gameday_history_prints_one_line_per_run(
    s3: object, gameday_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(json.dumps(EXPERIMENT))  # JSON is YAML
    key = history_key(Experiment.model_validate(EXPERIMENT), "123456789012")
    RunHistory([LocalHistoryStore()]).append(
        key, history_record(result("r1", "2026-12-01T00:00:00Z"), key)
    )
    s3_store = S3HistoryStore(s3, history_location(JournalLocation.parse(f"s3://{BUCKET}/runs/")))
    RunHistory([s3_store]).append(
        key, history_record(result("r2", "2026-12-02T00:00:00Z", "failed", latency=41.0), key)
    )

    assert main(["history", str(path), "--journal", ""]) == 0  # local only
    local_only = capsys.readouterr().out.splitlines()
    assert "1 run(s)" in local_only[0] and "account 123456789012" in local_only[0]
    assert [line.split()[1] for line in local_only[1:]] == ["passed"]

    assert main(["history", str(path), "--journal", f"s3://{BUCKET}/runs/"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "2 run(s)" in lines[0]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["2026-12-01T00:00:00Z", "passed"],
        ["2026-12-02T00:00:00Z", "failed"],
    ]
    assert "latency_p99_ms@fault 41 [40, 42] passed" in lines[2]


def test_the_runner_policy_reaches_the_history_and_the_janitor_policy_does_not() -> None:
    journal = JournalLocation.parse(f"s3://{BUCKET}/runs/")
    runner = json.dumps(
        experiment_policy(
            Experiment.model_validate(EXPERIMENT), "123456789012", journal=journal.uri
        )
    )
    assert f"arn:aws:s3:::{BUCKET}/runs.history/*" in runner
    assert '"runs.history/*"' in runner  # the listing condition
    janitor = json.dumps(janitor_policy(REGION, "123456789012", journal))
    assert "history" not in janitor and f"arn:aws:s3:::{BUCKET}/runs/*" in janitor
