"""Lambda function reads and updates: waiters, RevisionId, retries, lock tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, WaiterError

from chaos.aws.clients import error_code
from chaos.aws.retry import call_with_backoff
from chaos.errors import PreflightRefused

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients


class FunctionNotFound(PreflightRefused):
    pass


def get_configuration(clients: AwsClients, name_or_arn: str) -> dict[str, Any]:
    try:
        config: dict[str, Any] = call_with_backoff(
            lambda: dict(clients.lambda_.get_function_configuration(FunctionName=name_or_arn))
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise FunctionNotFound(f"Lambda function {name_or_arn!r} does not exist") from error
        raise
    config.pop("ResponseMetadata", None)
    return config


def environment_of(config: dict[str, Any]) -> dict[str, str]:
    return dict(config.get("Environment", {}).get("Variables", {}) or {})


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
    layers: list[str],
    environment: dict[str, str],
    revision_id: str | None,
) -> None:
    """Set Layers and Environment, guarded by RevisionId when AWS gave one, then wait."""
    arguments: dict[str, Any] = {
        "FunctionName": function_arn,
        "Layers": layers,
        "Environment": {"Variables": environment},
    }
    if revision_id:
        arguments["RevisionId"] = revision_id
    call_with_backoff(lambda: clients.lambda_.update_function_configuration(**arguments))
    wait_until_updated(clients, function_arn)


def wait_until_updated(clients: AwsClients, function_arn: str) -> None:
    # function_updated polls GetFunctionConfiguration (the v2 waiter needs GetFunction too).
    try:
        clients.lambda_.get_waiter("function_updated").wait(
            FunctionName=function_arn, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
        )
    except WaiterError as error:
        raise RuntimeError(f"{function_arn}: update did not become Successful: {error}") from error
