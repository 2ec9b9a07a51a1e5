"""Which Lambda functions a `lambda-extension` fault targets, and every reason to refuse one.

A target is a function (``orders``: its ``$LATEST``) or an alias (``orders:live``). All
checks here are read-only and run before any change; each refusal is one line naming
the function and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from gameday_chaos import config as extension_config

from chaos.aws import lambda_functions as functions
from chaos.aws.clients import error_code
from chaos.errors import PreflightRefused
from chaos.faults.lambda_extension.layer_versions import LAYER_NAME, is_our_layer
from chaos.faults.lambda_extension.runtimes import refuse_unwrapped_runtime
from chaos.faults.locks import refuse_locked

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.aws.apigateway import LambdaIntegration
    from chaos.faults.base import FaultContext

__all__ = [
    "MAX_LAYERS",
    "FunctionTarget",
    "check_integrations",
    "parse_target",
    "refuse_alias",
    "refuse_edge_function",
    "refuse_environment",
    "refuse_oversized_code",
    "refuse_unreached_latest",
    "refuse_unreadable_layers",
    "refuse_unsafe_function",
    "streaming_url_lines",
]

MAX_LAYERS = 5
#: "250 MB (unzipped, including layers)", the deployment package quota ("Lambda quotas",
#: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), in bytes as
#: GetAccountSettings reports it (AccountLimit.CodeSizeUnzipped: "The maximum size of a
#: function's deployment package and layers when they're extracted", https://docs.aws.
#: amazon.com/lambda/latest/api/API_AccountLimit.html).
CODE_SIZE_UNZIPPED_LIMIT = 262_144_000
#: Above this share of the limit (as a lower bound), the plan warns that the unzipped size,
#: which the Lambda API does not expose, may exceed it: code and libraries often compress
#: 2-4 times.
SIZE_WARNING_SHARE = 0.25
#: Lambda@Edge functions live in this Region only ("Restrictions on Lambda@Edge", Lambda
#: Region: "The Lambda function must be in the US East (N. Virginia) Region", https://docs.
#: aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-at-edge-function-
#: restrictions.html).
EDGE_REGION = "us-east-1"
# What must be equal between $LATEST and the alias's version for the fault version,
# published from $LATEST, to be the alias's code and configuration plus our layer and keys.
COMPARED_FIELDS = (
    "CodeSha256",
    "Runtime",
    "Handler",
    "MemorySize",
    "Timeout",
    "Role",
    "Environment",
    "Layers",
    "VpcConfig",
    "Architectures",
    "EphemeralStorage",
    "TracingConfig",
    "DeadLetterConfig",
    "FileSystemConfigs",
    "KMSKeyArn",
    "LoggingConfig",
    "PackageType",
)


@dataclass(frozen=True)
class FunctionTarget:
    """A function name or ARN and, for an alias target, the alias."""

    function: str  # name or unqualified ARN
    alias: str | None = None
    #: a container image that carries the extension: only its environment changes
    baked_in: bool = False

    @property
    def label(self) -> str:
        name = (
            self.function.rsplit(":", 1)[-1] if self.function.startswith("arn:") else self.function
        )
        return f"{name}:{self.alias}" if self.alias else name


def parse_target(text: str) -> FunctionTarget:
    """``orders``, ``orders:live``, or an ARN with or without a qualifier."""
    if text.startswith("arn:"):
        parts = text.split(":")
        function = ":".join(parts[:7])
        qualifier = parts[7] if len(parts) > 7 else None
    else:
        function, _, qualifier = text.partition(":")
    if not qualifier or qualifier == "$LATEST":
        return FunctionTarget(function)
    if qualifier.isdigit():
        raise PreflightRefused(
            f"{text}: a published version is immutable, a fault cannot be attached to it; "
            f"target the alias that points at it ({function}:ALIAS)"
        )
    return FunctionTarget(function, qualifier)


def refuse_unsafe_function(
    config: dict[str, Any], tags: dict[str, str], context: FaultContext, *, baked_in: bool = False
) -> None:
    """Raise PreflightRefused, naming the function, for every state we must not touch."""
    name = config["FunctionName"]
    if config.get("PackageType") == "Image":
        if not baked_in:
            raise PreflightRefused(
                f"{name}: container-image function (PackageType Image) cannot take layers; "
                'bake the extension into its image (extension/README.md, "Container '
                'images") and declare it: functions: [{name: '
                f"{name}, baked_in: true}}]"
            )
    else:
        if baked_in:
            raise PreflightRefused(
                f"{name}: declared baked_in but it is a zip function (PackageType Zip); "
                "remove baked_in, the layer is attached for the run"
            )
        refuse_unwrapped_runtime(config)
    layers = functions.layer_arns_of(config)
    if any(is_our_layer(arn) for arn in layers):
        raise PreflightRefused(
            f"{name}: already carries the {LAYER_NAME} layer (a run left it?"
            " see `gameday status`, then `gameday rollback`)"
        )
    if len(layers) >= MAX_LAYERS:
        raise PreflightRefused(
            f"{name}: already has {len(layers)} layers, the Lambda maximum is {MAX_LAYERS}"
        )
    wrapper = functions.environment_of(config).get(extension_config.EXEC_WRAPPER_ENV_KEY)
    if wrapper is not None:
        raise PreflightRefused(
            f"{name}: already sets {extension_config.EXEC_WRAPPER_ENV_KEY} "
            "(another wrapper); refusing to replace it"
        )
    refuse_locked(name, tags, context)


def refuse_edge_function(clients: AwsClients, config: dict[str, Any]) -> None:
    """Refuse a Lambda@Edge function: CloudFront replicates published versions of it, which
    "must use a numbered version of the Lambda function, not $LATEST or aliases", and
    Lambda@Edge supports neither layers nor environment variables ("Restrictions on
    Lambda@Edge", https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/
    lambda-at-edge-function-restrictions.html): the fault can never reach its invocations.

    Recognised as a replica by `MasterArn` ("For Lambda@Edge functions, the ARN of the main
    function", FunctionConfiguration, https://docs.aws.amazon.com/lambda/latest/api/
    API_FunctionConfiguration.html), and as a main function (in us-east-1 only) by a
    CloudFront distribution whose cache behaviours associate a version of it
    (LambdaFunctionAssociations, read with ListDistributions).
    """
    name, arn = config["FunctionName"], str(config["FunctionArn"])
    if config.get("MasterArn"):
        raise PreflightRefused(
            f"{name}: a Lambda@Edge replica of {config['MasterArn']}: "
            "CloudFront runs published versions of it, which cannot take "
            "layers or environment variables; refusing"
        )
    if arn.split(":")[3] != EDGE_REGION:
        return
    try:
        distributions = edge_distributions_of(clients, arn)
    except ClientError as error:
        raise PreflightRefused(
            f"{name}: cannot tell whether CloudFront replicates it as a Lambda@Edge function "
            f"({error_code(error)} on cloudfront:ListDistributions); grant that read "
            "(see `gameday iam-policy`)"
        ) from error
    if distributions:
        raise PreflightRefused(
            f"{name}: a Lambda@Edge function (associated with CloudFront distribution(s) "
            f"{', '.join(distributions)}): CloudFront runs published versions of it, which "
            "cannot take layers or environment variables; refusing"
        )


def edge_distributions_of(clients: AwsClients, function_arn: str) -> list[str]:
    """IDs of the CloudFront distributions that associate any version of the function."""
    unqualified = ":".join(function_arn.split(":")[:7])
    found: list[str] = []
    paginator = clients.client("cloudfront").get_paginator("list_distributions")
    for page in paginator.paginate():
        for distribution in (page.get("DistributionList") or {}).get("Items") or []:
            behaviours = [distribution.get("DefaultCacheBehavior") or {}] + list(
                (distribution.get("CacheBehaviors") or {}).get("Items") or []
            )
            associated = [
                str(item.get("LambdaFunctionARN", ""))
                for behaviour in behaviours
                for item in (behaviour.get("LambdaFunctionAssociations") or {}).get("Items") or []
            ]
            if any(
                item == unqualified or item.startswith(f"{unqualified}:") for item in associated
            ):
                found.append(str(distribution["Id"]))
    return found


def refuse_oversized_code(config: dict[str, Any], our_layer_unzipped: int) -> list[str]:
    """Refuse a function whose code and layers plus ours would exceed Lambda's 250 MB
    unzipped; plan lines (warnings as "! ...") saying what is estimated.

    Lambda exposes only zipped sizes (CodeSize of the function and of each attached layer,
    "The size of the function's deployment package, in bytes" / "The size of the layer
    archive in bytes", https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration
    .html, API_Layer.html); the unzipped size is at least about the zipped one. Ours is known
    exactly (we build it). So the refusal is certain, and a size under the limit is not.
    """
    name = config["FunctionName"]
    zipped = int(config.get("CodeSize") or 0) + sum(
        int(layer.get("CodeSize") or 0) for layer in config.get("Layers") or []
    )
    at_least = zipped + our_layer_unzipped
    megabytes = CODE_SIZE_UNZIPPED_LIMIT / 1_048_576
    if at_least > CODE_SIZE_UNZIPPED_LIMIT:
        raise PreflightRefused(
            f"{name}: its code and layers are {zipped / 1_048_576:.1f} MB zipped (more "
            f"unzipped), with the fault's layer ({our_layer_unzipped / 1_048_576:.1f} MB) at "
            f"least {at_least / 1_048_576:.1f} MB: over Lambda's {megabytes:.0f} MB unzipped "
            "limit, the update would fail; refusing"
        )
    line = (
        f"code size: function and layers {zipped / 1_048_576:.1f} MB zipped (their unzipped "
        "size is not exposed by Lambda) + the fault's layer "
        f"{our_layer_unzipped / 1_048_576:.1f} MB; Lambda's limit is {megabytes:.0f} MB "
        "unzipped"
    )
    if at_least > SIZE_WARNING_SHARE * CODE_SIZE_UNZIPPED_LIMIT:
        return [
            f"! {line}: unzipped, it may exceed it (the attach would then fail and the run abort)"
        ]
    return [line]


def refuse_environment(config: dict[str, Any], ours: dict[str, str]) -> None:
    """Refuse an environment we cannot read back whole, or that ours would overflow.

    With a customer-managed KMS key the caller may lack ``kms:Decrypt``: Lambda then
    returns ``Environment.Error`` and no variables, and writing ours would delete theirs.
    """
    name = config["FunctionName"]
    environment = config.get("Environment") or {}
    failure = environment.get("Error")
    if failure:
        key = config.get("KMSKeyArn") or "its KMS key"
        raise PreflightRefused(
            f"{name}: its environment variables cannot be read ({failure.get('ErrorCode')}: "
            f"{failure.get('Message', '')}); the caller needs kms:Decrypt on {key} - writing "
            "ours now would delete every other variable"
        )
    merged = {**functions.environment_of(config), **ours}
    size = functions.environment_size(merged)
    if size > functions.ENVIRONMENT_LIMIT_BYTES:
        existing = functions.environment_size(functions.environment_of(config))
        raise PreflightRefused(
            f"{name}: its environment ({existing} bytes) plus the fault's keys would be {size} "
            f"bytes, over Lambda's {functions.ENVIRONMENT_LIMIT_BYTES}-byte limit by "
            f"{size - functions.ENVIRONMENT_LIMIT_BYTES}"
        )


def refuse_unreadable_layers(clients: AwsClients, config: dict[str, Any]) -> None:
    """Every existing layer is sent again with ours: each must be readable by the caller."""
    for arn in functions.layer_arns_of(config):
        name, _, version = arn.rpartition(":")
        try:
            clients.lambda_.get_layer_version(LayerName=name, VersionNumber=int(version))
        except ClientError as error:
            raise PreflightRefused(
                f"{config['FunctionName']}: its layer {arn} cannot be read by the caller "
                f"({error_code(error)}): attaching ours re-sends it, the update would fail "
                "(grant lambda:GetLayerVersion on it)"
            ) from error


def refuse_unreached_latest(config: dict[str, Any]) -> list[str]:
    """Check a function target, whose `$LATEST` the fault changes; plan warnings ("! ...").

    Lambda Managed Instances: "When you invoke a Lambda Managed Instances function using
    an unqualified ARN, Lambda implicitly invokes the $LATEST.PUBLISHED version rather than
    the unpublished $LATEST version" ("$LATEST.PUBLISHED version in Lambda Managed
    Instances", https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-
    version-publishing.html): no invocation ever runs `$LATEST`, refused.

    SnapStart is not refused: "Lambda initializes your function when you publish a function
    version" and resumes that version's invocations from the snapshot ("Improving startup
    performance with Lambda SnapStart", https://docs.aws.amazon.com/lambda/latest/dg/
    snapstart.html; `ApplyOn: PublishedVersions`, https://docs.aws.amazon.com/lambda/
    latest/api/API_SnapStart.html). `$LATEST` has no snapshot and its invocations run its
    current configuration, ours included. Whether the endpoint invokes `$LATEST` or a
    version is for `check_integrations` to tell (and refuse); the plan says why it matters.
    """
    name = config["FunctionName"]
    if config.get("CapacityProviderConfig"):
        raise PreflightRefused(
            f"{name}: runs on Lambda Managed Instances (a capacity provider): invocations "
            "without a qualifier run $LATEST.PUBLISHED, never $LATEST, which this fault "
            "changes; refusing"
        )
    if (config.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions":
        return [
            f"! {name} has SnapStart on, which serves published versions only: this "
            "fault changes $LATEST and reaches only invocations of $LATEST"
        ]
    return []


def streaming_url_lines(clients: AwsClients, function: str, qualifier: str | None) -> list[str]:
    """Plan warnings about a Function URL that streams responses.

    With InvokeMode RESPONSE_STREAM "your function streams payload results as they become
    available" ("Configuring a Lambda function to stream responses", https://docs.aws.
    amazon.com/lambda/latest/dg/configuration-response-streaming.html); the extension relays
    a streamed response untouched, whatever was drawn for it (extension/README.md), so those
    invocations are not faulted. Not refused: the same function is often invoked buffered
    elsewhere (API Gateway), and the fault_effect check judges what did fire.
    """
    arguments = {"FunctionName": function, **({"Qualifier": qualifier} if qualifier else {})}
    try:
        url = clients.lambda_.get_function_url_config(**arguments)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return []
        raise PreflightRefused(
            f"{function}: cannot tell whether its Function URL streams responses "
            f"({error_code(error)} on lambda:GetFunctionUrlConfig); grant that read (see "
            "`gameday iam-policy`)"
        ) from error
    if url.get("InvokeMode") != "RESPONSE_STREAM":
        return []
    return [
        f"! {function}'s Function URL streams responses (InvokeMode RESPONSE_STREAM): "
        "the extension passes streamed invocations through untouched, unfaulted"
    ]


def refuse_alias(
    clients: AwsClients,
    target: FunctionTarget,
    latest: dict[str, Any],
    alias: dict[str, Any] | None,
    *,
    allow_provisioned: bool,
) -> dict[str, Any]:
    """Check an alias target; returns the alias's version configuration."""
    name = latest["FunctionName"]
    if alias is None:
        raise PreflightRefused(f"{target.label}: no alias {target.alias!r} on {name}")
    routing = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if routing:
        raise PreflightRefused(
            f"{target.label}: the alias already routes {routing} to other versions (a "
            "deployment in progress?); refusing to change its routing"
        )
    version = str(alias["FunctionVersion"])
    pinned = functions.get_configuration(clients, name, version)
    differing = [
        field
        for field in COMPARED_FIELDS
        if _comparable(field, latest) != _comparable(field, pinned)
    ]
    if differing:
        raise PreflightRefused(
            f"{target.label}: $LATEST differs from version {version} that the alias serves "
            f"({', '.join(differing)}); the fault version is published from $LATEST, so deploy "
            "or revert $LATEST to that version first"
        )
    snap_start = (pinned.get("SnapStart") or {}).get("ApplyOn")
    if snap_start == "PublishedVersions":
        raise PreflightRefused(
            f"{target.label}: SnapStart is on: a fault version would be "
            "restored from a snapshot taken before the fault; refusing"
        )
    if pinned.get("CapacityProviderConfig"):
        raise PreflightRefused(
            f"{target.label}: runs on Lambda Managed Instances (a capacity "
            "provider); the fault version would not reach its instances"
        )
    for qualifier in (str(target.alias), version):
        provisioned = functions.provisioned_concurrency(clients, name, qualifier)
        if provisioned and not allow_provisioned:
            raise PreflightRefused(
                f"{target.label}: {qualifier} has provisioned concurrency ({provisioned}); the "
                "fault version gets none and runs on demand, with cold starts - set "
                "allow_provisioned_concurrency: true to accept that"
            )
    return pinned


