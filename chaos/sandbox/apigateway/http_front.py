"""The sandbox's HTTP front: one REST API stage, its resources and Lambda integrations.

Behaves as API Gateway does: the web ACL associated with the stage is evaluated first
(403, or the rule's custom response); the request is routed by the deployed API's
resources and methods (:mod:`chaos.sandbox.apigateway.routing`; no route: 403 ``Missing
Authentication Token``) to the method's Lambda integration, which invokes the function,
alias or version its URI names.

* ``AWS_PROXY``: the request becomes a REST proxy event; the function's proxy response
  becomes the HTTP response; 502 on a function error or a malformed proxy response.
* ``AWS`` (custom): :mod:`chaos.sandbox.apigateway.lambda_integration` (body passed through; the
  result is the 200 response body unless an integration response's selection pattern
  matches a function error).

Both: 504 when the integration timeout passes, 500 when Lambda refuses the invocation
(the function is throttled, or the function or qualifier does not exist) or the
integration cannot be served. 429 is API Gateway's own: the stage's or method's
throttling (:mod:`chaos.sandbox.apigateway.throttling`), checked once the request is routed.

Threaded (a few hundred concurrent keep-alive connections), TCP_NODELAY, each
response written in one ``write``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from chaos.host import LoopbackHTTPServer
from chaos.sandbox.apigateway.lambda_integration import (
    IntegrationFailure,
    map_response,
    request_payload,
)
from chaos.sandbox.apigateway.routing import (
    LAMBDA_CUSTOM,
    LAMBDA_PROXY,
    IntegrationSpec,
    RouteMatch,
    RouteTable,
)
from chaos.sandbox.apigateway.throttling import StageThrottling
from chaos.sandbox.cloudwatch.metrics import MetricsRecorder
from chaos.sandbox.functions.configuration import LambdaTarget
from chaos.sandbox.functions.pool import InvokeOutcome, NotReady, Throttled
from chaos.sandbox.http_body import read_body
from chaos.sandbox.waf.engine import WafEngine
from chaos.sandbox.waf.request import Verdict, WebRequest

log = logging.getLogger(__name__)

STATUS_PATH = "/_sandbox/status"
API_NAMESPACE = "AWS/ApiGateway"
WAF_NAMESPACE = "AWS/WAFV2"
PROXY_RESPONSE_KEYS = frozenset(
    {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
)
INTERNAL_ERROR = b'{"message": "Internal server error"}'
TIMED_OUT = b'{"message": "Endpoint request timed out"}'
THROTTLED = b'{"message":"Too Many Requests"}'
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
FORBIDDEN = b'{"message":"Forbidden"}'
UNSUPPORTED_MEDIA_TYPE = b'{"message": "Unsupported Media Type"}'


class LambdaInvoker(Protocol):
    """Invokes a function, alias or version (raises Throttled when out of concurrency)."""

    def invoke(self, target: LambdaTarget, payload: bytes) -> InvokeOutcome: ...


@dataclass(frozen=True)
class StageConfig:
    api_id: str
    api_name: str
    stage: str
    region: str = "us-east-1"
    account_id: str = "123456789012"


@dataclass(frozen=True)
class FrontRequest:
    method: str
    target: str  # path and query as sent
    headers: tuple[tuple[str, str], ...]
    body: bytes
    source_ip: str
    host: str = "127.0.0.1"


@dataclass
class FrontResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


class MalformedProxyResponse(ValueError):
    """The function's result is not a valid Lambda proxy response."""


# -- event and response mapping ------------------------------------------------------


