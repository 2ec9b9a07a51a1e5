"""The sandbox's demo `orders` function (deployed as app.py, handler app.handler).

A small REST-proxy handler: GET /orders, GET /orders/{id}, POST /orders, GET /health.
Orders live in the DynamoDB table ``$ORDERS_TABLE`` of the sandbox's AWS API (created on
first use), reached through the function's VPC: when the network ACL of an environment's
subnet drops its traffic, that environment's order calls fail within a few seconds (a
503 naming the AZ) while ``GET /health``, which needs nothing, keeps answering.

DynamoDB is called over its JSON API, signed with botocore's SigV4 signer (botocore
ships with Lambda's Python runtimes): a fraction of a full SDK client's cold-start cost,
which matters when the whole sandbox shares two cores.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

# Short timeouts: a dependency that does not answer fails the request in ~2 s rather than
# holding it until the function times out.
DEPENDENCY_TIMEOUT_S = 2
DYNAMODB_TARGET = "DynamoDB_20120810"


class DependencyError(Exception):
    """The orders table could not be reached or refused the call."""

    def __init__(self, reason: str, error_type: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


def _response(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def _az() -> Any:
    return os.environ.get("GAMEDAY_SANDBOX_AZ_ID")


def _dynamodb(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """One signed DynamoDB API call; raises DependencyError."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = (
        os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        or os.environ.get("AWS_ENDPOINT_URL")
        or f"https://dynamodb.{region}.amazonaws.com"
    )
    url, body = endpoint.rstrip("/") + "/", json.dumps(request).encode()
    signed = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"{DYNAMODB_TARGET}.{operation}",
        },
    )
    credentials = Credentials(
        os.environ.get("AWS_ACCESS_KEY_ID", ""),
        os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        os.environ.get("AWS_SESSION_TOKEN"),
    )
    SigV4Auth(credentials, "dynamodb", region).add_auth(signed)
    call = urllib.request.Request(
        url, data=body, method="POST", headers=dict(signed.headers.items())
    )
    try:
        with urllib.request.urlopen(call, timeout=DEPENDENCY_TIMEOUT_S) as answer:
            return dict(json.loads(answer.read() or b"{}"))
    except urllib.error.HTTPError as error:
        document = json.loads(error.read() or b"{}")
        error_type = str(document.get("__type", "")).rsplit("#", 1)[-1]
        raise DependencyError(error_type or f"HTTP {error.code}", error_type) from error
    except urllib.error.URLError as error:  # the connection: refused, or connect timeout
        raise DependencyError(f"connect: {error.reason}") from error
    except OSError as error:  # timed out reading the answer
        raise DependencyError(f"read: {error}") from error


def _table_call(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """A call on the orders table, creating the table once if it does not exist yet."""
    table = os.environ.get("ORDERS_TABLE", "orders")
    try:
        return _dynamodb(operation, {"TableName": table, **request})
    except DependencyError as error:
        if error.error_type != "ResourceNotFoundException":
            raise
    try:
        _dynamodb(
            "CreateTable",
            {
                "TableName": table,
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            },
        )
    except DependencyError as error:
        if error.error_type != "ResourceInUseException":  # another environment was first
            raise
    return _dynamodb(operation, {"TableName": table, **request})


def _item(order: dict[str, Any]) -> dict[str, Any]:
    return {"id": {"S": order["id"]}, "order": {"S": json.dumps(order)}}


def _order(item: dict[str, Any]) -> Any:
    return json.loads(item["order"]["S"])


def _create_order(body: dict[str, Any]) -> dict[str, Any]:
    order = {"id": uuid.uuid4().hex[:12], "items": body.get("items", []), "at": time.time()}
    _table_call("PutItem", {"Item": _item(order)})
    return order


def _list_orders() -> list[Any]:
    return [_order(item) for item in _table_call("Scan", {"Limit": 20}).get("Items", [])]


def _get_order(order_id: str) -> Any:
    item = _table_call("GetItem", {"Key": {"id": {"S": order_id}}}).get("Item")
    return _order(item) if item else None


def _orders(method: str, path: str, event: dict[str, Any]) -> dict[str, Any]:
    if path == "/orders" and method == "POST":
        return _response(201, _create_order(json.loads(event.get("body") or "{}")))
    if path == "/orders" and method == "GET":
        return _response(200, {"orders": _list_orders(), "az": _az()})
    if path.startswith("/orders/") and method == "GET":
        order = _get_order(path.rsplit("/", 1)[-1])
        return _response(200, order) if order else _response(404, {"error": "not found"})
    return _response(404, {"error": f"no route for {method} {path}"})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = event.get("httpMethod", "GET")
    path = event.get("path", "/")
    if path == "/health":
        return _response(200, {"ok": True, "az": _az()})
    if not path.startswith("/orders"):
        return _response(404, {"error": f"no route for {method} {path}"})
    try:
        return _orders(method, path, event)
    except DependencyError as error:
        return _response(
            503, {"error": "the orders table is unavailable", "reason": error.reason, "az": _az()}
        )
