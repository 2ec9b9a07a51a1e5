"""Credentials that expire during a long run: refused up front, or renewed for the restore."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chaos import rollback
from chaos.aws.credentials import credential_lifetime, refuse_short_lived
from chaos.cli import main
from chaos.errors import PreflightRefused
from chaos.journal import Journal, JournalEntry
from tests.integration.conftest import create_function, experiment_yaml

CREDENTIAL_PROCESS = """\
import json, sys, time
from datetime import datetime, timedelta, timezone
with open(sys.argv[1], "a") as calls:
    calls.write(f"{time.time()}\\n")
expires = datetime.now(timezone.utc) + timedelta(seconds=float(sys.argv[2]))
print(json.dumps({"Version": 1, "AccessKeyId": "AKIDSHORT", "SecretAccessKey": "secret",
                  "SessionToken": "token", "Expiration": expires.isoformat()}))
"""


def iso_in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def short_lived_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        lifetime_s: float) -> Path:
    """A profile whose credential_process mints credentials valid for `lifetime_s`."""
    script = tmp_path / "mint.py"
    script.write_text(CREDENTIAL_PROCESS)
    calls = tmp_path / "calls.txt"
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile short-lived]\n"
        f"credential_process = {sys.executable} {script} {calls} {lifetime_s}\n"
        "region = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return calls


def test_environment_credentials_with_an_expiry_do_not_refresh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", iso_in(120))
    lifetime = credential_lifetime(boto3.Session(region_name="us-east-1"))
    assert (lifetime.source, lifetime.refreshes) == ("env", False)
    assert 100 < (lifetime.remaining_s() or 0) <= 120
    assert "NOT renewed automatically" in lifetime.describe()
    refuse_short_lived(lifetime, needed_s=60)  # long enough: no refusal
    with pytest.raises(PreflightRefused, match="expire in 1m"):
        refuse_short_lived(lifetime, needed_s=3600)


def test_a_credential_process_refreshes(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    short_lived_profile(tmp_path, monkeypatch, lifetime_s=30)
    lifetime = credential_lifetime(boto3.Session(profile_name="short-lived"))
    assert (lifetime.source, lifetime.refreshes) == ("custom-process", True)
    refuse_short_lived(lifetime, needed_s=3600)  # it renews itself: never refused


@pytest.mark.usefixtures("aws")
def test_run_refused_when_credentials_expire_before_it_could_restore(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    before = boto3.client("lambda").get_function_configuration(FunctionName="orders")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", iso_in(90))  # max_duration 1m + 5m margin
    path = tmp_path / "x.yaml"
    path.write_text(experiment_yaml())
    assert main(["run", str(path), "--yes"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "expire in 1m" in error and "renew" in error
    after = boto3.client("lambda").get_function_configuration(FunctionName="orders")
    assert after["Environment"] == before["Environment"] and not after.get("Layers")


@pytest.mark.usefixtures("aws")
def test_refreshing_credentials_restore_a_run_longer_than_their_lifetime(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    calls = short_lived_profile(tmp_path, monkeypatch, lifetime_s=1.5)
    path = tmp_path / "x.yaml"
    path.write_text(experiment_yaml().replace("fault: 100ms", "fault: 4s"))
    started = time.time()
    assert main(["run", str(path), "--yes", "--profile", "short-lived"]) == 0
    output = capsys.readouterr().out
    assert "lambda-extension orders: restored" in output
    minted = [float(line) for line in calls.read_text().split()]
    # The restore ran on credentials minted after the first ones had expired.
    assert max(minted) > minted[0] + 1.5 and time.time() - started >= 4
    config = boto3.client("lambda").get_function_configuration(FunctionName="orders")
    assert not config.get("Layers")


def test_a_restore_failing_on_expired_credentials_says_so_and_keeps_the_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal.create(tmp_path / "run", run_id="run-x", experiment_name="x",
                             experiment_path="x.yaml", region="us-east-1", endpoint_url=None,
                             profile=None, account_id="123456789012")
    entry = journal.record(JournalEntry("e", "lambda-extension", "orders",
                                        "arn:aws:lambda:us-east-1:123456789012:function:orders",
                                        {}, {}, status="applied"))

    class Expired:
        @classmethod
        def restore(cls, *args: Any) -> Any:
            raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}},
                              "UpdateFunctionConfiguration")

    monkeypatch.setattr(rollback, "fault_kind", lambda _: Expired)
    report = rollback.restore_journal(journal, clients=object())  # type: ignore[arg-type]
    assert not report.complete and entry.status == "failed"
    assert "credentials expired" in entry.detail
    assert "gameday rollback --run-id run-x" in entry.detail
    assert Journal.load(journal.path).entries[0].needs_restore  # type: ignore[arg-type]
