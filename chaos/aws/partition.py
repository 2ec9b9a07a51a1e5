"""The AWS partition of the ARNs the toolkit builds (`aws`, `aws-cn`, `aws-us-gov`, ...).

An ARN is `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`; the partition is `aws` for the
standard Regions, `aws-cn` in China and `aws-us-gov` in AWS GovCloud (US) ("Identify AWS
resources with Amazon Resource Names (ARNs)", https://docs.aws.amazon.com/IAM/latest/
UserGuide/reference-arns.html). A run takes it from the caller identity's ARN; a policy
written offline (`gameday iam-policy`) from `--partition` or the target's Region, through
botocore's own partition data.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError, UnknownRegionError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from chaos.aws.clients import AwsClients
    from chaos.policy import PolicyStatement

DEFAULT_PARTITION = "aws"
_ARN_PARTITION = re.compile(r"^arn:[^:]*:")


@cache
def partition_of_region(region: str) -> str:
    """The Region's partition per botocore's endpoint data (`aws` for a Region it lacks)."""
    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
    except UnknownRegionError:
        return DEFAULT_PARTITION


def via_lambda(region: str) -> str:
    """Lambda's name in the Region as kms:ViaService sees it: `lambda.REGION.amazonaws.com`,
    and `....amazonaws.com.cn` in the China Regions, whose endpoints end so ("Amazon Web
    Services in China endpoints", https://docs.amazonaws.cn/en_us/aws/latest/userguide/
    endpoints-Beijing.html)."""
    suffix = "amazonaws.com.cn" if partition_of_region(region) == "aws-cn" else "amazonaws.com"
    return f"lambda.{region}.{suffix}"


def partition_of_arn(arn: str) -> str:
    parts = arn.split(":", 2)
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else DEFAULT_PARTITION


def caller_partition(clients: AwsClients) -> str:
    """The partition of the caller identity's ARN; the Region's when STS cannot tell."""
    try:
        identity_arn = str(clients.client("sts").get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError, KeyError):
        return partition_of_region(clients.region)
    return partition_of_arn(identity_arn)


def arn(
    service: str, region: str, account_id: str, resource: str, *, partition: str | None = None
) -> str:
    """`arn:PARTITION:service:region:account:resource` (the Region's partition by default)."""
    return (
        f"arn:{partition or partition_of_region(region)}:{service}:{region}:{account_id}:{resource}"
    )


def with_partition(resource: str, partition: str) -> str:
    """The same ARN in `partition` (`*` and other non-ARN resources unchanged)."""
    return _ARN_PARTITION.sub(f"arn:{partition}:", resource, count=1)


def statements_in_partition(
    statements: Iterable[PolicyStatement], partition: str
) -> list[PolicyStatement]:
    """The statements with every resource ARN moved to `partition`."""
    return [
        replace(
            statement,
            resources=tuple(with_partition(item, partition) for item in statement.resources),
        )
        for statement in statements
    ]
