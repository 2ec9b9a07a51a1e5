"""API Gateway's own request throttling of a REST API stage (its method settings).

"Throttle requests to your REST APIs for better throughput in API Gateway"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html):
API Gateway throttles with the token bucket algorithm, a token per request; the stage's
default method throttling (the ``*/*`` method setting) applies to each method, a method's
own setting overrides it; a request over the limit gets "429 Too Many Requests". The
gateway response THROTTLED (default status 429, "Gateway response types for API Gateway",
https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html)
answers it with the body {"message":"Too Many Requests"}.

Modelled: stage and method throttling. Not modelled: usage plans (per API key) and the
account-level quota (10,000 requests per second per Region), which a sandbox never reaches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "STAGE_DEFAULT",
    "StageThrottling",
    "ThrottleLimit",
    "method_setting_key",
    "normalized_key",
]

STAGE_DEFAULT = "*/*"


@dataclass(frozen=True)
class ThrottleLimit:
    """A method setting's steady-state rate (requests per second) and burst (bucket size)."""

    rate_per_s: float
    burst: int


def method_setting_key(resource_path: str, http_method: str) -> str:
    """The key of one method's setting, as :func:`normalized_key` spells it: ``/orders/GET``."""
    return f"/{resource_path.strip('/')}/{http_method.upper()}".replace("//", "/")


def normalized_key(raw: str) -> str:
    """A methodSettings key (``~1orders/GET``, ``orders/GET``, ``*/*``) spelled one way.

    ("UpdateStage", https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateStage.html:
    the resource path's slashes are escaped as ``~1`` in a method setting's patch path.)
    """
    if raw == STAGE_DEFAULT:
        return raw
    path, _, method = raw.replace("~1", "/").rpartition("/")
    return method_setting_key(path, method)


class _TokenBucket:
    def __init__(self, limit: ThrottleLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.refilled_at = now

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self.refilled_at)
        self.tokens = min(float(self.limit.burst), self.tokens + elapsed * self.limit.rate_per_s)
        self.refilled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class StageThrottling:
    """One token bucket per method, sized by the stage's current method settings."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _TokenBucket] = {}

    def admit(
        self, limits: Mapping[str, ThrottleLimit], resource_path: str, http_method: str
    ) -> bool:
        """Whether the method may serve one more request now (False: answer 429)."""
        key = method_setting_key(resource_path, http_method)
        limit = limits.get(key) or limits.get(STAGE_DEFAULT)
        if limit is None:
            return True
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.limit != limit:  # new, or the settings changed
                bucket = self._buckets[key] = _TokenBucket(limit, now)
            return bucket.take(now)
