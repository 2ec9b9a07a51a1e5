"""Credentials that expire during a long run: refused up front, or renewed for the restore."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore.handlers
import pytest
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError

from chaos.aws import AwsClients
from chaos.aws.credentials import credential_lifetime, refuse_short_lived
from chaos.cli import main
from chaos.errors import PreflightRefused
from chaos.journal import Journal, JournalEntry, list_journals
from chaos.run import restore as rollback
from chaos.run.target import ResolvedTarget
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


def short_lived_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime_s: float) -> Path:
    """A profile whose credential_process mints credentials valid for `lifetime_s`."""
    script = tmp_path / "mint.py"
    script.write_text(CREDENTIAL_PROCESS)
    calls = tmp_path / "calls.txt"
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile short-lived]\n"
        f"credential_process = {sys.executable} {script} {calls} {lifetime_s}\n"
        "region = us-east-1\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return calls


def test_environment_credentials_with_an_expiry_do_not_refresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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


def test_a_credential_process_refreshes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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


class ExpiringKeys:
    """AWS's answer to a request signed with an access key past its (test-made) expiry.

    A botocore ``before-send`` hook (the request is signed by then): it reads the key from
    the Authorization header and raises ExpiredToken, as AWS answers, when the key's
    expiry has passed. Keys it was not told about (moto's "testing") always pass. moto
    itself never rejects an expired credential.
    """

    def __init__(self, mint_log: Path | None = None) -> None:
        self.mint_log = mint_log  # "KEY EXPIRES_AT MINTED_AT" lines of a credential_process
        self.expires: dict[str, float] = {}
        self.sent: list[tuple[float, str, str]] = []  # (time, operation, access key)
        self.rejected: list[tuple[str, str]] = []

    def minted(self) -> dict[str, tuple[float, float]]:
        """key -> (expires_at, minted_at) of every key the credential_process minted."""
        if self.mint_log is None or not self.mint_log.exists():
            return {}
        return {
            key: (float(expires), float(minted))
            for key, expires, minted in (
                line.split() for line in self.mint_log.read_text().splitlines() if line
            )
        }

    def expiry_of(self, key: str) -> float | None:
        minted = self.minted().get(key)
        return minted[0] if minted else self.expires.get(key)

    def __call__(self, request: Any, event_name: str, **_: Any) -> None:
        header = request.headers.get("Authorization") or b""
        text = header.decode() if isinstance(header, bytes) else str(header)
        key = text.partition("Credential=")[2].partition("/")[0]
        operation = event_name.rsplit(".", 1)[-1]
        now = time.time()
        self.sent.append((now, operation, key))
        expires = self.expiry_of(key)
        if expires is not None and now >= expires:
            self.rejected.append((operation, key))
            raise ClientError(
                {
                    "Error": {
                        "Code": "ExpiredToken",
                        "Message": "The security token included in the request is expired",
                    }
                },
                operation,
            )

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """On every botocore session created from now on (the run's, the restore's)."""
        monkeypatch.setattr(
            botocore.handlers,
            "BUILTIN_HANDLERS",
            [*botocore.handlers.BUILTIN_HANDLERS, ("before-send", self)],
        )

    def last(self, operation: str) -> tuple[float, str, str]:
        return [sent for sent in self.sent if sent[1] == operation][-1]


MINTING_PROCESS = """\
import json, sys, time, uuid
now = time.time()
key = "AKID" + uuid.uuid4().hex[:16].upper()
with open(sys.argv[1], "a") as minted:
    minted.write(f"{key} {now + float(sys.argv[2])} {now}\\n")
expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + float(sys.argv[2])))
print(json.dumps({"Version": 1, "AccessKeyId": key, "SecretAccessKey": "secret",
                  "SessionToken": "token", "Expiration": expires}))