def proxy_event(
    request: FrontRequest,
    stage: StageConfig,
    request_id: str,
    path: str,
    query: list[tuple[str, str]],
    route: RouteMatch,
    stage_variables: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The REST API (v1) Lambda proxy event API Gateway would send for this request."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    body: str | None = None
    is_base64 = False
    if request.body:
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    now = datetime.now(timezone.utc)
    return {
        "resource": route.resource.path,
        "path": path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": route.path_parameters or None,
        "stageVariables": stage_variables or None,
        "requestContext": {
            "resourceId": route.resource.id,
            "resourcePath": route.resource.path,
            "httpMethod": request.method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage.stage}{path}",
            "accountId": stage.account_id,
            "protocol": "HTTP/1.1",
            "stage": stage.stage,
            "domainPrefix": request.host.split(":")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "accessKey": None,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": headers.get("User-Agent") or headers.get("user-agent"),
                "user": None,
            },
            "domainName": request.host,
            "apiId": stage.api_id,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def map_proxy_response(payload: bytes) -> FrontResponse:
    """The HTTP response for a function's proxy result; raises MalformedProxyResponse."""
    try:
        document = json.loads(payload)
    except ValueError as error:
        raise MalformedProxyResponse("the result is not JSON") from error
    if not isinstance(document, dict):
        raise MalformedProxyResponse("the result is not a JSON object")
    unexpected = set(document) - PROXY_RESPONSE_KEYS
    if unexpected:
        raise MalformedProxyResponse(f"unexpected keys {sorted(unexpected)}")
    status = document.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyResponse(f"statusCode {status!r}")
    body = document.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResponse("body is not a string")
    raw_body = (body or "").encode()
    if document.get("isBase64Encoded") and body:
        try:
            raw_body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise MalformedProxyResponse("body is not valid base64") from error
    return FrontResponse(status, raw_body, _response_headers(document))


def _response_headers(document: dict[str, Any]) -> list[tuple[str, str]]:
    single = document.get("headers") or {}
    multi = document.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedProxyResponse("headers are not objects")
    headers: list[tuple[str, str]] = []
    multi_names = {name.lower() for name in multi}
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{name!r}] is not a list")
        headers.extend((str(name), _header_value(v)) for v in values)
    for name, value in single.items():
        if str(name).lower() not in multi_names:
            headers.append((str(name), _header_value(value)))
    return headers


def _header_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise MalformedProxyResponse("a header value is not a scalar")
    return "true" if value is True else "false" if value is False else str(value)


# -- the front -------------------------------------------------------------------------


