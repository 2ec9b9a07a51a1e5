"""Backoff for the errors AWS returns while a resource is busy or the API throttles."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection
from typing import TypeVar

from botocore.exceptions import ClientError

from chaos.aws.clients import error_code

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        "ResourceConflictException",  # Lambda: an update is still in progress
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "ServiceUnavailableException",
        # Auto Scaling, UpdateAutoScalingGroup and the tag calls: "You already have a pending
        # update to an Auto Scaling resource" / "The operation can't be performed because there
        # are scaling activities in progress" (Errors of https://docs.aws.amazon.com/autoscaling/
        # ec2/APIReference/API_UpdateAutoScalingGroup.html).
        "ResourceContention",
        "ScalingActivityInProgress",
    }
)

#: EC2 right after a create: "if you run a command to modify or describe the resource that
#: you just created, its ID might not have propagated throughout the system, and you will get
#: an error responding that the resource does not exist" ("Eventual consistency in the Amazon
#: EC2 API", https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
#: Retried only where the resource was just created or read (elsewhere they mean "gone").
EVENTUAL_CONSISTENCY_CODES = frozenset(
    {
        "InvalidNetworkAclID.NotFound",
        "InvalidAssociationID.NotFound",
    }
)


def call_with_backoff(
    operation: Callable[[], T],
    *,
    attempts: int = 8,
    base_delay_s: float = 0.5,
    max_delay_s: float = 10.0,
    also_retry: Collection[str] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `operation`, retrying retryable AWS errors with full-jitter exponential backoff.

    `also_retry`: error codes retryable for this call only (e.g. EVENTUAL_CONSISTENCY_CODES).
    """
    for attempt in range(attempts):
        try:
            return operation()
        except ClientError as error:
            code = error_code(error)
            retryable = code in RETRYABLE_CODES or code in also_retry
            if not retryable or attempt == attempts - 1:
                raise
            sleep(random.uniform(0, min(max_delay_s, base_delay_s * 2**attempt)))
    raise AssertionError("unreachable")
