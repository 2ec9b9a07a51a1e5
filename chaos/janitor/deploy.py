"""`gameday janitor deploy`: install the janitor in the target account, idempotently.

Two roles (the function's execution role, the role EventBridge Scheduler assumes to invoke
it), each with one inline policy, and the function built from `chaos.janitor.package`.
Each is created when missing, updated when it differs, and reused otherwise; the function's
code is uploaded again only when its CodeSha256 differs from the local build's. Every step
says which it was.
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
from chaos.janitor.schedule import function_arn

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.journal import JournalLocation

#: A new role can take seconds before Lambda may assume it ("The role defined for the
#: function cannot be assumed by Lambda"): CreateFunction is retried this long.
ROLE_PROPAGATION_S = 60.0


@dataclass
class JanitorDeployment:
    function_arn: str
    scheduler_role_arn: str
    code_sha256: str
    steps: list[str] = field(default_factory=list)  # "function gameday-janitor: created", ...


def deploy_janitor(clients: AwsClients, account_id: str, journal: JournalLocation, *,
                   say: Callable[[str], None] = print,
                   package: JanitorPackage | None = None) -> JanitorDeployment:
    """Create, update or reuse the roles and the function; `say` hears every step."""
    package = package or build_janitor_package()
    region = clients.region
    steps: list[str] = []

    def step(line: str) -> None:
        steps.append(line)
        say(line)

    say(f"janitor package: {len(package.files)} files, {len(package.zip_bytes)} bytes, "
        f"CodeSha256 {package.code_sha256}")
    janitor_arn = function_arn(region, account_id)
    role_arn = ensure_role(clients, ROLE_NAME, lambda_trust_policy(),
                           janitor_policy(region, account_id, journal), step)
    scheduler_role = ensure_role(clients, SCHEDULER_ROLE_NAME, scheduler_trust_policy(account_id),
                                 scheduler_policy(janitor_arn), step)
    environment = {SCHEDULER_ROLE_ENV: scheduler_role, JOURNAL_ENV: journal.uri}
    deployed_arn = ensure_function(clients, package, role_arn, environment, step)
    say(f"janitor ready: {deployed_arn}; runs journaled under {journal.uri} schedule it "
        f"through {scheduler_role}")
    return JanitorDeployment(deployed_arn, scheduler_role, package.code_sha256, steps)


# -- roles -----------------------------------------------------------------------------


def ensure_role(clients: AwsClients, name: str, trust: dict[str, Any], policy: dict[str, Any],
                step: Callable[[str], None]) -> str:
    """The role with exactly this trust policy and one inline policy of its name."""
    iam = clients.client("iam")
    existing = get_role(clients, name)
    if existing is None:
        created = call_with_backoff(lambda: iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
            Description="chaos-gameday janitor (gameday janitor deploy)"))
        role_arn, outcome = str(created["Role"]["Arn"]), "created"
    else:
        role_arn, outcome = str(existing["Arn"]), "reused"
        if as_document(existing["AssumeRolePolicyDocument"]) != trust:
            call_with_backoff(lambda: iam.update_assume_role_policy(
                RoleName=name, PolicyDocument=json.dumps(trust)))
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
    call_with_backoff(lambda: iam.put_role_policy(RoleName=role, PolicyName=role,
                                                  PolicyDocument=json.dumps(policy)))
    return "created" if current is None else "updated"


def as_document(value: Any) -> Any:
    """A policy document as IAM returns it (boto3 decodes it; some endpoints leave it
    URL-encoded JSON), as a dict."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


# -- function --------------------------------------------------------------------------


def function_settings(role_arn: str, environment: dict[str, str]) -> dict[str, Any]:
    return {"Role": role_arn, "Handler": HANDLER, "Runtime": RUNTIME, "Timeout": TIMEOUT_S,
            "MemorySize": MEMORY_MB, "Environment": {"Variables": environment},
            "Description": "chaos-gameday janitor: restores runs that expired"}


def ensure_function(clients: AwsClients, package: JanitorPackage, role_arn: str,
                    environment: dict[str, str], step: Callable[[str], None]) -> str:
    lambda_ = clients.lambda_
    settings = function_settings(role_arn, environment)
    current = get_function(clients)
    if current is None:
        created = create_function(clients, package, settings)
        lambda_.get_waiter("function_active_v2").wait(FunctionName=FUNCTION_NAME)
        step(f"function {FUNCTION_NAME}: created (CodeSha256 {package.code_sha256})")
        return str(created["FunctionArn"])
    if current["CodeSha256"] != package.code_sha256:
        call_with_backoff(lambda: lambda_.update_function_code(
            FunctionName=FUNCTION_NAME, ZipFile=package.zip_bytes))
        wait_until_updated(clients, FUNCTION_NAME)
        step(f"function {FUNCTION_NAME}: code updated (CodeSha256 {current['CodeSha256']} -> "
             f"{package.code_sha256})")
    else:
        step(f"function {FUNCTION_NAME}: code reused (same CodeSha256 {package.code_sha256})")
    changed = sorted(key for key, value in settings.items() if current.get(key) != value)
    if changed:
        call_with_backoff(lambda: lambda_.update_function_configuration(
            FunctionName=FUNCTION_NAME, **settings))
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


def create_function(clients: AwsClients, package: JanitorPackage,
                    settings: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + ROLE_PROPAGATION_S
    while True:
        try:
            return dict(clients.lambda_.create_function(
                FunctionName=FUNCTION_NAME, Code={"ZipFile": package.zip_bytes},
                Publish=False, **settings))
        except ClientError as error:
            young_role = (error_code(error) == "InvalidParameterValueException"
                          and "cannot be assumed" in str(error))
            if not young_role or time.monotonic() > deadline:
                raise
            time.sleep(3)