class ApiGatewayFront:
    """Request handling of the front, independent of sockets (tests call ``handle``)."""

    def __init__(
        self,
        stage: StageConfig,
        *,
        routes: Callable[[], RouteTable | None],
        functions: LambdaInvoker,
        waf: WafEngine | None = None,
        metrics: MetricsRecorder | None = None,
        status: Callable[[], dict[str, Any]] | None = None,
        timeout_override_s: float | None = None,
    ) -> None:
        self.stage = stage
        self.routes = routes
        self.functions = functions
        self.waf = waf
        self.metrics = metrics
        self.status = status
        self.timeout_override_s = timeout_override_s
        self.throttling = StageThrottling()

    def handle(self, request: FrontRequest) -> FrontResponse:
        started = time.monotonic()
        split = urlsplit(request.target)
        if split.path == STATUS_PATH and self.status is not None:
            return FrontResponse(200, json.dumps(self.status()).encode())
        prefix = f"/{self.stage.stage}"
        if split.path != prefix and not split.path.startswith(prefix + "/"):
            return _error(403, FORBIDDEN, "ForbiddenException")
        request_id = str(uuid.uuid4())
        path = unquote(split.path[len(prefix) :]) or "/"
        query = parse_qsl(split.query, keep_blank_values=True)
        response = self._respond(request, request_id, path, split.query, query)
        response.headers.extend(
            [("x-amzn-RequestId", request_id), ("x-amz-apigw-id", request_id[:16])]
        )
        self._record_api(response.status, started)
        return response

    def _respond(
        self,
        request: FrontRequest,
        request_id: str,
        path: str,
        query_string: str,
        query: list[tuple[str, str]],
    ) -> FrontResponse:
        if self.waf is not None:
            verdict = self.waf.evaluate(
                WebRequest(
                    source_ip=request.source_ip,
                    method=request.method,
                    uri_path=path,
                    query_string=query_string,
                    headers=request.headers,
                    query=tuple(query),
                )
            )
            self._record_waf(verdict)
            if verdict.blocked:
                return FrontResponse(
                    verdict.status,
                    verdict.body,
                    [("Content-Type", verdict.content_type), *verdict.headers],
                )
        table = self.routes()
        route = table.match(request.method, path) if table is not None else None
        if table is None or route is None:
            return _error(403, MISSING_TOKEN, "MissingAuthenticationTokenException")
        if not self.throttling.admit(
            table.throttle_limits, route.resource.path, route.method.http_method
        ):
            return _error(429, THROTTLED, "TooManyRequestsException")
        integration = route.method.integration
        target = (
            integration.lambda_target(table.stage_variables) if integration is not None else None
        )
        if (
            integration is None
            or target is None
            or integration.type not in (LAMBDA_PROXY, LAMBDA_CUSTOM)
        ):
            log.warning(
                "%s %s: the sandbox serves Lambda integrations (AWS_PROXY, AWS) only; "
                "this method has %s",
                route.method.http_method,
                route.resource.path,
                integration.type if integration else "no integration",
            )
            return _error(500, INTERNAL_ERROR, "InternalServerErrorException")
        if integration.type == LAMBDA_PROXY:
            event = proxy_event(
                request, self.stage, request_id, path, query, route, table.stage_variables
            )
            return self._proxy(target, integration, json.dumps(event).encode())
        return self._custom(target, integration, route, request)

    def _proxy(
        self, target: LambdaTarget, integration: IntegrationSpec, payload: bytes
    ) -> FrontResponse:
        outcome = self._invoke(target, payload, self._timeout_s(integration))
        if isinstance(outcome, FrontResponse):
            return outcome
        assert outcome.result is not None
        if outcome.result.function_error is not None:
            return _error(502, INTERNAL_ERROR, "InternalServerErrorException")
        try:
            response = map_proxy_response(outcome.result.payload)
        except MalformedProxyResponse as error:
            log.info(
                "Execution failed due to configuration error: Malformed Lambda proxy response (%s)",
                error,
            )
            return _error(502, INTERNAL_ERROR, "InternalServerErrorException")
        _default_content_type(response.headers)
        return response

    def _custom(
        self,
        target: LambdaTarget,
        integration: IntegrationSpec,
        route: RouteMatch,
        request: FrontRequest,
    ) -> FrontResponse:
        content_type = next(
            (value for name, value in request.headers if name.lower() == "content-type"), None
        )
        try:
            payload = request_payload(integration, content_type, request.body)
            outcome = self._invoke(target, payload, self._timeout_s(integration))
            if isinstance(outcome, FrontResponse):
                return outcome
            assert outcome.result is not None
            mapped = map_response(
                integration,
                route.method.response_status_codes,
                outcome.result.payload,
                outcome.result.function_error,
            )
        except IntegrationFailure as failure:
            log.info("Execution failed due to configuration error: %s", failure.reason)
            if failure.status == 415:
                return _error(415, UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaTypeException")
            return _error(500, INTERNAL_ERROR, "InternalServerErrorException")
        response = FrontResponse(mapped.status, mapped.body, list(mapped.headers))
        _default_content_type(response.headers)
        return response

    def _timeout_s(self, integration: IntegrationSpec) -> float:
        return self.timeout_override_s or integration.timeout_s

    def _invoke(
        self, target: LambdaTarget, payload: bytes, timeout_s: float
    ) -> InvokeOutcome | FrontResponse:
        """The function's outcome, or the error response API Gateway gives instead."""
        outcome: list[InvokeOutcome] = []
        throttled: list[bool] = []
        not_ready: list[bool] = []
        done = threading.Event()

        def run() -> None:
            try:
                outcome.append(self.functions.invoke(target, payload))
            except Throttled:
                throttled.append(True)
            except NotReady:
                not_ready.append(True)
            except Exception:  # noqa: BLE001 - becomes a 502 like any integration failure
                log.warning("invocation of %s failed", target.label, exc_info=True)
            finally:
                done.set()

        threading.Thread(target=run, name="sandbox-invoke", daemon=True).start()
        if not done.wait(timeout_s):
            return _error(504, TIMED_OUT, "IntegrationTimeout")
        if throttled:
            # Lambda refused the invocation (TooManyRequestsException): "If the Lambda API
            # rejects the invocation request, API Gateway returns a 500 error code" with
            # {"message": "Internal server error"} ("Handling Lambda errors with an API
            # Gateway API", https://docs.aws.amazon.com/lambda/latest/dg/
            # services-apigateway-errors.html). Not the INTEGRATION_FAILURE gateway
            # response's default 504: clients of a throttled function see this 500.
            log.info("Lambda invocation failed with status: 429 (%s is throttled)", target.label)
            return _error(500, INTERNAL_ERROR, "InternalServerErrorException")
        if not_ready:
            # Lambda refused it too (ResourceConflictException, 409: the version is
            # Pending): API Gateway's 500, as for any invocation the Lambda API rejects.
            log.info("Lambda invocation failed with status: 409 (%s is Pending)", target.label)
            return _error(500, INTERNAL_ERROR, "InternalServerErrorException")
        if outcome and outcome[0].missing:
            log.info(
                "Execution failed due to configuration error: function %s not found", target.label
            )
            return _error(500, INTERNAL_ERROR, "InternalServerErrorException")
        if not outcome or outcome[0].result is None:
            return _error(502, INTERNAL_ERROR, "InternalServerErrorException")
        return outcome[0]

    # -- metrics ---------------------------------------------------------------------

    def _record_api(self, status: int, started: float) -> None:
        if self.metrics is None:
            return
        dimensions = {"ApiName": self.stage.api_name, "Stage": self.stage.stage}
        add = self.metrics.add
        add(API_NAMESPACE, "Count", 1, dimensions)
        add(API_NAMESPACE, "4XXError", 1 if 400 <= status < 500 else 0, dimensions)
        add(API_NAMESPACE, "5XXError", 1 if status >= 500 else 0, dimensions)
        add(
            API_NAMESPACE,
            "Latency",
            (time.monotonic() - started) * 1000,
            dimensions,
            "Milliseconds",
        )

    def _record_waf(self, verdict: Verdict) -> None:
        if self.metrics is None or self.waf is None or not self.waf.acl_metric_name:
            return
        acl = self.waf.acl_metric_name

        def add(metric: str, rule: str) -> None:
            assert self.metrics is not None
            self.metrics.add(
                WAF_NAMESPACE, metric, 1, {"WebACL": acl, "Rule": rule, "Region": self.stage.region}
            )

        for counted in verdict.counted:
            add("CountedRequests", counted)
        metric = "BlockedRequests" if verdict.blocked else "AllowedRequests"
        add(metric, "ALL")
        if verdict.metric_name != "ALL":
            add(metric, verdict.metric_name)


def _default_content_type(headers: list[tuple[str, str]]) -> None:
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))


