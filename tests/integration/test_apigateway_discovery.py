"""How the endpoint invokes Lambda (chaos.aws.apigateway): REST and HTTP APIs read from
moto, the pages AWS returns (a botocore Stubber: moto returns one page), and a caller IAM
does not allow to read them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chaos.aws import AwsClients
from chaos.aws.apigateway import (
    ApiRef,
    IntegrationsDenied,
    LambdaIntegration,
    discover_integrations,
    discovery_resources,
)
from tests.integration.conftest import ACCOUNT_ID, REGION

FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function"


def rest_uri(function_arn: str) -> str:
    return (f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}"
            "/invocations")


@pytest.mark.usefixtures("aws")
def test_a_rest_api_s_lambda_routes_with_their_qualifiers_and_stage_variables() -> None:
    apigateway = boto3.client("apigateway", region_name=REGION)
    api_id = apigateway.create_rest_api(name="orders")["id"]
    root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]

    def route(path: str, method: str, **integration: Any) -> None:
        resource = apigateway.create_resource(restApiId=api_id, parentId=root,
                                              pathPart=path)["id"]
        apigateway.put_method(restApiId=api_id, resourceId=resource, httpMethod=method,
                              authorizationType="NONE")
        apigateway.put_integration(restApiId=api_id, resourceId=resource, httpMethod=method,
                                   **integration)

    route("{proxy+}", "ANY", type="AWS_PROXY", integrationHttpMethod="POST",
          uri=rest_uri(f"{FUNCTION}:orders:live"))
    route("payments", "POST", type="AWS", integrationHttpMethod="POST",
          uri=rest_uri(f"{FUNCTION}:${{stageVariables.payments}}"))
    route("health", "GET", type="MOCK")
    apigateway.create_deployment(restApiId=api_id, stageName="prod",
                                 variables={"payments": "payments:blue"})

    found = discover_integrations(AwsClients(region=REGION), ApiRef(api_id, "prod"))

    assert sorted(found or [], key=lambda item: item.route) == [
        LambdaIntegration("ANY /{proxy+}", "AWS_PROXY", "orders", "live"),
        LambdaIntegration("POST /payments", "AWS", "payments", "blue"),
    ]


@pytest.mark.usefixtures("aws")
def test_an_http_api_s_lambda_routes() -> None:
    apigatewayv2 = boto3.client("apigatewayv2", region_name=REGION)
    api_id = apigatewayv2.create_api(Name="orders", ProtocolType="HTTP")["ApiId"]
    latest = apigatewayv2.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
        IntegrationUri=f"{FUNCTION}:orders")["IntegrationId"]
    live = apigatewayv2.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
        IntegrationUri=f"{FUNCTION}:orders:live")["IntegrationId"]
    apigatewayv2.create_route(ApiId=api_id, RouteKey="GET /orders",
                              Target=f"integrations/{latest}")
    apigatewayv2.create_route(ApiId=api_id, RouteKey="POST /orders",
                              Target=f"integrations/{live}")
    apigatewayv2.create_stage(ApiId=api_id, StageName="prod")

    found = discover_integrations(AwsClients(region=REGION), ApiRef(api_id, "prod"))

    assert sorted(found or [], key=lambda item: item.route) == [
        LambdaIntegration("GET /orders", "AWS_PROXY", "orders", None),
        LambdaIntegration("POST /orders", "AWS_PROXY", "orders", "live"),
    ]


# -- pages and denials: a Stubber per client ------------------------------------------------


@pytest.fixture
def stubbed(fake_aws_credentials: None) -> Iterator[tuple[AwsClients, Stubber, Stubber]]:
    """Clients whose API Gateway calls answer only what the test queued, in order."""
    clients = AwsClients(region=REGION)
    rest = boto3.client("apigateway", region_name=REGION)
    http = boto3.client("apigatewayv2", region_name=REGION)
    clients._cache.update(apigateway=rest, apigatewayv2=http)
    with Stubber(rest) as rest_stub, Stubber(http) as http_stub:
        yield clients, rest_stub, http_stub
        rest_stub.assert_no_pending_responses()
        http_stub.assert_no_pending_responses()


API = ApiRef("abc123", "prod")


def not_a_rest_api(rest: Stubber) -> None:
    rest.add_client_error("get_rest_api", "NotFoundException", http_status_code=404,
                          expected_params={"restApiId": API.api_id})


def test_http_api_routes_and_integrations_are_read_page_after_page(
        stubbed: tuple[AwsClients, Stubber, Stubber]) -> None:
    clients, rest, http = stubbed
    not_a_rest_api(rest)
    http.add_response("get_stage", {"StageName": "prod", "StageVariables": {}},
                      {"ApiId": API.api_id, "StageName": "prod"})
    http.add_response("get_integrations", {"Items": [
        {"IntegrationId": "i1", "IntegrationType": "AWS_PROXY",
         "IntegrationUri": f"{FUNCTION}:orders"}], "NextToken": "integrations-2"},
        {"ApiId": API.api_id})
    http.add_response("get_integrations", {"Items": [
        {"IntegrationId": "i2", "IntegrationType": "AWS_PROXY",
         "IntegrationUri": f"{FUNCTION}:orders:live"}]},
        {"ApiId": API.api_id, "NextToken": "integrations-2"})
    http.add_response("get_routes", {"Items": [
        {"RouteKey": "GET /orders", "Target": "integrations/i1"}], "NextToken": "routes-2"},
        {"ApiId": API.api_id})
    http.add_response("get_routes", {"Items": [
        {"RouteKey": "POST /orders", "Target": "integrations/i2"}]},
        {"ApiId": API.api_id, "NextToken": "routes-2"})

    assert discover_integrations(clients, API) == [
        LambdaIntegration("GET /orders", "AWS_PROXY", "orders", None),
        LambdaIntegration("POST /orders", "AWS_PROXY", "orders", "live"),
    ]


def test_rest_api_resources_are_read_page_after_page(
        stubbed: tuple[AwsClients, Stubber, Stubber]) -> None:
    clients, rest, _ = stubbed
    rest.add_response("get_rest_api", {"id": API.api_id}, {"restApiId": API.api_id})
    rest.add_response("get_stage", {"stageName": "prod"},
                      {"restApiId": API.api_id, "stageName": "prod"})
    first = {"restApiId": API.api_id, "embed": ["methods"], "limit": 500}

    def resource(path: str, function: str) -> dict[str, Any]:
        integration = {"type": "AWS_PROXY", "uri": rest_uri(f"{FUNCTION}:{function}")}
        return {"id": path.strip("/") or "root", "path": path,
                "resourceMethods": {"ANY": {"methodIntegration": integration}}}

    rest.add_response("get_resources", {"items": [resource("/a", "orders")],
                                        "position": "page-2"}, first)
    rest.add_response("get_resources", {"items": [resource("/b", "orders:live")]},
                      {**first, "position": "page-2"})

    assert discover_integrations(clients, API) == [
        LambdaIntegration("ANY /a", "AWS_PROXY", "orders", None),
        LambdaIntegration("ANY /b", "AWS_PROXY", "orders", "live"),
    ]


def test_a_rest_api_iam_does_not_let_us_read_is_a_refusal_naming_the_permission(
        stubbed: tuple[AwsClients, Stubber, Stubber]) -> None:
    clients, rest, http = stubbed
    rest.add_response("get_rest_api", {"id": API.api_id}, {"restApiId": API.api_id})
    rest.add_response("get_stage", {"stageName": "prod"},
                      {"restApiId": API.api_id, "stageName": "prod"})
    rest.add_client_error("get_resources", "AccessDeniedException", http_status_code=403)
    http.add_client_error("get_stage", "NotFoundException", http_status_code=404)

    with pytest.raises(IntegrationsDenied) as refused:
        discover_integrations(clients, API)

    resource = f"arn:aws:apigateway:{REGION}::/restapis/{API.api_id}/resources"
    assert f"grant apigateway:GET on {resource}" in str(refused.value)
    assert "GetResources: AccessDeniedException" in str(refused.value)
    assert resource in discovery_resources(API, REGION), "the policy grants what is read"


def test_an_http_api_iam_does_not_let_us_read_is_a_refusal_naming_the_permission(
        stubbed: tuple[AwsClients, Stubber, Stubber]) -> None:
    clients, rest, http = stubbed
    not_a_rest_api(rest)
    http.add_response("get_stage", {"StageName": "prod"},
                      {"ApiId": API.api_id, "StageName": "prod"})
    http.add_client_error("get_integrations", "AccessDeniedException", http_status_code=403)

    with pytest.raises(IntegrationsDenied) as refused:
        discover_integrations(clients, API)

    resource = f"arn:aws:apigateway:{REGION}::/apis/{API.api_id}/integrations"
    assert f"grant apigateway:GET on {resource}" in str(refused.value)
    assert resource in discovery_resources(API, REGION)


def test_an_api_unreadable_for_another_reason_is_unknown_not_refused(
        stubbed: tuple[AwsClients, Stubber, Stubber]) -> None:
    clients, rest, http = stubbed
    rest.add_client_error("get_rest_api", "BadRequestException", http_status_code=400)

    assert discover_integrations(clients, API) is None
