"""Lambda custom (non-proxy, ``type: AWS``) integrations through the front, with a fake function."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chaos.sandbox.apigateway.http_front import (
    ApiGatewayFront,
    FrontRequest,
    FrontResponse,
    StageConfig,
)
from chaos.sandbox.apigateway.routing import (
    LAMBDA_CUSTOM,
    IntegrationResponseSpec,
    IntegrationSpec,
    MethodSpec,
    ResourceSpec,
    RouteTable,
)
from chaos.sandbox.functions.configuration import LambdaTarget
from chaos.sandbox.functions.local import InvokeResult
from chaos.sandbox.functions.pool import InvokeOutcome

STAGE = StageConfig(api_id="abc123", api_name="orders-api", stage="prod")
LIVE_URI = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:123456789012:function:orders:live/invocations"
)
# What the fault extension's error fault hands back in place of the function's result.
INJECTED_ERROR = {
    "statusCode": 503,
    "headers": {"x-gameday-chaos-fault": "error"},
    "body": json.dumps({"message": "injected"}),
}
DEFAULT_200 = IntegrationResponseSpec("200")
BAD_REQUEST = IntegrationResponseSpec("400", selection_pattern=r".*\[BadRequest\].*")


class Function:
    """Answers every invocation with ``payload`` (a function error when ``error`` is set)."""

    def __init__(self, payload: Any, error: str | None = None, missing: bool = False) -> None:
        self.payload = json.dumps(payload).encode()
        self.error = error
        self.missing = missing
        self.calls: list[tuple[LambdaTarget, bytes]] = []

    def invoke(self, target: LambdaTarget, payload: bytes) -> InvokeOutcome:
        self.calls.append((target, payload))
        if self.missing:
            return InvokeOutcome(None, None, missing=True)
        return InvokeOutcome("use1-az1", InvokeResult("rid", 200, self.payload, self.error, 1.0))


def front(
    function: Function,
    *,
    responses: tuple[IntegrationResponseSpec, ...] = (DEFAULT_200,),
    method_codes: frozenset[str] = frozenset({"200", "400"}),
    passthrough: str = "WHEN_NO_MATCH",
    request_templates: dict[str, str] | None = None,
) -> ApiGatewayFront:
    integration = IntegrationSpec(
        LAMBDA_CUSTOM,
        uri=LIVE_URI,
        timeout_s=5.0,
        passthrough_behavior=passthrough,
        request_templates=request_templates or {},
        responses=responses,
    )
    orders = ResourceSpec(
        "o",
        "/orders",
        "orders",
        {
            "POST": MethodSpec("POST", integration, method_codes),
            "GET": MethodSpec("GET", integration, method_codes),
        },
    )
    routes = RouteTable(ResourceSpec("root", "/", "", {}, (orders,)))
    return ApiGatewayFront(STAGE, routes=lambda: routes, functions=function)


def call(
    api: ApiGatewayFront,
    *,
    method: str = "POST",
    body: bytes = b'{"n": 1}',
    content_type: str | None = "application/json",
    path: str = "/prod/orders",
) -> FrontResponse:
    headers = (("Content-Type", content_type),) if content_type else ()
    return api.handle(FrontRequest(method, path, headers, body, "192.0.2.1"))


def test_an_injected_proxy_shaped_error_comes_out_as_200_with_that_json_as_body() -> None:
    function = Function(INJECTED_ERROR)
    response = call(front(function))
    assert response.status == 200
    assert json.loads(response.body) == INJECTED_ERROR
    assert ("Content-Type", "application/json") in response.headers


def test_the_request_body_is_the_event_and_the_qualifier_is_kept() -> None:
    function = Function({"ok": True})
    call(front(function), body=b'{"items": ["book"]}')
    [(target, payload)] = function.calls
    assert target == LambdaTarget("orders", "live")
    assert json.loads(payload) == {"items": ["book"]}


def test_no_body_is_an_empty_event() -> None:
    function = Function({"ok": True})
    assert call(front(function), method="GET", body=b"", content_type=None).status == 200
    assert function.calls[0][1] == b"{}"


def test_a_function_error_is_200_by_default() -> None:
    error = {"errorMessage": "boom", "errorType": "ValueError"}
    response = call(front(Function(error, error="Unhandled")))
    assert response.status == 200 and json.loads(response.body) == error


def test_a_function_error_matching_a_selection_pattern_takes_its_status() -> None:
    error = {"errorMessage": "[BadRequest] no items", "errorType": "Exception"}
    api = front(Function(error, error="Unhandled"), responses=(DEFAULT_200, BAD_REQUEST))
    response = call(api)
    assert response.status == 400 and json.loads(response.body) == error
    # the pattern must match the whole message, and only errors are matched
    other = front(
        Function({"errorMessage": "x [BadRequest]\nmore"}, error="Unhandled"),
        responses=(DEFAULT_200, BAD_REQUEST),
    )
    assert call(other).status == 200
    success = front(Function({"msg": "[BadRequest]"}), responses=(DEFAULT_200, BAD_REQUEST))
    assert call(success).status == 200


@pytest.mark.parametrize(
    ("responses", "codes"),
    [
        ((BAD_REQUEST,), frozenset({"200", "400"})),  # no default integration response
        ((DEFAULT_200,), frozenset({"400"})),  # 200 is not a method response
        (
            (
                IntegrationResponseSpec(
                    "200", response_templates={"application/json": "#set($x=1)"}
                ),
            ),
            frozenset({"200"}),
        ),  # a template the sandbox cannot run
    ],
)
def test_an_invalid_configuration_is_500(
    responses: tuple[IntegrationResponseSpec, ...], codes: frozenset[str]
) -> None:
    response = call(front(Function({"ok": True}), responses=responses, method_codes=codes))
    assert response.status == 500
    assert json.loads(response.body) == {"message": "Internal server error"}


@pytest.mark.parametrize(
    ("passthrough", "templates", "content_type", "expected"),
    [
        ("WHEN_NO_MATCH", {"application/json": "x"}, "application/xml", 200),
        ("WHEN_NO_TEMPLATES", {"application/json": "x"}, "application/xml", 415),
        ("WHEN_NO_TEMPLATES", {}, "application/xml", 200),
        ("NEVER", {}, "application/json", 415),
        ("WHEN_NO_MATCH", {"application/json": "$input.json('$')"}, None, 500),  # json by default
    ],
)
def test_passthrough_behaviors(
    passthrough: str, templates: dict[str, str], content_type: str | None, expected: int
) -> None:
    body = b'{"n": 1}'
    api = front(Function({"ok": True}), passthrough=passthrough, request_templates=templates)
    assert call(api, body=body, content_type=content_type).status == expected


def test_an_unknown_function_or_qualifier_is_500_and_an_unknown_route_403() -> None:
    api = front(Function({}, missing=True))
    assert call(api).status == 500
    unknown = call(api, path="/prod/nothing-here")
    assert unknown.status == 403
    assert json.loads(unknown.body) == {"message": "Missing Authentication Token"}
