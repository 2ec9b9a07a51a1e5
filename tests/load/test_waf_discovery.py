"""WAF discovery on moto in-process: the ACL of a stage, the rate rule's settings, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chaos.errors import PreflightRefused
from chaos.load.waf import CustomKey, discover_rate_rule, stage_arn_for_endpoint

REGION = "us-east-1"
ENDPOINT = f"https://abc123.execute-api.{REGION}.amazonaws.com/prod"


def _visibility(name: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": True, "MetricName": name}


def _rate_rule(
    name: str, priority: int, statement: dict[str, Any], action: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "Name": name,
        "Priority": priority,
        "Action": action or {"Block": {}},
        "VisibilityConfig": _visibility(name),
        "Statement": {"RateBasedStatement": statement},
    }


RULES = [
    _rate_rule(
        "by-forwarded-ip",
        0,
        {
            "Limit": 100,
            "EvaluationWindowSec": 60,
            "AggregateKeyType": "FORWARDED_IP",
            "ForwardedIPConfig": {"HeaderName": "X-Client-IP", "FallbackBehavior": "NO_MATCH"},
        },
    ),
    _rate_rule(
        "by-api-key",
        1,
        {
            "Limit": 500,
            "AggregateKeyType": "CUSTOM_KEYS",
            "CustomKeys": [
                {
                    "Header": {
                        "Name": "x-api-key",
                        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                    }
                },
                {"IP": {}},
            ],
            "ScopeDownStatement": {
                "ByteMatchStatement": {
                    "SearchString": "/orders",
                    "FieldToMatch": {"UriPath": {}},
                    "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                    "PositionalConstraint": "STARTS_WITH",
                }
            },
        },
    ),
    _rate_rule(
        "by-ip",
        2,
        {"Limit": 2000, "EvaluationWindowSec": 120, "AggregateKeyType": "IP"},
        action={"Block": {"CustomResponse": {"ResponseCode": 429}}},
    ),
    _rate_rule("counting", 3, {"Limit": 1000, "AggregateKeyType": "IP"}, action={"Count": {}}),
    {
        "Name": "geo",
        "Priority": 4,
        "Action": {"Block": {}},
        "VisibilityConfig": _visibility("geo"),
        "Statement": {"GeoMatchStatement": {"CountryCodes": ["KP"]}},
    },
]


@pytest.fixture
def wafv2(fake_aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("wafv2", region_name=REGION)
        acl = client.create_web_acl(
            Name="orders-acl",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            VisibilityConfig=_visibility("orders-acl"),
            Rules=RULES,
        )["Summary"]
        client.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=stage_arn_for_endpoint(ENDPOINT))
        yield client


def test_stage_arn_comes_from_an_execute_api_url() -> None:
    assert (
        stage_arn_for_endpoint(ENDPOINT)
        == "arn:aws:apigateway:us-east-1::/restapis/abc123/stages/prod"
    )
    assert (
        stage_arn_for_endpoint("https://q9.execute-api.eu-west-3.amazonaws.com/v2/users")
        == "arn:aws:apigateway:eu-west-3::/restapis/q9/stages/v2"
    )
    assert stage_arn_for_endpoint("https://api.example.com/prod") is None
    assert stage_arn_for_endpoint("https://abc123.execute-api.us-east-1.amazonaws.com/") is None


def test_forwarded_ip_rule_found_through_the_endpoint(wafv2: Any) -> None:
    rule = discover_rate_rule(wafv2, "by-forwarded-ip", endpoint=ENDPOINT)
    assert (rule.web_acl_name, rule.limit, rule.window_s) == ("orders-acl", 100, 60)
    assert rule.aggregation == "FORWARDED_IP"
    assert (rule.forwarded_header, rule.forwarded_fallback) == ("X-Client-IP", "NO_MATCH")
    assert (rule.action, rule.block_status, rule.scope_down) == ("Block", 403, False)
    assert rule.web_acl_arn.startswith("arn:aws:wafv2:us-east-1:")
    # CloudWatch's WebACL/Rule dimensions are the VisibilityConfig metric names.
    assert (rule.web_acl_metric_name, rule.metric_name) == ("orders-acl", "by-forwarded-ip")


def test_custom_keys_rule_found_through_the_stage_arn(wafv2: Any) -> None:
    rule = discover_rate_rule(wafv2, "by-api-key", resource_arn=stage_arn_for_endpoint(ENDPOINT))
    assert rule.aggregation == "CUSTOM_KEYS"
    assert rule.custom_keys == (CustomKey("Header", "x-api-key"), CustomKey("IP"))
    assert rule.window_s == 300  # the AWS default when EvaluationWindowSec is absent
    assert rule.scope_down is True


def test_ip_rule_with_custom_response_code_from_the_named_acl(wafv2: Any) -> None:
    by_name = discover_rate_rule(wafv2, "by-ip", web_acl="orders-acl")
    arn = by_name.web_acl_arn
    by_arn = discover_rate_rule(wafv2, "by-ip", web_acl=arn)
    assert by_name == by_arn
    assert (by_name.aggregation, by_name.limit, by_name.window_s) == ("IP", 2000, 120)
    assert (by_name.action, by_name.block_status) == ("Block", 429)


def test_count_action_has_no_block_status(wafv2: Any) -> None:
    rule = discover_rate_rule(wafv2, "counting", web_acl="orders-acl")
    assert (rule.action, rule.block_status) == ("Count", None)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rule_name": "nope", "endpoint": ENDPOINT}, "has no rule 'nope' (its rules: by-api-key"),
        ({"rule_name": "geo", "endpoint": ENDPOINT}, "is not rate-based (GeoMatchStatement)"),
        ({"rule_name": "by-ip", "web_acl": "other-acl"}, "no REGIONAL web ACL named 'other-acl'"),
        (
            {"rule_name": "by-ip", "endpoint": "https://api.example.com/prod"},
            "name it in load.waf.web_acl",
        ),
        (
            {
                "rule_name": "by-ip",
                "endpoint": "https://zz9.execute-api.us-east-1.amazonaws.com/prod",
            },
            "no web ACL is associated with arn:aws:apigateway:us-east-1::/restapis/zz9/stages/prod",
        ),
    ],
)
def test_refusals_are_one_line(wafv2: Any, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(PreflightRefused, match=None) as caught:
        discover_rate_rule(wafv2, **arguments)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
