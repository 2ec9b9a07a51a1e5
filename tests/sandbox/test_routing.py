"""Route matching as API Gateway does it, and the Lambda a (qualified) integration URI names."""

from __future__ import annotations

import pytest

from chaos.sandbox.apigateway.routing import (
    LAMBDA_PROXY,
    IntegrationSpec,
    MethodSpec,
    RouteTable,
    build_tree,
    lambda_target_from_uri,
)
from chaos.sandbox.functions.configuration import LambdaTarget

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"


def uri(function: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function}/invocations"


def method(name: str, label: str) -> dict[str, MethodSpec]:
    """A method whose integration URI carries ``label`` (to tell matches apart)."""
    integration = IntegrationSpec(LAMBDA_PROXY, uri=uri(f"{FUNCTION_ARN}:{label}"))
    return {name: MethodSpec(name, integration)}


@pytest.fixture
def table() -> RouteTable:
    # / ; /orders (GET) ; /orders/{id} (GET, ANY) ; /orders/{id}/items (POST) ; /{proxy+} (ANY)
    # /static/{file+} (GET)
    return RouteTable(
        build_tree(
            [
                ("root", None, "/", {}),
                ("o", "root", "orders", method("GET", "orders")),
                ("oid", "o", "{id}", {**method("GET", "get-one"), **method("ANY", "any-one")}),
                ("items", "oid", "items", method("POST", "items")),
                ("px", "root", "{proxy+}", method("ANY", "proxy")),
                ("st", "root", "static", {}),
                ("file", "st", "{file+}", method("GET", "static")),
            ]
        )
    )


def label_of(table: RouteTable, http_method: str, path: str) -> str | None:
    match = table.match(http_method, path)
    if match is None:
        return None
    integration = match.method.integration
    assert integration is not None
    target = integration.lambda_target({})
    assert target is not None
    return target.qualifier


@pytest.mark.parametrize(
    ("http_method", "path", "expected"),
    [
        ("GET", "/orders", "orders"),  # an exact resource wins over {proxy+}
        ("GET", "/orders/", "orders"),  # a trailing slash names the same resource
        ("GET", "/orders/42", "get-one"),  # {param}
        ("DELETE", "/orders/42", "any-one"),  # ANY when the method has no method of its own
        ("POST", "/orders/42/items", "items"),
        ("GET", "/users/7/profile", "proxy"),  # greedy: any depth under the root
        ("GET", "/static/css/site.css", "static"),
    ],
)
def test_requests_go_to_the_most_specific_resource(
    table: RouteTable, http_method: str, path: str, expected: str
) -> None:
    assert label_of(table, http_method, path) == expected


@pytest.mark.parametrize(
    ("http_method", "path"),
    [
        ("GET", "/"),  # the root has no method; {proxy+} needs one part at least
        ("POST", "/orders"),  # /orders has GET only, and {proxy+} no longer stands for it
        ("GET", "/orders/42/other"),  # no backtracking from /orders to {proxy+}
        ("GET", "/orders/42/items"),  # items has POST only
        ("POST", "/static/a.css"),  # the greedy {file+} has GET only
        ("GET", "/static"),  # a greedy resource takes one part at least
    ],
)
def test_no_route_is_none(table: RouteTable, http_method: str, path: str) -> None:
    assert table.match(http_method, path) is None


def test_path_parameters_are_named_after_the_resources(table: RouteTable) -> None:
    match = table.match("POST", "/orders/42/items")
    assert match is not None and match.path_parameters == {"id": "42"}
    assert match.resource.path == "/orders/{id}/items" and match.resource.id == "items"
    greedy = table.match("PUT", "/a/b/c")
    assert greedy is not None and greedy.path_parameters == {"proxy": "a/b/c"}
    assert greedy.resource.path == "/{proxy+}"


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (FUNCTION_ARN, LambdaTarget("orders")),
        (f"{FUNCTION_ARN}:live", LambdaTarget("orders", "live")),
        (f"{FUNCTION_ARN}:3", LambdaTarget("orders", "3")),
        (f"{FUNCTION_ARN}:$LATEST", LambdaTarget("orders", "$LATEST")),
    ],
)
def test_the_integration_uri_names_the_function_and_its_qualifier(
    function: str, expected: LambdaTarget
) -> None:
    assert lambda_target_from_uri(uri(function)) == expected


def test_stage_variables_fill_the_qualifier() -> None:
    integration = IntegrationSpec(LAMBDA_PROXY, uri=uri(FUNCTION_ARN + ":${stageVariables.alias}"))
    assert integration.lambda_target({"alias": "live"}) == LambdaTarget("orders", "live")
    assert lambda_target_from_uri("arn:aws:apigateway:us-east-1:s3:path/bucket/key") is None
