"""The sandbox's demo `orders` function (deployed as app.py, handler app.handler).

A small REST-proxy handler: GET /orders, GET /orders/{id}, POST /orders, GET /health.
Orders live in the DynamoDB table ``$ORDERS_TABLE`` of the sandbox's AWS API (created on
first use), reached through the function's VPC: when the network ACL of an environment's
subnet drops its traffic, that environment's order calls fail within a few seconds (a
503 naming the AZ) while ``GET /health``, which needs nothing, keeps answering.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from decimal import Decimal
from typing import Any

# Short client timeouts: a dependency that does not answer fails the request in ~2 s
# rather than holding it until the function times out.
DEPENDENCY_TIMEOUT_S = 2
_TABLE: Any = None


def _response(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, default=_number),
    }


def _number(value: Any) -> Any:
    """DynamoDB hands numbers back as Decimal."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _az() -> Any:
    return os.environ.get("GAMEDAY_SANDBOX_AZ_ID")


def _table() -> Any:
    """The orders table (boto3 ships with Lambda's Python runtimes; imported on first use
    so that /health stays dependency-free and its cold starts light)."""
    global _TABLE
    if _TABLE is None:
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=DEPENDENCY_TIMEOUT_S, read_timeout=DEPENDENCY_TIMEOUT_S,
                        retries={"mode": "standard", "total_max_attempts": 1})
        _TABLE = boto3.resource("dynamodb", config=config).Table(
            os.environ.get("ORDERS_TABLE", "orders"))
    return _TABLE


def _create_table() -> None:
    table = _table()
    # another environment may have created it first
    with contextlib.suppress(table.meta.client.exceptions.ResourceInUseException):
        table.meta.client.create_table(
            TableName=table.name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])


def _with_table(operation: Any) -> Any:
    client = _table().meta.client
    try:
        return operation(_table())
    except client.exceptions.ResourceNotFoundException:
        _create_table()
        return operation(_table())


def _create_order(body: dict[str, Any]) -> dict[str, Any]:
    order = {"id": uuid.uuid4().hex[:12], "items": body.get("items", []),
             "at": str(time.time())}
    _with_table(lambda table: table.put_item(Item=order))
    return order


def _list_orders() -> list[Any]:
    return list(_with_table(lambda table: table.scan(Limit=20)).get("Items", []))


def _get_order(order_id: str) -> Any:
    return _with_table(lambda table: table.get_item(Key={"id": order_id})).get("Item")


def _orders(method: str, path: str, event: dict[str, Any]) -> dict[str, Any]:
    if path == "/orders" and method == "POST":
        # DynamoDB takes numbers as Decimal, never float
        body = json.loads(event.get("body") or "{}", parse_float=Decimal)
        return _response(201, _create_order(body))
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
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _orders(method, path, event)
    except (BotoCoreError, ClientError) as error:
        return _response(503, {"error": "the orders table is unavailable",
                               "reason": type(error).__name__, "az": _az()})
