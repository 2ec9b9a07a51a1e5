"""CLOUDFRONT-scope web ACLs are read in us-east-1; their metrics have no Region dimension."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chaos.load import waf
from chaos.metrics.cloudwatch import ServerSideTargets, build_queries

RULE = {
    "Name": "per-ip",
    "Priority": 0,
    "Action": {"Block": {}},
    "Statement": {"RateBasedStatement": {"Limit": 100, "AggregateKeyType": "IP"}},
    "VisibilityConfig": {
        "SampledRequestsEnabled": True,
        "CloudWatchMetricsEnabled": True,
        "MetricName": "per-ip",
    },
}


def waf_dimensions(scope: str) -> list[tuple[tuple[str, str], ...]]:
    targets = ServerSideTargets(
        region="eu-west-1", web_acl="edge", rules=("per-ip",), waf_scope=scope
    )
    return [query.dimensions for query in build_queries(targets) if query.group == "waf"]


def test_cloudfront_metrics_have_no_region_dimension() -> None:
    assert waf_dimensions("REGIONAL") == [
        (("WebACL", "edge"), ("Rule", "per-ip"), ("Region", "eu-west-1"))
    ]
    assert waf_dimensions("CLOUDFRONT") == [(("WebACL", "edge"), ("Rule", "per-ip"))]


def test_stage_arns_are_in_the_endpoints_partition() -> None:
    assert waf.stage_arn_for_endpoint(
        "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod/orders"
    ) == ("arn:aws-cn:apigateway:cn-north-1::/restapis/abc123/stages/prod")
    assert waf.stage_arn_for_endpoint(
        "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    ) == ("arn:aws:apigateway:eu-west-1::/restapis/abc123/stages/prod")


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.mark.usefixtures("fake_aws")
def test_a_cloudfront_web_acl_named_by_arn_is_read_in_us_east_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = boto3.client("wafv2", region_name="us-east-1").create_web_acl(
        Name="edge",
        Scope="CLOUDFRONT",
        DefaultAction={"Allow": {}},
        Rules=[RULE],
        VisibilityConfig={
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": "edge",
        },
    )["Summary"]
    assert ":global/webacl/" in created["ARN"]
    regions: list[str] = []
    real_client = boto3.client

    def client(service: str, **arguments: Any) -> Any:
        regions.append(arguments["region_name"])
        return real_client(service, **arguments)

    monkeypatch.setattr(waf.boto3, "client", client)
    target_region_client = real_client("wafv2", region_name="eu-west-1")
    rule = waf.discover_rate_rule(target_region_client, "per-ip", web_acl=created["ARN"])
    assert regions == ["us-east-1"]
    assert (rule.scope, rule.web_acl_name, rule.limit) == ("CLOUDFRONT", "edge", 100)
    assert waf.RateRule.from_dict(rule.to_dict()) == rule


def test_the_us_east_1_client_keeps_credentials_configuration_and_a_sandbox_endpoint() -> None:
    sandbox = boto3.client(
        "wafv2",
        region_name="eu-west-1",
        aws_access_key_id="AKIDSANDBOX",
        aws_secret_access_key="s",
        endpoint_url="http://127.0.0.1:4566",
    )
    moved = waf.client_in_region(sandbox, "us-east-1")
    assert moved.meta.region_name == "us-east-1"
    assert moved.meta.endpoint_url == "http://127.0.0.1:4566"
    assert moved._get_credentials().access_key == "AKIDSANDBOX"
    on_aws = waf.client_in_region(
        boto3.client(
            "wafv2", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="s"
        ),
        "us-east-1",
    )
    assert on_aws.meta.endpoint_url == "https://wafv2.us-east-1.amazonaws.com"
    assert waf.client_in_region(moved, "us-east-1") is moved
