"""How an API Gateway endpoint invokes Lambda: every integration, its function and qualifier.

A fault on ``$LATEST`` never reaches an integration that invokes an alias or a version
(``...:function:orders:live/invocations``), and an ``error`` fault's proxy-shaped
response becomes an HTTP 200 through a non-proxy (``AWS``) integration. Preflight reads
the endpoint's API to refuse both before any change.

REST APIs are read with `GetResources` (methods embedded) and `GetStage` (stage
variables in integration URIs); HTTP APIs with `GetRoutes` / `GetIntegrations`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from chaos.aws.clients import error_code
from chaos.aws.retry import call_with_backoff

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients

__all__ = [
    "ApiRef",
    "LambdaIntegration",
    "api_of_endpoint",
    "discover_integrations",
    "function_ref_of_uri",
]

_MAX_PAGES = 50
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class ApiRef:
    api_id: str
    stage: str | None


@dataclass(frozen=True)
class LambdaIntegration:
    """One route of the endpoint that invokes a Lambda function."""

    route: str  # "GET /orders/{id}", "ANY /{proxy+}"
    integration_type: str  # AWS_PROXY | AWS
    function_name: str
    qualifier: str | None  # alias or version; None invokes $LATEST

    @property
    def proxy(self) -> bool:
        return self.integration_type == "AWS_PROXY"

    @property
    def invoked(self) -> str:
        """What the route invokes, as a user writes it (``orders``, ``orders:live``)."""
        return f"{self.function_name}:{self.qualifier}" if self.qualifier else self.function_name


def api_of_endpoint(endpoint: str | None, rest_api_id: str | None = None) -> ApiRef | None:
    """The API and stage of an execute-api URL (or of a known API id); None otherwise."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    stage = parts.path.strip("/").split("/", 1)[0] or None
    host = parts.hostname or ""
    if rest_api_id:
        return ApiRef(rest_api_id, stage)
    if ".execute-api." in host:
        return ApiRef(host.split(".", 1)[0], stage)
    return None


def function_ref_of_uri(uri: str, stage_variables: dict[str, str]) -> tuple[str, str | None] | None:
    """(function name, qualifier) of a Lambda integration URI; None for other integrations.

    ``arn:aws:apigateway:R:lambda:path/2015-03-31/functions/<function ARN>/invocations``
    (REST) or a bare function ARN (HTTP APIs); stage variables are substituted.
    """
    uri = _STAGE_VARIABLE.sub(lambda match: stage_variables.get(match.group(1), ""), uri)
    if "/functions/" in uri:
        uri = uri.split("/functions/", 1)[1].split("/invocations", 1)[0]
    parts = uri.split(":")
    if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
        return None
    qualifier = parts[7] if len(parts) > 7 and parts[7] not in ("", "$LATEST") else None
    return parts[6], qualifier


def discover_integrations(clients: AwsClients, api: ApiRef) -> list[LambdaIntegration] | None:
    """Every Lambda integration of the API (REST, else HTTP API); None if it cannot be read."""
    try:
        return _rest_integrations(clients, api)
    except ClientError as error:
        if error_code(error) != "NotFoundException":
            return None
    except BotoCoreError:
        return None
    try:
        return _http_integrations(clients, api)
    except (ClientError, BotoCoreError):
        return None


def _rest_integrations(clients: AwsClients, api: ApiRef) -> list[LambdaIntegration]:
    apigateway = clients.client("apigateway")
    call_with_backoff(lambda: apigateway.get_rest_api(restApiId=api.api_id))
    variables: dict[str, str] = {}
    if api.stage:
        stage = call_with_backoff(
            lambda: apigateway.get_stage(restApiId=api.api_id, stageName=api.stage))
        variables = dict(stage.get("variables") or {})
    found = []
    for resource in _paged_resources(apigateway, api.api_id):
        for method, details in (resource.get("resourceMethods") or {}).items():
            integration = details.get("methodIntegration")
            if integration is None:
                integration = _integration(apigateway, api.api_id, resource["id"], method)
            found.extend(_lambda_integration(f"{method} {resource.get('path', '/')}",
                                             integration, variables))
    return found


def _paged_resources(apigateway: Any, api_id: str) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    request: dict[str, Any] = {"restApiId": api_id, "embed": ["methods"], "limit": 500}
    for _ in range(_MAX_PAGES):
        page = call_with_backoff(lambda: apigateway.get_resources(**request))
        resources.extend(page.get("items", []))
        if not page.get("position"):
            break
        request["position"] = page["position"]
    return resources


def _integration(apigateway: Any, api_id: str, resource_id: str,
                 method: str) -> dict[str, Any] | None:
    try:
        return dict(call_with_backoff(lambda: apigateway.get_integration(
            restApiId=api_id, resourceId=resource_id, httpMethod=method)))
    except ClientError as error:
        if error_code(error) == "NotFoundException":
            return None
        raise


def _lambda_integration(route: str, integration: dict[str, Any] | None,
                        variables: dict[str, str]) -> list[LambdaIntegration]:
    if not integration or integration.get("type") not in ("AWS_PROXY", "AWS"):
        return []
    ref = function_ref_of_uri(str(integration.get("uri") or ""), variables)
    if ref is None:
        return []
    return [LambdaIntegration(route, str(integration["type"]), *ref)]


def _http_integrations(clients: AwsClients, api: ApiRef) -> list[LambdaIntegration]:
    apigatewayv2 = clients.client("apigatewayv2")
    variables: dict[str, str] = {}
    if api.stage:
        stage = call_with_backoff(
            lambda: apigatewayv2.get_stage(ApiId=api.api_id, StageName=api.stage))
        variables = dict(stage.get("StageVariables") or {})
    integrations = {
        item["IntegrationId"]: item
        for item in call_with_backoff(
            lambda: apigatewayv2.get_integrations(ApiId=api.api_id)).get("Items", [])
    }
    found = []
    for route in call_with_backoff(lambda: apigatewayv2.get_routes(ApiId=api.api_id)).get(
            "Items", []):
        target = str(route.get("Target") or "")
        integration = integrations.get(target.removeprefix("integrations/"))
        if integration is None:
            continue
        uri = str(integration.get("IntegrationUri") or "")
        ref = function_ref_of_uri(uri, variables)
        if ref is not None and integration.get("IntegrationType") == "AWS_PROXY":
            found.append(LambdaIntegration(str(route.get("RouteKey")), "AWS_PROXY", *ref))
    return found
