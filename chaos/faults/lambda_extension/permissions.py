"""The IAM statements a `lambda-extension` fault needs (`gameday iam-policy`): its plan,
apply and restore, and what its targets' own resources need."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaos.aws import lambda_functions as functions
from chaos.aws import partition
from chaos.faults.lambda_extension.layer_versions import LAYER_NAME
from chaos.faults.lambda_extension.targets import EDGE_REGION, parse_target
from chaos.policy import PolicyStatement, locked, only_tag_keys, tagged

if TYPE_CHECKING:
    from chaos.faults.lambda_extension.spec import LambdaExtensionSpec

__all__ = ["alias_permissions", "required_statements", "target_statements"]


def required_statements(
    spec: LambdaExtensionSpec, *, region: str, account_id: str, index: int
) -> list[PolicyStatement]:
    """Reads of the targets; their change only while they carry a run's lock; the lock
    (gameday:* tag keys only) on the named targets, or on the functions carrying the
    selector's tags. aws:ResourceTag is a condition key of Lambda's function, function
    version and function alias resources, aws:TagKeys of TagResource and UntagResource
    ("Actions, resources, and condition keys for AWS Lambda", https://docs.aws.amazon.com/
    service-authorization/latest/reference/list_awslambda.html; "Using attribute-based
    access control in Lambda", https://docs.aws.amazon.com/lambda/latest/dg/attribute-
    based-access-control.html)."""
    prefix = partition.arn("lambda", region, account_id, "").rstrip(":")
    statements = []
    scope: tuple[tuple[str, str, str], ...] = ()
    if isinstance(spec.functions, list):
        targets = [
            parse_target(item if isinstance(item, str) else item.name) for item in spec.functions
        ]
        function_arns = tuple(
            target.function
            if target.function.startswith("arn:")
            else f"{prefix}:function:{target.function}"
            for target in targets
        )
        aliased = tuple(
            arn for arn, target in zip(function_arns, targets, strict=True) if target.alias
        )
    else:  # a tag selector matches functions, never an alias
        function_arns, aliased = (f"{prefix}:function:*",), ()
        scope = tagged(dict(spec.functions.tags))
        statements.append(PolicyStatement("FindFunctionsByTag", ("lambda:ListFunctions",), ("*",)))
    statements += [
        PolicyStatement(
            f"LambdaExtensionTargets{index}",
            (
                "lambda:GetFunctionConfiguration",  # plan
                "lambda:GetFunction",  # snapshot, waiter, restore (configuration and tags)
                "lambda:ListTags",  # the lock, and a tag selector's matches
            ),
            function_arns,  # reads: of every function a tag selector looks at
        ),
        PolicyStatement(
            f"LambdaExtensionChange{index}",
            ("lambda:UpdateFunctionConfiguration",),  # attach / detach
            function_arns,
            scope + locked(),
        ),
        PolicyStatement(
            f"LambdaExtensionLock{index}",
            ("lambda:TagResource", "lambda:UntagResource"),
            function_arns,
            scope + only_tag_keys(),
        ),
        PolicyStatement(
            "ExtensionLayer",
            ("lambda:GetLayerVersion",),  # hash check, and needed to attach a layer
            (f"{prefix}:layer:{LAYER_NAME}:*",),
        ),
        PolicyStatement(
            "ExtensionLayerPublish",
            ("lambda:PublishLayerVersion",),
            (f"{prefix}:layer:{LAYER_NAME}",),
        ),
        # ListLayerVersions supports no resource-level permission.
        PolicyStatement("ExtensionLayerVersions", ("lambda:ListLayerVersions",), ("*",)),
    ]
    unqualified = tuple(arn for arn in function_arns if arn not in aliased)
    if unqualified:  # an alias target's URL is read with its qualifier (alias_permissions)
        statements.append(
            PolicyStatement(
                f"LambdaExtensionUrl{index}",
                ("lambda:GetFunctionUrlConfig",),  # does its Function URL stream responses?
                unqualified,
            )
        )
    if region == EDGE_REGION:
        # Whether CloudFront replicates a target as a Lambda@Edge function (refused);
        # ListDistributions supports no resource-level permission.
        statements.append(
            PolicyStatement("EdgeFunctionCheck", ("cloudfront:ListDistributions",), ("*",))
        )
    return statements + alias_permissions(index, aliased)


def target_statements(
    configs: list[dict[str, Any]] | None,
    *,
    region: str,
    account_id: str,
    layer_arns: tuple[str, ...] = (),
    kms_key_arns: tuple[str, ...] = (),
) -> list[PolicyStatement]:
    """What the targets' own resources need: their existing layers (sent again with ours)
    and their environment's KMS key. Exact from the targets' `configs`; when they could not
    be read (None), the given `layer_arns` / `kms_key_arns` (`--layer-arn`,
    `--kms-key-arn`), else named placeholders to replace - never a wildcard."""
    if configs is None:
        return [
            PolicyStatement(
                "TargetsExistingLayers",
                ("lambda:GetLayerVersion",),
                layer_arns
                or (
                    partition.arn(
                        "lambda", region, "LAYER_ACCOUNT_ID", "layer:TARGETS_LAYER_NAME:VERSION"
                    ),
                ),
            ),
            PolicyStatement(
                "TargetsEnvironmentKey",
                ("kms:Decrypt", "kms:Encrypt"),
                kms_key_arns
                or (partition.arn("kms", region, account_id, "key/TARGETS_ENVIRONMENT_KEY_ID"),),
                (("StringEquals", "kms:ViaService", partition.via_lambda(region)),),
            ),
        ]
    layers = sorted({arn for config in configs for arn in functions.layer_arns_of(config)})
    keys = sorted({str(config["KMSKeyArn"]) for config in configs if config.get("KMSKeyArn")})
    statements = []
    if layers:
        statements.append(
            PolicyStatement("TargetsExistingLayers", ("lambda:GetLayerVersion",), tuple(layers))
        )
    if keys:
        statements.append(
            PolicyStatement("TargetsEnvironmentKey", ("kms:Decrypt", "kms:Encrypt"), tuple(keys))
        )
    return statements


def alias_permissions(index: int, function_arns: tuple[str, ...]) -> list[PolicyStatement]:
    """What an alias target of these functions (unqualified ARNs) needs besides $LATEST's.

    Lambda authorizes a call against its FunctionName *and* Qualifier: a policy on the
    unqualified ARN "accepts requests that reference the unqualified ARN but denies requests
    that reference a qualified ARN", one on `function:NAME:*` "accepts any qualified ARN
    but denies requests that reference the unqualified ARN" ("Fine-tuning the Resources and
    Conditions sections of policies", Function resource names, https://docs.aws.amazon.com/
    lambda/latest/dg/lambda-api-permissions-ref.html). So the calls with a Qualifier get the
    versions and aliases only: DeleteFunction deletes the fault version by its number and
    can never delete the whole function, which an unqualified DeleteFunction would. The
    changes of the alias (PublishVersion, UpdateAlias) need the function's lock tag:
    aws:ResourceTag is a condition key of the function, function version and function alias
    resource types (Service Authorization Reference, list_awslambda.html).
    """
    if not function_arns:
        return []
    versions = tuple(f"{arn}:*" for arn in function_arns)
    return [
        PolicyStatement(
            f"LambdaExtensionAliases{index}",
            ("lambda:GetAlias", "lambda:ListAliases", "lambda:ListVersionsByFunction"),
            function_arns,
        ),
        PolicyStatement(
            f"LambdaExtensionAliasChange{index}",
            ("lambda:UpdateAlias", "lambda:PublishVersion"),
            function_arns,
            locked(),
        ),
        # The versions of the named targets only. DeleteFunction (the fault version, with its
        # Qualifier) carries no lock condition: a rollback must still delete a fault version
        # left behind after the function's lock was released.
        PolicyStatement(
            f"LambdaExtensionVersions{index}",
            (
                "lambda:GetFunctionConfiguration",  # the alias's version, the fault version's State
                "lambda:GetProvisionedConcurrencyConfig",  # the alias and its version
                "lambda:GetFunctionUrlConfig",  # the alias's Function URL (streaming?)
                "lambda:DeleteFunction",
            ),
            versions,
        ),
    ]