def _comparable(field: str, config: dict[str, Any]) -> Any:
    value = config.get(field)
    if field == "VpcConfig" and isinstance(value, dict):
        return {
            key: sorted(item) if isinstance(item, list) else item
            for key, item in value.items()
            if key != "VpcId"
        }
    return value


def check_integrations(
    target: FunctionTarget,
    function_name: str,
    injects_error: bool,
    integrations: Sequence[LambdaIntegration] | None,
    unknown_because: str | None = None,
    caveat: str | None = None,
) -> list[str]:
    """Plan lines about how the endpoint invokes the target; refuses what the fault misses.

    `caveat`: why the integrations may not be the deployed stage's (they were read from the
    API's current configuration); a warning of the plan, and part of any refusal.
    """
    if integrations is None:
        return (
            [f"! {unknown_because}: the plan cannot tell how the endpoint invokes {target.label}"]
            if unknown_because
            else []
        )
    try:
        lines = _integration_lines(target, function_name, injects_error, integrations)
    except PreflightRefused as refused:
        if caveat:
            raise PreflightRefused(f"{refused} (note: {caveat})") from None
        raise
    return lines + ([f"! {caveat}"] if caveat else [])


def _integration_lines(
    target: FunctionTarget,
    function_name: str,
    injects_error: bool,
    integrations: Sequence[LambdaIntegration],
) -> list[str]:
    invoking = [item for item in integrations if item.function_name == function_name]
    if not invoking:
        return [
            f"the endpoint never invokes {function_name}: the fault can only act through "
            "other callers (the fault_effect check will tell)"
        ]
    reached = [item for item in invoking if item.qualifier == target.alias]
    missed = [item for item in invoking if item.qualifier != target.alias]
    shown = ", ".join(sorted({f"{item.invoked} ({item.route})" for item in missed}))
    if not reached:
        fix = (
            f"target {missed[0].invoked}"
            if missed[0].qualifier
            else f"target {function_name} (its $LATEST)"
        )
        raise PreflightRefused(
            f"{target.label}: the endpoint invokes {shown}, which this fault would not reach; {fix}"
        )
    lines = [
        f"invoked by {item.route} ({item.integration_type}) -> {item.invoked}" for item in reached
    ]
    if missed:
        lines.append(
            f"! the endpoint also invokes {shown}: those routes are not faulted "
            "unless another target covers them"
        )
    non_proxy = [item for item in reached if not item.proxy]
    if non_proxy and injects_error:
        raise PreflightRefused(
            f"{target.label}: {non_proxy[0].route} is a non-proxy (AWS) integration: an "
            "injected error response would reach clients as HTTP 200; remove the error fault "
            "or use an AWS_PROXY integration"
        )
    lines.extend(
        f"! {item.route} is a non-proxy (AWS) integration: the function's result is "
        "mapped by API Gateway, not returned as is"
        for item in non_proxy
    )
    return lines
