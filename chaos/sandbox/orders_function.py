"""The sandbox's demo `orders` function (deployed as app.py, handler app.handler).

A small REST-proxy handler: GET /orders, GET /orders/{id}, POST /orders, GET /health.
"""

import json
import os
import time
import uuid
from typing import Any

_ORDERS: dict[str, dict[str, Any]] = {}


def _response(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = event.get("httpMethod", "GET")
    path = event.get("path", "/")
    if path == "/health":
        return _response(200, {"ok": True, "az": os.environ.get("GAMEDAY_SANDBOX_AZ_ID")})
    if path == "/orders" and method == "POST":
        order_id = uuid.uuid4().hex[:12]
        body = json.loads(event.get("body") or "{}")
        _ORDERS[order_id] = {"id": order_id, "items": body.get("items", []), "at": time.time()}
        return _response(201, _ORDERS[order_id])
    if path == "/orders" and method == "GET":
        return _response(200, {"orders": list(_ORDERS.values())[-20:]})
    if path.startswith("/orders/") and method == "GET":
        order = _ORDERS.get(path.rsplit("/", 1)[-1])
        return _response(200, order) if order else _response(404, {"error": "not found"})
    return _response(404, {"error": f"no route for {method} {path}"})
