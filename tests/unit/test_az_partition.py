"""ARNs the toolkit builds are in the target's partition, never hard-coded `arn:aws`."""

from __future__ import annotations

import pytest

from chaos.aws.partition import (
    arn,
    partition_of_arn,
    partition_of_region,
    statements_in_partition,
    with_partition,
)
from chaos.experiment import AzLossFault as AzLossSpec
from chaos.faults.az_loss_permissions import az_loss_statements
from chaos.policy import PolicyStatement


@pytest.mark.parametrize(("region", "partition"), [
    ("us-east-1", "aws"), ("eu-west-3", "aws"), ("cn-north-1", "aws-cn"),
    ("cn-northwest-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"),
    ("us-gov-east-1", "aws-us-gov"), ("xx-nowhere-9", "aws"),
])
def test_partition_of_region(region: str, partition: str) -> None:
    assert partition_of_region(region) == partition


def test_arns_are_built_and_moved_between_partitions() -> None:
    built = arn("ecs", "cn-north-1", "123456789012", "service/*")
    assert built == "arn:aws-cn:ecs:cn-north-1:123456789012:service/*"
    assert partition_of_arn(built) == "aws-cn"
    assert partition_of_arn("arn:aws-us-gov:sts::1:assumed-role/x/y") == "aws-us-gov"
    assert with_partition(built, "aws-us-gov").startswith("arn:aws-us-gov:ecs:")
    assert with_partition("*", "aws-cn") == "*"
    [moved] = statements_in_partition(
        [PolicyStatement("S", ("ecs:DescribeServices",), (built, "*"))], "aws")
    assert moved.resources == ("arn:aws:ecs:cn-north-1:123456789012:service/*", "*")


@pytest.mark.parametrize("mode", ["pin", "blackhole"])
def test_az_loss_policy_in_china_and_govcloud_names_no_standard_partition_arn(mode: str) -> None:
    spec = AzLossSpec.model_validate({
        "type": "az-loss", "az_id": "cnn1-az1", "mode": mode,
        "targets": {"lambda": ["orders"], "ecs_services": ["shop/web"],
                    "autoscaling_groups": ["web"], "load_balancers": ["edge"]}})
    for region, partition in (("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")):
        resources = [resource for statement in az_loss_statements(
            spec, region=region, account_id="123456789012", index=0)
            for resource in statement.resources if resource != "*"]
        assert resources
        assert all(resource.startswith(f"arn:{partition}:") for resource in resources), resources
