"""`gameday iam-policy --journal s3://...` names the journal bucket's actions, and each is
needed: a run writes its journal there, and `status` / `rollback` on another machine find
and restore a dead run from it, reading its revisions as first written on a versioned
bucket; `status` reads the janitor's dead-letter queue (moto).

The policy's S3 and SQS statements are enforced by a botocore hook on every client the
toolkit creates (as in test_iam_policy.py, whose enforcement covers the other services): a
call is allowed only by a statement whose action, resource and condition (``s3:prefix``
for listing) match it; the other services are left to moto.
"""

from __future__ import annotations

import fnmatch
import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chaos.aws.clients import AwsClients
from chaos.cli import main
from chaos.clock import iso_from_epoch
from chaos.janitor import DEAD_LETTER_QUEUE
from chaos.janitor.timer import dead_letter_arn
from chaos.journal import JournalLocation
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function, experiment_yaml
from tests.integration.janitor_support import (
    JOURNAL_URI,
    DeadRun,
    die,
    journal_store,
    lambda_extension,
    start_run,
)

BUCKET_ARN = "arn:aws:s3:::gameday-journal"
JOURNAL_SIDS = (
    "JournalRevisions",
    "JournalListing",
    "JournalVersionListing",
    "JournalRevisionVersions",
)
#: S3 operations and the IAM action each is authorized as ("Actions, resources, and condition
#: keys for Amazon S3", https://docs.aws.amazon.com/service-authorization/latest/reference/
#: list_amazons3.html): ListObjectsV2 is s3:ListBucket, HeadObject s3:GetObject.
S3_ACTIONS = {
    "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    # a restorer reads an unfinished run's revisions as first written when it may
    # (ListObjectVersions is s3:ListBucketVersions), else the current objects
    "ListObjectVersions": "s3:ListBucketVersions",
    # the tests' own setup (tests.integration.janitor_support.journal_store)
    "ListBuckets": "s3:ListAllMyBuckets",
    "CreateBucket": "s3:CreateBucket",
}
ALLOW_ALL: dict[str, Any] = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def as_list(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def conditions_hold(statement: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, keys in (statement.get("Condition") or {}).items():
        assert operator == "StringLike", f"{operator}: not modelled here"
        for key, patterns in keys.items():
            if key not in context or not any(
                fnmatch.fnmatchcase(context[key], pattern) for pattern in as_list(patterns)
            ):
                return False
    return True


def allowed(policy: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    return any(
        any(
            fnmatch.fnmatchcase(action.lower(), item.lower())
            for item in as_list(statement["Action"])
        )
        and any(fnmatch.fnmatchcase(resource, item) for item in as_list(statement["Resource"]))
        and conditions_hold(statement, context)
        for statement in policy["Statement"]
    )


def sqs_check(operation: str, params: dict[str, Any]) -> tuple[str, str]:
    """The IAM action and queue ARN of an SQS call ("Amazon SQS API permissions: Actions and
    resource reference", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/
    SQSDeveloperGuide/sqs-api-permissions-reference.html)."""
    if "QueueName" in params:
        account, name = (
            str(params.get("QueueOwnerAWSAccountId") or ACCOUNT_ID),
            str(params["QueueName"]),
        )
    else:  # https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
        account, name = str(params["QueueUrl"]).rstrip("/").split("/")[-2:]
    return f"sqs:{operation}", f"arn:aws:sqs:{REGION}:{account}:{name}"


class S3Enforcer:
    """Denies the S3 and SQS calls `policy` does not allow, as AWS does (AccessDenied)."""

    def __init__(self) -> None:
        self.policy: dict[str, Any] = ALLOW_ALL
        self.used: set[str] = set()

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.service_model.service_name == "sqs":
            self.check(*sqs_check(model.name, params), {}, model.name)
            return
        if model.service_model.service_name != "s3":
            return
        action = S3_ACTIONS.get(model.name)
        assert action is not None, f"s3:{model.name}: not expected of the journal"
        if model.name == "GetObject" and params.get("VersionId"):
            action = "s3:GetObjectVersion"
        bucket = f"arn:aws:s3:::{params.get('Bucket', '')}"
        resource = f"{bucket}/{params['Key']}" if "Key" in params else bucket
        context = (
            {"s3:prefix": str(params.get("Prefix", ""))}
            if action in ("s3:ListBucket", "s3:ListBucketVersions")
            else {}
        )
        self.check(action, resource, context, model.name)

    def check(self, action: str, resource: str, context: dict[str, str], operation: str) -> None:
        if not allowed(self.policy, action, resource, context):
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": (f"not authorized to perform {action} on {resource}"),
                    }
                },
                operation,
            )
        if self.policy is not ALLOW_ALL:
            self.used.add(action)  # allowed and called


