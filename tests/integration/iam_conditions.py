"""IAM conditions evaluated as AWS would, for the policy-enforcing test hooks.

moto enforces IAM only partly (and rejects Lambda's REST calls when it does), so the tests
check every call against the policy themselves: action and resource by IAM's wildcard
matching, and here the statement's Condition block, against the request context AWS would
build: the resource's tags as they are now (read from the fake account, unchecked), the
request's tags and tag keys, a subnet's AZ ID, the EC2 action that creates a tagged resource.
A condition key the hook cannot supply fails the test (never an allow by omission).

Operators as documented ("IAM JSON policy elements: Condition operators", https://docs.aws
.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
a string operator on a missing key is false, Null tests presence, ForAllValues is true for
a missing key.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

import boto3

#: context key -> value(s); a lazy lookup for what needs the fake account.
Context = dict[str, Any]


class UnknownConditionKey(AssertionError):
    """The policy uses a key the hook does not model: the test cannot decide, so it fails."""


def condition_holds(
    condition: Mapping[str, Mapping[str, Any]], context: Callable[[str], Any]
) -> bool:
    for operator, keys in condition.items():
        for key, expected in keys.items():
            values = expected if isinstance(expected, list) else [expected]
            if not _holds(operator, context(key), [str(item) for item in values]):
                return False
    return True


def _holds(operator: str, actual: Any, expected: list[str]) -> bool:
    if operator == "Null":
        present = actual is not None and actual != []
        return (expected[0] == "false") == present
    if operator.startswith("ForAllValues:"):
        if actual is None:
            return True
        items = actual if isinstance(actual, list) else [actual]
        return all(_holds(operator.split(":", 1)[1], item, expected) for item in items)
    if actual is None:
        return False
    if operator == "StringEquals":
        return str(actual) in expected
    if operator == "StringLike":
        return any(fnmatch.fnmatchcase(str(actual), pattern) for pattern in expected)
    raise UnknownConditionKey(f"operator {operator} is not modelled")


def resource_tags(resource: str, region: str) -> dict[str, str]:
    """The tags the resource carries now, read from the fake account (no policy applies)."""
    service = resource.split(":")[2]
    if service == "lambda":
        function = ":".join(resource.split(":")[:7])
        return dict(boto3.client("lambda", region_name=region).list_tags(Resource=function)["Tags"])
    if service == "ecs":
        tags = (
            boto3.client("ecs", region_name=region)
            .list_tags_for_resource(resourceArn=resource)
            .get("tags")
            or []
        )
        return {tag["key"]: tag["value"] for tag in tags}
    if service == "autoscaling":
        name = resource.rsplit("autoScalingGroupName/", 1)[1]
        groups = boto3.client("autoscaling", region_name=region).describe_auto_scaling_groups(
            AutoScalingGroupNames=[name]
        )["AutoScalingGroups"]
        return {tag["Key"]: tag["Value"] for group in groups for tag in group.get("Tags", [])}
    if service == "elasticloadbalancing":
        found = boto3.client("elbv2", region_name=region).describe_tags(ResourceArns=[resource])[
            "TagDescriptions"
        ]
        return {tag["Key"]: tag["Value"] for item in found for tag in item.get("Tags", [])}
    if service == "ec2":
        resource_id = resource.rsplit("/", 1)[1]
        if resource_id.endswith("*"):
            return {}  # not created yet
        tags = boto3.client("ec2", region_name=region).describe_tags(
            Filters=[{"Name": "resource-id", "Values": [resource_id]}]
        )["Tags"]
        return {tag["Key"]: tag["Value"] for tag in tags}
    raise UnknownConditionKey(f"no tags modelled for {resource}")


def subnet_az_id(resource: str, region: str) -> str | None:
    subnet_id = resource.rsplit("/", 1)[1]
    subnets = boto3.client("ec2", region_name=region).describe_subnets(SubnetIds=[subnet_id])[
        "Subnets"
    ]
    return str(subnets[0]["AvailabilityZoneId"]) if subnets else None


def request_tags(service: str, params: Mapping[str, Any]) -> dict[str, str] | None:
    """The tags a tagging or creating call sets (None: it sets none)."""
    if service == "lambda" and isinstance(params.get("Tags"), dict):
        return dict(params["Tags"])
    if service == "ecs" and "tags" in params:
        return {tag["key"]: tag["value"] for tag in params["tags"]}
    if "Tags" in params and isinstance(params["Tags"], list):
        return {tag["Key"]: tag.get("Value", "") for tag in params["Tags"]}
    specs = params.get("TagSpecifications") or []
    if specs:
        return {tag["Key"]: tag["Value"] for spec in specs for tag in spec.get("Tags", [])}
    return None


def tag_keys(service: str, params: Mapping[str, Any]) -> list[str] | None:
    tags = request_tags(service, params)
    if tags is not None:
        return sorted(tags)
    for name in ("TagKeys", "tagKeys"):
        if name in params:
            return list(params[name])
    return None


def context_for(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    resource: str,
    region: str,
    extra: Mapping[str, Any] | None = None,
) -> Callable[[str], Any]:
    """The request context of one authorization (one action on one resource)."""
    extra = dict(extra or {})

    def value(key: str) -> Any:
        if key in extra:
            return extra[key]
        if key.startswith("aws:ResourceTag/"):
            return resource_tags(resource, region).get(key.split("/", 1)[1])
        if key.startswith("aws:RequestTag/"):
            return (request_tags(service, params) or {}).get(key.split("/", 1)[1])
        if key == "aws:TagKeys":
            return tag_keys(service, params)
        if key == "ec2:AvailabilityZoneId" and ":subnet/" in resource:
            return subnet_az_id(resource, region)
        if key == "ec2:CreateAction":
            return extra.get(key)
        if key == "s3:prefix":
            return params.get("Prefix")
        raise UnknownConditionKey(f"{key} is not modelled for {service}:{operation}")

    return value
