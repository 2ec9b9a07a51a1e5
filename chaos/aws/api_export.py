"""What a deployed API stage integrates, read from its OpenAPI export.

A stage serves its deployment, not the API's current resources: an edit that was not
deployed does nothing ("After creating your API, you must deploy it to make it callable by
your users", https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-deploy-
api.html). The export of a stage is the deployed version:

* REST APIs: GetExport "Exports a deployed version of a RestApi"; with
  ``extensions=integrations`` every operation carries its ``x-amazon-apigateway-integration``
  ("Amazon API Gateway REST API Reference", GetExport, https://docs.aws.amazon.com/
  apigateway/latest/api/API_GetExport.html).
* HTTP APIs: ExportApi with a ``StageName`` ("You can either choose a stage to export, or
  export the latest configuration of your API"; without a stage it exports the API
  "whether it has been deployed to a stage or not"; extensions are included by default:
  "Export HTTP APIs from API Gateway", https://docs.aws.amazon.com/apigateway/latest/
  developerguide/http-api-export.html).

The integration object has ``type`` (exported in lower case: ``aws_proxy``), ``uri``,
``httpMethod`` ("x-amazon-apigateway-integration object", https://docs.aws.amazon.com/
apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html). The
catch-all ``ANY`` method is the path item's ``x-amazon-apigateway-any-method``, and an HTTP
API's ``$default`` route is marked ``isDefaultRoute`` ("x-amazon-apigateway-any-method
object", https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-
extensions-any-method.html).

Pure data: no AWS calls here (chaos.aws.apigateway makes them; the sandbox builds the
same documents from its deployment snapshots).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANY_METHOD_KEY",
    "INTEGRATION_KEY",
    "OPENAPI_METHODS",
    "ExportUnusable",
    "ExportedIntegration",
    "exported_integrations",
    "parse_export",
]

INTEGRATION_KEY = "x-amazon-apigateway-integration"
ANY_METHOD_KEY = "x-amazon-apigateway-any-method"
#: The operations of an OpenAPI path item (its other keys are parameters, summary, ...).
OPENAPI_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_DEFAULT_ROUTE = "$default"


@dataclass(frozen=True)
class ExportedIntegration:
    """One route of the exported stage and the integration it serves."""

    route: str  # "GET /orders/{id}", "ANY /{proxy+}", "$default"
    integration_type: str  # upper case, as the management API spells it: AWS_PROXY, AWS, ...
    uri: str


class ExportUnusable(Exception):
    """The export does not say what the stage integrates (its reason is the message)."""


def parse_export(body: bytes) -> Mapping[str, Any]:
    """The JSON document of an export's body."""
    try:
        document = json.loads(body)
    except ValueError as error:
        raise ExportUnusable(f"the export is not JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise ExportUnusable("the export has no paths")
    return document


def exported_integrations(
    document: Mapping[str, Any], *, every_operation: bool
) -> list[ExportedIntegration]:
    """Every operation's integration, paths in the document's order.

    `every_operation`: an operation without an integration makes the export unusable. A
    REST API cannot be deployed with a method that has none (CreateDeployment answers "No
    integration defined for method"), so such an export did not honour the extensions
    parameter; an HTTP API route may have no target.
    """
    found = []
    for path, item in dict(document.get("paths") or {}).items():
        for method, operation in _operations(item):
            integration = operation.get(INTEGRATION_KEY)
            if not isinstance(integration, dict):
                if every_operation:
                    raise ExportUnusable(f"{method} {path} carries no {INTEGRATION_KEY}")
                continue
            route = _DEFAULT_ROUTE if operation.get("isDefaultRoute") else f"{method} {path}"
            found.append(
                ExportedIntegration(
                    route,
                    str(integration.get("type") or "").upper(),
                    str(integration.get("uri") or ""),
                )
            )
    return found


def _operations(item: Any) -> list[tuple[str, dict[str, Any]]]:
    """(method, operation) of a path item; ANY for the catch-all method.

    A bare ``ANY`` key is not OpenAPI, but some exporters (moto's) write it: taken as the
    catch-all, such an export is judged by its integrations, not read as having no method.
    """
    if not isinstance(item, dict):
        return []
    operations = []
    for key, operation in item.items():
        method = "ANY" if key in (ANY_METHOD_KEY, "any", "ANY") else str(key).upper()
        if method != "ANY" and str(key).lower() not in OPENAPI_METHODS:
            continue
        if isinstance(operation, dict):
            operations.append((method, operation))
    return operations
