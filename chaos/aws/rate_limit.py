"""Client-side pacing of Lambda API requests at AWS's documented per-account rates.

Applying a fault to dozens of functions at once would otherwise burst past Lambda's
quotas and spend the fault phase in throttling backoff. Lambda quotas ("API requests",
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):

- control plane (every API but invocation, GetFunction and GetPolicy): 15 requests per
  second per account and Region;
- GetFunction: 100 requests per second; GetPolicy: 15.

Every HTTP attempt (retries included) takes a token from its bucket before it is sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["LAMBDA_RATES", "TokenBucket", "pace_lambda", "set_pace"]

#: operation -> requests per second; other operations use the control-plane rate.
LAMBDA_RATES = {"GetFunction": 100.0}
CONTROL_PLANE_RPS = 15.0
UNPACED = frozenset({"Invoke", "InvokeAsync", "InvokeWithResponseStream"})


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; `take` waits for one."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take a token, waiting if none is left; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait:
            self._sleep(wait)
        return wait


_BUCKETS: dict[str, TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


_SCALE = {"factor": 1.0}


def set_pace(factor: float) -> None:
    """Multiply every rate by `factor` in this process (tests against an in-process fake
    AWS that has no quota); buckets already made are dropped."""
    with _BUCKETS_LOCK:
        _SCALE["factor"] = factor
        _BUCKETS.clear()


def _bucket(operation: str) -> TokenBucket:
    rate = LAMBDA_RATES.get(operation, CONTROL_PLANE_RPS) * _SCALE["factor"]
    key = operation if operation in LAMBDA_RATES else "control-plane"
    with _BUCKETS_LOCK:
        if key not in _BUCKETS:
            _BUCKETS[key] = TokenBucket(rate)
        return _BUCKETS[key]


def _before_send(event_name: str, **_: Any) -> None:
    operation = event_name.rsplit(".", 1)[-1]
    if operation not in UNPACED:
        _bucket(operation).take()


def pace_lambda(client: Any) -> Any:
    """Make a Lambda client share this process's buckets; returns the client."""
    client.meta.events.register("before-send.lambda", _before_send)
    return client
