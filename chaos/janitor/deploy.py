"""`gameday janitor deploy`: install the janitor in the target account, idempotently.

An SQS queue for the invocations that never ran or failed (`gameday status` reads it), two
roles (the function's execution role, the role EventBridge Scheduler assumes to invoke it),
each with one inline policy, the function built from `chaos.janitor.package`, and the
function's asynchronous invocation settings (its retries, and the queue as on-failure
destination). Each is created when missing, updated when it differs, and reused otherwise;
the function's code is uploaded again only when its CodeSha256 differs from the local
build's. Every step says which it was. Last, it says what the journal bucket enforces
(versioning; a bucket policy that requires conditional writes): it reads, never changes,
the bucket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from chaos.aws.clients import error_code
from chaos.aws.lambda_functions import wait_until_updated
from chaos.aws.retry import call_with_backoff
from chaos.janitor import (
    DEAD_LETTER_ENV,
    DEAD_LETTER_QUEUE,
    FUNCTION_NAME,
    HANDLER,
    JOURNAL_ENV,
    MEMORY_MB,
    ROLE_NAME,
    RUNTIME,
    SCHEDULER_ROLE_ENV,
    SCHEDULER_ROLE_NAME,
    TIMEOUT_S,
)
from chaos.janitor.package import JanitorPackage, build_janitor_package
from chaos.janitor.policy import (
    janitor_policy,
    lambda_trust_policy,
    scheduler_policy,
    scheduler_trust_policy,
)
from chaos.janitor.timer import function_arn
from chaos.journal import S3JournalStore

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.journal import JournalLocation

#: A new role can take seconds before Lambda may assume it ("The role defined for the
#: function cannot be assumed by Lambda"): CreateFunction is retried this long.
ROLE_PROPAGATION_S = 60.0
#: A failed invocation is retried by Lambda "two more times, with a one-minute wait between
#: the first two attempts, and two minutes between the second and third attempts"; "When an
#: event expires or all processing attempts fail, Lambda discards it" unless it has a
#: destination ("How Lambda handles errors and retries with asynchronous invocation",
#: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html): the
#: janitor keeps Lambda's retries (its restore is idempotent) and sends what is left to its
#: queue (the on-failure destination gets "an invocation record", https://
#: docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
ASYNC_RETRIES = 2
ASYNC_MAX_EVENT_AGE_S = 6 * 3600
#: The longest SQS keeps a message: 14 days (MessageRetentionPeriod, https://
#: docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
DEAD_LETTER_RETENTION_S = 14 * 24 * 3600


@dataclass
class JanitorDeployment:
    function_arn: str
    scheduler_role_arn: str
    code_sha256: str
    steps: list[str] = field(default_factory=list)  # "function gameday-janitor: created", ...
    dead_letter_arn: str | None = None


def deploy_janitor(
    clients: AwsClients,
    account_id: str,
    journal: JournalLocation,
    *,
    say: Callable[[str], None] = print,
    package: JanitorPackage | None = None,
) -> JanitorDeployment:
    """Create, update or reuse the roles and the function; `say` hears every step."""
    package = package or build_janitor_package()
    region = clients.region
    steps: list[str] = []

    def step(line: str) -> None:
        steps.append(line)
        say(line)

    say(
        f"janitor package: {len(package.files)} files, {len(package.zip_bytes)} bytes, "
        f"CodeSha256 {package.code_sha256}"
    )
    janitor_arn = function_arn(region, account_id)
    dead_letters = ensure_dead_letter_queue(clients, step)
    role_arn = ensure_role(
        clients,
        ROLE_NAME,
        lambda_trust_policy(),
        janitor_policy(region, account_id, journal, dead_letters),
        step,
    )
    scheduler_role = ensure_role(
        clients,
        SCHEDULER_ROLE_NAME,
        scheduler_trust_policy(account_id),
        scheduler_policy(janitor_arn, dead_letters),
        step,
    )
    environment = {
        SCHEDULER_ROLE_ENV: scheduler_role,
        JOURNAL_ENV: journal.uri,
        DEAD_LETTER_ENV: dead_letters,
    }
    deployed_arn = ensure_function(clients, package, role_arn, environment, step)
    step(
        f"function {FUNCTION_NAME}: asynchronous invocation "
        f"{ensure_failure_destination(clients, dead_letters)} ({ASYNC_RETRIES} retries, then "
        f"{DEAD_LETTER_QUEUE})"
    )
    for line in journal_bucket_report(clients, journal, account_id):
        say(line)
    say(
        f"janitor ready: {deployed_arn}; runs journaled under {journal.uri} schedule it "
        f"through {scheduler_role}; invocations that never ran or failed: {dead_letters}"
    )
    return JanitorDeployment(deployed_arn, scheduler_role, package.code_sha256, steps, dead_letters)


# -- the dead-letter queue and the function's failures ---------------------------------


def ensure_dead_letter_queue(clients: AwsClients, step: Callable[[str], None]) -> str:
    """The standard SQS queue (Scheduler's DLQ must not be FIFO) the janitor's undelivered
    and failed invocations go to; returns its ARN."""
    sqs = clients.client("sqs")
    attributes = {
        "MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_S),
        "SqsManagedSseEnabled": "true",
    }
    try:
        url = str(sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"])
        outcome = "reused"
        current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if any(current.get(key) != value for key, value in attributes.items()):
            call_with_backoff(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes))
            outcome = "updated"
    except ClientError as error:
        if error_code(error) not in (
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
        ):
            raise
        url = str(
            call_with_backoff(
                lambda: sqs.create_queue(QueueName=DEAD_LETTER_QUEUE, Attributes=attributes)
            )["QueueUrl"]
        )
        outcome = "created"
    queue_arn = str(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )
    step(f"dead-letter queue {DEAD_LETTER_QUEUE}: {outcome} ({queue_arn})")
    return queue_arn


def ensure_failure_destination(clients: AwsClients, dead_letters: str) -> str:
    """The janitor's retries and on-failure destination; created, updated or reused."""
    wanted = {
        "MaximumRetryAttempts": ASYNC_RETRIES,
        "MaximumEventAgeInSeconds": ASYNC_MAX_EVENT_AGE_S,
        "DestinationConfig": {"OnFailure": {"Destination": dead_letters}},
    }
    try:
        current = clients.lambda_.get_function_event_invoke_config(FunctionName=FUNCTION_NAME)
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        current = None
    if current is not None and all(current.get(key) == value for key, value in wanted.items()):
        return "reused"
    call_with_backoff(
        lambda: clients.lambda_.put_function_event_invoke_config(
            FunctionName=FUNCTION_NAME,
            **wanted,  # type: ignore[arg-type]
        )
    )
    return "created" if current is None else "updated"


# -- the journal bucket ------------------------------------------------------------------


def journal_bucket_report(
    clients: AwsClients, journal: JournalLocation, account_id: str
) -> list[str]:
    """What the bucket does to protect the journal's revisions (docs/janitor.md, "Threat
    model"): versioning, and a bucket policy denying writes without If-None-Match."""
    store = S3JournalStore(clients.client("s3"), journal, expected_owner=account_id)
    lines = []
    try:
        versioning = store.versioning()
        lines.append(
            f"journal bucket {journal.bucket}: versioning "
            + (
                "enabled (an overwritten or deleted revision stays readable)"
                if versioning == "Enabled"
                else f"{versioning.lower() or 'not enabled'}: an overwritten revision is "
                "lost (enable it: aws s3api put-bucket-versioning)"
            )
        )
    except ClientError as error:
        lines.append(
            f"journal bucket {journal.bucket}: versioning not readable ({error_code(error)})"
        )
    lines.append(
        f"journal bucket {journal.bucket}: "
        + conditional_writes_report(clients, journal, account_id)
    )
    return lines


def conditional_writes_report(
    clients: AwsClients, journal: JournalLocation, account_id: str
) -> str:
    try:
        raw = clients.client("s3").get_bucket_policy(
            Bucket=journal.bucket, ExpectedBucketOwner=account_id
        )["Policy"]
    except ClientError as error:
        if error_code(error) != "NoSuchBucketPolicy":
            return f"bucket policy not readable ({error_code(error)})"
        raw = None
    if raw is not None and requires_conditional_writes(json.loads(raw), journal):
        return (
            "its policy denies writes without If-None-Match under "
            f"{journal.prefix or '/'}: a revision cannot be overwritten"
        )
    return (
        "no bucket policy requires conditional writes (s3:if-none-match) under "
        f"{journal.prefix or '/'}: anyone who may write there can overwrite a revision "
        "(see docs/janitor.md for the statement to add)"
    )


def requires_conditional_writes(policy: dict[str, Any], journal: JournalLocation) -> bool:
    """A Deny of s3:PutObject on the journal prefix when the request has no If-None-Match
    ("Enforce conditional writes on Amazon S3 buckets", https://docs.aws.amazon.com/AmazonS3/
    latest/userguide/conditional-writes-enforce.html)."""
    statements = policy.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Deny":
            continue
        actions = as_list(statement.get("Action"))
        resources = as_list(statement.get("Resource"))
        condition = statement.get("Condition") or {}
        null = {
            key.lower(): str(value).lower() for key, value in (condition.get("Null") or {}).items()
        }
        if (
            any(action in ("s3:PutObject", "s3:*", "*") for action in actions)
            and null.get("s3:if-none-match") == "true"
            and any(covers(resource, journal) for resource in resources)
        ):
            return True
    return False


def covers(resource: str, journal: JournalLocation) -> bool:
    """The resource pattern covers every object under the journal prefix."""
    pattern = resource.split(":::", 1)[-1]
    return pattern.endswith("*") and f"{journal.bucket}/{journal.prefix}".startswith(pattern[:-1])


def as_list(value: Any) -> list[str]:
    return (
        [str(item) for item in value]
        if isinstance(value, list)
        else ([str(value)] if value else [])
    )


# -- roles -----------------------------------------------------------------------------


def ensure_role(
    clients: AwsClients,
    name: str,
    trust: dict[str, Any],
    policy: dict[str, Any],
    step: Callable[[str], None],
) -> str:
    """The role with exactly this trust policy and one inline policy of its name."""
    iam = clients.client("iam")
    existing = get_role(clients, name)
    if existing is None:
        created = call_with_backoff(
            lambda: iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description="chaos-gameday janitor (gameday janitor deploy)",
            )
        )
        role_arn, outcome = str(created["Role"]["Arn"]), "created"
    else:
        role_arn, outcome = str(existing["Arn"]), "reused"
        if as_document(existing["AssumeRolePolicyDocument"]) != trust:
            call_with_backoff(
                lambda: iam.update_assume_role_policy(
                    RoleName=name, PolicyDocument=json.dumps(trust)
                )
            )
            outcome = "trust policy updated"
    step(f"role {name}: {outcome} ({role_arn})")
    step(f"role policy {name}: {ensure_inline_policy(clients, name, policy)}")
    return role_arn


