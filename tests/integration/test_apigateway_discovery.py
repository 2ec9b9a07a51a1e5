"""How the endpoint invokes Lambda (chaos.aws.apigateway): the export of the stage as
deployed (a botocore Stubber: moto's export ignores the stage and carries no integrations,
the sandbox's is in tests/sandbox/test_stage_export.py), the API's current configuration
when the export cannot be had (read from moto, and the pages AWS returns: moto returns one
page), and a caller IAM does not allow to read them."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from chaos.aws import AwsClients
from chaos.aws.apigateway import (
    ApiRef,
    DiscoveredIntegrations,
    IntegrationsDenied,
    LambdaIntegration,
    discover_integrations,
    discovery_resources,
)
from chaos.cli import main
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function, experiment_yaml

FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function"


def rest_uri(function_arn: str) -> str:
    return (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )


UNDEPLOYED_CAVEAT = "a change not yet deployed cannot be told apart from what the stage serves"


def routes(found: DiscoveredIntegrations | None) -> list[LambdaIntegration]:
    assert found is not None
    return sorted(found.integrations, key=lambda item: item.route)


@pytest.mark.usefixtures("aws")
def test_a_rest_api_s_lambda_routes_with_their_qualifiers_and_stage_variables() -> None:
    """moto's export has no integrations: the current resources are read, with the caveat."""
    apigateway = boto3.client("apigateway", region_name=REGION)
    api_id = apigateway.create_rest_api(name="orders")["id"]
    root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]

    def route(path: str, method: str, **integration: Any) -> None:
        resource = apigateway.create_resource(restApiId=api_id, parentId=root, pathPart=path)["id"]
        apigateway.put_method(
            restApiId=api_id, resourceId=resource, httpMethod=method, authorizationType="NONE"
        )
        apigateway.put_integration(
            restApiId=api_id, resourceId=resource, httpMethod=method, **integration
        )

    route(
        "{proxy+}",
        "ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=rest_uri(f"{FUNCTION}:orders:live"),
    )
    route(
        "payments",
        "POST",
        type="AWS",
        integrationHttpMethod="POST",
        uri=rest_uri(f"{FUNCTION}:${{stageVariables.payments}}"),
    )
    route("health", "GET", type="MOCK")
    apigateway.create_deployment(
        restApiId=api_id, stageName="prod", variables={"payments": "payments:blue"}
    )

    found = discover_integrations(AwsClients(region=REGION), ApiRef(api_id, "prod"))

    assert routes(found) == [
        LambdaIntegration("ANY /{proxy+}", "AWS_PROXY", "orders", "live"),
        LambdaIntegration("POST /payments", "AWS", "payments", "blue"),
    ]
    assert found is not None and found.caveat is not None
    assert (
        UNDEPLOYED_CAVEAT in found.caveat
        and "carries no x-amazon-apigateway-integration" in found.caveat
    ), found.caveat


@pytest.mark.usefixtures("aws")
def test_an_http_api_s_lambda_routes() -> None:
    apigatewayv2 = boto3.client("apigatewayv2", region_name=REGION)
    api_id = apigatewayv2.create_api(Name="orders", ProtocolType="HTTP")["ApiId"]
    latest = apigatewayv2.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        PayloadFormatVersion="2.0",
        IntegrationUri=f"{FUNCTION}:orders",
    )["IntegrationId"]
    live = apigatewayv2.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        PayloadFormatVersion="2.0",
        IntegrationUri=f"{FUNCTION}:orders:live",
    )["IntegrationId"]
    apigatewayv2.create_route(ApiId=api_id, RouteKey="GET /orders", Target=f"integrations/{latest}")
    apigatewayv2.create_route(ApiId=api_id, RouteKey="POST /orders", Target=f"integrations/{live}")
    apigatewayv2.create_stage(ApiId=api_id, StageName="prod")

    found = discover_integrations(AwsClients(region=REGION), ApiRef(api_id, "prod"))

    assert routes(found) == [
        LambdaIntegration("GET /orders", "AWS_PROXY", "orders", None),
        LambdaIntegration("POST /orders", "AWS_PROXY", "orders", "live"),
    ]
    # moto has no ExportApi: the current routes and integrations, with the caveat
    assert found is not None and UNDEPLOYED_CAVEAT in (found.caveat or "")


# -- exports, pages and denials: a Stubber per client ----------------------------------------


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
EXPORT_REQUEST = {
    "restApiId": API.api_id,
    "stageName": "prod",
    "exportType": "oas30",
    "parameters": {"extensions": "integrations"},
    "accepts": "application/json",
}
HTTP_EXPORT_REQUEST = {
    "ApiId": API.api_id,
    "Specification": "OAS30",
    "OutputType": "JSON",
    "StageName": "prod",
    "IncludeExtensions": True,
}


