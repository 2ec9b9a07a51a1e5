"""The stage as deployed, through boto3 as on AWS: the sandbox answers GetExport from the
stage's deployment snapshot (moto's export ignores the stage and has no integrations), and
preflight discovery (chaos.aws.apigateway) reads a stage's integrations from it: an
integration changed without a deployment is not what the stage serves."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chaos.aws.apigateway import (
    DiscoveredIntegrations,
    LambdaIntegration,
    api_of_endpoint,
    discover_integrations,
)
from tests.sandbox.support import Sandbox, live_sandbox

pytestmark = pytest.mark.timeout(120)

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with live_sandbox(
        tmp_path_factory.mktemp("sandbox-stage-export"),
        GAMEDAY_SANDBOX_REALISM="fast",
        GAMEDAY_SANDBOX_SEED="17",
    ) as sandbox:
        yield sandbox


def uri(function_ref: str) -> str:
    return (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        f"{FUNCTION_ARN}:{function_ref}/invocations"
    )


def point_proxy(sandbox: Sandbox, function_ref: str, *, deploy: bool) -> None:
    """ANY /{proxy+} invokes `function_ref`; deployed to the prod stage or not."""
    apigateway = sandbox.clients.client("apigateway")
    proxy = next(
        item["id"]
        for item in apigateway.get_resources(restApiId=sandbox.rest_api_id)["items"]
        if item.get("pathPart") == "{proxy+}"
    )
    apigateway.put_integration(
        restApiId=sandbox.rest_api_id,
        resourceId=proxy,
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        timeoutInMillis=29000,
        uri=uri(function_ref),
    )
    if deploy:
        apigateway.create_deployment(restApiId=sandbox.rest_api_id, stageName="prod")


def discovered(sandbox: Sandbox) -> DiscoveredIntegrations:
    api = api_of_endpoint(sandbox.endpoint, sandbox.rest_api_id)
    assert api is not None and api.stage == "prod"
    found = discover_integrations(sandbox.clients, api)
    assert found is not None
    return found


def sorted_found(found: DiscoveredIntegrations) -> DiscoveredIntegrations:
    """The same discovery with its integrations in one order (the seed has two routes)."""
    return dataclasses.replace(
        found,
        integrations=sorted(found.integrations, key=lambda item: (item.route, item.function_name)),
    )


def export(sandbox: Sandbox, **request: Any) -> dict[str, Any]:
    response = sandbox.clients.client("apigateway").get_export(
        restApiId=sandbox.rest_api_id, **{"stageName": "prod", "exportType": "oas30", **request}
    )
    return dict(json.loads(response["body"].read()))


def test_discovery_reports_the_deployed_integration_until_a_change_is_deployed(
    sandbox: Sandbox,
) -> None:
    node = LambdaIntegration("ANY /node/{proxy+}", "AWS_PROXY", "orders-node", None)
    seeded = [LambdaIntegration("ANY /{proxy+}", "AWS_PROXY", "orders", None), node]
    assert sorted_found(discovered(sandbox)) == sorted_found(DiscoveredIntegrations(seeded))
    try:
        point_proxy(sandbox, "orders:live", deploy=False)
        current = sandbox.clients.client("apigateway").get_resources(
            restApiId=sandbox.rest_api_id, embed=["methods"]
        )["items"]
        assert any(":orders:live/" in str(item.get("resourceMethods")) for item in current)
        # not deployed: orders
        assert sorted_found(discovered(sandbox)) == sorted_found(DiscoveredIntegrations(seeded))

        sandbox.clients.client("apigateway").create_deployment(
            restApiId=sandbox.rest_api_id, stageName="prod"
        )
        assert sorted_found(discovered(sandbox)) == sorted_found(
            DiscoveredIntegrations(
                [LambdaIntegration("ANY /{proxy+}", "AWS_PROXY", "orders", "live"), node]
            )
        )
    finally:
        point_proxy(sandbox, "orders", deploy=True)


def test_the_export_describes_the_deployed_stage_with_its_integrations(sandbox: Sandbox) -> None:
    document = export(
        sandbox, parameters={"extensions": "integrations"}, accepts="application/json"
    )
    assert document["openapi"].startswith("3.0")
    assert sorted(document["paths"]) == ["/node/{proxy+}", "/{proxy+}"]
    for path, function in (("/{proxy+}", "orders"), ("/node/{proxy+}", "orders-node")):
        operation = document["paths"][path]["x-amazon-apigateway-any-method"]
        assert operation["x-amazon-apigateway-integration"] == {
            "type": "aws_proxy",
            "uri": uri(function),
            "httpMethod": "POST",
            "timeoutInMillis": 29000,
            "passthroughBehavior": "when_no_match",
        }

    plain = export(sandbox, exportType="swagger")  # no extensions asked: no integrations
    assert plain["swagger"] == "2.0"
    assert "x-amazon-apigateway-integration" not in json.dumps(plain)


def test_the_export_of_a_stage_that_does_not_exist_is_not_found(sandbox: Sandbox) -> None:
    with pytest.raises(ClientError) as missing:
        export(sandbox, stageName="nope")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
