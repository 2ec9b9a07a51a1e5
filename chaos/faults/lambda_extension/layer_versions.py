"""Publishing the extension layer once per content hash, and proving what is attached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chaos.aws.clients import error_code
from chaos.aws.retry import call_with_backoff
from chaos.errors import PreflightRefused

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients

LAYER_NAME = "gameday-chaos"


@dataclass(frozen=True)
class LayerVersion:
    arn: str
    version: int
    code_sha256: str


def find_layer_version(clients: AwsClients, code_sha256: str) -> LayerVersion | None:
    """The newest published version of our layer whose CodeSha256 equals `code_sha256`."""
    try:
        paginator = clients.lambda_.get_paginator("list_layer_versions")
        summaries = [
            summary
            for page in paginator.paginate(LayerName=LAYER_NAME)
            for summary in page["LayerVersions"]
        ]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    for summary in sorted(summaries, key=lambda item: -item["Version"]):
        version = describe_layer_version(clients, summary["Version"])
        if version.code_sha256 == code_sha256:
            return version
    return None


def describe_layer_version(clients: AwsClients, version: int) -> LayerVersion:
    # get_layer_version_by_arn is not in every API emulator; get_layer_version is.
    response = call_with_backoff(
        lambda: clients.lambda_.get_layer_version(LayerName=LAYER_NAME, VersionNumber=version)
    )
    return LayerVersion(
        arn=response["LayerVersionArn"],
        version=response["Version"],
        code_sha256=response["Content"]["CodeSha256"],
    )


def publish_layer(
    clients: AwsClients, zip_bytes: bytes, code_sha256: str, architecture: str = "x86_64"
) -> LayerVersion:
    """Reuse the version with this content hash, else publish one; verify the hash either way.

    Each architecture's build has its own hash, so its own version. The layer declares no
    CompatibleRuntimes: the extension is a static binary that serves every runtime the
    toolkit accepts (CompatibleRuntimes is metadata, used only to filter layers in the
    console; https://docs.aws.amazon.com/lambda/latest/api/API_PublishLayerVersion.html).
    """
    existing = find_layer_version(clients, code_sha256)
    if existing:
        return existing
    response = call_with_backoff(
        lambda: clients.lambda_.publish_layer_version(
            LayerName=LAYER_NAME,
            Description=f"chaos-gameday fault-injection extension ({architecture}) "
            f"sha256:{code_sha256}",
            Content={"ZipFile": zip_bytes},
            CompatibleArchitectures=[architecture],  # type: ignore[list-item]
        )
    )
    published = LayerVersion(
        arn=response["LayerVersionArn"],
        version=response["Version"],
        code_sha256=response["Content"]["CodeSha256"],
    )
    verify_layer_hash(published, code_sha256)
    return published


def verify_layer_hash(version: LayerVersion, code_sha256: str) -> None:
    if version.code_sha256 != code_sha256:
        raise PreflightRefused(
            f"layer {version.arn} has CodeSha256 {version.code_sha256}, the local build has "
            f"{code_sha256}: refusing to attach a layer not built from this source"
        )


def is_our_layer(layer_arn: str) -> bool:
    return f":layer:{LAYER_NAME}:" in layer_arn


def is_own_layer_of(layer_arn: str, function_arn: str) -> bool:
    """`layer_arn` is a version of our layer published in the function's own partition,
    Region and account (a layer of that name elsewhere is someone else's)."""
    layer, function = layer_arn.split(":"), function_arn.split(":")
    return (
        len(layer) == 8
        and len(function) >= 7
        and layer[5] == "layer"
        and layer[6] == LAYER_NAME
        and layer[:5] == function[:5]
    )


def own_layer_code_sha256(clients: AwsClients, layer_version_arn: str) -> str:
    """The CodeSha256 of an attached version of our layer (`is_own_layer_of`: in the
    caller's account and Region, so its name names it), as Lambda reports it.

    GetLayerVersion answers `Content` (LayerVersionContentOutput) whose `CodeSha256` is
    "The SHA-256 hash of the layer archive" (https://docs.aws.amazon.com/lambda/latest/api/
    API_LayerVersionContentOutput.html).
    """
    return describe_layer_version(clients, int(layer_version_arn.rpartition(":")[2])).code_sha256
