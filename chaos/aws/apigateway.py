"""How an API Gateway endpoint invokes Lambda: every integration, its function and qualifier.

A fault on ``$LATEST`` never reaches an integration that invokes an alias or a version
(``...:function:orders:live/invocations``), and an ``error`` fault's proxy-shaped
response becomes an HTTP 200 through a non-proxy (``AWS``) integration. Preflight reads
the endpoint's API to refuse both before any change.

The endpoint serves its stage's *deployment*, so the integrations are read from the export
of the stage the endpoint URL names (chaos.aws.api_export): REST APIs with `GetExport`
(``oas30``, ``extensions=integrations``), HTTP APIs with `ExportApi` (``StageName``), after
`GetStage` (stage variables in integration URIs). When the export cannot be had for another
reason than IAM (no stage in the URL, an error, an export without integrations), the API's
*current* configuration is read instead, with a caveat for the plan: a change not yet
deployed cannot be told apart from what the stage serves. REST: `GetResources` (methods
embedded, paged by ``position``: at most 500 a page, "Amazon API Gateway REST API
Reference", GetResources, https://docs.aws.amazon.com/apigateway/latest/api/
API_GetResources.html); HTTP APIs: `GetRoutes` / `GetIntegrations`, paged by ``NextToken``
("Amazon API Gateway Version 2 API Reference", Routes and Integrations, https://docs.aws.
amazon.com/apigatewayv2/latest/api-reference/apis-apiid-routes.html).

Reading them takes ``apigateway:GET`` on each resource read (`discovery_resources`). A
caller without it cannot tell whether a route invokes a qualifier the fault would miss:
that is `IntegrationsDenied`, a refusal, not a warning (a denied export too: it is not
replaced by the current configuration).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from chaos.aws.api_export import (
    ExportedIntegration,
    ExportUnusable,
    exported_integrations,
    parse_export,
)
from chaos.aws.clients import error_code
from chaos.aws.partition import arn
from chaos.aws.retry import call_with_backoff
from chaos.errors import PreflightRefused

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients

__all__ = [
    "ApiRef",
    "DiscoveredIntegrations",
    "IntegrationsDenied",
    "LambdaIntegration",
    "api_of_endpoint",
    "discover_integrations",
    "discovery_resources",
    "function_ref_of_uri",
]

log = logging.getLogger(__name__)

_MAX_PAGES = 50
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
#: API Gateway's answers to a caller IAM does not allow: the common AccessDeniedException
#: (HTTP 403) and its own UnauthorizedException, "The request is denied because the caller
#: has insufficient permissions" (https://docs.aws.amazon.com/botocore/latest/reference/
#: services/apigateway/client/exceptions/UnauthorizedException.html).
_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedException"})
#: The IAM action of every API Gateway management read (the HTTP verb of the request).
DISCOVERY_ACTION = "apigateway:GET"
#: The integration types through which each kind of API invokes Lambda (HTTP APIs: proxy only).
_REST_LAMBDA_TYPES = ("AWS_PROXY", "AWS")
_HTTP_LAMBDA_TYPES = ("AWS_PROXY",)


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


@dataclass(frozen=True)
class DiscoveredIntegrations:
    """The endpoint's Lambda integrations and, when they were not read from the deployed
    stage, the caveat the plan shows (None: read from the stage as deployed)."""

    integrations: Sequence[LambdaIntegration]
    caveat: str | None = None


class IntegrationsDenied(PreflightRefused):
    """The caller may not read the API's integrations; names the permission it lacks."""

    def __init__(self, api: ApiRef, operation: str, resource_arn: str, code: str) -> None:
        super().__init__(
            f"API {api.api_id}: its integrations cannot be read ({operation}: {code}); grant "
            f"{DISCOVERY_ACTION} on {resource_arn} (`gameday iam-policy` includes it): without "
            "it a route that invokes an alias or version the fault would miss goes unnoticed"
        )
        self.resource_arn = resource_arn


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


def discovery_resources(api: ApiRef, region: str) -> tuple[str, ...]:
    """The ARNs `discover_integrations` reads with apigateway:GET, REST and HTTP API both
    (an execute-api host name does not say which kind the API is).

    ARN formats: "API Gateway Amazon Resource Name (ARN) reference", https://docs.aws.
    amazon.com/apigateway/latest/developerguide/arn-format-reference.html.
    """
    paths = [*_rest_paths(api).values(), *_http_paths(api).values()]
    return tuple(_arn(region, path) for path in sorted(set(paths)))


def _rest_paths(api: ApiRef) -> dict[str, str]:
    """The path of the resource each REST API read acts on, by operation (first: the API)."""
    base = f"/restapis/{api.api_id}"
    paths = {"GetRestApi": base}
    if api.stage:
        paths["GetStage"] = f"{base}/stages/{api.stage}"
        # GetExport is GET /restapis/ID/stages/STAGE/exports/oas30 (https://docs.aws.amazon.
        # com/apigateway/latest/api/API_GetExport.html), authorized like every management
        # call as apigateway:GET on its request path (ARN reference above; its REST table
        # has no export row): the stage's exports, the export type being the last part.
        paths["GetExport"] = f"{base}/stages/{api.stage}/exports/*"
    # The current configuration, read when the stage's export cannot be; GetIntegration
    # only for a method whose integration GetResources did not embed.
    paths["GetResources"] = f"{base}/resources"
    paths["GetIntegration"] = f"{base}/resources/*/methods/*/integration"
    return paths


