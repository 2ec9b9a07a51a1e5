"""ARNs the toolkit builds are in the target's partition, never hard-coded `arn:aws`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaos.aws.partition import (
    arn,
    partition_of_arn,
    partition_of_region,
    statements_in_partition,
    with_partition,
)
from chaos.experiment import load_experiment
from chaos.faults.az_loss.permissions import az_loss_statements
from chaos.faults.az_loss.spec import AzLossSpec
from chaos.policy import PolicyStatement
from chaos.run.permissions import experiment_policy


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-3", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("xx-nowhere-9", "aws"),
    ],
)
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
        [PolicyStatement("S", ("ecs:DescribeServices",), (built, "*"))], "aws"
    )
    assert moved.resources == ("arn:aws:ecs:cn-north-1:123456789012:service/*", "*")


@pytest.mark.parametrize("mode", ["pin", "blackhole"])
def test_az_loss_policy_in_china_and_govcloud_names_no_standard_partition_arn(mode: str) -> None:
    spec = AzLossSpec.model_validate(
        {
            "type": "az-loss",
            "az_id": "cnn1-az1",
            "mode": mode,
            "targets": {
                "lambda": ["orders"],
                "ecs_services": ["shop/web"],
                "autoscaling_groups": ["web"],
                "load_balancers": ["edge"],
            },
        }
    )
    for region, partition in (("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")):
        resources = [
            resource
            for statement in az_loss_statements(
                spec, region=region, account_id="123456789012", index=0
            )
            for resource in statement.resources
            if resource != "*"
        ]
        assert resources
        assert all(resource.startswith(f"arn:{partition}:") for resource in resources), resources


def china_experiment(tmp_path: Path) -> Path:
    path = tmp_path / "cn.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: cn-az\n"
        'target: {region: cn-north-1, account_id: "123456789012", '
        "endpoint: https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod}\n"
        "phases: {baseline: 0s, fault: 1s, recovery: 0s}\n"
        "faults:\n"
        "  - type: lambda-extension\n    functions: [orders]\n    latency: {ms: 100}\n"
        "  - type: az-loss\n    az_id: cnn1-az1\n"
        "    targets: {lambda: [orders], ecs_services: [shop/web]}\n"
        "stop_conditions: {alarms: [orders-5xx]}\n"
    )
    return path


def policy_arns(policy: dict[str, Any]) -> list[str]:
    return [
        resource
        for statement in policy["Statement"]
        for resource in (
            [statement["Resource"]]
            if isinstance(statement["Resource"], str)
            else statement["Resource"]
        )
        if resource != "*"
    ]


def test_iam_policy_takes_the_partition_from_the_region_or_as_given(tmp_path: Path) -> None:
    experiment = load_experiment(china_experiment(tmp_path))
    china = policy_arns(
        experiment_policy(experiment, "123456789012", journal="s3://journals-cn/runs/")
    )
    assert china and all(item.startswith("arn:aws-cn:") for item in china), china
    assert "arn:aws-cn:s3:::journals-cn" in china
    gov = policy_arns(experiment_policy(experiment, "123456789012", partition="aws-us-gov"))
    assert gov and all(item.startswith("arn:aws-us-gov:") for item in gov), gov


@pytest.mark.parametrize(
    ("region", "service"),
    [
        ("us-east-1", "lambda.us-east-1.amazonaws.com"),
        ("cn-north-1", "lambda.cn-north-1.amazonaws.com.cn"),
        ("cn-northwest-1", "lambda.cn-northwest-1.amazonaws.com.cn"),
        ("us-gov-west-1", "lambda.us-gov-west-1.amazonaws.com"),
    ],
)
def test_kms_via_service_is_spelled_as_the_regions_endpoints_are(region: str, service: str) -> None:
    from chaos.aws.partition import via_lambda

    assert via_lambda(region) == service


def test_the_janitor_policy_in_china_names_lambda_as_kms_sees_it_there() -> None:
    import json

    from chaos.janitor.policy import janitor_policy
    from chaos.journal import JournalLocation

    document = json.dumps(
        janitor_policy(
            "cn-north-1", "123456789012", JournalLocation.parse("s3://journals/gameday/")
        )
    )
    assert "lambda.cn-north-1.amazonaws.com.cn" in document
    assert 'lambda.cn-north-1.amazonaws.com"' not in document
    assert "arn:aws-cn:" in document and "arn:aws:" not in document