@pytest.fixture
def enforcer(monkeypatch: pytest.MonkeyPatch) -> S3Enforcer:
    """The hook on every toolkit client, and moto's dummy credentials (each scenario brings
    its own fresh fake account)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("GAMEDAY_JOURNAL", raising=False)
    enforcer = S3Enforcer()
    original = AwsClients.client

    def client(self: AwsClients, service: str) -> Any:
        created = original(self, service)
        if not getattr(created, "_journal_policy_enforced", False):
            created.meta.events.register("before-parameter-build.*.*", enforcer)
            created._journal_policy_enforced = True
        return created

    monkeypatch.setattr(AwsClients, "client", client)
    return enforcer


def experiment(tmp_path: Path) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml())
    return path


def iam_policy(
    path: Path, capsys: pytest.CaptureFixture[str], *options: str, janitor: bool = False
) -> dict[str, Any]:
    no_janitor = [] if janitor else ["--no-janitor"]
    assert main(["iam-policy", str(path), "--offline", *no_janitor, *options]) == 0
    policy: dict[str, Any] = json.loads(capsys.readouterr().out)
    return policy


def journal_statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        statement["Sid"]: statement
        for statement in policy["Statement"]
        if statement["Sid"] in JOURNAL_SIDS
    }


def function_state() -> str:
    config = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName="orders"
    )
    return json.dumps([config.get("Layers"), config.get("Environment")], sort_keys=True)


def overwrite_with_a_fresh_heartbeat(run: DeadRun) -> None:
    """The run's last revision overwritten in place (no If-None-Match: a writer the bucket
    policy does not stop) with a heartbeat of now: read as it is, the dead run looks alive."""
    store = journal_store()
    latest = store.latest(run.journal.run_id)
    assert latest is not None
    number, document = latest
    document["heartbeat_at"] = iso_from_epoch(time.time())
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=store.location.bucket,
        Key=store.location.revision_key(run.journal.run_id, number),
        Body=json.dumps(document).encode(),
    )


def journal_at_work(
    policy: dict[str, Any],
    enforcer: S3Enforcer,
    home: Path,
    path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> list[str]:
    """In a fresh fake account with a versioned journal bucket, under `policy`: a run with
    its journal in S3; then, from another machine (an empty GAMEDAY_HOME), `status` and
    `rollback --all` of a run that died on a third one and whose last revision was then
    overwritten (read as first written, it is dead; as it is now, alive). What did not work
    (nothing: all worked, the overwrite was seen, all is back)."""
    failed = []
    with mock_aws():
        enforcer.policy = ALLOW_ALL  # setting the account up
        create_function("orders")
        journal_store()  # the bucket
        boto3.client("s3", region_name=REGION).put_bucket_versioning(
            Bucket=JournalLocation.parse(JOURNAL_URI).bucket,
            VersioningConfiguration={"Status": "Enabled"},
        )
        before = function_state()
        enforcer.policy = policy
        monkeypatch.setenv("GAMEDAY_HOME", str(home / "runner"))
        code = main(["run", str(path), "--yes", "--journal", JOURNAL_URI])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if code != 0:
            failed.append(f"run: exit {code}: {err.strip()}")
        assert function_state() == before, "a run restores, or changes nothing unjournaled"

        enforcer.policy = ALLOW_ALL  # the machine that ran it had every right
        dead = start_run(home / "dead", "20240501T100000Z-dead-run-aaaaaa")
        lambda_extension(dead, ["orders"])
        die(dead, heartbeat_age_s=3600)
        overwrite_with_a_fresh_heartbeat(dead)
        assert function_state() != before

        enforcer.policy = policy
        monkeypatch.setenv("GAMEDAY_HOME", str(home / "elsewhere"))
        code = main(["status", "--journal", JOURNAL_URI])
        out, err = capsys.readouterr()
        seen = f"run {dead.journal.run_id} (" in out and "written 2 times" in out
        if code != 0 or not seen:
            failed.append(f"status: exit {code}: {out.strip()} {err.strip()}")
        code = main(["rollback", "--all", "--journal", JOURNAL_URI])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        if code != 0 or f"run {dead.journal.run_id}: restored" not in out:
            failed.append(f"rollback: exit {code}: {out.strip()} {err.strip()}")
        if function_state() != before:
            failed.append("the dead run's fault was left in place")
    return failed


def test_iam_policy_with_a_journal_names_its_bucket_and_prefix_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAMEDAY_JOURNAL", raising=False)
    path = experiment(tmp_path)
    assert journal_statements(iam_policy(path, capsys)) == {}, "no journal, no bucket"

    statements = journal_statements(iam_policy(path, capsys, "--journal", JOURNAL_URI))
    assert statements == {
        "JournalRevisions": {
            "Sid": "JournalRevisions",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"{BUCKET_ARN}/runs/*",
        },
        "JournalListing": {
            "Sid": "JournalListing",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": BUCKET_ARN,
            "Condition": {"StringLike": {"s3:prefix": "runs/*"}},
        },
        "JournalVersionListing": {
            "Sid": "JournalVersionListing",
            "Effect": "Allow",
            "Action": ["s3:ListBucketVersions"],
            "Resource": BUCKET_ARN,
            "Condition": {"StringLike": {"s3:prefix": "runs/*"}},
        },
        "JournalRevisionVersions": {
            "Sid": "JournalRevisionVersions",
            "Effect": "Allow",
            "Action": ["s3:GetObjectVersion"],
            "Resource": f"{BUCKET_ARN}/runs/*",
        },
    }, json.dumps(statements, indent=2)

    monkeypatch.setenv("GAMEDAY_JOURNAL", "s3://other-bucket/gd/")
    from_env = journal_statements(iam_policy(path, capsys))
    assert from_env["JournalRevisions"]["Resource"] == "arn:aws:s3:::other-bucket/gd/*"
    assert from_env["JournalListing"]["Condition"] == {"StringLike": {"s3:prefix": "gd/*"}}


@pytest.mark.usefixtures("gameday_home")
def test_each_journal_action_is_needed_to_run_and_to_restore_from_another_machine(
    tmp_path: Path,
    enforcer: S3Enforcer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = experiment(tmp_path)
    policy = iam_policy(path, capsys, "--journal", JOURNAL_URI)
    statements = journal_statements(policy)
    actions = [
        (sid, action)
        for sid, statement in statements.items()
        for action in as_list(statement["Action"])
    ]
    assert sorted(action for _, action in actions) == [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:PutObject",
    ]

    assert journal_at_work(policy, enforcer, tmp_path / "whole", path, capsys, monkeypatch) == [], (
        "the policy is enough"
    )
    assert enforcer.used == {action for _, action in actions}, "every action is used"

    for sid, action in actions:
        reduced = json.loads(json.dumps(policy))
        for statement in reduced["Statement"]:
            if statement["Sid"] == sid:
                statement["Action"] = [
                    item for item in as_list(statement["Action"]) if item != action
                ] or ["s3:NotAnAction"]
        failed = journal_at_work(
            reduced, enforcer, tmp_path / action.replace(":", "-"), path, capsys, monkeypatch
        )
        assert failed, f"everything worked without {action}"


def dead_letters_shown(
    policy: dict[str, Any], enforcer: S3Enforcer, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """In a fresh fake account whose janitor queue holds one undelivered event, under
    `policy`: does `gameday status --journal` show it? What did not work."""
    lost = "20240501T100000Z-lost-run-bbbbbb"
    with mock_aws():
        enforcer.policy = ALLOW_ALL
        journal_store()
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"run_id": lost, "journal": JOURNAL_URI}),
            MessageAttributes={
                "ERROR_CODE": {"DataType": "String", "StringValue": "AWS.Lambda.NotFound"}
            },
        )
        enforcer.policy = policy
        code = main(["status", "--journal", JOURNAL_URI])
        out, err = capsys.readouterr()
    shown = "1 janitor invocation(s) dropped" in out and f"run {lost}: Scheduler" in out
    return [] if code == 0 and shown else [f"status: exit {code}: {out.strip()} {err.strip()}"]


@pytest.mark.usefixtures("gameday_home")
def test_status_reads_the_janitors_dead_letters_with_exactly_the_policys_queue_actions(
    tmp_path: Path,
    enforcer: S3Enforcer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GAMEDAY_NO_JANITOR", raising=False)  # the tests' default
    path = experiment(tmp_path)
    assert "StatusJanitorDeadLetters" not in {
        statement["Sid"]
        for statement in iam_policy(path, capsys, "--journal", JOURNAL_URI)["Statement"]
    }, "--no-janitor: no queue"
    policy = iam_policy(path, capsys, "--journal", JOURNAL_URI, janitor=True)
    [statement] = [
        item for item in policy["Statement"] if item["Sid"] == "StatusJanitorDeadLetters"
    ]
    assert statement == {
        "Sid": "StatusJanitorDeadLetters",
        "Effect": "Allow",
        "Action": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
        "Resource": dead_letter_arn(REGION, ACCOUNT_ID),
    }

    assert dead_letters_shown(policy, enforcer, capsys) == [], "the policy is enough"
    assert {action for action in enforcer.used if action.startswith("sqs:")} == set(
        statement["Action"]
    ), "every action is used"
    for action in statement["Action"]:
        reduced = json.loads(json.dumps(policy))
        for item in reduced["Statement"]:
            if item["Sid"] == "StatusJanitorDeadLetters":
                item["Action"] = [name for name in item["Action"] if name != action]
        assert dead_letters_shown(reduced, enforcer, capsys), (
            f"status showed the dead letters without {action}"
        )