def _http_paths(api: ApiRef) -> dict[str, str]:
    """The path of the resource each HTTP API read acts on, by operation."""
    base = f"/apis/{api.api_id}"
    paths = {}
    if api.stage:
        paths["GetStage"] = f"{base}/stages/{api.stage}"
        # ExportedAPI, arn:partition:apigateway:region::/apis/api-id/exports/specification
        # (ARN reference above); the stage is a query parameter of the request.
        paths["ExportApi"] = f"{base}/exports/*"
    paths.update({"GetIntegrations": f"{base}/integrations", "GetRoutes": f"{base}/routes"})
    return paths


def _arn(region: str, path: str) -> str:
    return arn("apigateway", region, "", path)  # API Gateway ARNs have no account


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


def discover_integrations(clients: AwsClients, api: ApiRef) -> DiscoveredIntegrations | None:
    """Every Lambda integration of the API (REST, else HTTP API); None if it cannot be read.

    Raises IntegrationsDenied when IAM denies the reads of the API (a REST API, or an HTTP
    API), so that nobody mistakes "not allowed to look" for "nothing to see".
    """
    try:
        return _read(clients, api, _rest_integrations, _rest_paths(api))
    except IntegrationsDenied as denied:
        rest_denied: IntegrationsDenied | None = denied
    except _NotThisKind:
        rest_denied = None
    except _Unreadable:
        return None
    try:
        return _read(clients, api, _http_integrations, _http_paths(api))
    except (_NotThisKind, _Unreadable):
        if rest_denied is not None:  # not an HTTP API either: a REST API we may not read
            raise rest_denied from None
        return None


class _NotThisKind(Exception):
    """The API id is not an API of the kind tried (NotFoundException)."""


class _Unreadable(Exception):
    """The API could not be read for another reason than IAM (network, throttling)."""


class _ExportUnavailable(Exception):
    """The stage's export cannot be had (the reason is the message); IAM denials excepted."""


Reader = Callable[["AwsClients", ApiRef], DiscoveredIntegrations]


def _read(
    clients: AwsClients, api: ApiRef, reader: Reader, paths: dict[str, str]
) -> DiscoveredIntegrations:
    """`reader`'s integrations; its failures sorted into denied, not this kind, unreadable.

    `paths`: the resource each of its operations reads, to name the one IAM denied.
    """
    try:
        return reader(clients, api)
    except ClientError as error:
        code = error_code(error)
        if code == "NotFoundException":
            raise _NotThisKind from error
        if code in _DENIED_CODES:
            operation = error.operation_name
            path = paths.get(operation) or next(iter(paths.values()))
            raise IntegrationsDenied(api, operation, _arn(clients.region, path), code) from error
        log.debug("API %s: %s failed: %s", api.api_id, error.operation_name, error)
        raise _Unreadable from error
    except BotoCoreError as error:
        log.debug("API %s could not be read: %s", api.api_id, error)
        raise _Unreadable from error


def _deployed_else_current(
    api: ApiRef,
    variables: dict[str, str],
    types: tuple[str, ...],
    export: Callable[[], list[ExportedIntegration]],
    current: Callable[[], list[LambdaIntegration]],
) -> DiscoveredIntegrations:
    """Integrations read from the stage as deployed (its `export`); when the export cannot
    be had, from the API's `current` configuration, with the plan's caveat."""
    try:
        if not api.stage:
            raise _ExportUnavailable("the endpoint names no stage")
        exported = export()
    except _ExportUnavailable as unavailable:
        stage = f"stage {api.stage}" if api.stage else "the stage"
        log.debug("API %s: %s's export unavailable: %s", api.api_id, stage, unavailable)
        return DiscoveredIntegrations(
            current(),
            caveat=(
                f"API {api.api_id}: integrations read from the API's current configuration, not "
                f"from {stage} as deployed ({unavailable}): a change not yet deployed cannot be "
                "told apart from what the stage serves"
            ),
        )
    found = []
    for item in exported:
        found.extend(
            _lambda_integration(item.route, item.integration_type, item.uri, variables, types)
        )
    return DiscoveredIntegrations(found)


def _read_export(export: Callable[[], Any], *, every_operation: bool) -> list[ExportedIntegration]:
    """The integrations of an export call's document; IAM denials raised as they are."""
    try:
        body = call_with_backoff(export)["body"]
        document = body.read() if hasattr(body, "read") else bytes(body)
    except ClientError as error:
        if error_code(error) in _DENIED_CODES:
            raise
        raise _ExportUnavailable(
            f"{error.operation_name}: {error_code(error) or 'failed'}"
        ) from error
    except BotoCoreError as error:
        raise _ExportUnavailable(f"the export could not be read: {error}") from error
    try:
        return exported_integrations(parse_export(document), every_operation=every_operation)
    except ExportUnusable as unusable:
        raise _ExportUnavailable(str(unusable)) from unusable


