"""Lambda function reads and updates: waiters, RevisionId, retries, lock tags, versions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, WaiterError

from chaos.aws.clients import error_code
from chaos.aws.retry import call_with_backoff
from chaos.errors import GamedayError, PreflightRefused

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients


#: The total size of a function's environment variables (Lambda quotas, "Function
#: configuration, deployment, and execution": 4 KB), measured as Lambda's error message
#: shows it: the variables as one compact JSON object, in UTF-8.
#: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
ENVIRONMENT_LIMIT_BYTES = 4096


#: A published version starts `Pending` and "Functions can only be successfully invoked
#: while active" ("Lambda function states", https://docs.aws.amazon.com/lambda/latest/dg/
#: functions-states.html). botocore's `published_version_active` waiter (GetFunctionConfiguration
#: of the version; success Active, failure Failed, retry Pending) polls every 5 s up to 312
#: times (botocore data/lambda/2015-03-31/waiters-2.json): a 1 s poll keeps `effective_at`
#: within a second of the switch, and the account's request pacing (chaos.aws.rate_limit)
#: bounds the calls of many targets. Past six minutes AWS calls a function "stuck in
#: Pending" ("Troubleshoot invocation issues in Lambda", https://docs.aws.amazon.com/lambda/
#: latest/dg/troubleshooting-invocation.html#troubleshooting-invocation-pending): so long
#: and no longer.
VERSION_ACTIVE_POLL_S = 1
VERSION_ACTIVE_MAX_POLLS = 360


class FunctionNotFound(PreflightRefused):
    pass


class VersionNotActive(GamedayError):
    """A published version went `Failed`, stayed `Pending` past the wait, or could not be read."""

    def __init__(self, version: str, why: str) -> None:
        super().__init__(f"version {version} did not become Active ({why})")
        self.version = version
        self.why = why


def get_configuration(
    clients: AwsClients, name_or_arn: str, qualifier: str | None = None
) -> dict[str, Any]:
    arguments = {"FunctionName": name_or_arn}
    if qualifier:
        arguments["Qualifier"] = qualifier
    try:
        config: dict[str, Any] = call_with_backoff(
            lambda: dict(clients.lambda_.get_function_configuration(**arguments))
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            shown = f"{name_or_arn}:{qualifier}" if qualifier else name_or_arn
            raise FunctionNotFound(f"Lambda function {shown!r} does not exist") from error
        raise
    config.pop("ResponseMetadata", None)
    return config


def get_with_tags(clients: AwsClients, name_or_arn: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The function's configuration and tags in one GetFunction call.

    GetFunction has its own request quota (100/s), apart from the 15/s that every other
    control-plane call shares (Lambda quotas): reading through it keeps a change of dozens
    of functions from queueing behind its own reads.
    """
    try:
        found = call_with_backoff(lambda: clients.lambda_.get_function(FunctionName=name_or_arn))
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise FunctionNotFound(f"Lambda function {name_or_arn!r} does not exist") from error
        raise
    return dict(found["Configuration"]), dict(found.get("Tags") or {})


def environment_size(variables: dict[str, str]) -> int:
    """Bytes the environment counts against ENVIRONMENT_LIMIT_BYTES."""
    return len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode())