"""


def minting_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime_s: float) -> Path:
    """A profile whose credential_process mints a new access key valid for `lifetime_s`
    at every call; returns the log of the keys it minted."""
    script = tmp_path / "mint.py"
    script.write_text(MINTING_PROCESS)
    log = tmp_path / "minted.txt"
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile short-lived]\n"
        f"credential_process = {sys.executable} {script} {log} {lifetime_s}\n"
        "region = us-east-1\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return log


def count_restore_clients(monkeypatch: pytest.MonkeyPatch) -> list[AwsClients]:
    """Every client set ResolvedTarget.restore_clients hands out, in order."""
    handed: list[AwsClients] = []
    original = ResolvedTarget.restore_clients

    def restore_clients(self: ResolvedTarget) -> AwsClients:
        clients = original(self)
        handed.append(clients)
        return clients

    monkeypatch.setattr(ResolvedTarget, "restore_clients", restore_clients)
    return handed


@pytest.mark.usefixtures("aws")
def test_refreshing_credentials_restore_a_run_longer_than_their_lifetime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    # botocore renews credentials 15 min (advisory) / 10 min (mandatory) before they
    # expire; at 2 s / 1 s, credentials of 4 s are each used for about 2 s, and a run with
    # a 6 s fault phase outlives several of them.
    monkeypatch.setattr(RefreshableCredentials, "_advisory_refresh_timeout", 2)
    monkeypatch.setattr(RefreshableCredentials, "_mandatory_refresh_timeout", 1)
    lifetime_s = 4.0
    keys = ExpiringKeys(minting_profile(tmp_path, monkeypatch, lifetime_s))
    keys.install(monkeypatch)
    handed = count_restore_clients(monkeypatch)
    path = tmp_path / "x.yaml"
    path.write_text(experiment_yaml().replace("fault: 100ms", "fault: 6s"))
    assert main(["run", str(path), "--yes", "--profile", "short-lived"]) == 0
    output = capsys.readouterr().out
    assert "lambda-extension orders: restored" in output
    assert keys.rejected == []
    minted = keys.minted()
    first_key = min(minted, key=lambda key: minted[key][1])
    first_expiry = minted[first_key][0]
    # Requests went on past the first key's expiry, each signed with a key still valid.
    assert keys.last("UpdateFunctionConfiguration")[0] > first_expiry
    assert all(sent_at < minted[key][0] for sent_at, _, key in keys.sent if key in minted)
    # The restore (the last UpdateFunctionConfiguration: the layer detached) ran on clients
    # from restore_clients, signed with a key minted after the first one had expired.
    assert handed, "the restore did not take clients from restore_clients()"
    _, _, restore_key = keys.last("UpdateFunctionConfiguration")
    assert restore_key != first_key and minted[restore_key][1] > first_expiry
    config = boto3.client("lambda").get_function_configuration(FunctionName="orders")
    assert not config.get("Layers")


def write_credentials(path: Path, key: str) -> None:
    path.write_text(f"[renewed]\naws_access_key_id = {key}\naws_secret_access_key = secret\n")


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("restore_on", ["restore_clients", "the run's first clients"])
def test_the_restore_reads_credentials_renewed_outside_the_process(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_on: str,
) -> None:
    """A credentials file renewed by another program (a credential helper, `aws sso login`)
    while the fault is in place: only clients rebuilt for the restore see the new key."""
    create_function("orders")
    credentials = tmp_path / "credentials"
    write_credentials(credentials, "AKIDFIRSTKEY0000")
    config = tmp_path / "config"
    config.write_text("[profile renewed]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    keys = ExpiringKeys()
    keys.install(monkeypatch)
    handed = count_restore_clients(monkeypatch)
    if restore_on != "restore_clients":  # what a run without restore_clients() would do
        monkeypatch.setattr(ResolvedTarget, "restore_clients", lambda self: self.clients)

    def renew_once_the_fault_is_in_force() -> None:
        # After `effective_at` the run calls AWS again only to restore: the first key
        # expires then, and the file holds a new one.
        for _ in range(600):  # bounded: 60 s
            journals = list((Path(os.environ["GAMEDAY_HOME"]) / "runs").glob("*/journal.json"))
            if journals and any(
                entry.get("effective_at")
                for entry in json.loads(journals[0].read_text()).get("entries", [])
            ):
                keys.expires["AKIDFIRSTKEY0000"] = time.time()
                write_credentials(credentials, "AKIDRENEWEDKEY00")
                return
            time.sleep(0.1)

    renewer = threading.Thread(target=renew_once_the_fault_is_in_force, daemon=True)
    renewer.start()
    path = tmp_path / "x.yaml"
    path.write_text(experiment_yaml().replace("fault: 100ms", "fault: 3s"))
    code = main(["run", str(path), "--yes", "--profile", "renewed"])
    renewer.join(timeout=10)
    captured = capsys.readouterr()
    layers = boto3.client("lambda").get_function_configuration(FunctionName="orders").get("Layers")
    [journal] = list_journals()
    if restore_on == "restore_clients":
        assert code == 0, captured.out + captured.err
        assert keys.last("UpdateFunctionConfiguration")[2] == "AKIDRENEWEDKEY00"
        assert handed and keys.rejected == [] and not layers and not journal.unfinished
    else:  # the test bites: the first key, expired, cannot restore
        assert code == 4, captured.out + captured.err
        assert keys.rejected and {key for _, key in keys.rejected} == {"AKIDFIRSTKEY0000"}
        assert layers and journal.unfinished
        assert "credentials expired" in journal.entries[0].detail


def test_plan_reports_how_long_the_credentials_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], aws: None
) -> None:
    create_function("orders")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", iso_in(2 * 3600 + 30))
    path = tmp_path / "x.yaml"
    path.write_text(experiment_yaml())
    assert main(["plan", str(path)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if "credentials:" in line]
    assert re.search(
        r"credentials: env, valid for 2h(\d+s)? \(until \d{4}-\d\d-\d\dT"
        r"[\d:]+Z\), NOT renewed automatically",
        line,
    ), line
    minting_profile(tmp_path, monkeypatch, lifetime_s=3600)
    assert main(["plan", str(path), "--profile", "short-lived"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if "credentials:" in line]
    assert re.search(
        r"credentials: custom-process, valid for (59m(\d+s)?|1h) \(until .*\), "
        r"renewed automatically",
        line,
    ), line


def test_temporary_credentials_without_a_known_expiry_are_a_plan_warning_not_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], aws: None
) -> None:
    """CI's role credentials exported without AWS_CREDENTIAL_EXPIRATION: they expire, nobody
    says when. The plan warns; the run is not refused for it."""
    create_function("orders")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.delenv("AWS_CREDENTIAL_EXPIRATION", raising=False)
    lifetime = credential_lifetime(boto3.Session(region_name="us-east-1"))
    assert (lifetime.source, lifetime.temporary, lifetime.expiry_unknown) == ("env", True, True)
    refuse_short_lived(lifetime, needed_s=10 * 3600)  # unknown is not refused
    path = tmp_path / "x.yaml"
    path.write_text(experiment_yaml())
    assert main(["plan", str(path)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if "credentials:" in line]
    assert "NO KNOWN EXPIRY" in line and "AWS_CREDENTIAL_EXPIRATION" in line, line

    monkeypatch.delenv("AWS_SESSION_TOKEN")  # long-term keys: nothing to warn about
    assert not credential_lifetime(boto3.Session(region_name="us-east-1")).expiry_unknown
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", iso_in(600))
    known = credential_lifetime(boto3.Session(region_name="us-east-1"))
    assert not known.expiry_unknown and 500 < (known.remaining_s() or 0) <= 600


def test_a_malformed_credential_expiration_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], aws: None
) -> None:
    create_function("orders")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "tomorrow")
    path = tmp_path / "x.yaml"
    path.write_text(experiment_yaml())
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "tomorrow" in err, err


def test_a_restore_failing_on_expired_credentials_says_so_and_keeps_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.create(
        tmp_path / "run",
        run_id="run-x",
        experiment_name="x",
        experiment_path="x.yaml",
        region="us-east-1",
        endpoint_url=None,
        profile=None,
        account_id="123456789012",
    )
    entry = journal.record(
        JournalEntry(
            "e",
            "lambda-extension",
            "orders",
            "arn:aws:lambda:us-east-1:123456789012:function:orders",
            {},
            {},
            status="applied",
        )
    )

    class Expired:
        @classmethod
        def restore(cls, *args: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "ExpiredToken", "Message": "expired"}},
                "UpdateFunctionConfiguration",
            )

    monkeypatch.setattr(rollback, "fault_kind", lambda _: Expired)
    report = rollback.restore_journal(journal, clients=object())  # type: ignore[arg-type]
    assert not report.complete and entry.status == "failed"
    assert "credentials expired" in entry.detail
    assert "gameday rollback --run-id run-x" in entry.detail
    assert Journal.load(journal.path).entries[0].needs_restore  # type: ignore[arg-type]