def not_a_rest_api(rest: Stubber) -> None:
    rest.add_client_error(
        "get_rest_api",
        "NotFoundException",
        http_status_code=404,
        expected_params={"restApiId": API.api_id},
    )


def a_rest_stage(rest: Stubber, variables: dict[str, str] | None = None) -> None:
    rest.add_response("get_rest_api", {"id": API.api_id}, {"restApiId": API.api_id})
    rest.add_response(
        "get_stage",
        {"stageName": "prod", "variables": variables or {}},
        {"restApiId": API.api_id, "stageName": "prod"},
    )


def body(document: dict[str, Any]) -> StreamingBody:
    data = json.dumps(document).encode()
    return StreamingBody(io.BytesIO(data), len(data))


def operation(integration_type: str, uri: str | None = None) -> dict[str, Any]:
    """An exported operation as API Gateway writes it (the type in lower case)."""
    integration: dict[str, Any] = {
        "type": integration_type.lower(),
        "httpMethod": "POST",
        "timeoutInMillis": 29000,
    }
    if uri is not None:
        integration["uri"] = uri
    return {"responses": {}, "x-amazon-apigateway-integration": integration}


def test_a_rest_stage_s_routes_are_read_from_its_export(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, _ = stubbed
    a_rest_stage(rest, {"payments": "payments:blue"})
    rest.add_response(
        "get_export",
        {
            "contentType": "application/json",
            "body": body(
                {
                    "openapi": "3.0.1",
                    "paths": {
                        "/{proxy+}": {
                            "x-amazon-apigateway-any-method": operation(
                                "AWS_PROXY", rest_uri(f"{FUNCTION}:orders:live")
                            )
                        },
                        "/orders": {
                            "get": operation("AWS_PROXY", rest_uri(f"{FUNCTION}:orders")),
                            "post": operation("AWS", rest_uri(f"{FUNCTION}:orders:$LATEST")),
                            "parameters": [{"name": "x", "in": "query"}],
                        },
                        "/payments": {
                            "post": operation(
                                "AWS", rest_uri(f"{FUNCTION}:${{stageVariables.payments}}")
                            )
                        },
                        "/versions": {
                            "get": operation("AWS_PROXY", rest_uri(f"{FUNCTION}:orders:7"))
                        },
                        "/health": {"get": operation("MOCK")},
                        "/legacy": {
                            "get": operation("HTTP_PROXY", "https://legacy.example.com/{proxy}")
                        },
                    },
                }
            ),
        },
        EXPORT_REQUEST,
    )

    found = discover_integrations(clients, API)

    assert found == DiscoveredIntegrations(
        [
            LambdaIntegration("ANY /{proxy+}", "AWS_PROXY", "orders", "live"),
            LambdaIntegration("GET /orders", "AWS_PROXY", "orders", None),
            LambdaIntegration("POST /orders", "AWS", "orders", None),
            LambdaIntegration("POST /payments", "AWS", "payments", "blue"),
            LambdaIntegration("GET /versions", "AWS_PROXY", "orders", "7"),
        ]
    )  # and no caveat: the stage as deployed, its current resources never read


def test_a_rest_stage_without_an_export_falls_back_to_the_current_resources_with_a_caveat(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, _ = stubbed
    a_rest_stage(rest)
    rest.add_client_error(
        "get_export", "BadRequestException", http_status_code=400, expected_params=EXPORT_REQUEST
    )
    rest.add_response("get_resources", {"items": [resource("/a", "orders:live")]}, FIRST_PAGE)

    found = discover_integrations(clients, API)

    assert found is not None
    assert list(found.integrations) == [LambdaIntegration("ANY /a", "AWS_PROXY", "orders", "live")]
    assert found.caveat == (
        "API abc123: integrations read from the API's current configuration, not from stage "
        f"prod as deployed (GetExport: BadRequestException): {UNDEPLOYED_CAVEAT}"
    )


def test_an_export_without_integrations_falls_back_to_the_current_resources(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    """A REST API with a method that has no integration cannot be deployed: an export whose
    methods carry none did not honour extensions=integrations (moto's does that)."""
    clients, rest, _ = stubbed
    a_rest_stage(rest)
    rest.add_response(
        "get_export",
        {"body": body({"swagger": "2.0", "paths": {"/a": {"ANY": {"responses": {}}}}})},
        EXPORT_REQUEST,
    )
    rest.add_response("get_resources", {"items": [resource("/a", "orders")]}, FIRST_PAGE)

    found = discover_integrations(clients, API)

    assert found is not None
    assert list(found.integrations) == [LambdaIntegration("ANY /a", "AWS_PROXY", "orders", None)]
    assert "(ANY /a carries no x-amazon-apigateway-integration)" in (found.caveat or "")


def test_an_endpoint_without_a_stage_reads_the_current_resources(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, _ = stubbed
    rest.add_response("get_rest_api", {"id": API.api_id}, {"restApiId": API.api_id})
    rest.add_response("get_resources", {"items": [resource("/a", "orders")]}, FIRST_PAGE)

    found = discover_integrations(clients, ApiRef(API.api_id, None))

    assert found is not None and "(the endpoint names no stage)" in (found.caveat or "")


FIRST_PAGE = {"restApiId": API.api_id, "embed": ["methods"], "limit": 500}


def resource(path: str, function: str) -> dict[str, Any]:
    integration = {"type": "AWS_PROXY", "uri": rest_uri(f"{FUNCTION}:{function}")}
    return {
        "id": path.strip("/") or "root",
        "path": path,
        "resourceMethods": {"ANY": {"methodIntegration": integration}},
    }


def test_rest_api_resources_are_read_page_after_page(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, _ = stubbed
    a_rest_stage(rest)
    rest.add_client_error("get_export", "TooManyRequestsException", http_status_code=429)
    rest.add_response(
        "get_resources", {"items": [resource("/a", "orders")], "position": "page-2"}, FIRST_PAGE
    )
    rest.add_response(
        "get_resources",
        {"items": [resource("/b", "orders:live")]},
        {**FIRST_PAGE, "position": "page-2"},
    )

    with pytest.MonkeyPatch.context() as patch:  # no backoff wait for the throttled export
        patch.setattr("chaos.aws.apigateway.call_with_backoff", lambda call: call())
        found = discover_integrations(clients, API)

    assert found is not None and list(found.integrations) == [
        LambdaIntegration("ANY /a", "AWS_PROXY", "orders", None),
        LambdaIntegration("ANY /b", "AWS_PROXY", "orders", "live"),
    ]


def test_a_rest_stage_s_export_iam_does_not_let_us_read_is_a_refusal_naming_it(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    """Denied is not unavailable: the current resources are not read in its place."""
    clients, rest, http = stubbed
    a_rest_stage(rest)
    rest.add_client_error(
        "get_export", "AccessDeniedException", http_status_code=403, expected_params=EXPORT_REQUEST
    )
    http.add_client_error("get_stage", "NotFoundException", http_status_code=404)

    with pytest.raises(IntegrationsDenied) as refused:
        discover_integrations(clients, API)

    resource_arn = f"arn:aws:apigateway:{REGION}::/restapis/{API.api_id}/stages/prod/exports/*"
    assert f"grant apigateway:GET on {resource_arn}" in str(refused.value)
    assert "GetExport: AccessDeniedException" in str(refused.value)
    assert resource_arn in discovery_resources(API, REGION), "the policy grants what is read"


def test_a_rest_api_iam_does_not_let_us_read_is_a_refusal_naming_the_permission(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, http = stubbed
    a_rest_stage(rest)
    rest.add_client_error("get_export", "BadRequestException", http_status_code=400)
    rest.add_client_error("get_resources", "AccessDeniedException", http_status_code=403)
    http.add_client_error("get_stage", "NotFoundException", http_status_code=404)

    with pytest.raises(IntegrationsDenied) as refused:
        discover_integrations(clients, API)

    resource_arn = f"arn:aws:apigateway:{REGION}::/restapis/{API.api_id}/resources"
    assert f"grant apigateway:GET on {resource_arn}" in str(refused.value)
    assert "GetResources: AccessDeniedException" in str(refused.value)
    assert resource_arn in discovery_resources(API, REGION), "the policy grants what is read"


def an_http_stage(rest: Stubber, http: Stubber, variables: dict[str, str] | None = None) -> None:
    not_a_rest_api(rest)
    http.add_response(
        "get_stage",
        {"StageName": "prod", "StageVariables": variables or {}},
        {"ApiId": API.api_id, "StageName": "prod"},
    )


def test_an_http_api_stage_s_routes_are_read_from_its_export(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, http = stubbed
    an_http_stage(rest, http, {"alias": "live"})
    default = {**operation("AWS_PROXY", rest_uri(f"{FUNCTION}:orders")), "isDefaultRoute": True}
    http.add_response(
        "export_api",
        {
            "body": body(
                {
                    "openapi": "3.0.1",
                    "paths": {
                        "/$default": {"x-amazon-apigateway-any-method": default},
                        "/orders": {
                            "get": operation(
                                "AWS_PROXY", f"{FUNCTION}:orders:${{stageVariables.alias}}"
                            ),
                            "post": {"responses": {}},
                        },  # an HTTP API route may have no integration
                        "/legacy": {"get": operation("HTTP_PROXY", "https://legacy.example.com")},
                    },
                }
            )
        },
        HTTP_EXPORT_REQUEST,
    )

    assert discover_integrations(clients, API) == DiscoveredIntegrations(
        [
            LambdaIntegration("$default", "AWS_PROXY", "orders", None),
            LambdaIntegration("GET /orders", "AWS_PROXY", "orders", "live"),
        ]
    )


def test_http_api_routes_and_integrations_are_read_page_after_page(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, http = stubbed
    an_http_stage(rest, http)
    http.add_client_error(
        "export_api",
        "BadRequestException",
        http_status_code=400,
        expected_params=HTTP_EXPORT_REQUEST,
    )
    http.add_response(
        "get_integrations",
        {
            "Items": [
                {
                    "IntegrationId": "i1",
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": f"{FUNCTION}:orders",
                }
            ],
            "NextToken": "integrations-2",
        },
        {"ApiId": API.api_id},
    )
    http.add_response(
        "get_integrations",
        {
            "Items": [
                {
                    "IntegrationId": "i2",
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": f"{FUNCTION}:orders:live",
                }
            ]
        },
        {"ApiId": API.api_id, "NextToken": "integrations-2"},
    )
    http.add_response(
        "get_routes",
        {
            "Items": [{"RouteKey": "GET /orders", "Target": "integrations/i1"}],
            "NextToken": "routes-2",
        },
        {"ApiId": API.api_id},
    )
    http.add_response(
        "get_routes",
        {"Items": [{"RouteKey": "POST /orders", "Target": "integrations/i2"}]},
        {"ApiId": API.api_id, "NextToken": "routes-2"},
    )

    found = discover_integrations(clients, API)

    assert found is not None and list(found.integrations) == [
        LambdaIntegration("GET /orders", "AWS_PROXY", "orders", None),
        LambdaIntegration("POST /orders", "AWS_PROXY", "orders", "live"),
    ]
    assert "(ExportApi: BadRequestException)" in (found.caveat or "")


def test_an_http_api_s_export_iam_does_not_let_us_read_is_a_refusal_naming_it(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, http = stubbed
    an_http_stage(rest, http)
    http.add_client_error("export_api", "AccessDeniedException", http_status_code=403)

    with pytest.raises(IntegrationsDenied) as refused:
        discover_integrations(clients, API)

    resource_arn = f"arn:aws:apigateway:{REGION}::/apis/{API.api_id}/exports/*"
    assert f"grant apigateway:GET on {resource_arn}" in str(refused.value)
    assert resource_arn in discovery_resources(API, REGION)


def test_an_http_api_iam_does_not_let_us_read_is_a_refusal_naming_the_permission(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, http = stubbed
    an_http_stage(rest, http)
    http.add_client_error("export_api", "BadRequestException", http_status_code=400)
    http.add_client_error("get_integrations", "AccessDeniedException", http_status_code=403)

    with pytest.raises(IntegrationsDenied) as refused:
        discover_integrations(clients, API)

    resource_arn = f"arn:aws:apigateway:{REGION}::/apis/{API.api_id}/integrations"
    assert f"grant apigateway:GET on {resource_arn}" in str(refused.value)
    assert resource_arn in discovery_resources(API, REGION)


def test_an_api_unreadable_for_another_reason_is_unknown_not_refused(
    stubbed: tuple[AwsClients, Stubber, Stubber],
) -> None:
    clients, rest, http = stubbed
    rest.add_client_error("get_rest_api", "BadRequestException", http_status_code=400)

    assert discover_integrations(clients, API) is None


# -- the plan ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_the_plan_warns_when_the_integrations_are_not_the_deployed_stage_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto's export carries no integrations: the plan reads the current ones and says so."""
    create_function("orders")
    apigateway = boto3.client("apigateway", region_name=REGION)
    api_id = apigateway.create_rest_api(name="orders")["id"]
    root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
    apigateway.put_method(
        restApiId=api_id, resourceId=root, httpMethod="ANY", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=root,
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=rest_uri(f"{FUNCTION}:orders"),
    )
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    path = tmp_path / "experiment.yaml"
    path.write_text(
        experiment_yaml().replace(
            "target: {",
            f"target: {{endpoint: 'https://{api_id}.execute-api.{REGION}.amazonaws.com/prod', ",
        )
    )

    assert main(["plan", str(path)]) == 0

    out = capsys.readouterr().out
    assert "invoked by ANY / (AWS_PROXY) -> orders" in out, out
    assert f"! API {api_id}: integrations read from the API's current configuration" in out
    assert UNDEPLOYED_CAVEAT in out