def get_role(clients: AwsClients, name: str) -> dict[str, Any] | None:
    try:
        return dict(clients.client("iam").get_role(RoleName=name)["Role"])
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


def ensure_inline_policy(clients: AwsClients, role: str, policy: dict[str, Any]) -> str:
    iam = clients.client("iam")
    try:
        current = iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
    except ClientError as error:
        if error_code(error) != "NoSuchEntity":
            raise
        current = None
    if current is not None and as_document(current) == policy:
        return "reused"
    call_with_backoff(
        lambda: iam.put_role_policy(
            RoleName=role, PolicyName=role, PolicyDocument=json.dumps(policy)
        )
    )
    return "created" if current is None else "updated"


def as_document(value: Any) -> Any:
    """A policy document as IAM returns it (boto3 decodes it; some endpoints leave it
    URL-encoded JSON), as a dict."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


# -- function --------------------------------------------------------------------------


def function_settings(role_arn: str, environment: dict[str, str]) -> dict[str, Any]:
    return {
        "Role": role_arn,
        "Handler": HANDLER,
        "Runtime": RUNTIME,
        "Timeout": TIMEOUT_S,
        "MemorySize": MEMORY_MB,
        "Environment": {"Variables": environment},
        "Description": "chaos-gameday janitor: restores runs that expired",
    }


def ensure_function(
    clients: AwsClients,
    package: JanitorPackage,
    role_arn: str,
    environment: dict[str, str],
    step: Callable[[str], None],
) -> str:
    lambda_ = clients.lambda_
    settings = function_settings(role_arn, environment)
    current = get_function(clients)
    if current is None:
        created = create_function(clients, package, settings)
        lambda_.get_waiter("function_active_v2").wait(FunctionName=FUNCTION_NAME)
        step(f"function {FUNCTION_NAME}: created (CodeSha256 {package.code_sha256})")
        return str(created["FunctionArn"])
    if current["CodeSha256"] != package.code_sha256:
        call_with_backoff(
            lambda: lambda_.update_function_code(
                FunctionName=FUNCTION_NAME, ZipFile=package.zip_bytes
            )
        )
        wait_until_updated(clients, FUNCTION_NAME)
        step(
            f"function {FUNCTION_NAME}: code updated (CodeSha256 {current['CodeSha256']} -> "
            f"{package.code_sha256})"
        )
    else:
        step(f"function {FUNCTION_NAME}: code reused (same CodeSha256 {package.code_sha256})")
    changed = sorted(key for key, value in settings.items() if current.get(key) != value)
    if changed:
        call_with_backoff(
            lambda: lambda_.update_function_configuration(FunctionName=FUNCTION_NAME, **settings)
        )
        wait_until_updated(clients, FUNCTION_NAME)
        step(f"function {FUNCTION_NAME}: configuration updated ({', '.join(changed)})")
    else:
        step(f"function {FUNCTION_NAME}: configuration reused")
    return str(current["FunctionArn"])


def get_function(clients: AwsClients) -> dict[str, Any] | None:
    try:
        config = dict(clients.lambda_.get_function_configuration(FunctionName=FUNCTION_NAME))
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    return config


def create_function(
    clients: AwsClients, package: JanitorPackage, settings: dict[str, Any]
) -> dict[str, Any]:
    deadline = time.monotonic() + ROLE_PROPAGATION_S
    while True:
        try:
            return dict(
                clients.lambda_.create_function(
                    FunctionName=FUNCTION_NAME,
                    Code={"ZipFile": package.zip_bytes},
                    Publish=False,
                    **settings,
                )
            )
        except ClientError as error:
            young_role = error_code(
                error
            ) == "InvalidParameterValueException" and "cannot be assumed" in str(error)
            if not young_role or time.monotonic() > deadline:
                raise
            time.sleep(3)
