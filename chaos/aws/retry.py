"""Backoff for the errors AWS returns while a resource is busy or the API throttles."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        "ResourceConflictException",  # Lambda: an update is still in progress
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "ServiceUnavailableException",
    }
)


def call_with_backoff(
    operation: Callable[[], T],
    *,
    attempts: int = 8,
    base_delay_s: float = 0.5,
    max_delay_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `operation`, retrying retryable AWS errors with full-jitter exponential backoff."""
    for attempt in range(attempts):
        try:
            return operation()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code not in RETRYABLE_CODES or attempt == attempts - 1:
                raise
            sleep(random.uniform(0, min(max_delay_s, base_delay_s * 2**attempt)))
    raise AssertionError("unreachable")
