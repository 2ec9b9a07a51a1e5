"""Control-plane throttling: a share of API calls answered with the service's throttling error.

AWS throttles every control plane per account and Region, and SDKs are expected to retry
with backoff. Under ``--realism aws`` a fraction (``GAMEDAY_SANDBOX_THROTTLE_RATE``,
default 0.02; 0 under ``fast``; seeded draws) of the calls to Lambda, EC2, ECS, EC2 Auto
Scaling, Elastic Load Balancing, API Gateway and AWS WAF gets the throttling error that
service documents, so the toolkit's retries are exercised. STS, S3, CloudWatch and
Lambda's Invoke (a data-plane call) are never throttled, nor are the data plane's own
reads (in-process, not through the API).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chaos.errors import ConfigurationError
from chaos.sandbox.realism import Realism
from chaos.sandbox.wsgi import WsgiApp, signing_service

THROTTLE_RATE_ENV = "GAMEDAY_SANDBOX_THROTTLE_RATE"
AWS_THROTTLE_RATE = 0.02  # PRODUCT.md "Sandbox realism": "sometimes throttled"
RATE_EXCEEDED = "Rate exceeded"


@dataclass(frozen=True)
class ThrottleAnswer:
    status: int
    content_type: str
    body: Callable[[str], bytes]  # request id -> body
    error_type: str | None = None  # x-amzn-ErrorType (REST-JSON protocols)


def _rest_json(document: dict[str, str]) -> Callable[[str], bytes]:
    return lambda _request_id: json.dumps(document).encode()


def _json(code: str) -> Callable[[str], bytes]:
    return lambda _request_id: json.dumps({"__type": code, "message": RATE_EXCEEDED}).encode()


def _query(code: str) -> Callable[[str], bytes]:
    return lambda request_id: (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{RATE_EXCEEDED}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def _ec2(request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
        "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
        f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
    ).encode()


# Per signing name, the service's throttling error:
THROTTLE_ANSWERS: Mapping[str, ThrottleAnswer] = {
    # Lambda: TooManyRequestsException, HTTP 429, "Rate exceeded" for API request rates
    # (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html
    # #API_UpdateFunctionConfiguration_Errors; quotas: https://docs.aws.amazon.com/lambda/
    # latest/dg/gettingstarted-limits.html#api-requests).
    "lambda": ThrottleAnswer(
        429,
        "application/json",
        _rest_json({"Type": "User", "message": RATE_EXCEEDED, "Reason": "CallerRateLimitExceeded"}),
        "TooManyRequestsException",
    ),
    # API Gateway: TooManyRequestsException, HTTP 429 (https://docs.aws.amazon.com/
    # apigateway/latest/api/API_GetRestApi.html#API_GetRestApi_Errors).
    "apigateway": ThrottleAnswer(
        429,
        "application/json",
        _rest_json({"message": "Too Many Requests"}),
        "TooManyRequestsException",
    ),
    # EC2: "If you exceed an API throttling limit, you get the RequestLimitExceeded error
    # code" (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html).
    "ec2": ThrottleAnswer(503, "text/xml", _ec2),
    # ECS: "If you exceed an API throttling quota, you get the ThrottlingException error
    # code ... Rate exceeded ... Status Code: 400" (https://docs.aws.amazon.com/AmazonECS/
    # latest/APIReference/request-throttling.html).
    "ecs": ThrottleAnswer(400, "application/x-amz-json-1.1", _json("ThrottlingException")),
    # AWS WAF: ThrottlingException, HTTP 400 (common errors, https://docs.aws.amazon.com/
    # waf/latest/APIReference/CommonErrors.html).
    "wafv2": ThrottleAnswer(400, "application/x-amz-json-1.1", _json("ThrottlingException")),
    # EC2 Auto Scaling and Elastic Load Balancing (query protocol): "Rate exceeded"
    # (https://repost.aws/knowledge-center/autoscaling-api-calls-throttled) with the
    # query APIs' Throttling code, HTTP 400.
    "autoscaling": ThrottleAnswer(400, "text/xml", _query("Throttling")),
    "elasticloadbalancing": ThrottleAnswer(400, "text/xml", _query("Throttling")),
}


def throttle_rate(environ: Mapping[str, str], realism: Realism) -> float:
    raw = environ.get(THROTTLE_RATE_ENV)
    if raw is None or raw == "":
        return AWS_THROTTLE_RATE if realism.aws else 0.0
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 1:
        raise ConfigurationError(f"{THROTTLE_RATE_ENV}={raw!r}: expected a number in [0, 1]")
    return rate


def is_data_plane(service: str, environ: Mapping[str, Any]) -> bool:
    """Lambda's Invoke (``POST /2015-03-31/functions/NAME/invocations``) is not control plane."""
    path = str(environ.get("PATH_INFO") or "")
    return service == "lambda" and path.rstrip("/").endswith("/invocations")


class ControlPlaneThrottling:
    """WSGI middleware (:meth:`wrap`): throttles ``rate`` of the calls to the services
    above once enabled."""

    def __init__(self, rate: float, draws: random.Random) -> None:
        self.rate = rate
        self.enabled = False  # the sandbox's own seeding runs first
        self._draws = draws
        self._lock = threading.Lock()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        return lambda environ, start_response: self._answer(app, environ, start_response)

    def _answer(
        self, app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        service = signing_service(environ)
        answer = THROTTLE_ANSWERS.get(service or "")
        if (
            answer is None
            or not self.enabled
            or self.rate <= 0
            or is_data_plane(service or "", environ)
            or not self._throttles()
        ):
            return app(environ, start_response)
        request_id = str(uuid.uuid4())
        body = answer.body(request_id)
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
        ]
        if answer.error_type:
            headers.append(("x-amzn-ErrorType", answer.error_type))
        start_response(f"{answer.status} Throttled", headers)
        return [body]

    def _throttles(self) -> bool:
        with self._lock:  # seeded draws stay one sequence across server threads
            return self._draws.random() < self.rate
