"""GetExport of a REST API stage, answered from the stage's deployment as API Gateway does.

GetExport "Exports a deployed version of a RestApi" (https://docs.aws.amazon.com/apigateway/
latest/api/API_GetExport.html): the toolkit reads a stage's integrations from it
(chaos.aws.apigateway). moto's own export ignores the stage (it describes the API's current
resources) and carries no ``x-amazon-apigateway-integration``, so the sandbox answers the
call itself, in front of moto, from the deployment snapshot the HTTP front routes by
(:meth:`chaos.sandbox.process.moto_reader.MotoReader.route_table`): a change that was not
deployed is not in the export, as on AWS.

The document has the stage's paths and methods (``ANY`` as ``x-amazon-apigateway-any-method``)
and, with ``extensions=integrations`` (or ``apigateway``), each method's
``x-amazon-apigateway-integration``: ``type`` (in lower case, as AWS exports it), ``uri``,
``httpMethod``, ``timeoutInMillis``, ``passthroughBehavior`` ("x-amazon-apigateway-
integration object", https://docs.aws.amazon.com/apigateway/latest/developerguide/api-
gateway-swagger-extensions-integration.html). Stage variables stay unsubstituted in URIs.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, unquote

import yaml

from chaos.aws.api_export import ANY_METHOD_KEY, INTEGRATION_KEY
from chaos.sandbox.apigateway.routing import ANY_METHOD
from chaos.sandbox.wsgi import WsgiApp, signing_service

if TYPE_CHECKING:
    from chaos.sandbox.apigateway.routing import IntegrationSpec, MethodSpec, RouteTable

__all__ = ["DeployedStages", "StageExports", "stage_export"]


class DeployedStages(Protocol):
    """What an export reads of the control plane (the sandbox's MotoReader)."""

    def route_table(self, rest_api_id: str, stage_name: str) -> RouteTable | None: ...

    def rest_api_name(self, rest_api_id: str) -> str | None: ...


_EXPORT_PATH = re.compile(
    r"^/restapis/(?P<api>[^/]+)/stages/(?P<stage>[^/]+)/exports/(?P<type>[^/]+)/?$"
)
_EXPORT_TYPES = ("oas30", "swagger")
#: The ``extensions`` values that add the integrations (GetExport's ``parameters``).
_INTEGRATION_EXTENSIONS = frozenset({"integrations", "apigateway"})

Answer = tuple[str, list[tuple[str, str]], bytes]


def stage_export(
    title: str, table: RouteTable, *, export_type: str, integrations: bool
) -> dict[str, Any]:
    """The OpenAPI document of a deployed stage: its paths, methods and integrations."""
    header: dict[str, Any] = {"openapi": "3.0.1"} if export_type == "oas30" else {"swagger": "2.0"}
    paths: dict[str, Any] = {}
    for resource in sorted(table.resources(), key=lambda item: item.path):
        operations = {
            _operation_key(name): _operation(method, integrations)
            for name, method in sorted(resource.methods.items())
        }
        if operations:
            paths[resource.path] = operations
    return {**header, "info": {"title": title, "version": "1"}, "paths": paths}


def _operation_key(method: str) -> str:
    return ANY_METHOD_KEY if method == ANY_METHOD else method.lower()


def _operation(method: MethodSpec, integrations: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "responses": {
            code: {"description": f"{code} response"}
            for code in sorted(method.response_status_codes)
        }
    }
    if integrations and method.integration is not None:
        operation[INTEGRATION_KEY] = _integration(method.integration)
    return operation


def _integration(spec: IntegrationSpec) -> dict[str, Any]:
    exported: dict[str, Any] = {"type": spec.type.lower()}
    if spec.uri:
        exported["uri"] = spec.uri
    if spec.http_method:
        exported["httpMethod"] = spec.http_method
    exported["timeoutInMillis"] = round(spec.timeout_s * 1000)
    exported["passthroughBehavior"] = spec.passthrough_behavior.lower()
    return exported


class StageExports:
    """WSGI middleware: answers GetExport (a signed apigateway GET of an export path) from
    `reader`'s deployment snapshots; every other request goes on to moto."""

    def __init__(self, app: WsgiApp, reader: DeployedStages) -> None:
        self.app = app
        self.reader = reader

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        match = _EXPORT_PATH.match(str(environ.get("PATH_INFO") or ""))
        if (
            match is None
            or environ.get("REQUEST_METHOD") != "GET"
            or signing_service(environ) != "apigateway"
        ):
            return self.app(environ, start_response)
        status, headers, body = self.answer(
            unquote(match["api"]),
            unquote(match["stage"]),
            unquote(match["type"]),
            parse_qs(str(environ.get("QUERY_STRING") or "")),
            str(environ.get("HTTP_ACCEPT") or "application/json"),
        )
        start_response(
            status,
            [*headers, ("x-amzn-RequestId", str(uuid.uuid4())), ("Content-Length", str(len(body)))],
        )
        return [body]

    def answer(
        self, api_id: str, stage: str, export_type: str, query: dict[str, list[str]], accept: str
    ) -> Answer:
        if export_type not in _EXPORT_TYPES:
            return _error(400, "BadRequestException", f"No API exporter for type '{export_type}'")
        table = self.reader.route_table(api_id, stage)
        if table is None:
            return _error(404, "NotFoundException", "Invalid stage identifier specified")
        extensions = {
            value.strip() for item in query.get("extensions", []) for value in item.split(",")
        }
        document = stage_export(
            self.reader.rest_api_name(api_id) or api_id,
            table,
            export_type=export_type,
            integrations=bool(extensions & _INTEGRATION_EXTENSIONS),
        )
        if "yaml" in accept:
            return (
                "200 OK",
                [("Content-Type", "application/yaml")],
                yaml.safe_dump(document, sort_keys=False).encode(),
            )
        return "200 OK", [("Content-Type", "application/json")], json.dumps(document).encode()


def _error(status: int, code: str, message: str) -> Answer:
    """An API Gateway error as botocore parses it (REST-JSON: x-amzn-ErrorType, message)."""
    reason = {400: "Bad Request", 404: "Not Found"}[status]
    return (
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)],
        json.dumps({"message": message}).encode(),
    )