def get_alias(clients: AwsClients, function_name: str, alias: str) -> dict[str, Any] | None:
    try:
        found = dict(
            call_with_backoff(
                lambda: clients.lambda_.get_alias(FunctionName=function_name, Name=alias)
            )
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    found.pop("ResponseMetadata", None)
    return found


def update_alias(
    clients: AwsClients,
    function_name: str,
    alias: str,
    *,
    version: str,
    weights: dict[str, float],
    revision_id: str | None = None,
) -> dict[str, Any]:
    """Point `alias` at `version`, with `weights` as its additional routing (may be empty)."""
    arguments: dict[str, Any] = {
        "FunctionName": function_name,
        "Name": alias,
        "FunctionVersion": version,
        "RoutingConfig": {"AdditionalVersionWeights": dict(weights)},
    }
    if revision_id:
        arguments["RevisionId"] = revision_id
    return dict(call_with_backoff(lambda: clients.lambda_.update_alias(**arguments)))


def publish_version(
    clients: AwsClients, function_name: str, description: str, revision_id: str | None
) -> str:
    arguments: dict[str, Any] = {"FunctionName": function_name, "Description": description}
    if revision_id:
        arguments["RevisionId"] = revision_id
    published = call_with_backoff(lambda: clients.lambda_.publish_version(**arguments))
    return str(published["Version"])


def wait_until_version_active(clients: AwsClients, function_name: str, version: str) -> None:
    """Return once the published `version` is Active; VersionNotActive (one line, with its
    StateReasonCode and StateReason) when it is not."""
    try:
        clients.lambda_.get_waiter("published_version_active").wait(
            FunctionName=function_name,
            Qualifier=version,
            WaiterConfig={"Delay": VERSION_ACTIVE_POLL_S, "MaxAttempts": VERSION_ACTIVE_MAX_POLLS},
        )
    except WaiterError as error:
        raise VersionNotActive(version, _not_active_why(error)) from None


def _not_active_why(error: WaiterError) -> str:
    last: dict[str, Any] = dict(error.last_response or {})
    failure = last.get("Error")
    if failure:
        why = f"its State could not be read: {failure.get('Code')}: {failure.get('Message', '')}"
    else:
        state = str(last.get("State") or "unknown")
        if state != "Failed":
            state = f"{state} after {VERSION_ACTIVE_MAX_POLLS} polls"
        reason = ": ".join(
            str(part) for part in (last.get("StateReasonCode"), last.get("StateReason")) if part
        )
        why = f"State {state}" + (f", {reason}" if reason else "")
    return " ".join(why.split())  # one line, whatever Lambda's reason holds


def versions(clients: AwsClients, function_name: str) -> list[dict[str, Any]]:
    """Every published version (not $LATEST), oldest first."""
    found: list[dict[str, Any]] = []
    for page in clients.lambda_.get_paginator("list_versions_by_function").paginate(
        FunctionName=function_name
    ):
        found.extend(dict(item) for item in page["Versions"] if item.get("Version") != "$LATEST")
    return found


def aliases(clients: AwsClients, function_name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in clients.lambda_.get_paginator("list_aliases").paginate(FunctionName=function_name):
        found.extend(dict(alias) for alias in page["Aliases"])
    return found


def delete_version(clients: AwsClients, function_name: str, version: str) -> bool:
    """Delete one published version; False when it was already gone."""
    try:
        call_with_backoff(
            lambda: clients.lambda_.delete_function(FunctionName=function_name, Qualifier=version)
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True


def provisioned_concurrency(clients: AwsClients, function_name: str, qualifier: str) -> int | None:
    """The provisioned concurrency requested on an alias or version, None without any."""
    try:
        config = call_with_backoff(
            lambda: clients.lambda_.get_provisioned_concurrency_config(
                FunctionName=function_name, Qualifier=qualifier
            )
        )
    except ClientError as error:
        # AWS answers ProvisionedConcurrencyConfigNotFoundException with HTTP 404; some
        # emulators answer a bare 404 for a configuration they do not keep.
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or error_code(error) in (
            "ProvisionedConcurrencyConfigNotFoundException",
            "ResourceNotFoundException",
        ):
            return None
        raise
    return int(config.get("RequestedProvisionedConcurrentExecutions") or 0) or None


def environment_of(config: dict[str, Any]) -> dict[str, str]:
    return dict(config.get("Environment", {}).get("Variables", {}) or {})


def environment_error(config: dict[str, Any]) -> dict[str, str] | None:
    """Why Lambda could not return the function's variables, None when it did.

    A configuration read answers an `EnvironmentResponse`: "If the operation succeeds, the
    response contains the environment variables. If it fails, the response contains details
    about the error" (`Error`: ErrorCode, Message; EnvironmentResponse,
    https://docs.aws.amazon.com/lambda/latest/api/API_EnvironmentResponse.html) - e.g. when
    the caller may not use the customer managed key that encrypts them. Variables are then
    absent: `environment_of` reads {} and writing it back would delete every variable.
    """
    error = (config.get("Environment") or {}).get("Error")
    return dict(error) if error else None


def layer_arns_of(config: dict[str, Any]) -> list[str]:
    return [layer["Arn"] for layer in config.get("Layers", []) or []]


def functions_with_tags(clients: AwsClients, tags: dict[str, str]) -> list[str]:
    """ARNs of the region's functions carrying every tag in `tags`."""
    matches = []
    for page in clients.lambda_.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            arn = function["FunctionArn"]
            present = list_tags(clients, arn)
            if all(present.get(key) == value for key, value in tags.items()):
                matches.append(arn)
    return sorted(matches)


def list_tags(clients: AwsClients, arn: str) -> dict[str, str]:
    return dict(call_with_backoff(lambda: clients.lambda_.list_tags(Resource=arn))["Tags"])


def tag(clients: AwsClients, arn: str, tags: dict[str, str]) -> None:
    call_with_backoff(lambda: clients.lambda_.tag_resource(Resource=arn, Tags=tags))


def untag(clients: AwsClients, arn: str, keys: list[str]) -> None:
    call_with_backoff(lambda: clients.lambda_.untag_resource(Resource=arn, TagKeys=keys))


def update_configuration(
    clients: AwsClients,
    function_arn: str,
    *,
    layers: list[str] | None,
    environment: dict[str, str],
    revision_id: str | None,
    wait: bool = True,
) -> None:
    """Set Layers and Environment, guarded by RevisionId when AWS gave one, then wait.

    ``layers=None`` leaves Layers out (a container-image function takes none).

    A configuration update stays `InProgress` for seconds in AWS; until it is
    `Successful`, invocations run the old configuration (wait=False: the caller waits).
    """
    arguments: dict[str, Any] = {
        "FunctionName": function_arn,
        "Environment": {"Variables": environment},
    }
    if layers is not None:
        arguments["Layers"] = layers
    if revision_id:
        arguments["RevisionId"] = revision_id
    call_with_backoff(lambda: clients.lambda_.update_function_configuration(**arguments))
    if wait:
        wait_until_updated(clients, function_arn)


def wait_until_updated(clients: AwsClients, function_arn: str) -> None:
    """Until LastUpdateStatus is Successful (GetFunction: see get_with_tags); bounded."""
    try:
        clients.lambda_.get_waiter("function_updated_v2").wait(
            FunctionName=function_arn, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
        )
    except WaiterError as error:
        raise RuntimeError(f"{function_arn}: update did not become Successful: {error}") from error