def _error(status: int, body: bytes, error_type: str) -> FrontResponse:
    return FrontResponse(
        status, body, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)]
    )


# -- HTTP server --------------------------------------------------------------------------


class _FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket
    server: FrontServer

    def _any(self) -> None:
        body, _, _ = read_body(self)
        if (self.headers.get("Connection") or "").lower() == "close":
            self.close_connection = True
        request = FrontRequest(
            method=self.command,
            target=self.path,
            headers=tuple((str(k), str(v)) for k, v in self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            host=self.headers.get("Host") or "127.0.0.1",
        )
        try:
            response = self.server.front.handle(request)
        except Exception:  # noqa: BLE001 - a bug in the front is a 500, not a dead socket
            log.exception("the front failed on %s %s", self.command, self.path)
            response = _error(500, INTERNAL_ERROR, "InternalServerErrorException")
        self._write(response)

    def _write(self, response: FrontResponse) -> None:
        lines = [f"HTTP/1.1 {response.status} {_phrase(response.status)}"]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        lines.append(f"Content-Length: {len(response.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head if self.command == "HEAD" else head + response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class FrontServer(LoopbackHTTPServer):
    request_queue_size = 1024

    def __init__(self, front: ApiGatewayFront, host: str = "127.0.0.1", port: int = 0) -> None:
        self.front = front
        super().__init__((host, port), _FrontHandler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away
        super().handle_error(request, client_address)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="sandbox-front",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