# -- REST APIs ------------------------------------------------------------------------------


def _rest_integrations(clients: AwsClients, api: ApiRef) -> DiscoveredIntegrations:
    apigateway = clients.client("apigateway")
    call_with_backoff(lambda: apigateway.get_rest_api(restApiId=api.api_id))
    variables: dict[str, str] = {}
    if api.stage:
        stage = call_with_backoff(
            lambda: apigateway.get_stage(restApiId=api.api_id, stageName=api.stage)
        )
        variables = dict(stage.get("variables") or {})
    return _deployed_else_current(
        api,
        variables,
        _REST_LAMBDA_TYPES,
        lambda: _rest_export(apigateway, api),
        lambda: _rest_current(apigateway, api, variables),
    )


def _rest_export(apigateway: Any, api: ApiRef) -> list[ExportedIntegration]:
    return _read_export(
        lambda: apigateway.get_export(
            restApiId=api.api_id,
            stageName=api.stage,
            exportType="oas30",
            parameters={"extensions": "integrations"},
            accepts="application/json",
        ),
        every_operation=True,
    )


def _rest_current(
    apigateway: Any, api: ApiRef, variables: dict[str, str]
) -> list[LambdaIntegration]:
    found = []
    for resource in _paged_resources(apigateway, api.api_id):
        for method, details in (resource.get("resourceMethods") or {}).items():
            integration = details.get("methodIntegration")
            if integration is None:
                integration = _integration(apigateway, api.api_id, resource["id"], method)
            if integration:
                found.extend(
                    _lambda_integration(
                        f"{method} {resource.get('path', '/')}",
                        str(integration.get("type")),
                        str(integration.get("uri") or ""),
                        variables,
                        _REST_LAMBDA_TYPES,
                    )
                )
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


def _integration(
    apigateway: Any, api_id: str, resource_id: str, method: str
) -> dict[str, Any] | None:
    try:
        return dict(
            call_with_backoff(
                lambda: apigateway.get_integration(
                    restApiId=api_id, resourceId=resource_id, httpMethod=method
                )
            )
        )
    except ClientError as error:
        if error_code(error) == "NotFoundException":
            return None
        raise


def _lambda_integration(
    route: str, integration_type: str, uri: str, variables: dict[str, str], types: tuple[str, ...]
) -> list[LambdaIntegration]:
    if integration_type not in types:
        return []
    ref = function_ref_of_uri(uri, variables)
    if ref is None:
        return []
    return [LambdaIntegration(route, integration_type, *ref)]


# -- HTTP APIs ------------------------------------------------------------------------------


def _http_integrations(clients: AwsClients, api: ApiRef) -> DiscoveredIntegrations:
    apigatewayv2 = clients.client("apigatewayv2")
    variables: dict[str, str] = {}
    if api.stage:
        stage = call_with_backoff(
            lambda: apigatewayv2.get_stage(ApiId=api.api_id, StageName=api.stage)
        )
        variables = dict(stage.get("StageVariables") or {})
    return _deployed_else_current(
        api,
        variables,
        _HTTP_LAMBDA_TYPES,
        lambda: _http_export(apigatewayv2, api),
        lambda: _http_current(apigatewayv2, api, variables),
    )


def _http_export(apigatewayv2: Any, api: ApiRef) -> list[ExportedIntegration]:
    return _read_export(
        lambda: apigatewayv2.export_api(
            ApiId=api.api_id,
            Specification="OAS30",
            OutputType="JSON",
            StageName=api.stage,
            IncludeExtensions=True,
        ),
        every_operation=False,
    )


def _http_current(
    apigatewayv2: Any, api: ApiRef, variables: dict[str, str]
) -> list[LambdaIntegration]:
    integrations = {
        item["IntegrationId"]: item
        for item in _paged_items(apigatewayv2.get_integrations, api.api_id)
    }
    found = []
    for route in _paged_items(apigatewayv2.get_routes, api.api_id):
        target = str(route.get("Target") or "")
        integration = integrations.get(target.removeprefix("integrations/"))
        if integration is not None:
            found.extend(
                _lambda_integration(
                    str(route.get("RouteKey")),
                    str(integration.get("IntegrationType")),
                    str(integration.get("IntegrationUri") or ""),
                    variables,
                    _HTTP_LAMBDA_TYPES,
                )
            )
    return found


def _paged_items(operation: Callable[..., Any], api_id: str) -> list[dict[str, Any]]:
    """Every item of an HTTP API collection (GetRoutes, GetIntegrations), page after page."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"ApiId": api_id}
    for _ in range(_MAX_PAGES):
        page = call_with_backoff(lambda: operation(**request))
        items.extend(page.get("Items", []))
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    return items
