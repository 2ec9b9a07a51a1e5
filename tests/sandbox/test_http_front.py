"""The HTTP front as API Gateway's Lambda proxy integration, with a fake function."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chaos.sandbox.apigateway.http_front import (
    ApiGatewayFront,
    FrontRequest,
    FrontServer,
    StageConfig,
)
from chaos.sandbox.apigateway.routing import (
    LAMBDA_PROXY,
    IntegrationSpec,
    MethodSpec,
    ResourceSpec,
    RouteTable,
)
from chaos.sandbox.apigateway.throttling import StageThrottling, ThrottleLimit, normalized_key
from chaos.sandbox.functions.configuration import LambdaTarget
from chaos.sandbox.functions.local import InvokeResult
from chaos.sandbox.functions.pool import InvokeOutcome, Throttled
from chaos.sandbox.waf.engine import WafEngine

STAGE = StageConfig(api_id="abc123", api_name="orders-api", stage="prod")
FUNCTION_URI = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:123456789012:function:orders/invocations"
)


def proxy_routes(timeout_s: float = 5.0) -> RouteTable:
    """The demo API: ``ANY /{proxy+}`` with a Lambda proxy integration."""
    integration = IntegrationSpec(LAMBDA_PROXY, uri=FUNCTION_URI, timeout_s=timeout_s)
    proxy = ResourceSpec("px1", "/{proxy+}", "{proxy+}", {"ANY": MethodSpec("ANY", integration)})
    return RouteTable(ResourceSpec("root", "/", "", {}, (proxy,)))


class FakeFunction:
    """Records the events (and targets) it gets and answers with ``reply(event)``."""

    def __init__(self, reply: Callable[[dict[str, Any]], InvokeOutcome]) -> None:
        self.reply = reply
        self.events: list[dict[str, Any]] = []
        self.targets: list[LambdaTarget] = []

    def invoke(self, target: LambdaTarget, payload: bytes) -> InvokeOutcome:
        event = json.loads(payload)
        self.events.append(event)
        self.targets.append(target)
        return self.reply(event)


def returns(document: Any, *, error: str | None = None) -> Callable[..., InvokeOutcome]:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    result = InvokeResult("rid", 200, payload, error, 1.0)
    return lambda event: InvokeOutcome("use1-az1", result)


def front_for(
    function: FakeFunction, *, timeout_s: float = 5.0, waf: WafEngine | None = None
) -> ApiGatewayFront:
    routes = proxy_routes(timeout_s)
    return ApiGatewayFront(STAGE, routes=lambda: routes, functions=function, waf=waf)


def get(
    front: ApiGatewayFront,
    target: str,
    *,
    method: str = "GET",
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
) -> Any:
    return front.handle(FrontRequest(method, target, headers, body, "192.0.2.1", "h:1"))


OK = {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "fine"}


def test_request_becomes_a_rest_proxy_event() -> None:
    function = FakeFunction(returns(OK))
    front = front_for(function)
    headers = (("X-Trace", "a"), ("X-Trace", "b"), ("User-Agent", "pytest"))
    response = get(
        front,
        "/prod/users/42?x=1&tag=a&tag=b&empty=",
        method="POST",
        body=b'{"n": 1}',
        headers=headers,
    )
    assert response.status == 200
    [event] = function.events
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/users/42"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "users/42"}
    assert event["headers"]["X-Trace"] == "b"
    assert event["multiValueHeaders"]["X-Trace"] == ["a", "b"]
    assert event["queryStringParameters"] == {"x": "1", "tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {
        "x": ["1"],
        "tag": ["a", "b"],
        "empty": [""],
    }
    assert event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "prod" and context["path"] == "/prod/users/42"
    assert context["identity"]["sourceIp"] == "192.0.2.1"
    assert context["identity"]["userAgent"] == "pytest"
    assert context["requestId"] == dict(response.headers)["x-amzn-RequestId"]
    assert context["apiId"] == "abc123" and context["resourcePath"] == "/{proxy+}"
    assert context["resourceId"] == "px1"
    assert function.targets == [LambdaTarget("orders")]


def test_binary_body_is_base64_and_no_query_is_null() -> None:
    function = FakeFunction(returns(OK))
    get(front_for(function), "/prod/upload", method="PUT", body=b"\xff\x00\xfe")
    [event] = function.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00\xfe"
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None


def test_proxy_response_is_mapped_to_the_http_response() -> None:
    document = {
        "statusCode": 201,
        "headers": {"X-One": "1", "Set-Cookie": "ignored-when-multi"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(b"\x89PNG").decode(),
        "isBase64Encoded": True,
    }
    response = get(front_for(FakeFunction(returns(document))), "/prod/img")
    assert response.status == 201
    assert response.body == b"\x89PNG"
    assert ("X-One", "1") in response.headers
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert ("Content-Type", "application/json") in response.headers  # API Gateway's default


@pytest.mark.parametrize(
    "document",
    [
        {"statusCode": 200, "body": "x", "extra": 1},
        {"body": "no status"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": {"a": {"nested": 1}}},
        b"not json",
        ["a", "list"],
    ],
)
def test_malformed_proxy_response_is_502(document: Any) -> None:
    response = get(front_for(FakeFunction(returns(document))), "/prod/x")
    assert response.status == 502
    assert json.loads(response.body) == {"message": "Internal server error"}


def test_function_error_is_502() -> None:
    function = FakeFunction(returns({"errorType": "ValueError"}, error="Unhandled"))
    assert get(front_for(function), "/prod/x").status == 502


def test_past_the_integration_timeout_is_504() -> None:
    release = threading.Event()

    def slow(event: dict[str, Any]) -> InvokeOutcome:
        release.wait(5)
        return returns(OK)(event)

    try:
        response = get(front_for(FakeFunction(slow), timeout_s=0.3), "/prod/slow")
    finally:
        release.set()
    assert response.status == 504
    assert json.loads(response.body) == {"message": "Endpoint request timed out"}


def test_a_throttled_function_is_api_gateways_500_not_a_429() -> None:
    """Lambda's TooManyRequestsException reaches the client as API Gateway's 500."""

    def throttle(event: dict[str, Any]) -> InvokeOutcome:
        raise Throttled("orders")

    response = get(front_for(FakeFunction(throttle)), "/prod/x")
    assert response.status == 500
    assert json.loads(response.body) == {"message": "Internal server error"}
    assert ("x-amzn-ErrorType", "InternalServerErrorException") in response.headers


def throttled_front(
    limits: dict[str, ThrottleLimit], now: list[float]
) -> tuple[ApiGatewayFront, FakeFunction]:
    function = FakeFunction(returns(OK))
    routes = proxy_routes()
    routes = routes.with_stage_variables({}, limits)
    front = ApiGatewayFront(STAGE, routes=lambda: routes, functions=function)
    front.throttling = StageThrottling(clock=lambda: now[0])
    return front, function


def test_stage_throttling_answers_429_past_the_burst_and_refills_at_the_rate() -> None:
    now = [50.0]
    front, function = throttled_front({"*/*": ThrottleLimit(rate_per_s=2.0, burst=3)}, now)
    assert [get(front, "/prod/x").status for _ in range(5)] == [200, 200, 200, 429, 429]
    throttled = get(front, "/prod/x")
    assert json.loads(throttled.body) == {"message": "Too Many Requests"}
    assert ("x-amzn-ErrorType", "TooManyRequestsException") in throttled.headers
    assert len(function.events) == 3, "a throttled request never reaches the function"
    now[0] += 1.0  # two tokens at 2 per second
    assert [get(front, "/prod/x").status for _ in range(3)] == [200, 200, 429]


def test_a_methods_own_setting_overrides_the_stage_default() -> None:
    now = [50.0]
    limits = {
        normalized_key("~1{proxy+}/ANY"): ThrottleLimit(rate_per_s=0.0, burst=1),
        "*/*": ThrottleLimit(rate_per_s=100.0, burst=100),
    }
    front, _ = throttled_front(limits, now)
    assert [get(front, "/prod/x").status for _ in range(2)] == [200, 429]
    unthrottled, _ = throttled_front({}, now)
    assert {get(unthrottled, "/prod/x").status for _ in range(20)} == {200}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("~1orders/GET", "/orders/GET"),
        ("orders/GET", "/orders/GET"),
        ("~1/GET", "/GET"),
        ("*/*", "*/*"),
    ],
)
def test_method_setting_keys_are_read_in_either_spelling(raw: str, key: str) -> None:
    assert normalized_key(raw) == key


def test_other_paths_are_refused_like_api_gateway() -> None:
    function = FakeFunction(returns(OK))
    front = front_for(function)
    assert get(front, "/dev/x").status == 403
    assert get(front, "/prod").status == 403
    assert get(front, "/production/x").status == 403
    assert function.events == []


def test_waf_block_answers_without_invoking() -> None:
    clock_now = [100.0]
    waf = WafEngine(clock=lambda: clock_now[0])
    waf.configure(
        {
            "Name": "acl",
            "DefaultAction": {"Allow": {}},
            "Rules": [
                {
                    "Name": "rate",
                    "Priority": 0,
                    "Action": {"Block": {}},
                    "VisibilityConfig": {"MetricName": "rate"},
                    "Statement": {
                        "RateBasedStatement": {
                            "Limit": 10,
                            "EvaluationWindowSec": 60,
                            "AggregateKeyType": "IP",
                        }
                    },
                }
            ],
        }
    )
    function = FakeFunction(returns(OK))
    front = front_for(function, waf=waf)
    assert [get(front, "/prod/x").status for _ in range(11)] == [200] * 11
    waf.check()
    response = get(front, "/prod/x")
    assert response.status == 403 and len(function.events) == 11


@pytest.fixture
def served() -> Iterator[tuple[FrontServer, FakeFunction]]:
    function = FakeFunction(returns(OK))
    server = FrontServer(front_for(function))
    server.start()
    yield server, function
    server.stop()


def test_server_keeps_connections_alive(served: tuple[FrontServer, FakeFunction]) -> None:
    server, function = served
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=5)
    try:
        bodies = []
        for index in range(3):
            connection.request("GET", f"/prod/n/{index}")
            response = connection.getresponse()
            bodies.append((response.status, response.read()))
        sock = connection.sock
        assert sock is not None  # still the same open connection
    finally:
        connection.close()
    assert bodies == [(200, b"fine")] * 3
    assert [event["path"] for event in function.events] == ["/n/0", "/n/1", "/n/2"]


def test_server_serves_many_concurrent_connections(
    served: tuple[FrontServer, FakeFunction],
) -> None:
    server, _ = served
    host, port = server.server_address[:2]
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection(str(host), int(port), timeout=10)
        try:
            connection.request("GET", "/prod/c")
            status = connection.getresponse().status
        finally:
            connection.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(200)]
    deadline = time.monotonic() + 30
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic()))
    assert statuses == [200] * 200
